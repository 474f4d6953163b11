"""Label rendering: milliseconds per 4x6 return label as PDF, PNG and ZPL, and the renderer's import.

Warm: one fresh child interpreter (infra/bench/label_child.py) renders a realistic label (non-ASCII
names, a wrapped reason) a few times per format as a warm-up, then `--label-renders` times per
format, the formats interleaved so machine noise spreads evenly. Median and p99 per format.

Cold: `--label-cold-runs` fresh children each import the renderer and draw the first PDF, PNG and
ZPL - the first PDF pays for importing reportlab and loading the fonts, the first PNG for Pillow's
font loading. `models` is pydantic + homeward.models.labels, which any handler has imported
already; `import` is homeward.domain.labels.render on top of that (its heavy libraries are
imported lazily). Measured twice: with .pyc files, and compiling from source (an empty
PYTHONPYCACHEPREFIX), as a Lambda artifact built without a python3.13 would.

Goal: PDF median <= 50 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.bench import stats
from infra.bench.stack import FUNCTIONS_DIR

NAME = "label_render"
TITLE = "Label rendering: ms per 4x6 label (PDF, PNG, ZPL), warm in one process and cold"
ORDER = 30
GOAL_PDF_MEDIAN_MS = 50
FORMATS = ("PDF", "PNG", "ZPL")
CHILD = Path(__file__).resolve().parent.parent / "label_child.py"
COLD_KEYS = ("models_import_ms", "import_ms", "first_pdf_ms", "first_png_ms", "first_zpl_ms")


def add_arguments(parser) -> None:
    group = parser.add_argument_group("label render")
    group.add_argument(
        "--label-renders", type=int, default=200, help="warm renders per format (default 200, at least 100)"
    )
    group.add_argument(
        "--label-cold-runs", type=int, default=5, help="fresh interpreters per cold variant (default 5)"
    )


def _child(args: list[str], *, no_pyc_dir: str | None = None) -> dict:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env["PYTHONPATH"] = str(FUNCTIONS_DIR)
    if no_pyc_dir is not None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = no_pyc_dir  # stays empty: every import compiles from source
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run(
            [sys.executable, str(CHILD), *args, str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            failure = f"label bench child {args[0]} failed ({proc.returncode})"
            raise RuntimeError(f"{failure}:\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


def _summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "median": stats.median(values),
        "p99": stats.quantile(values, 0.99),
        "min": min(values),
        "max": max(values),
    }


def run(ctx) -> dict:
    renders = max(100, ctx.args.label_renders)
    cold_runs = max(1, ctx.args.label_cold_runs)
    print(f"  cold: {cold_runs} fresh interpreters with .pyc, {cold_runs} compiling from source", flush=True)
    _child(["cold"])  # warms the page cache and writes the .pyc files; not recorded
    cold: dict[str, list[dict]] = {"pyc": [], "no_pyc": []}
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        for i in range(cold_runs):  # alternated, so noise spreads over both variants
            cold["pyc"].append(_child(["cold"]))
            cold["no_pyc"].append(_child(["cold"], no_pyc_dir=str(Path(tmp) / f"empty-pycache-{i}")))
    print(f"  warm: {renders} renders per format in one process", flush=True)
    warm = _child(["warm", str(renders)])
    pdf_median = stats.median(warm["runs"]["PDF"])
    return {
        "renders": renders,
        "warm": {fmt: _summary(warm["runs"][fmt]) for fmt in FORMATS},
        "bytes": warm["bytes"],
        "warm_max_rss_mib": warm["max_rss_kib"] / 1024,
        "cold": {
            variant: {
                **{key: _summary([r[key] for r in results]) for key in COLD_KEYS},
                "max_rss_mib": stats.median([r["max_rss_kib"] / 1024 for r in results]),
            }
            for variant, results in cold.items()
        },
        "goal_pdf_median_ms": GOAL_PDF_MEDIAN_MS,
        "goal_met": pdf_median <= GOAL_PDF_MEDIAN_MS,
    }


def render(data: dict) -> str:
    warm_rows = [
        [
            fmt,
            f"{s['median']:.1f}",
            f"{s['p99']:.1f}",
            f"{s['min']:.1f}",
            f"{s['max']:.1f}",
            f"{data['bytes'][fmt] / 1024:.1f}",
        ]
        for fmt, s in data["warm"].items()
    ]
    warm = stats.table(["format", "median ms", "p99 ms", "min ms", "max ms", "KiB"], warm_rows)
    cold_rows = []
    for variant, label in (("pyc", "with .pyc"), ("no_pyc", "from source")):
        c = data["cold"][variant]
        first = sum(c[k]["median"] for k in ("import_ms", "first_pdf_ms", "first_png_ms", "first_zpl_ms"))
        cold_rows.append(
            [
                label,
                f"{c['models_import_ms']['median']:.0f}",
                f"{c['import_ms']['median']:.1f}",
                f"{c['first_pdf_ms']['median']:.0f}",
                f"{c['first_png_ms']['median']:.0f}",
                f"{c['first_zpl_ms']['median']:.1f}",
                f"{first:.0f}",
                f"{c['max_rss_mib']:.0f}",
            ]
        )
    cold = stats.table(
        ["cold (median)", "models ms", "import ms", "1st PDF", "1st PNG", "1st ZPL", "all 3 ms", "RSS MiB"],
        cold_rows,
    )
    pdf = data["warm"]["PDF"]["median"]
    verdict = "met" if data["goal_met"] else "NOT MET"
    notes = (
        f"warm: {data['renders']} renders per format after a warm-up, one process.\n"
        f"cold: `import` is the renderer module alone (heavy libraries load on first use, so the\n"
        f"first PDF includes importing reportlab); `all 3` = import + first PDF + PNG + ZPL.\n"
        f"goal: PDF median <= {data['goal_pdf_median_ms']} ms: {pdf:.1f} ms, {verdict}"
    )
    return f"{warm}\n\n{cold}\n{notes}"
