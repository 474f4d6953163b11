"""Fail when a function is longer than the limit (make lint): short functions read at a glance.

A function's length is counted from its `def` line to its last line, without its docstring, so
documenting a function never pushes it over. Nested functions count within their parent too.

    python -m infra.function_length [--max 50] PATH...
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

DEFAULT_MAX = 50


def function_lengths(source: str) -> Iterator[tuple[int, str, int]]:
    """(line, name, length) of every function and method in `source`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.lineno, node.name, _length(node)


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    total = (node.end_lineno or node.lineno) - first + 1
    doc = node.body[0]
    if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
        total -= (doc.end_lineno or doc.lineno) - doc.lineno + 1
    return total


def too_long(paths: list[Path], limit: int) -> list[str]:
    found = []
    for root in paths:
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for file in files:
            for line, name, length in function_lengths(file.read_text(encoding="utf-8")):
                if length > limit:
                    found.append(f"{file}:{line}: {name} is {length} lines (max {limit})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=int, default=DEFAULT_MAX)
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    found = too_long(args.paths, args.max)
    print("\n".join(found) or f"no function over {args.max} lines")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
