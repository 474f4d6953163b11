"""Write docs/return-states.md from the state machine in the code (`make docs`)."""

from __future__ import annotations

import sys

from infra.template import ROOT

OUTPUT = ROOT / "docs" / "return-states.md"


def main() -> int:
    sys.path.insert(0, str(ROOT / "functions"))
    from homeward.domain.returns.states import render_markdown

    OUTPUT.write_text(render_markdown())
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
