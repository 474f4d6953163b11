"""template.yaml: the portal's bucket, CloudFront distribution, security headers and PortalUrl wiring."""

from __future__ import annotations

import pytest

from infra.local.portal import path_pattern, security_headers
from infra.local.provision import evaluate_conditions
from infra.template import http_routes, load_template, parameter_defaults, resolve

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
DISTRIBUTION = RESOURCES["PortalDistribution"]["Properties"]["DistributionConfig"]
ORIGINS = {origin["Id"]: origin for origin in DISTRIBUTION["Origins"]}
API_BEHAVIORS = DISTRIBUTION["CacheBehaviors"]
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
WEB_PATHS = [
    "/",
    "/index.html",
    "/assets/app.1a2b3c4d.js",
    "/assets/i18n/de.0badc0de.js",
    "/console/",
    "/robots.txt",
]


def refs_for(**parameters: str) -> dict[str, str]:
    """Ref values for a deploy with these parameter values, conditions included."""
    refs = {
        **parameter_defaults(TEMPLATE),
        **parameters,
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "1" * 12,
    }
    refs.update(
        {
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "homeward-test",
            "AWS::StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/homeward-test/0f0e-uuid",
        }
    )
    refs.update({name: f"{name.lower()}-x" for name in RESOURCES})
    refs.update({f"Condition:{k}": str(v).lower() for k, v in evaluate_conditions(TEMPLATE, refs).items()})
    return refs


ATTRS = {
    ("PortalDistribution", "DomainName"): "d111111abcdef8.cloudfront.net",
    **{(b, "DomainName"): f"{b.lower()}-x.s3.amazonaws.com" for b in ("LabelsBucket", "PhotosBucket")},
    **{
        (b, "RegionalDomainName"): f"{b.lower()}-x.s3.eu-west-1.amazonaws.com"
        for b in ("LabelsBucket", "PhotosBucket")
    },
}


def headers_policy(**parameters: str) -> dict[str, str]:
    config = RESOURCES["PortalHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    return dict(security_headers(resolve(config, refs_for(**parameters), ATTRS)))


def csp_directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}


def api_behavior_for(path: str) -> dict | None:
    """The first ordered behavior CloudFront would pick for this path (None: the default one)."""
    return next((b for b in API_BEHAVIORS if path_pattern(b["PathPattern"]).match(path)), None)


# ---- the bucket and its access ------------------------------------------------------------------


