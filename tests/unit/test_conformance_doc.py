"""docs/conformance.md names only tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_cited_test_exists() -> None:
    text = (ROOT / "docs" / "conformance.md").read_text()
    cited = re.findall(r"`([\w/]+\.py)::(\w+)`", text)
    assert cited, "conformance.md cites no tests"
    missing = []
    for path, name in cited:
        source = ROOT / "tests" / path
        if not source.exists() or not re.search(rf"def {name}\(", source.read_text()):
            missing.append(f"{path}::{name}")
    assert not missing, f"conformance.md cites tests that do not exist: {missing}"


def test_every_cited_file_exists() -> None:
    text = (ROOT / "docs" / "conformance.md").read_text()
    files = re.findall(r"`((?:unit|adversarial|interop|integration|property)/[\w/]+\.py)`", text)
    assert all((ROOT / "tests" / f).exists() for f in files)
