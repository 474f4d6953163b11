"""The template's CloudFront distribution on the local gateway's origin: the portal and the API.

Like the distribution, the gateway sends each request to the first cache behavior whose
PathPattern matches (`*` any characters, `?` one), else to the default behavior; a behavior
whose origin is the HTTP API goes to the local API, one whose origin is the S3 bucket is
answered from a build of web/portal (`python -m infra.web`'s build: hashed asset names and
rewritten references, the same bytes `make deploy` uploads). So an API path wins exactly where
it would in AWS, and a page path never reaches a handler. A request sent to the API gets what
CloudFront adds on the way: the origin's OriginCustomHeaders (X-Homeward-Edge) and
CloudFront-Viewer-Address (the client's ip:port), replacing any the client sent.

Static answers, as S3 behind an origin access control answers CloudFront:
- GET / HEAD only (the behavior's AllowedMethods; others get CloudFront's 403);
- `/` is the DefaultRootObject (index.html); a missing key is S3's 403 AccessDenied (the
  distribution's access control may only GetObject, so S3 does not reveal a 404);
- Content-Type and Cache-Control as the deploy sets them (`no-cache` for HTML and other
  unhashed files, `public, max-age=31536000, immutable` under assets/), an ETag and 304 for
  If-None-Match, gzip when the client accepts it (CloudFront compresses 1 KB - 10 MB);
- the headers of the behavior's ResponseHeadersPolicy, read from the template and resolved
  with the local resources. The buckets' S3 host names in the CSP become the local moto
  origin, which is where presigned URLs point locally.

The build is made at start into a temporary directory and made again when a request for
index.html (or `/`) finds the sources changed (paths, sizes, mtimes), so a reload shows an
edit; assets of earlier builds stay served, as the deploy keeps the previous release. A
build error is logged and the last good build keeps being served.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote

from infra import web
from infra.local.console import say
from infra.local.gateway import Request, Response
from infra.local.provision import Resources

DISTRIBUTION_TYPE = "AWS::CloudFront::Distribution"
HEADERS_POLICY_TYPE = "AWS::CloudFront::ResponseHeadersPolicy"
ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)
METHOD_NOT_ALLOWED = b"This distribution is not configured to allow the HTTP request method that was used."
COMPRESSIBLE = re.compile(r"^(text/|application/(json|javascript|manifest\+json|xml)|image/svg\+xml)")
COMPRESS_MIN, COMPRESS_MAX = 1000, 10_000_000


def path_pattern(pattern: str) -> re.Pattern:
    """A CloudFront PathPattern (case-sensitive; `*` any characters including '/', `?` one)."""
    pattern = pattern if pattern.startswith("/") else "/" + pattern
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL)


@dataclass
class Behavior:
    pattern: str
    origin: str  # "api" or "site"
    methods: frozenset[str]
    headers: list[tuple[str, str]] = field(default_factory=list)  # response headers policy
    origin_headers: list[tuple[str, str]] = field(default_factory=list)  # the origin's custom headers

    def matches(self, path: str) -> bool:
        return bool(path_pattern(self.pattern).match(path))


def security_headers(config: dict) -> list[tuple[str, str]]:
    """The response headers a (resolved) ResponseHeadersPolicyConfig adds."""
    headers: list[tuple[str, str]] = []
    security = config.get("SecurityHeadersConfig") or {}
    if csp := security.get("ContentSecurityPolicy"):
        headers.append(("Content-Security-Policy", " ".join(str(csp["ContentSecurityPolicy"]).split())))
    if hsts := security.get("StrictTransportSecurity"):
        headers.append(("Strict-Transport-Security", _hsts(hsts)))
    if "ContentTypeOptions" in security:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if referrer := security.get("ReferrerPolicy"):
        headers.append(("Referrer-Policy", referrer["ReferrerPolicy"]))
    if frame := security.get("FrameOptions"):
        headers.append(("X-Frame-Options", frame["FrameOption"]))
    if xss := security.get("XSSProtection"):
        headers.append(("X-XSS-Protection", _xss_protection(xss)))
    for item in (config.get("CustomHeadersConfig") or {}).get("Items") or []:
        headers.append((item["Header"], str(item["Value"])))
    return headers


def _true(value) -> bool:
    return str(value).lower() == "true"


def _hsts(hsts: dict) -> str:
    value = f"max-age={hsts['AccessControlMaxAgeSec']}"
    if _true(hsts.get("IncludeSubdomains")):
        value += "; includeSubDomains"
    if _true(hsts.get("Preload")):
        value += "; preload"
    return value


def _xss_protection(xss: dict) -> str:
    value = "1" if _true(xss.get("Protection")) else "0"
    if _true(xss.get("ModeBlock")):
        value += "; mode=block"
    elif xss.get("ReportUri"):
        value += f"; report={xss['ReportUri']}"
    return value


def localize_csp(value: str, bucket_hosts: list[str], s3_origin: str) -> str:
    """S3 host sources (https://bucket.s3...amazonaws.com) -> the local S3 origin, once per directive."""
    directives = []
    for directive in value.split(";"):
        tokens, seen = [], set()
        for token in directive.split():
            host = re.sub(r"^https?://", "", token)
            if host in bucket_hosts:
                token = s3_origin
            if token not in seen:
                seen.add(token)
                tokens.append(token)
        if tokens:
            directives.append(" ".join(tokens))
    return "; ".join(directives)


class Distribution:
    """Which origin answers a path, and the S3 origin's answers from a local build."""

    def __init__(
        self,
        behaviors: list[Behavior],
        default: Behavior,
        root_object: str,
        *,
        src: Path = web.SOURCE_DIR,
    ) -> None:
        self.behaviors = behaviors
        self.default = default
        self.root_object = root_object
        self.src = Path(src)
        self._lock = threading.Lock()
        self._workdir = Path(tempfile.mkdtemp(prefix="homeward-portal-"))
        self._builds = 0
        self._fingerprint: tuple | None = None
        self._files: dict[str, Path] = {}  # key -> file, the newest build's pages + every build's assets
        self._error: str | None = None

    # ---- from the template -----------------------------------------------------------------------

    @classmethod
    def from_template(
        cls, template: dict, resources: Resources, *, s3_origin: str, src: Path = web.SOURCE_DIR
    ) -> Distribution | None:
        """The first active CloudFront distribution of the template (None: there is none)."""
        logical_id = next((k for k, kind in resources.types.items() if kind == DISTRIBUTION_TYPE), None)
        if logical_id is None:
            return None
        config = template["Resources"][logical_id]["Properties"]["DistributionConfig"]
        origins, origin_headers = {}, {}
        for origin in config.get("Origins", []):
            is_s3 = "S3OriginConfig" in origin or "OriginAccessControlId" in origin
            origins[origin["Id"]] = "site" if is_s3 else "api"
            origin_headers[origin["Id"]] = [
                (item["HeaderName"], str(item["HeaderValue"]))
                for item in resources.resolve(origin.get("OriginCustomHeaders") or [])
            ]
        bucket_hosts = [
            value
            for (bucket, attribute), value in list(resources.attrs.items())
            if resources.types.get(bucket) == "AWS::S3::Bucket"
            and attribute in ("DomainName", "RegionalDomainName", "DualStackDomainName")
        ]

        def behavior(spec: dict, pattern: str) -> Behavior:
            headers = []
            policy = spec.get("ResponseHeadersPolicyId")
            if isinstance(policy, dict) and "Ref" in policy:
                resource = template["Resources"][policy["Ref"]]
                assert resource["Type"] == HEADERS_POLICY_TYPE, policy
                resolved = resources.resolve(resource["Properties"]["ResponseHeadersPolicyConfig"])
                headers = [
                    (name, localize_csp(value, bucket_hosts, s3_origin))
                    if name == "Content-Security-Policy"
                    else (name, value)
                    for name, value in security_headers(resolved)
                ]
            methods = frozenset(str(m).upper() for m in spec.get("AllowedMethods", ["GET", "HEAD"]))
            target = spec["TargetOriginId"]
            return Behavior(
                pattern, origins.get(target, "api"), methods, headers, origin_headers.get(target, [])
            )

        behaviors = [behavior(spec, spec["PathPattern"]) for spec in config.get("CacheBehaviors", []) or []]
        default = behavior(config["DefaultCacheBehavior"], "*")
        return cls(behaviors, default, config.get("DefaultRootObject", ""), src=src)

    # ---- routing --------------------------------------------------------------------------------

    def behavior_for(self, path: str) -> Behavior:
        return next((b for b in self.behaviors if b.matches(path)), self.default)

    def to_api(self, behavior: Behavior, request: Request) -> None:
        """What CloudFront adds to a request it forwards to the API: the origin's custom headers
        and CloudFront-Viewer-Address (both replace whatever the viewer sent under those names)."""
        added = [
            *behavior.origin_headers,
            ("CloudFront-Viewer-Address", f"{request.source_ip}:{request.source_port}"),
        ]
        names = {name.lower() for name, _ in added}
        request.headers = [(k, v) for k, v in request.headers if k.lower() not in names] + added

    def serve(self, behavior: Behavior, request: Request) -> Response:
        """The S3 origin's answer, with the behavior's response headers."""
        response = self._answer(behavior, request)
        response.headers += behavior.headers
        return response

    def _answer(self, behavior: Behavior, request: Request) -> Response:
        if request.method not in behavior.methods:
            return Response(403, [("Content-Type", "text/plain")], METHOD_NOT_ALLOWED)
        key = unquote(request.raw_path).lstrip("/") or self.root_object
        if key == self.root_object or key.endswith(".html"):
            self.refresh()
        path = self._files.get(key)
        if path is None or not path.is_file():
            if self._error and key == self.root_object:
                return Response(500, [("Content-Type", "text/plain; charset=utf-8")], self._error.encode())
            return Response(403, [("Content-Type", "application/xml")], ACCESS_DENIED)
        body = path.read_bytes()
        etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
        headers = [
            ("Content-Type", web.content_type(key)),
            ("Cache-Control", web.cache_control(key)),
            ("ETag", etag),
            ("Last-Modified", formatdate(path.stat().st_mtime, usegmt=True)),
        ]
        if etag in [t.strip() for t in (request.header("if-none-match") or "").split(",")]:
            return Response(304, headers)
        content_type = web.content_type(key)
        accepts = request.header("accept-encoding") or ""
        if (
            COMPRESSIBLE.match(content_type)
            and COMPRESS_MIN <= len(body) <= COMPRESS_MAX
            and "gzip" in [e.split(";")[0].strip() for e in accepts.split(",")]
        ):
            body = gzip.compress(body, mtime=0)
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        return Response(200, headers, body)

    # ---- the build ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Build again if the sources changed since the last build."""
        with self._lock:
            fingerprint = web.fingerprint(self.src)
            if fingerprint == self._fingerprint:
                return
            self._fingerprint = fingerprint
            self._builds += 1
            out = self._workdir / f"build-{self._builds}"
            try:
                site = web.build(self.src, out)
            except (web.BuildError, OSError, UnicodeDecodeError) as exc:
                self._error = f"The portal could not be built from {self.src}: {exc}\n"
                say(f"portal: {self._error.strip()} (serving the last good build)")
                return
            self._error = None
            earlier_assets = {k: f for k, f in self._files.items() if k.startswith(web.ASSETS_PREFIX)}
            self._files = {**earlier_assets, **{key: out / key for key in site.keys}}
            if self._builds > 1:
                say(f"portal: rebuilt {self.src} ({len(site.keys)} files)")

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)
