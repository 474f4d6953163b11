"""Webhook signatures: each provider's documented scheme, on raw bytes, with rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain.shared.webhook_signatures import WebhookSignatureInvalid
from homeward.errors import HomewardError
from homeward.providers.aftership.tracking import verify_aftership
from homeward.providers.easypost.tracking import verify_easypost
from homeward.providers.generic.tracking import verify_generic
from homeward.providers.shippo.tracking import verify_shippo

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
OLD_SECRET, NEW_SECRET = "old-secret-0123456789", "new-secret-9876543210"

EASYPOST_BODY = (
    b'{"id":"evt_9f1c2b","object":"Event","description":"tracker.updated","mode":"test",'
    b'"result":{"id":"trk_1a2b","object":"Tracker","tracking_code":"9400100000000000000000",'
    b'"status":"in_transit","status_detail":"arrived_at_facility","carrier":"USPS",'
    b'"tracking_details":[{"datetime":"2026-11-22T10:04:00Z","status":"in_transit",'
    b'"message":"Arrived at USPS Regional Facility","tracking_location":{"city":"S\xc3\xa3o Paulo"}}]}}'
)
SHIPPO_BODY = (
    b'{"event":"track_updated","test":true,"data":{"carrier":"shippo","tracking_number":'
    b'"SHIPPO_TRANSIT","tracking_status":{"object_id":"a1b2","status":"TRANSIT",'
    b'"substatus":{"code":"package_departed","text":"Package departed","action_required":false},'
    b'"status_date":"2026-11-22T10:04:00Z"}}}'
)
AFTERSHIP_BODY = (
    b'{"event":"tracking_update","event_id":"5b9c0b1e-6e5f-4f52-9d3b-2d3c1f0b7a11","ts":1795348800,'
    b'"msg":{"id":"abc123","tracking_number":"1Z999AA10123456784","slug":"ups","tag":"InTransit",'
    b'"subtag":"InTransit_007","checkpoints":[{"checkpoint_time":"2026-11-22T10:04:00+01:00"}]}}'
)
GENERIC_BODY = b'{"type":"tracking.updated","data":{"tracking_number":"3PL-000123","status":"delivered"}}\n'


def hexmac(key: bytes, msg: bytes) -> str:
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def b64mac(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def reason_of(excinfo: pytest.ExceptionInfo[WebhookSignatureInvalid]) -> str:
    return excinfo.value.reason


# --- EasyPost ---------------------------------------------------------------------------------


def easypost_headers(secret: str, body: bytes = EASYPOST_BODY, name: str = "X-Hmac-Signature") -> dict:
    key = unicodedata.normalize("NFKD", secret).encode()
    return {name: "hmac-sha256-hex=" + hexmac(key, body), "Content-Type": "application/json"}


def test_easypost_valid_signature_passes():
    verify_easypost(EASYPOST_BODY, easypost_headers(NEW_SECRET), [NEW_SECRET])


@pytest.mark.parametrize("name", ["x-hmac-signature", "X-HMAC-SIGNATURE", "x-Hmac-Signature"])
def test_easypost_header_name_is_case_insensitive(name):
    verify_easypost(EASYPOST_BODY, easypost_headers(NEW_SECRET, name=name), [NEW_SECRET])


def test_easypost_secret_is_nfkd_normalized():
    # EasyPost's own fixture secret needs NFKD; a precomposed "é" must sign like "e" + U+0301.
    secret = "s\u00e9cret"
    verify_easypost(EASYPOST_BODY, easypost_headers(secret), [secret])
    raw = {"X-Hmac-Signature": "hmac-sha256-hex=" + hexmac(secret.encode(), EASYPOST_BODY)}
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_easypost(EASYPOST_BODY, raw, [secret])
    assert reason_of(exc) == "mismatch"


def test_easypost_rotation_second_secret_matches():
    verify_easypost(EASYPOST_BODY, easypost_headers(NEW_SECRET), [OLD_SECRET, NEW_SECRET])
    verify_easypost(EASYPOST_BODY, easypost_headers(OLD_SECRET), [OLD_SECRET, NEW_SECRET])


def test_easypost_wrong_secret_fails():
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_easypost(EASYPOST_BODY, easypost_headers(OLD_SECRET), [NEW_SECRET])
    assert reason_of(exc) == "mismatch"
    assert exc.value.code == "invalid_signature"
    assert isinstance(exc.value, HomewardError)
    assert exc.value.details == {"provider": "easypost", "reason": "mismatch"}


def test_easypost_tampered_body_fails():
    tampered = EASYPOST_BODY.replace(b"in_transit", b"delivered", 1)
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_easypost(tampered, easypost_headers(NEW_SECRET), [NEW_SECRET])
    assert reason_of(exc) == "mismatch"


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}, {"X-Hmac-Signature": "  "}])
def test_easypost_missing_header(headers):
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_easypost(EASYPOST_BODY, headers, [NEW_SECRET])
    assert reason_of(exc) == "missing_header"


@pytest.mark.parametrize(
    "value", ["deadbeef", "sha256=abcd", "hmac-sha1-hex=abcd", "hmac-sha256-hex", "hmac-sha256-hex:ab"]
)
def test_easypost_malformed_header(value):
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": value}, [NEW_SECRET])
    assert reason_of(exc) == "malformed_header"


def test_easypost_non_ascii_header_is_a_mismatch_not_a_crash():
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_easypost(EASYPOST_BODY, {"X-Hmac-Signature": "hmac-sha256-hex=\u00e9\ud800"}, [NEW_SECRET])
    assert reason_of(exc) == "mismatch"


def test_body_must_be_raw_bytes_and_secrets_configured():
    with pytest.raises(TypeError):
        verify_easypost(EASYPOST_BODY.decode(), easypost_headers(NEW_SECRET), [NEW_SECRET])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        verify_easypost(EASYPOST_BODY, easypost_headers(NEW_SECRET), [])
    with pytest.raises(ValueError):
        verify_aftership(AFTERSHIP_BODY, {"aftership-hmac-sha256": b64mac(b"", AFTERSHIP_BODY)}, [""])


# --- Shippo -----------------------------------------------------------------------------------


def shippo_headers(secret: str, t: int = TS, body: bytes = SHIPPO_BODY, name="Shippo-Auth-Signature"):
    return {name: f"t={t},v1={hexmac(secret.encode(), f'{t}.'.encode() + body)}"}


def test_shippo_valid_signature_passes():
    verify_shippo(SHIPPO_BODY, shippo_headers(NEW_SECRET), [NEW_SECRET], now=NOW)


@pytest.mark.parametrize("name", ["shippo-auth-signature", "SHIPPO-AUTH-SIGNATURE"])
def test_shippo_header_name_is_case_insensitive(name):
    verify_shippo(SHIPPO_BODY, shippo_headers(NEW_SECRET, name=name), [NEW_SECRET], now=NOW)


def test_shippo_rotation_second_secret_matches():
    verify_shippo(SHIPPO_BODY, shippo_headers(NEW_SECRET), [OLD_SECRET, NEW_SECRET], now=NOW)


def test_shippo_any_v1_candidate_may_match():
    good = shippo_headers(NEW_SECRET)["Shippo-Auth-Signature"]
    headers = {"Shippo-Auth-Signature": good.replace("v1=", "v1=" + "0" * 64 + ", v1=")}
    verify_shippo(SHIPPO_BODY, headers, [NEW_SECRET], now=NOW)


def test_shippo_wrong_secret_and_tampered_body_fail():
    for body, headers in (
        (SHIPPO_BODY, shippo_headers(OLD_SECRET)),
        (SHIPPO_BODY.replace(b"TRANSIT", b"DELIVERED"), shippo_headers(NEW_SECRET)),
    ):
        with pytest.raises(WebhookSignatureInvalid) as exc:
            verify_shippo(body, headers, [NEW_SECRET], now=NOW)
        assert reason_of(exc) == "mismatch"


def test_shippo_timestamp_is_signed():
    # Moving t forward without re-signing breaks the signature.
    headers = shippo_headers(NEW_SECRET)
    headers["Shippo-Auth-Signature"] = headers["Shippo-Auth-Signature"].replace(f"t={TS}", f"t={TS + 1}")
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, headers, [NEW_SECRET], now=NOW)
    assert reason_of(exc) == "mismatch"


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_shippo_stale_or_future_timestamp_rejected(offset):
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, shippo_headers(NEW_SECRET, t=TS + offset), [NEW_SECRET], now=NOW)
    assert reason_of(exc) == "stale_timestamp"


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_shippo_timestamp_within_tolerance_passes(offset):
    verify_shippo(SHIPPO_BODY, shippo_headers(NEW_SECRET, t=TS + offset), [NEW_SECRET], now=NOW)


@pytest.mark.parametrize(
    "value",
    ["v1=abcd", f"t={TS}", "t=abc,v1=abcd", f"t={TS};v1=abcd", "garbage", f"t=-{TS},v1=ab", "t=١٢,v1=ab"],
)
def test_shippo_malformed_header(value):
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, {"Shippo-Auth-Signature": value}, [NEW_SECRET], now=NOW)
    assert reason_of(exc) == "malformed_header"


def test_shippo_missing_header_and_no_token():
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, {}, [NEW_SECRET], now=NOW, query={"other": "x"})
    assert reason_of(exc) == "missing_header"


def test_shippo_token_query_alternative():
    verify_shippo(SHIPPO_BODY, {}, [NEW_SECRET], now=NOW, query={"token": NEW_SECRET})
    verify_shippo(SHIPPO_BODY, {}, [OLD_SECRET, NEW_SECRET], now=NOW, query={"token": OLD_SECRET})
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, {}, [NEW_SECRET], now=NOW, query={"token": "guess"})
    assert reason_of(exc) == "mismatch"
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, {}, [NEW_SECRET], now=NOW, query={"token": ""})
    assert reason_of(exc) == "mismatch"


def test_shippo_bad_header_does_not_fall_back_to_token():
    headers = shippo_headers(OLD_SECRET)
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_shippo(SHIPPO_BODY, headers, [NEW_SECRET], now=NOW, query={"token": NEW_SECRET})
    assert reason_of(exc) == "mismatch"


# --- AfterShip --------------------------------------------------------------------------------


def aftership_headers(secret: str, body: bytes = AFTERSHIP_BODY, name: str = "aftership-hmac-sha256"):
    return {name: b64mac(secret.encode(), body), "Accept-Encoding": "gzip"}


def test_aftership_valid_signature_passes():
    verify_aftership(AFTERSHIP_BODY, aftership_headers(NEW_SECRET), [NEW_SECRET])


@pytest.mark.parametrize("name", ["AfterShip-Hmac-Sha256", "AFTERSHIP-HMAC-SHA256"])
def test_aftership_header_name_is_case_insensitive(name):
    verify_aftership(AFTERSHIP_BODY, aftership_headers(NEW_SECRET, name=name), [NEW_SECRET])


def test_aftership_rotation_second_secret_matches():
    verify_aftership(AFTERSHIP_BODY, aftership_headers(NEW_SECRET), [OLD_SECRET, NEW_SECRET])


def test_aftership_wrong_secret_tampered_body_and_hex_encoding_fail():
    hex_encoded = {"aftership-hmac-sha256": hexmac(NEW_SECRET.encode(), AFTERSHIP_BODY)}
    for body, headers in (
        (AFTERSHIP_BODY, aftership_headers(OLD_SECRET)),
        (AFTERSHIP_BODY + b" ", aftership_headers(NEW_SECRET)),
        (AFTERSHIP_BODY, hex_encoded),  # hex happens to be valid base64, but decodes to other bytes
    ):
        with pytest.raises(WebhookSignatureInvalid) as exc:
            verify_aftership(body, headers, [NEW_SECRET])
        assert reason_of(exc) == "mismatch"


def test_aftership_missing_and_malformed_header():
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_aftership(AFTERSHIP_BODY, {"as-signature-hmac-sha256": "x"}, [NEW_SECRET])
    assert reason_of(exc) == "missing_header"
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_aftership(AFTERSHIP_BODY, {"aftership-hmac-sha256": "not base64!!"}, [NEW_SECRET])
    assert reason_of(exc) == "malformed_header"


# --- Generic (Standard Webhooks) --------------------------------------------------------------

WHSEC_KEY = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(WHSEC_KEY).decode()
MSG_ID = "msg_2f9a1c0d"


def generic_headers(
    key: bytes, t: int = TS, body: bytes = GENERIC_BODY, msg_id: str = MSG_ID, case=str.lower
):
    sig = b64mac(key, f"{msg_id}.{t}.".encode() + body)
    return {
        case("Webhook-Id"): msg_id,
        case("Webhook-Timestamp"): str(t),
        case("Webhook-Signature"): f"v1,{sig}",
    }


def test_generic_whsec_secret_passes():
    verify_generic(GENERIC_BODY, generic_headers(WHSEC_KEY), [WHSEC], now=NOW)


def test_generic_raw_secret_passes():
    verify_generic(GENERIC_BODY, generic_headers(NEW_SECRET.encode()), [NEW_SECRET], now=NOW)


def test_generic_whsec_is_decoded_not_used_raw():
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_generic(GENERIC_BODY, generic_headers(WHSEC.encode()), [WHSEC], now=NOW)
    assert reason_of(exc) == "mismatch"


@pytest.mark.parametrize("case", [str.upper, str.title, str.lower])
def test_generic_header_names_case_insensitive(case):
    verify_generic(GENERIC_BODY, generic_headers(WHSEC_KEY, case=case), [WHSEC], now=NOW)


def test_generic_rotation_second_secret_and_multiple_signatures():
    verify_generic(GENERIC_BODY, generic_headers(WHSEC_KEY), [NEW_SECRET, WHSEC], now=NOW)
    headers = generic_headers(WHSEC_KEY)
    headers["webhook-signature"] = f"v1a,AAAA v1,{'A' * 44} {headers['webhook-signature']}"
    verify_generic(GENERIC_BODY, headers, [WHSEC], now=NOW)


def test_generic_wrong_secret_tampered_body_and_id_fail():
    cases = [
        (GENERIC_BODY, generic_headers(b"other-key")),
        (GENERIC_BODY.replace(b"delivered", b"cancelled"), generic_headers(WHSEC_KEY)),
    ]
    swapped = generic_headers(WHSEC_KEY)
    swapped["webhook-id"] = "msg_other"
    cases.append((GENERIC_BODY, swapped))
    for body, headers in cases:
        with pytest.raises(WebhookSignatureInvalid) as exc:
            verify_generic(body, headers, [WHSEC], now=NOW)
        assert reason_of(exc) == "mismatch"


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_generic_stale_or_future_timestamp_rejected(offset):
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_generic(GENERIC_BODY, generic_headers(WHSEC_KEY, t=TS + offset), [WHSEC], now=NOW)
    assert reason_of(exc) == "stale_timestamp"


def test_generic_within_tolerance_passes():
    later = NOW + timedelta(seconds=299)
    verify_generic(GENERIC_BODY, generic_headers(WHSEC_KEY), [WHSEC], now=later)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_generic_missing_header(missing):
    headers = generic_headers(WHSEC_KEY)
    del headers[missing]
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_generic(GENERIC_BODY, headers, [WHSEC], now=NOW)
    assert reason_of(exc) == "missing_header"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-timestamp", "2026-11-22T12:00:00Z"),
        ("webhook-timestamp", "-5"),
        ("webhook-signature", "v2,AAAA"),
        ("webhook-signature", "nocomma"),
        ("webhook-signature", "v1,***"),
    ],
)
def test_generic_malformed_header(header, value):
    headers = generic_headers(WHSEC_KEY)
    headers[header] = value
    with pytest.raises(WebhookSignatureInvalid) as exc:
        verify_generic(GENERIC_BODY, headers, [WHSEC], now=NOW)
    assert reason_of(exc) == "malformed_header"


def test_generic_bad_whsec_secret_is_a_configuration_error():
    with pytest.raises(ValueError):
        verify_generic(GENERIC_BODY, generic_headers(WHSEC_KEY), ["whsec_***"], now=NOW)
