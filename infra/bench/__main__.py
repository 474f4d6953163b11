"""python -m infra.bench [--only SECTION,...] [--runs N] [--no-pyc] [--why FUNCTION] [--out PATH]"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from infra.bench import Context, load_sections
from infra.template import ROOT

DEFAULT_OUT = ROOT / "bench-results" / "latest.json"


def parse_args(argv: list[str], modules) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.bench", description=__doc__)
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(m.NAME for m in modules))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    for module in modules:
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    return parser.parse_args(argv)


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    modules = load_sections()
    args = parse_args(sys.argv[1:] if argv is None else argv, modules)
    if args.list:
        for module in modules:
            print(f"{module.NAME:<12} {module.TITLE}")
        return 0
    ctx = Context(args)
    try:
        for module in modules:  # a section may take over the run (e.g. --why prints a breakdown)
            if hasattr(module, "standalone") and (code := module.standalone(ctx)) is not None:
                return code
        wanted = set(args.only.split(",")) if args.only else None
        unknown = (wanted or set()) - {m.NAME for m in modules}
        if unknown:
            print(f"unknown section(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        results = {}
        for module in modules:
            if wanted is not None and module.NAME not in wanted:
                continue
            print(f"\n== {module.TITLE} ==", flush=True)
            started = time.perf_counter()
            data = module.run(ctx)
            data["_elapsed_s"] = round(time.perf_counter() - started, 1)
            data["_measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            key = module.result_key(args) if hasattr(module, "result_key") else module.NAME
            results[key] = data
            print(module.render(data), flush=True)
    finally:
        ctx.close()

    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sections": {**previous.get("sections", {}), **results},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
