"""Small statistics and formatting helpers shared by bench sections."""

from __future__ import annotations

import statistics


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def quantile(values, q: float) -> float:
    """Linear-interpolated quantile (q in 0..1) of a small sample."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low, high = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values) -> dict:
    values = list(values)
    return {
        "n": len(values),
        "median": median(values),
        "p25": quantile(values, 0.25),
        "p75": quantile(values, 0.75),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
        "runs": values,
    }


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table; `align` is one l/r per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=True)
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
