"""The layers' import contracts (pyproject [tool.importlinter], docs/contributing.md) hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT / "functions",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
