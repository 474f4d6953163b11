"""Label-render bench child: runs in a FRESH interpreter, started by sections/label_render.py by path.

    python label_child.py cold   OUT   import the renderer, then the first PDF, PNG and ZPL
    python label_child.py warm N OUT   a warm-up, then N renders of each format, interleaved

Stdlib only at module level, so `cold` times the renderer's own imports. Results go to OUT as JSON.
"""

from __future__ import annotations

import json
import resource
import sys
import time

FORMATS = ("PDF", "PNG", "ZPL")


def sample_label():
    """A realistic label: non-ASCII names, a long street line, a reason to wrap."""
    from datetime import date

    from homeward.domain.labels.render import sandbox_tracking_number
    from homeward.models.labels import LabelAddress, LabelContent

    return LabelContent(
        sender=LabelAddress(
            name="Zoë Müller-Łukasiewicz",
            line1="Straße des 17. Juni 135, Hinterhaus, 3. Obergeschoss",
            line2="c/o Ірина Шевченко",
            city="Berlin",
            postal_code="10623",
            country="DE",
        ),
        recipient=LabelAddress(
            name="Homeward Returns Center",
            line1="1200 Industrial Parkway, Building C",
            line2="Suite 410",
            city="Columbus",
            region="OH",
            postal_code="43219",
            country="US",
        ),
        rma="R-7K3M-9QXA",
        tracking_number=sandbox_tracking_number("label:R-7K3M-9QXA"),
        carrier_service="Homeward Sandbox Ground",
        carrier_display_name="Homeward Sandbox",
        qr_payload="https://returns.example.com/drop-off/R-7K3M-9QXA?code=5W2Q-ZP9D",
        weight_oz=35.2,
        created=date(2026, 3, 14),
        reason_summary="Too small (2 items); one arrived damaged",
    )


def _max_rss_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cold() -> dict:
    t0 = time.perf_counter()
    import homeward.models.labels  # noqa: F401 - pydantic and the models, which a handler has anyway

    t1 = time.perf_counter()
    from homeward.domain.labels.render import render_label

    t2 = time.perf_counter()
    result = {"models_import_ms": (t1 - t0) * 1000, "import_ms": (t2 - t1) * 1000}
    label = sample_label()
    for fmt in FORMATS:  # the first of each pays the lazy imports (reportlab, Pillow, segno) and font loading
        t = time.perf_counter()
        render_label(label, fmt)
        result[f"first_{fmt.lower()}_ms"] = (time.perf_counter() - t) * 1000
    result["max_rss_kib"] = _max_rss_kib()
    return result


def warm(n: int) -> dict:
    from homeward.domain.labels.render import render_label

    label = sample_label()
    sizes = {}
    for _ in range(5):
        for fmt in FORMATS:
            sizes[fmt] = len(render_label(label, fmt))
    runs: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    for _ in range(n):  # interleaved, so machine noise spreads over the formats evenly
        for fmt in FORMATS:
            t = time.perf_counter()
            render_label(label, fmt)
            runs[fmt].append((time.perf_counter() - t) * 1000)
    return {"runs": runs, "bytes": sizes, "max_rss_kib": _max_rss_kib()}


def main(argv: list[str]) -> None:
    mode, out = argv[0], argv[-1]
    result = cold() if mode == "cold" else warm(int(argv[1]))
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1:])
