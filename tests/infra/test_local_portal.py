"""The local gateway as the template's CloudFront distribution (infra/local/portal.py).

First in-process, from template.yaml with local resource values: which origin answers a path,
and the bucket's answers (headers, 403, 304, gzip, rebuild on change). Then once through
`python -m infra.local` with the real template and a fixture web app (`--portal-src`).
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from infra.local.gateway import Request
from infra.local.portal import Distribution, localize_csp
from infra.local.provision import Attributes, Names, Resources
from infra.template import load_template, parameter_defaults
from tests.infra.fixtures.local_process import running_stack

MOTO = "http://127.0.0.1:5999"
BIG = "/* padding */\n" * 200  # over CloudFront's 1 KB compression threshold
WEB_APP = {
    "index.html": (
        '<!doctype html><html><head><link rel="stylesheet" href="assets/app.css">'
        '<script type="module" src="assets/app.js"></script></head><body></body></html>'
    ),
    "assets/app.js": 'import { t } from "./i18n/en.js";\ndocument.title = t;\n' + BIG,
    "assets/i18n/en.js": 'export const t = "Returns";\n',
    "assets/app.css": "body { margin: 0 }\n",
}


def write_app(root: Path) -> Path:
    for name, text in WEB_APP.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def local_resources(**parameters: str) -> Resources:
    template = load_template()
    refs = Names({**parameter_defaults(template), **parameters, "AWS::Region": "us-east-1"})
    refs.update(
        {
            "AWS::StackName": "homeward-local",
            "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/homeward-local/local",
            "AWS::AccountId": "123456789012",
            "AWS::URLSuffix": "amazonaws.com",
        }
    )
    refs["Condition:PortalFramesDenied"] = str(refs["PortalFrameAncestors"] == "'none'").lower()
    attrs = Attributes(warn=lambda message: None)
    types = {}
    for logical_id, resource in template["Resources"].items():
        types[logical_id] = resource["Type"]
        refs[logical_id] = f"homeward-local-{logical_id.lower()}"
        if resource["Type"] == "AWS::S3::Bucket":
            name = refs[logical_id]
            attrs[(logical_id, "DomainName")] = f"{name}.s3.amazonaws.com"
            attrs[(logical_id, "RegionalDomainName")] = f"{name}.s3.us-east-1.amazonaws.com"
    return Resources(refs=refs, attrs=attrs, types=types)


@pytest.fixture()
def app(tmp_path) -> Path:
    return write_app(tmp_path / "web")


@pytest.fixture()
def distribution(app):
    site = Distribution.from_template(load_template(), local_resources(), s3_origin=MOTO, src=app)
    site.refresh()
    yield site
    site.close()


def call(site: Distribution, path: str, method: str = "GET", headers: dict | None = None):
    behavior = site.behavior_for(path)
    assert behavior.origin == "site", path
    request = Request(method, path, "", list((headers or {}).items()), b"", "127.0.0.1", 3000)
    response = site.serve(behavior, request)
    return response.status, dict(response.headers), response.body


def index_refs(site: Distribution) -> tuple[str, str]:
    _, _, body = call(site, "/")
    text = body.decode()
    script = text.split('src="', 1)[1].split('"', 1)[0]
    style = text.split('href="', 1)[1].split('"', 1)[0]
    return "/" + script, "/" + style


def test_paths_go_where_the_distribution_sends_them(distribution):
    for path in (
        "/portal/session",
        "/portal/orders/o1/returns",
        "/orders/o1",
        "/ops/returns",
        "/webhooks/easypost",
        "/credits/C1",
        "/docs",
        "/openapi.json",
    ):
        assert distribution.behavior_for(path).origin == "api", path
    for path in ("/", "/index.html", "/assets/app.js", "/docs/x", "/portal", "/console/", "/favicon.ico"):
        assert distribution.behavior_for(path).origin == "site", path


def test_root_is_index_html_with_the_template_headers_resolved_locally(distribution):
    status, headers, body = call(distribution, "/")
    assert status == 200 and body.startswith(b"<!doctype html>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    # The buckets' S3 host names became the local S3 (moto) origin, where presigned URLs point.
    assert f"img-src 'self' data: blob: {MOTO};" in csp and f"connect-src 'self' {MOTO};" in csp
    assert "amazonaws.com" not in csp
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert call(distribution, "/index.html")[2] == body


def test_hashed_assets_are_immutable_and_compressed_when_accepted(distribution):
    script, style = index_refs(distribution)
    assert script.startswith("/assets/app.") and script.endswith(".js") and script != "/assets/app.js"
    status, headers, body = call(distribution, script, headers={"Accept-Encoding": "gzip, br"})
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Content-Encoding"] == "gzip" and b"./i18n/en." in gzip.decompress(body)
    assert "Content-Security-Policy" in headers
    status, headers, body = call(distribution, style, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers and body == b"body { margin: 0 }\n"  # under 1 KB: as is
    etag = headers["ETag"]
    assert call(distribution, style, headers={"If-None-Match": etag})[0] == 304


def test_missing_keys_and_other_methods_are_refused_like_cloudfront_and_s3(distribution):
    for path in ("/assets/app.js", "/assets/nope.12345678.js", "/orders", "/robots.txt", "/assets/"):
        status, headers, body = call(distribution, path)
        assert status == 403, path
        assert b"<Code>AccessDenied</Code>" in body and headers["Content-Type"] == "application/xml"
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert call(distribution, "/", method="POST")[0] == 403


def test_an_edit_is_rebuilt_on_the_next_page_load_and_old_assets_stay(distribution, app):
    old_script, _ = index_refs(distribution)
    (app / "assets" / "i18n" / "en.js").write_text('export const t = "Retouren";\n')
    new_script, _ = index_refs(distribution)
    assert new_script != old_script  # en.js changed, so its importer app.js got a new name
    assert call(distribution, old_script)[0] == 200  # a tab opened before keeps working
    (app / "assets" / "app.js").write_text('import "./gone.js";\n')  # a broken edit
    assert index_refs(distribution)[0] == new_script  # the last good build is still served


def test_api_requests_get_what_cloudfront_adds_and_nothing_spoofed(distribution):
    behavior = distribution.behavior_for("/portal/session")
    headers = [("X-Homeward-Edge", "forged"), ("cloudfront-viewer-address", "6.6.6.6:1"), ("Accept", "*/*")]
    request = Request("POST", "/portal/session", "", headers, b"", "127.0.0.7", 3000, source_port=4242)
    distribution.to_api(behavior, request)
    assert sorted(request.headers) == [
        ("Accept", "*/*"),
        ("CloudFront-Viewer-Address", "127.0.0.7:4242"),
        ("X-Homeward-Edge", "local"),
    ]


def test_frame_ancestors_parameter_reaches_the_local_headers(app):
    resources = local_resources(PortalFrameAncestors="https://shop.example.com")
    site = Distribution.from_template(load_template(), resources, s3_origin=MOTO, src=app)
    try:
        site.refresh()
        _, headers, _ = call(site, "/")
    finally:
        site.close()
    assert headers["Content-Security-Policy"].endswith("frame-ancestors https://shop.example.com")
    assert "X-Frame-Options" not in headers


def test_localize_csp():
    csp = (
        "img-src 'self' https://a.s3.amazonaws.com https://a.s3.us-east-1.amazonaws.com https://x.example;"
        " connect-src 'self'"
    )
    hosts = ["a.s3.amazonaws.com", "a.s3.us-east-1.amazonaws.com"]
    assert localize_csp(csp, hosts, MOTO) == f"img-src 'self' {MOTO} https://x.example; connect-src 'self'"


# ---- the real template through python -m infra.local --------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("portal") / "web")
    with running_stack("--no-demo", "--portal-src", str(app)) as process:
        yield process


def fetch(stack, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(stack.api_url + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_local_stack_serves_the_portal_and_the_api_on_one_origin(stack):
    status, headers, body = fetch(stack, "/")
    assert status == 200 and b"<!doctype html>" in body
    assert headers["Cache-Control"] == "no-cache"
    assert f"connect-src 'self' {stack.moto_url}" in headers["Content-Security-Policy"]
    script = "/" + body.decode().split('src="', 1)[1].split('"', 1)[0]
    status, headers, _ = fetch(stack, script)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert fetch(stack, "/assets/missing.12345678.js")[0] == 403

    # API paths win as the distribution's behaviors route them, and keep their own headers.
    status, headers, body = fetch(stack, "/openapi.json")
    assert status == 200 and "paths" in json.loads(body)
    assert "Content-Security-Policy" not in headers
    status, _, body = fetch(stack, "/portal/no-such-route")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}  # the API's 404, not the bucket's
    status, _, body = fetch(stack, "/portal/config")
    assert status in (200, 404) and body.startswith(b"{")

    deadline = time.monotonic() + 10
    while "Portal" not in stack.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"Portal        {stack.api_url}/" in stack.output()


def test_local_photo_bucket_allows_the_portal_origin_to_post(stack):
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    resources = boto3.client(
        "cloudformation",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).describe_stack_resources(StackName="homeward-local")["StackResources"]
    bucket = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "PhotosBucket")
    (rule,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rule["AllowedMethods"] == ["POST"]
    assert stack.api_url in rule["AllowedOrigins"]  # PortalUrl is the local gateway here
