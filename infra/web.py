"""The shopper portal's static site: content-hashed build and upload to the stack's bucket.

    python -m infra.web build [--src web/portal] [--out .aws-sam/web/portal]
    python -m infra.web deploy [--stack-name homeward-dev | --config-env prod] [--region us-east-1]

`build` copies the sources and renames every file under `assets/` to `name.<hash>.ext`, where
<hash> is the first 8 hex digits of the SHA-256 of the file's final content, and rewrites the
references to it: `src` / `href` attributes in HTML, the relative specifiers of
`import ... from "./x.js"`, `import "./x.js"`, `export ... from "./x.js"`, `import("./x.js")` and
`new URL("./x", import.meta.url)` in JavaScript, and `url(...)` / `@import "..."` in CSS. Leaves
are hashed first, so a file's name covers its dependencies' names: changing a module renames
every module that imports it, up to index.html (which keeps its name and is never cached).
Modules that import each other in a cycle share one hash over their common content. The output
is the same bytes for the same sources.

`deploy` builds, reads the stack's Outputs (`PortalBucketName`, `PortalDistributionId`),
uploads the hashed assets (`Cache-Control: public, max-age=31536000, immutable`) and then the
HTML (`no-cache`), so a new index.html never points at an asset not yet uploaded; then it deletes
what neither this release nor the previous one uses (open tabs keep loading the previous
release's modules) and invalidates `/` and `/index.html` in CloudFront. Nothing in the build
needs Node.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import mimetypes
import posixpath
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "web" / "portal"
BUILD_DIR = ROOT / ".aws-sam" / "web" / "portal"  # .aws-sam is gitignored; `make clean` removes it
ASSETS_PREFIX = "assets/"
HASH_LENGTH = 8

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
RELEASE_MARKER = "_release.json"  # what the last two deploys uploaded (asset names are public anyway)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}


class BuildError(Exception):
    """A reference that points at no file, or sources that cannot be built."""


def content_type(key: str) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    if key.startswith(ASSETS_PREFIX) and re.fullmatch(rf"\.[0-9a-f]{{{HASH_LENGTH}}}", suffix):
        suffix = ""  # assets/LICENSE.1a2b3c4d: a hashed name without an extension
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def cache_control(key: str) -> str:
    """Hashed assets never change under their name; everything else is revalidated each time."""
    return IMMUTABLE if key.startswith(ASSETS_PREFIX) else NO_CACHE


def hashed_name(path: str, digest: str) -> str:
    """assets/app.js + 1a2b3c4d... -> assets/app.1a2b3c4d.js (a name without extension gets a suffix)."""
    posix = PurePosixPath(path)
    stem, suffix = (posix.stem, posix.suffix) if posix.suffix else (posix.name, "")
    return str(posix.with_name(f"{stem}.{digest[:HASH_LENGTH]}{suffix}"))


# ---- references ------------------------------------------------------------------------------

_Q = r"""(?P<q>["'])"""
_SPEC = r"(?P<spec>\.{1,2}/[^\"'\s]*?)"
_JS_PATTERNS = [
    # import x from "./x.js"; import {a, b as c} from './x.js'; import * as n from "./x.js"
    re.compile(r"\bimport\s*[\w$*{}\s,]*?\s*from\s*" + _Q + _SPEC + r"(?P=q)"),
    # import "./x.js" (side effects only)
    re.compile(r"\bimport\s*" + _Q + _SPEC + r"(?P=q)"),
    # export * from "./x.js"; export {a} from "./x.js"; export * as n from "./x.js"
    re.compile(r"\bexport\s*[\w$*{}\s,]*?\s*from\s*" + _Q + _SPEC + r"(?P=q)"),
    # import("./x.js")
    re.compile(r"\bimport\s*\(\s*" + _Q + _SPEC + r"(?P=q)\s*\)"),
    # new URL("./icon.svg", import.meta.url)
    re.compile(r"\bnew\s+URL\s*\(\s*" + _Q + _SPEC + r"(?P=q)\s*,\s*import\.meta\.url\s*\)"),
]
_CSS_PATTERNS = [
    re.compile(r"url\(\s*(?P<q>[\"']?)(?P<spec>[^\"')\s]+)(?P=q)\s*\)"),
    re.compile(r"@import\s+" + _Q + r"(?P<spec>[^\"']+)(?P=q)"),
]
_HTML_PATTERNS = [
    re.compile(r"""(?<=[\s"'])(?:src|href)\s*=\s*(?P<q>["'])(?P<spec>[^"']*)(?P=q)""", re.IGNORECASE),
]
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.IGNORECASE)  # http:, data:, mailto:, //host, #frag


def _patterns(path: str) -> list[re.Pattern]:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".js", ".mjs"):
        return _JS_PATTERNS
    if suffix == ".css":
        return _CSS_PATTERNS
    if suffix in (".html", ".htm"):
        return _HTML_PATTERNS
    return []


