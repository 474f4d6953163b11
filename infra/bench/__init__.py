"""`make bench` / `python -m infra.bench`: performance figures for Homeward.

Sections are modules in infra/bench/sections/ (found automatically). Each defines

    NAME = "cold_start"            # key in bench-results/latest.json and for --only
    TITLE = "Cold start ..."       # heading in the printed report
    ORDER = 10                     # position in the report
    def run(ctx: Context) -> dict  # measure; return JSON-able data
    def render(data: dict) -> str  # the readable table for that data

and may add command-line options with `def add_arguments(parser)`, take over the run with
`def standalone(ctx) -> int | None` (e.g. `--why`), or store results under another key with
`def result_key(args) -> str`. A later issue adds e.g.
sections/labels.py (label rendering) or sections/webhooks.py (webhook bursts) without
touching anything else. `ctx.stack()` gives a shared moto stack (infra/bench/stack.py),
started on first use; median and table helpers live in infra/bench/stats.py.

Children (fresh interpreters) run infra/bench/child.py by path, so nothing imported here
slows the cold starts being measured.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType

from infra.bench.stack import BenchStack


@dataclass
class Context:
    args: argparse.Namespace
    _stack: BenchStack | None = field(default=None, repr=False)

    def stack(self) -> BenchStack:
        if self._stack is None:
            self._stack = BenchStack().__enter__()
        return self._stack

    def close(self) -> None:
        if self._stack is not None:
            self._stack.__exit__(None, None, None)
            self._stack = None


def load_sections() -> list[ModuleType]:
    """Every module in infra/bench/sections/, in ORDER."""
    package = importlib.import_module("infra.bench.sections")

    found = [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    ]
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))
