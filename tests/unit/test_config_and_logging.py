"""Settings validated at cold start; log lines never carry raw emails or phone numbers."""

from __future__ import annotations

import io
import json

import pytest
from homeward.config import PortalApiSettings, load_settings
from pydantic import ValidationError


def test_missing_required_setting_fails_loudly(monkeypatch):
    monkeypatch.delenv("PORTAL_SIGNING_KEY_SECRET", raising=False)
    with pytest.raises(ValidationError) as caught:
        load_settings(PortalApiSettings)
    assert "PORTAL_SIGNING_KEY_SECRET" in str(caught.value)


def test_malformed_setting_fails_loudly(monkeypatch):
    monkeypatch.setenv("PORTAL_TOKEN_TTL_SECONDS", "five minutes")
    with pytest.raises(ValidationError):
        load_settings(PortalApiSettings)


def test_settings_read_from_environment(monkeypatch):
    monkeypatch.setenv("SIGN_IN_MAX_FAILURES_PER_ORDER", "7")
    settings = load_settings(PortalApiSettings)
    assert settings.sign_in_max_failures_per_order == 7
    assert settings.table_name == "homeward-test"


def test_log_lines_are_json_with_pii_masked():
    from aws_lambda_powertools import Logger
    from homeward.observability import MaskingFormatter

    stream = io.StringIO()
    log = Logger(service="masking-test", logger_formatter=MaskingFormatter(), stream=stream)
    log.info("customer jane.doe@example.com called", extra={"phone": "+14155550123", "to": "Bob@Example.org"})
    line = json.loads(stream.getvalue())
    assert line["message"] == "customer j***@example.com called"
    assert line["phone"] == "+1******0123"
    assert line["to"] == "B***@Example.org"
