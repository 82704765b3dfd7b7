"""Suite-wide rules.

Under CI=true no test may skip: a missing prerequisite is a failure there.  Locally a skip must
name what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, what: str) -> None:
    """Skip locally (naming ``what`` is missing) or fail under CI when ``condition`` is false."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing under CI: {what}")
    pytest.skip(f"missing: {what}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is not allowed: {report.longrepr}"
