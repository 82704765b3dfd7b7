"""The terminal timeline of ``run``: one line per event, a progress bar on a terminal only."""

from __future__ import annotations

import io

from sztp_client.cli.run import Timeline, exit_code_for
from sztp_client.errors import BootImageError, TrustError
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.state.status import TimelineEvent


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_and_progress_bar_on_a_terminal() -> None:
    out = _Terminal()
    timeline = Timeline(out)
    timeline(TimelineEvent("step-start", "boot-image", {}))
    timeline(TimelineEvent("progress", "", {"done": 0, "total": 4 * 2**20}))
    timeline(TimelineEvent("progress", "", {"done": 4 * 2**20, "total": 4 * 2**20}))
    timeline(TimelineEvent("report", "report boot-image-installed-rebooting: 204", {}))
    text = out.getvalue()
    assert "** boot-image" in text
    assert "image [" in text and "4.0 / 4.0 MiB" in text
    assert text.rstrip().endswith("report boot-image-installed-rebooting: 204")


def test_no_progress_bar_when_not_a_terminal() -> None:
    out = io.StringIO()
    timeline = Timeline(out)
    timeline(TimelineEvent("progress", "", {"done": 10, "total": 100}))
    timeline(TimelineEvent("info", "done", {}))
    assert "image [" not in out.getvalue()
    assert out.getvalue().count("\n") == 1


def test_exit_codes() -> None:
    """D20: 0 for final outcomes, the error's code for failures, 69 for nothing found."""
    assert exit_code_for(RunOutcome.COMPLETE, None) == 0
    assert exit_code_for(RunOutcome.REBOOTING, None) == 0
    assert exit_code_for(RunOutcome.ALREADY, None) == 0
    assert exit_code_for(RunOutcome.DISABLED, None) == 0
    assert exit_code_for(RunOutcome.NOTHING, None) == 69
    assert exit_code_for(RunOutcome.FAILED, TrustError("source", "x")) == 65
    assert exit_code_for(RunOutcome.FAILED, BootImageError("x")) == 75
