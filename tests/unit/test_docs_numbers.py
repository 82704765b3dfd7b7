"""User docs say in words what they mean: no bare decision or requirement number.

A number may follow the words in parentheses, "every address is tried (R-058)"; a sentence
that leans on "D19" or "R-058" alone says nothing to an operator.  docs/conformance.md is the
map of numbers to tests and keeps them.  Every user doc is listed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: every user doc: the README and docs/, but for conformance.md, the map of numbers to tests
SWEPT = (
    "README.md",
    *sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "docs").glob("*.md")
        if path.name != "conformance.md"
    ),
)
NUMBER = re.compile(r"\b(?:D\d{1,3}|R-\d{3})\b")
PARENTHESES = re.compile(r"\([^()]*\)")


def bare_numbers(text: str) -> list[str]:
    """The numbers of ``text`` that are not inside parentheses."""
    return NUMBER.findall(PARENTHESES.sub("", text))


def test_bare_numbers_are_found() -> None:
    assert bare_numbers("sizes are bounded (D19); see D20 and R-058.") == ["D20", "R-058"]
    assert bare_numbers("every address is tried in turn (R-058, R-059)") == []


@pytest.mark.parametrize("name", SWEPT)
def test_user_doc_cites_no_bare_number(name: str) -> None:
    assert bare_numbers((ROOT / name).read_text(encoding="utf-8")) == []