def _resolve(source: str, spec: str) -> str | None:
    """Site-relative path a reference in `source` points at (None: external, or the site root)."""
    spec = html.unescape(spec) if source.endswith((".html", ".htm")) else spec
    if not spec or _EXTERNAL.match(spec):
        return None
    target = spec.split("#", 1)[0].split("?", 1)[0]
    if not target:
        return None
    joined = (
        target.lstrip("/") if target.startswith("/") else posixpath.join(posixpath.dirname(source), target)
    )
    normalized = posixpath.normpath(joined)
    return None if normalized in (".", "") or normalized.startswith("..") else normalized


def _respell(source: str, spec: str, new_target: str) -> str:
    """`spec` pointing at new_target, in the same style (./x, ../x, /x, x) and with its ?query#fragment."""
    rest = spec[len(re.split(r"[?#]", spec, maxsplit=1)[0]) :]
    if spec.startswith("/"):
        return "/" + new_target + rest
    relative = posixpath.relpath(new_target, posixpath.dirname(source) or ".")
    if spec.startswith("./") and not relative.startswith("../"):
        relative = "./" + relative
    return relative + rest


def references(path: str, text: str, files: set[str]) -> list[tuple[re.Match, str]]:
    """(match, target) for every reference in `text` to a file in `files`; a relative module
    specifier or CSS url that points nowhere is an error, so a typo fails the build."""
    found = []
    for pattern in _patterns(path):
        for match in pattern.finditer(text):
            target = _resolve(path, match.group("spec"))
            if target is None:
                continue
            if target in files:
                found.append((match, target))
            elif not path.endswith((".html", ".htm")) or target.startswith(ASSETS_PREFIX):
                raise BuildError(f"{path}: {match.group('spec')!r} points at no file ({target})")
    return found


def rewrite(path: str, text: str, files: set[str], names: dict[str, str]) -> str:
    """`text` with every reference to a renamed file pointing at its new name."""
    edits = []
    for match, target in references(path, text, files):
        if target in names and names[target] != target:
            start, end = match.span("spec")
            edits.append((start, end, _respell(path, match.group("spec"), names[target])))
    for start, end, new in sorted(set(edits), reverse=True):
        text = text[:start] + new + text[end:]
    return text


# ---- the build ------------------------------------------------------------------------------------


@dataclass
class Site:
    """A built site: its files by key (the S3 key / URL path without the leading slash)."""

    root: Path
    names: dict[str, str] = field(default_factory=dict)  # source path -> built key

    @property
    def keys(self) -> list[str]:
        return sorted(self.names.values())

    def asset_keys(self) -> list[str]:
        return [k for k in self.keys if k.startswith(ASSETS_PREFIX)]

    def page_keys(self) -> list[str]:
        return [k for k in self.keys if not k.startswith(ASSETS_PREFIX)]


def source_files(src: Path) -> dict[str, bytes]:
    """Every file under src (dot files excluded), by posix path relative to it."""
    if not src.is_dir():
        raise BuildError(f"{src} does not exist")
    files = {}
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path.read_bytes()
    return files


def _textual(path: str) -> bool:
    return bool(_patterns(path))


def _components(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), each after every component it depends on."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(edges[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            result.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(nodes) + 100))
    try:
        for node in nodes:
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return result


