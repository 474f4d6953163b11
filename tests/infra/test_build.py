"""functions/Makefile: the Lambda artifact `make build` (sam build) produces, checked cheaply.

The full `sam build` needs SAM CLI (a separate ~200 MB tool install) and builds every
function (~20 s for six), so it stays in `make build`. What it runs for each function is
functions/Makefile's `build-%` recipe, ~1 s with a warm uv cache plus ~2 s when a python3.13
is found to precompile .pyc (one small aarch64 wheel download on a cold cache). That recipe
runs here for real, once per session into a temporary ARTIFACTS_DIR, and the result is
checked the way Lambda will see it: CPython 3.13 on arm64.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from infra.template import ROOT, functions, load_template

MAKEFILE = ROOT / "functions" / "Makefile"
REQUIREMENTS = ROOT / "functions" / "requirements.txt"
EM_AARCH64 = 183  # ELF e_machine for AArch64


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.skip("uv not installed (make setup installs it in .tools/)")
    return found


def make_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*\?=\s*(\S+)\s*$", MAKEFILE.read_text(), re.M)
    assert match, f"{name} not set in functions/Makefile"
    return match.group(1)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    """What `sam build` gets for one function: functions/Makefile build-<Fn> into ARTIFACTS_DIR."""
    out = tmp_path_factory.mktemp("artifact")
    fn = functions()[0].logical_id
    started = time.perf_counter()
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), f"build-{fn}"],
        cwd=tmp_path_factory.mktemp("scratch"),  # sam runs make from a scratch directory
        env={**os.environ, "ARTIFACTS_DIR": str(out), "UV": _uv(), "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"build-{fn}: {time.perf_counter() - started:.1f} s")
    (out / ".build-log").write_text(proc.stdout + proc.stderr)
    return out


def test_makefile_targets_the_template_runtime():
    """LAMBDA_PYTHON / LAMBDA_PLATFORM in functions/Makefile follow Globals.Function."""
    globals_ = load_template()["Globals"]["Function"]
    assert globals_["Runtime"] == f"python{make_variable('LAMBDA_PYTHON')}"
    arch = {"arm64": "aarch64", "x86_64": "x86_64"}[globals_["Architectures"][0]]
    platform = make_variable("LAMBDA_PLATFORM")
    assert platform.startswith(f"{arch}-manylinux")
    # python3.13+ runs on Amazon Linux 2023 (glibc 2.34): no wheel may need a newer glibc.
    glibc = re.search(r"manylinux_?(\d+)_(\d+)|manylinux(2014)", platform).groups()
    assert glibc[2] == "2014" or (int(glibc[0]), int(glibc[1])) <= (2, 34)


def test_every_function_is_built_by_the_makefile():
    for fn in functions():
        assert fn.code_uri.rstrip("/") == "functions", fn.logical_id
        assert load_template()["Resources"][fn.logical_id]["Metadata"]["BuildMethod"] == "makefile"


def test_build_refuses_to_run_outside_sam(tmp_path):
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), "build-MerchantApiFunction"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "ARTIFACTS_DIR"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "ARTIFACTS_DIR is not set" in proc.stderr


def test_root_make_build_runs_sam_without_docker_or_telemetry():
    proc = subprocess.run(["make", "-n", "build"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    sam = [line for line in proc.stdout.splitlines() if " build " in f"{line} " and "/sam" in line]
    assert sam, proc.stdout
    assert "SAM_CLI_TELEMETRY=0" in sam[-1] and "--use-container" not in sam[-1]
    assert re.search(r"UV=/\S+/uv", sam[-1]), "UV must be an absolute path: sam runs make from a scratch dir"


def test_artifact_has_every_handler_and_no_tests(artifact):
    for fn in functions():
        assert (artifact / (fn.module.replace(".", "/") + ".py")).is_file(), fn.handler
    package = artifact / "homeward"
    assert (package / "openapi.json").is_file()
    assert not list(package.rglob("tests")) and not (artifact / "bin").exists()
    # data files the code reads at run time travel with it
    sources = ROOT / "functions" / "homeward"
    shipped = {
        p.relative_to(sources)
        for p in sources.rglob("*")
        if p.is_file() and not {"__pycache__", "tests"} & set(p.parts) and p.suffix != ".pyc"
    }
    built = {
        p.relative_to(package) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped == built


def test_artifact_bytecode_is_for_python313_only(artifact):
    """.pyc compiled by a python3.13 when one is found (unchecked-hash), else none at all."""
    log = (artifact / ".build-log").read_text()
    pycs = list(artifact.rglob("*.pyc"))
    if "compiling .pyc with" not in log:
        assert "no python3.13 found" in log and pycs == []
        pytest.skip("no python3.13 on this machine: artifact built without .pyc (as designed)")
    assert all(p.name.endswith(".cpython-313.pyc") for p in pycs), sorted({p.name for p in pycs})[:5]
    for source in (artifact / "homeward").rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), source
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{pyc.name}: want hash-based, unchecked (valid whatever the zip's timestamps)"


def test_artifact_binaries_are_cpython313_aarch64(artifact):
    shared = list(artifact.rglob("*.so"))
    assert any(p.name.startswith("_pydantic_core.cpython-313-aarch64-linux-gnu") for p in shared), shared
    for path in shared:
        header = path.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", path
        assert int.from_bytes(header[18:20], "little") == EM_AARCH64, f"{path.name} is not aarch64"
        assert re.search(r"\.(cpython-313-aarch64-linux-gnu|abi3)\.so$", path.name), path.name

    def runs_on_lambda(tag: str) -> bool:
        python, abi, platform = tag.split("-")
        return (platform == "any" or "aarch64" in platform) and (
            python.startswith(("py3", "cp313")) or abi == "abi3"
        )

    for wheel in artifact.glob("*.dist-info/WHEEL"):
        tags = re.findall(r"^Tag: (\S+)$", wheel.read_text(), re.M)
        assert any(runs_on_lambda(tag) for tag in tags), (wheel.parent.name, tags)


def test_artifact_installs_exactly_the_locked_requirements(artifact):
    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = dict(
        (canonical(n), v) for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", REQUIREMENTS.read_text(), re.M)
    )
    installed = {}
    for meta in artifact.glob("*.dist-info/METADATA"):
        text = meta.read_text()
        name = re.search(r"^Name: (\S+)", text, re.M).group(1)
        installed[canonical(name)] = re.search(r"^Version: (\S+)", text, re.M).group(1)
    assert installed == pinned