def test_portal_bucket_is_private_encrypted_and_versioned():
    props = RESOURCES["PortalBucket"]["Properties"]
    assert all(
        props["PublicAccessBlockConfiguration"][k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_only_the_distribution_reads_the_bucket_through_its_origin_access_control():
    oac = RESOURCES["PortalOriginAccessControl"]
    assert oac["Type"] == "AWS::CloudFront::OriginAccessControl"
    config = oac["Properties"]["OriginAccessControlConfig"]
    assert (
        config["OriginAccessControlOriginType"],
        config["SigningBehavior"],
        config["SigningProtocol"],
    ) == ("s3", "always", "sigv4")
    origin = ORIGINS[DISTRIBUTION["DefaultCacheBehavior"]["TargetOriginId"]]
    assert origin["DomainName"] == {"Fn::GetAtt": ["PortalBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI

    policy = RESOURCES["PortalBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "PortalBucket"}
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"  # no ListBucket: a missing key is a 403, nothing is listed
    assert allow["Resource"] == {"Fn::Sub": "${PortalBucket.Arn}/*"}
    source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert (
        resolve(source_arn, refs_for())
        == "arn:aws:cloudfront::111111111111:distribution/portaldistribution-x"
    )
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": False}}


# ---- behaviors ----------------------------------------------------------------------------------


def test_the_web_app_is_the_default_behavior_cached_with_the_security_headers():
    default = DISTRIBUTION["DefaultCacheBehavior"]
    assert DISTRIBUTION["DefaultRootObject"] == "index.html"
    assert "S3OriginConfig" in ORIGINS[default["TargetOriginId"]]
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert sorted(default["AllowedMethods"]) == ["GET", "HEAD"]
    assert default["Compress"] is True
    assert default["ResponseHeadersPolicyId"] == {"Ref": "PortalHeadersPolicy"}
    assert DISTRIBUTION["HttpVersion"] == "http2and3"
    assert DISTRIBUTION["PriceClass"] == {"Ref": "PortalPriceClass"}


def test_every_api_route_is_sent_to_the_api_and_no_web_path_is():
    routes = sorted({path for _, path, _ in http_routes(TEMPLATE)})
    assert routes
    # A route whose prefix has no behavior would be answered by the bucket (403) behind the distribution.
    unrouted = [path for path in routes if api_behavior_for(path.replace("{", "x").replace("}", "")) is None]
    assert unrouted == [], "add a CacheBehaviors entry to PortalDistribution for these API paths"
    for behavior in API_BEHAVIORS:
        assert any(path_pattern(behavior["PathPattern"]).match(path) for path in routes), behavior[
            "PathPattern"
        ]
    for path in WEB_PATHS:
        assert api_behavior_for(path) is None, path
    assert {b["PathPattern"] for b in API_BEHAVIORS} == {
        "/portal/*",
        "/orders/*",
        "/ops/*",
        "/webhooks/*",
        "/credits/*",
        "/docs",
        "/openapi.json",
    }


@pytest.mark.parametrize("behavior", API_BEHAVIORS, ids=[b["PathPattern"] for b in API_BEHAVIORS])
def test_api_behaviors_are_uncached_pass_everything_but_host_and_keep_the_api_headers(behavior):
    origin = ORIGINS[behavior["TargetOriginId"]]
    assert origin["DomainName"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert sorted(behavior["AllowedMethods"]) == sorted(
        ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    )
    assert "ResponseHeadersPolicyId" not in behavior
    assert behavior["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")


def test_the_api_origin_marks_requests_that_came_through_the_distribution():
    """Behind CloudFront the API's sourceIp is an edge server; the marker lets a handler trust
    CloudFront-Viewer-Address (the execute-api URL is still reachable without it)."""
    api = next(o for o in ORIGINS.values() if "CustomOriginConfig" in o)
    (header,) = api["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Homeward-Edge"
    assert resolve(header["HeaderValue"], refs_for()) == "0f0e-uuid"  # the stack id's random part


# ---- security headers ---------------------------------------------------------------------------


def test_csp_allows_only_this_origin_and_the_two_buckets_and_no_inline_script():
    headers = headers_policy()
    csp = csp_directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert csp["style-src"] == ["'self'"]
    assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    photos = ["https://photosbucket-x.s3.amazonaws.com", "https://photosbucket-x.s3.eu-west-1.amazonaws.com"]
    labels = ["https://labelsbucket-x.s3.amazonaws.com", "https://labelsbucket-x.s3.eu-west-1.amazonaws.com"]
    assert csp["img-src"] == ["'self'", "data:", "blob:", *labels, *photos]
    assert csp["connect-src"] == ["'self'", *photos]
    assert not any("unsafe" in v for values in csp.values() for v in values)
    assert len(headers["Content-Security-Policy"]) <= 1783  # CloudFront's limit for this header


def test_other_security_headers_and_frame_options_follow_frame_ancestors():
    headers = headers_policy()
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"

    embedded = headers_policy(PortalFrameAncestors="https://shop.example.com 'self'")
    assert "X-Frame-Options" not in embedded  # it would forbid the frame the CSP allows
    assert csp_directives(embedded["Content-Security-Policy"])["frame-ancestors"] == [
        "https://shop.example.com",
        "'self'",
    ]


# ---- domain, certificate and PortalUrl ----------------------------------------------------------


def test_custom_domain_and_certificate_are_optional():
    plain = resolve(
        DISTRIBUTION,
        refs_for(),
        ATTRS | {("PortalBucket", "RegionalDomainName"): "b", ("PortalOriginAccessControl", "Id"): "o"},
    )
    assert "Aliases" not in plain and plain["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    cert = "arn:aws:acm:us-east-1:111111111111:certificate/0f0e0d0c-aaaa-bbbb-cccc-111122223333"
    custom = resolve(
        DISTRIBUTION,
        refs_for(PortalDomainName="returns.shop.example", PortalCertificateArn=cert),
        ATTRS | {("PortalBucket", "RegionalDomainName"): "b", ("PortalOriginAccessControl", "Id"): "o"},
    )
    assert custom["Aliases"] == ["returns.shop.example"]
    assert custom["ViewerCertificate"] == {
        "AcmCertificateArn": cert,
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    rule = TEMPLATE["Rules"]["PortalDomainNeedsCertificate"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PortalCertificateArn"}, ""]}]
    }


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, "https://d111111abcdef8.cloudfront.net"),
        (
            {
                "PortalDomainName": "returns.shop.example",
                "PortalCertificateArn": "arn:aws:acm:us-east-1:1:certificate/x",
            },
            "https://returns.shop.example",
        ),
        ({"PortalUrl": "https://shop.example/returns"}, "https://shop.example/returns"),
    ],
)
def test_portal_url_is_the_parameter_else_the_domain_else_the_distribution(parameters, expected):
    refs = refs_for(**parameters)
    env = RESOURCES["NotificationsFunction"]["Properties"]["Environment"]["Variables"]
    assert resolve(env["PORTAL_URL"], refs, ATTRS) == expected
    assert resolve(TEMPLATE["Outputs"]["PortalUrl"]["Value"], refs, ATTRS) == expected
    cors = RESOURCES["PhotosBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    (rule,) = [r for r in cors if "POST" in r["AllowedMethods"]]
    origins = resolve(rule["AllowedOrigins"], refs, ATTRS)
    assert origins[0] == "*"  # PortalOrigin's default
    assert origins[1] == (
        "https://*.cloudfront.net" if not parameters else "https://" + expected.split("/")[2]
    )


def test_portal_url_parameter_is_only_read_through_the_fallback():
    """Every `!Ref PortalUrl` sits under an `!If [HasPortalUrl, ...]`: an empty one is never used."""
    found = []

    def walk(node, guarded: bool) -> None:
        if isinstance(node, dict):
            if node == {"Ref": "PortalUrl"}:
                found.append(guarded)
            for key, value in node.items():
                if key == "Fn::If" and value[0] == "HasPortalUrl":
                    walk(value[1], True)
                    walk(value[2], guarded)
                else:
                    walk(value, guarded)
        elif isinstance(node, list):
            for item in node:
                walk(item, guarded)

    walk(TEMPLATE["Resources"], False)
    walk(TEMPLATE["Outputs"], False)
    assert found and all(found)


def test_outputs_for_the_asset_upload():
    outputs = TEMPLATE["Outputs"]
    assert outputs["PortalBucketName"]["Value"] == {"Ref": "PortalBucket"}
    assert outputs["PortalDistributionId"]["Value"] == {"Ref": "PortalDistribution"}
    assert "PortalUrl" in outputs