def plan(files: dict[str, bytes]) -> tuple[dict[str, str], dict[str, bytes]]:
    """(source path -> built key, built key -> content) for a set of source files."""
    paths = set(files)
    texts = {p: files[p].decode("utf-8") for p in paths if _textual(p)}
    edges = {
        p: ({t for _, t in references(p, texts[p], paths)} - {p} if p in texts else set()) for p in paths
    }
    names: dict[str, str] = {}
    output: dict[str, bytes] = {}
    for component in _components(sorted(paths), edges):
        members = set(component)

        def body(path: str, own: dict[str, str]) -> bytes:
            if path not in texts:
                return files[path]
            return rewrite(path, texts[path], paths, {**names, **own}).encode("utf-8")

        if len(component) == 1:
            (path,) = component
            content = body(path, {})
            names[path] = hashed_name(path, _sha(content)) if path.startswith(ASSETS_PREFIX) else path
            output[names[path]] = content
            continue
        # A cycle: references inside it cannot carry their targets' final hashes, so every member
        # is named after one hash over all members (rewritten for the dependencies outside).
        combined = hashlib.sha256()
        for path in component:
            combined.update(path.encode() + b"\0" + body(path, {}) + b"\0")
        digest = combined.hexdigest()
        own = {
            p: hashed_name(p, _sha(digest.encode() + p.encode())) if p.startswith(ASSETS_PREFIX) else p
            for p in members
        }
        for path in component:
            names[path] = own[path]
            output[own[path]] = body(path, own)
    return names, output


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(src: Path = SOURCE_DIR, out: Path = BUILD_DIR) -> Site:
    """Build `src` into `out` (emptied first); the same sources always give the same bytes."""
    names, output = plan(source_files(src))
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    for key, content in output.items():
        target = out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return Site(out, names)


def fingerprint(src: Path = SOURCE_DIR) -> tuple:
    """Cheap change detection for the sources (paths, sizes, mtimes)."""
    if not src.is_dir():
        return ()
    entries = []
    for path in sorted(src.rglob("*")):
        if path.is_file():
            stat = path.stat()
            entries.append((path.relative_to(src).as_posix(), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


# ---- deploy ---------------------------------------------------------------------------------------


def stack_outputs(cloudformation, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@dataclass
class DeployReport:
    bucket: str
    distribution_id: str | None
    uploaded: list[str]
    unchanged: list[str]
    deleted: list[str]
    kept_from_previous: list[str]
    invalidation_id: str | None


def _existing_keys(s3, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys |= {item["Key"] for item in page.get("Contents", [])}
    return keys


def _previous_release(s3, bucket: str, existing: set[str]) -> set[str]:
    """Keys of the release live before this deploy: from the marker, or (first deploy with a
    marker, onto a bucket filled by hand) everything already there."""
    if RELEASE_MARKER not in existing:
        return existing
    try:
        marker = json.loads(s3.get_object(Bucket=bucket, Key=RELEASE_MARKER)["Body"].read())
        return set(marker["current"]["keys"])
    except (ValueError, KeyError, TypeError):
        return existing


def _upload(site: Site, s3, bucket: str, existing: set[str]) -> tuple[list[str], list[str]]:
    """Upload the site's files, assets first (the pages point at them); (uploaded, unchanged)."""
    uploaded, unchanged = [], []
    for key in [*site.asset_keys(), *site.page_keys()]:
        if key.startswith(ASSETS_PREFIX) and key in existing:
            unchanged.append(key)  # same name = same content
            continue
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=(site.root / key).read_bytes(),
            ContentType=content_type(key),
            CacheControl=cache_control(key),
        )
        uploaded.append(key)
    return uploaded, unchanged


def _write_marker(s3, bucket: str, release_id: str, current: set[str], previous: set[str]) -> None:
    """The release marker: this release's keys and the previous one's still in the bucket."""
    marker = {
        "current": {"id": release_id, "keys": sorted(current)},
        "previous": {"keys": sorted(previous)},
    }
    s3.put_object(
        Bucket=bucket,
        Key=RELEASE_MARKER,
        Body=json.dumps(marker, indent=1).encode(),
        ContentType="application/json",
        CacheControl="no-store",
    )


def publish(
    site: Site,
    *,
    s3,
    bucket: str,
    cloudfront=None,
    distribution_id: str | None = None,
    release_id: str | None = None,
    log: Callable[[str], None] = print,
) -> DeployReport:
    """Upload a built site: assets, then pages, then prune, then invalidate the pages."""
    release_id = release_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    existing = _existing_keys(s3, bucket)
    previous = _previous_release(s3, bucket, existing)
    uploaded, unchanged = _upload(site, s3, bucket, existing)
    current = set(site.keys)
    stale = sorted(existing - current - previous - {RELEASE_MARKER})
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": k} for k in stale[start : start + 1000]], "Quiet": True},
        )
    _write_marker(s3, bucket, release_id, current, previous & existing)
    invalidation_id = None
    if cloudfront is not None and distribution_id:
        invalidation_id = cloudfront.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": 2, "Items": ["/index.html", "/"]},
                "CallerReference": f"homeward-{release_id}",
            },
        )["Invalidation"]["Id"]
    log(
        f"portal: {len(uploaded)} uploaded, {len(unchanged)} unchanged, {len(stale)} stale deleted, "
        f"{len(previous - current)} kept from the previous release"
        + (f", invalidation {invalidation_id}" if invalidation_id else "")
    )
    return DeployReport(
        bucket, distribution_id, uploaded, unchanged, stale, sorted(previous - current), invalidation_id
    )


