"""No module of the client is over 400 lines: a module does one job, and one a newcomer reads
in a sitting (docs/architecture.md lists each with its job)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sztp_client"
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50  # the package was found
    over = {name: lines for name, lines in sorted(sizes.items()) if lines > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines: {over}"
