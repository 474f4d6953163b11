"""infra/web.py: the portal's content-hashed build, and its upload to the stack (moto in-process)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra import web

SOURCES = {
    "index.html": (
        '<!doctype html><html><head><link rel="stylesheet" href="assets/app.css">'
        '<link rel="icon" href="./assets/favicon.svg"><script type="module" src="assets/app.js"></script>'
        '</head><body><a href="#/">home</a><a href="https://example.com/x.js">x</a></body></html>'
    ),
    "assets/app.js": (
        'import { render } from "./ui.js";\n'
        "import {\n  t,\n  setLocale as use,\n} from './i18n.js';\n"
        'export * from "./util.js";\n'
        'import "./side.js";\n'
        'const icon = new URL("./favicon.svg", import.meta.url);\n'
        'const page = () => import("./pages/order.js");\n'
        'const text = "import from nowhere";\n'
        "render(t, use, icon, page, text);\n"
    ),
    "assets/ui.js": 'import { esc } from "./util.js";\nexport function render() { return esc; }\n',
    "assets/util.js": "export const esc = (s) => s;\n",
    "assets/side.js": "globalThis.loaded = true;\n",
    "assets/i18n.js": (
        'export const t = 1;\nexport const setLocale = (l) => import("./i18n/" + l + ".js");\n'
        'export const en = () => import("./i18n/en.js");\n'
    ),
    "assets/i18n/en.js": 'import { esc } from "../util.js";\nexport default { hi: esc("Hello") };\n',
    "assets/pages/order.js": 'import { render } from "../ui.js";\nexport default render;\n',
    "assets/app.css": (
        "@import './base.css';\n.logo { background: url(\"favicon.svg\") }\n"
        ".x { background: url(data:image/png;base64,AAAA) } .y { mask: url(#m) }\n"
    ),
    "assets/base.css": "body { margin: 0 }\n",
    "assets/favicon.svg": '<svg xmlns="http://www.w3.org/2000/svg"></svg>\n',
    "robots.txt": "User-agent: *\n",
    ".DS_Store": "junk",
}
HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{8})(?P<ext>\.[a-z0-9]+)?$")


def write_sources(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture()
def src(tmp_path) -> Path:
    return write_sources(tmp_path / "src", SOURCES)


def built(site: web.Site) -> dict[str, str]:
    return {key: (site.root / key).read_text() for key in site.keys}


def test_every_asset_is_named_after_the_hash_of_its_final_content(src, tmp_path):
    site = web.build(src, tmp_path / "out")
    files = built(site)

    assert site.page_keys() == ["index.html", "robots.txt"]  # pages keep their names; dot files are left out
    assert len(site.asset_keys()) == 10
    for source, key in site.names.items():
        if not source.startswith("assets/"):
            continue
        match = HASHED.match(Path(key).name)
        assert match and Path(source).name == f"{match['stem']}{match['ext'] or ''}", (source, key)
        digest = hashlib.sha256((site.root / key).read_bytes()).hexdigest()
        assert match["hash"] == digest[:8], key  # of the content as served, references rewritten
    # Every reference in the output names a built file (and no source name survives).
    names = site.names
    index = files["index.html"]
    assert f'href="{names["assets/app.css"]}"' in index
    assert f'href="./{names["assets/favicon.svg"]}"' in index  # the spelling style is kept
    assert f'src="{names["assets/app.js"]}"' in index
    assert 'href="#/"' in index and 'href="https://example.com/x.js"' in index  # not files: untouched


def test_js_css_references_are_rewritten_relative_to_each_file(src, tmp_path):
    site = web.build(src, tmp_path / "out")
    files, names = built(site), site.names

    def base(source: str) -> str:
        return Path(names[source]).name

    app = files[names["assets/app.js"]]
    assert f'from "./{base("assets/ui.js")}"' in app
    assert f"}} from './{base('assets/i18n.js')}'" in app  # a multi-line import, single quotes
    assert f'export * from "./{base("assets/util.js")}"' in app
    assert f'import "./{base("assets/side.js")}"' in app
    assert f'new URL("./{base("assets/favicon.svg")}", import.meta.url)' in app
    assert f'import("./pages/{base("assets/pages/order.js")}")' in app
    assert '"import from nowhere"' in app
    i18n = files[names["assets/i18n.js"]]
    assert f'import("./i18n/{base("assets/i18n/en.js")}")' in i18n
    assert 'import("./i18n/" + l + ".js")' in i18n  # not a literal specifier: left alone
    assert f'from "../{base("assets/util.js")}"' in files[names["assets/i18n/en.js"]]
    assert f'from "../{base("assets/ui.js")}"' in files[names["assets/pages/order.js"]]
    css = files[names["assets/app.css"]]
    assert f"@import './{base('assets/base.css')}'" in css
    assert f'url("{base("assets/favicon.svg")}")' in css
    assert "url(data:image/png;base64,AAAA)" in css and "url(#m)" in css


def test_the_build_is_idempotent(src, tmp_path):
    first = built(web.build(src, tmp_path / "a"))
    second = built(web.build(src, tmp_path / "b"))
    again = built(web.build(src, tmp_path / "a"))  # over an earlier build: emptied first
    assert first == second == again


def test_a_change_in_a_leaf_module_renames_every_importer_up_to_the_page(src, tmp_path):
    before = web.build(src, tmp_path / "a").names
    (src / "assets" / "util.js").write_text("export const esc = (s) => String(s);\n")
    after = web.build(src, tmp_path / "b").names

    changed = {source for source in before if before[source] != after[source]}
    # util.js <- ui.js <- pages/order.js, i18n/en.js <- i18n.js <- app.js; app.js re-exports util.js too.
    assert changed == {
        "assets/util.js",
        "assets/ui.js",
        "assets/pages/order.js",
        "assets/i18n/en.js",
        "assets/i18n.js",
        "assets/app.js",
    }
    assert after["assets/side.js"] == before["assets/side.js"]
    assert after["assets/app.css"] == before["assets/app.css"]
    assert (tmp_path / "b" / "index.html").read_text() != (tmp_path / "a" / "index.html").read_text()


def test_modules_in_an_import_cycle_get_stable_names_that_follow_their_content(tmp_path):
    files = {
        "index.html": '<script type="module" src="assets/a.js"></script>',
        "assets/a.js": 'import { b } from "./b.js";\nexport const a = 1;\n',
        "assets/b.js": 'import { a } from "./a.js";\nimport { c } from "./c.js";\nexport const b = 2;\n',
        "assets/c.js": "export const c = 3;\n",
    }
    src = write_sources(tmp_path / "src", files)
    one = web.build(src, tmp_path / "one")
    assert one.names == web.build(src, tmp_path / "two").names
    a, b = (
        (one.root / one.names["assets/a.js"]).read_text(),
        (one.root / one.names["assets/b.js"]).read_text(),
    )
    assert Path(one.names["assets/b.js"]).name in a and Path(one.names["assets/a.js"]).name in b
    (src / "assets" / "c.js").write_text("export const c = 4;\n")
    three = web.build(src, tmp_path / "three")
    assert all(three.names[f"assets/{m}.js"] != one.names[f"assets/{m}.js"] for m in "abc")


def test_a_reference_to_a_missing_module_fails_the_build(src, tmp_path):
    (src / "assets" / "ui.js").write_text('import { x } from "./nope.js";\n')
    with pytest.raises(web.BuildError, match="nope.js"):
        web.build(src, tmp_path / "out")


def test_headers_by_key():
    assert web.cache_control("index.html") == "no-cache"
    assert web.cache_control("assets/app.1a2b3c4d.js") == "public, max-age=31536000, immutable"
    assert web.content_type("index.html") == "text/html; charset=utf-8"
    assert web.content_type("assets/app.1a2b3c4d.js") == "text/javascript; charset=utf-8"
    assert web.content_type("assets/app.1a2b3c4d.css") == "text/css; charset=utf-8"
    assert web.content_type("assets/logo.1a2b3c4d.svg") == "image/svg+xml"
    assert web.content_type("assets/vendor/LICENSE.1a2b3c4d") == "text/plain; charset=utf-8"


def test_cli_build(src, tmp_path, capsys):
    assert web.main(["build", "--src", str(src), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "index.html").is_file()
    assert "assets/app.js -> assets/app." in capsys.readouterr().out


# ---- deploy --------------------------------------------------------------------------------------


@pytest.fixture()
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        cloudfront = boto3.client("cloudfront", region_name="us-east-1")
        s3.create_bucket(Bucket="portal-bucket")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "test",
                "Comment": "portal",
                "Enabled": True,
                "DefaultRootObject": "index.html",
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "portal-bucket",
                            "DomainName": "portal-bucket.s3.us-east-1.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "portal-bucket",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
            }
        )["Distribution"]
        yield {"s3": s3, "cloudfront": cloudfront, "distribution_id": distribution["Id"]}


def publish(aws, site, release):
    return web.publish(
        site,
        s3=aws["s3"],
        bucket="portal-bucket",
        cloudfront=aws["cloudfront"],
        distribution_id=aws["distribution_id"],
        release_id=release,
        log=lambda _: None,
    )


def bucket_keys(aws) -> set[str]:
    return {o["Key"] for o in aws["s3"].list_objects_v2(Bucket="portal-bucket").get("Contents", [])}


def test_deploy_uploads_with_cache_and_content_headers_and_invalidates_the_page(aws, src, tmp_path):
    site = web.build(src, tmp_path / "out")
    report = publish(aws, site, "r1")

    assert bucket_keys(aws) == set(site.keys) | {web.RELEASE_MARKER}
    assert report.uploaded[-2:] == ["index.html", "robots.txt"]  # pages after every asset
    page = aws["s3"].get_object(Bucket="portal-bucket", Key="index.html")
    assert page["CacheControl"] == "no-cache" and page["ContentType"] == "text/html; charset=utf-8"
    assert page["Body"].read() == (site.root / "index.html").read_bytes()
    script = aws["s3"].head_object(Bucket="portal-bucket", Key=site.names["assets/app.js"])
    assert script["CacheControl"] == "public, max-age=31536000, immutable"
    assert script["ContentType"] == "text/javascript; charset=utf-8"
    icon = aws["s3"].head_object(Bucket="portal-bucket", Key=site.names["assets/favicon.svg"])
    assert icon["ContentType"] == "image/svg+xml"
    invalidation = aws["cloudfront"].get_invalidation(
        DistributionId=aws["distribution_id"], Id=report.invalidation_id
    )["Invalidation"]
    assert sorted(invalidation["InvalidationBatch"]["Paths"]["Items"]) == ["/", "/index.html"]


def test_deploy_keeps_the_previous_release_and_deletes_older_ones_after_uploading(aws, src, tmp_path):
    first = web.build(src, tmp_path / "1")
    publish(aws, first, "r1")
    (src / "assets" / "util.js").write_text("export const esc = (s) => `${s}`;\n")
    second = web.build(src, tmp_path / "2")
    report = publish(aws, second, "r2")

    assert report.deleted == []  # release 1 is the previous one: its tabs keep working
    assert set(first.keys) | set(second.keys) <= bucket_keys(aws)
    assert first.names["assets/side.js"] in report.unchanged  # same name, same bytes: not sent again
    marker = json.loads(aws["s3"].get_object(Bucket="portal-bucket", Key=web.RELEASE_MARKER)["Body"].read())
    assert marker["current"] == {"id": "r2", "keys": second.keys}

    (src / "assets" / "util.js").write_text("export const esc = (s) => s + '';\n")
    third = web.build(src, tmp_path / "3")
    report = publish(aws, third, "r3")
    only_first = set(first.keys) - set(second.keys) - set(third.keys)
    assert only_first and set(report.deleted) == only_first
    assert bucket_keys(aws) == set(second.keys) | set(third.keys) | {web.RELEASE_MARKER}


def test_deploy_reads_the_bucket_and_distribution_from_the_stack_outputs(aws, src, tmp_path, monkeypatch):
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    body = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "PortalBucketName": {"Value": "portal-bucket"},
            "PortalDistributionId": {"Value": aws["distribution_id"]},
            "PortalUrl": {"Value": "https://returns.example.com"},
        },
    }
    cloudformation.create_stack(StackName="homeward-test", TemplateBody=json.dumps(body))
    assert web.stack_outputs(cloudformation, "homeward-test")["PortalBucketName"] == "portal-bucket"

    report = web.deploy("homeward-test", region="us-east-1", profile=None, src=src, out=tmp_path / "out")
    assert "index.html" in report.uploaded and report.invalidation_id
    assert aws["s3"].head_object(Bucket="portal-bucket", Key="index.html")["CacheControl"] == "no-cache"


def test_deploy_targets_the_stack_of_a_samconfig_environment():
    assert web.samconfig_target("default") == ("homeward-dev", "us-east-1")
    assert web.samconfig_target("prod") == ("homeward-prod", "us-east-1")
    with pytest.raises(SystemExit, match="no stack_name"):
        web.samconfig_target("nope")


def test_make_deploy_is_sam_build_then_sam_deploy_then_the_portal_files():
    import subprocess

    proc = subprocess.run(
        ["make", "-n", "deploy", "CONFIG_ENV=prod"], cwd=web.ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [
        next(i for i, line in enumerate(lines) if "/sam build" in line),
        next(i for i, line in enumerate(lines) if "/sam deploy --config-env prod" in line),
        next(i for i, line in enumerate(lines) if "-m infra.web deploy --config-env prod" in line),
    ]
    assert steps == sorted(steps), proc.stdout