def samconfig_target(config_env: str, path: Path = ROOT / "samconfig.toml") -> tuple[str, str | None]:
    """(stack name, region) that `sam deploy --config-env <config_env>` uses."""
    import tomllib

    config = tomllib.loads(path.read_text()).get(config_env) or {}
    merged = {
        **(config.get("global", {}).get("parameters") or {}),
        **(config.get("deploy", {}).get("parameters") or {}),
    }
    if "stack_name" not in merged:
        raise SystemExit(f"{path.name} has no stack_name for config env {config_env!r}; pass --stack-name")
    return merged["stack_name"], merged.get("region")


def deploy(stack_name: str, *, region: str | None, profile: str | None, src: Path, out: Path) -> DeployReport:
    import boto3

    session = boto3.session.Session(region_name=region, profile_name=profile)
    outputs = stack_outputs(session.client("cloudformation"), stack_name)
    missing = [k for k in ("PortalBucketName", "PortalDistributionId") if k not in outputs]
    if missing:
        raise SystemExit(f"stack {stack_name} has no output {', '.join(missing)}: deploy template.yaml first")
    site = build(src, out)
    report = publish(
        site,
        s3=session.client("s3"),
        bucket=outputs["PortalBucketName"],
        cloudfront=session.client("cloudfront"),
        distribution_id=outputs["PortalDistributionId"],
    )
    if outputs.get("PortalUrl"):
        print(f"Portal: {outputs['PortalUrl']}/")
    return report


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.web", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build the portal with hashed asset names")
    deploy_cmd = commands.add_parser("deploy", help="build, upload to the stack's bucket, invalidate")
    for cmd in (build_cmd, deploy_cmd):
        cmd.add_argument("--src", type=Path, default=SOURCE_DIR, help="sources (default: web/portal)")
        cmd.add_argument(
            "--out", type=Path, default=BUILD_DIR, help="build dir (default: .aws-sam/web/portal)"
        )
    deploy_cmd.add_argument("--stack-name", help="default: the stack_name of --config-env in samconfig.toml")
    deploy_cmd.add_argument("--config-env", default="default", help="samconfig.toml environment")
    deploy_cmd.add_argument("--region", default=None, help="default: the config env's region, else boto3's")
    deploy_cmd.add_argument("--profile", default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.command == "build":
            site = build(args.src, args.out)
            print(f"built {len(site.keys)} files into {args.out}")
            for source, key in sorted(site.names.items()):
                if source != key:
                    print(f"  {source} -> {key}")
        else:
            stack_name, region = args.stack_name, args.region
            if not stack_name:
                stack_name, configured_region = samconfig_target(args.config_env)
                region = region or configured_region
            deploy(stack_name, region=region, profile=args.profile, src=args.src, out=args.out)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
