"""A small JSON-over-HTTPS client for the label providers, on urllib3 (already there via botocore).

One place decides what an HTTP outcome means for the label flow:

- 2xx                              -> the decoded JSON body
- 401 / 403                        -> `CarrierRejected` (the credentials; a retry will not fix them)
- 408 / 409 / 425 / 429 / 5xx      -> `CarrierUnavailable` (retry later)
- any other 4xx (400, 402, 404, 422, ...) -> `CarrierRejected` with the provider's own message
- timeouts, refused connections, TLS and protocol errors -> `CarrierUnavailable`

Requests are never retried here: a POST that timed out may still have bought a label, so the
caller decides (the label flow asks `find_by_reference` before buying again). The API key only
ever travels in the `Authorization` header of requests to the provider's API host: it is never
logged, never put in an error message, and never sent when downloading a label file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from homeward.domain.labels.ports import CarrierRejected, CarrierUnavailable

log = logging.getLogger("homeward.carriers")

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
MAX_LABEL_BYTES = 10 * 1024 * 1024  # a 4x6 label is tens of kB; refuse anything absurd
USER_AGENT = "Homeward-returns/0.1 (urllib3)"

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})

# Turns a decoded error body into the provider's own words (or None if it says nothing useful).
MessageOf = Callable[[Any], str | None]


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT


class JsonApi:
    """Calls one provider's REST API. `provider` names it in messages ("EasyPost", "Shippo")."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        message_of: MessageOf,
        settings: HttpSettings | None = None,
    ) -> None:
        settings = settings or HttpSettings()
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **headers,
        }
        self._message_of = message_of
        self._timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        # No retries, no redirects for API calls: a repeated POST could buy twice.
        self._pool = urllib3.PoolManager(timeout=self._timeout, retries=False)
        # Label files live on the provider's file host (S3): follow a few redirects, still no retries.
        self._download_retries = urllib3.Retry(
            total=3, connect=0, read=0, status=0, other=0, redirect=3, raise_on_redirect=True
        )

    def __repr__(self) -> str:  # never show the headers (they hold the key)
        return f"JsonApi(provider={self.provider!r}, base_url={self.base_url!r})"

    # -- API calls -------------------------------------------------------------------------

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, query=query)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._call("POST", path, body=body or {})

    def _call(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        url = self.url(path, query)
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(method, url, body=payload, headers=headers, preload_content=True)
        except urllib3.exceptions.HTTPError as error:
            log.warning(
                "carrier call failed",
                extra={
                    "provider": self.provider,
                    "method": method,
                    "path": path,
                    "error": type(error).__name__,
                },
            )
            raise CarrierUnavailable(
                f"{self.provider} did not answer ({_describe(error)})",
                details={"provider": self.provider.lower(), "reason": "network"},
            ) from None
        return self._interpret(method, path, response.status, response.data)

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = f"{self.base_url}/{path.lstrip('/')}"
        if query:
            pairs = [(key, _query_value(value)) for key, value in query.items() if value is not None]
            url = f"{url}?{urlencode(pairs)}"
        return url

    def _interpret(self, method: str, path: str, status: int, data: bytes) -> Any:
        decoded = _json_or_none(data)
        if 200 <= status < 300:
            if decoded is None and data.strip():
                raise CarrierUnavailable(
                    f"{self.provider} sent a response that is not JSON (HTTP {status})",
                    details={"provider": self.provider.lower(), "status": status, "reason": "unreadable"},
                )
            return decoded if decoded is not None else {}
        log.warning(
            "carrier call refused",
            extra={"provider": self.provider, "method": method, "path": path, "status": status},
        )
        details = {"provider": self.provider.lower(), "status": status}
        code = _error_code(decoded)
        if code:
            details["code"] = code
        if status in (401, 403):
            raise CarrierRejected(
                f"{self.provider} refused the API credentials (HTTP {status})",
                details={**details, "reason": "credentials"},
            )
        if status in TRANSIENT_STATUSES or status >= 500:
            raise CarrierUnavailable(
                f"{self.provider} is unavailable (HTTP {status})", details={**details, "reason": "transient"}
            )
        if 400 <= status < 500:
            said = self._message_of(decoded) if decoded is not None else None
            raise CarrierRejected(
                said or f"{self.provider} refused the request (HTTP {status})",
                details={**details, "reason": "refused"},
            )
        raise CarrierUnavailable(
            f"{self.provider} answered with an unexpected HTTP {status}",
            details={**details, "reason": "unexpected"},
        )

    # -- label files -----------------------------------------------------------------------

    def download(self, url: str) -> bytes:
        """A label file from the URL the provider gave. Sent without any credentials."""
        scheme = urlsplit(url).scheme
        if scheme not in ("https", "http"):
            raise CarrierRejected(f"{self.provider} gave a label URL that cannot be fetched")
        try:
            response = self._pool.request(
                "GET",
                url,
                headers={"User-Agent": USER_AGENT},
                retries=self._download_retries,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise CarrierUnavailable(
                f"The {self.provider} label file could not be downloaded ({_describe(error)})",
                details={"provider": self.provider.lower(), "reason": "network"},
            ) from None
        try:
            status = response.status
            if status != 200:
                response.drain_conn()
            else:
                data = response.read(MAX_LABEL_BYTES + 1, decode_content=True)
                if len(data) > MAX_LABEL_BYTES:
                    raise CarrierRejected(f"The {self.provider} label file is too large")
                if not data:
                    raise CarrierUnavailable(f"The {self.provider} label file was empty")
                return data
        except urllib3.exceptions.HTTPError as error:
            raise CarrierUnavailable(
                f"The {self.provider} label file could not be downloaded ({_describe(error)})",
                details={"provider": self.provider.lower(), "reason": "network"},
            ) from None
        finally:
            response.release_conn()
        details = {"provider": self.provider.lower(), "status": status}
        if status in TRANSIENT_STATUSES or status >= 500:
            raise CarrierUnavailable(
                f"The {self.provider} label file is unavailable (HTTP {status})", details=details
            )
        # 403/404 from a file host: the (signed) URL expired or the file is gone.
        raise CarrierRejected(
            f"The {self.provider} label file could not be fetched (HTTP {status})", details=details
        )


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_or_none(data: bytes) -> Any:
    if not data or not data.strip():
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _error_code(decoded: Any) -> str | None:
    if isinstance(decoded, dict):
        error = decoded.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return error["code"]
    return None


def _describe(error: Exception) -> str:
    """A short reason without the URL (which could carry signed query strings)."""
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "connection failed"
    if isinstance(error, urllib3.exceptions.SSLError):
        return "TLS error"
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        return _describe(error.reason)
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return "connection broken"
    return type(error).__name__
