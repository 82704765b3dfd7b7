"""The one vocabulary of how a pass (and one server of it) ended, and of the status state.

The session machine ends every server attempt and every pass with a :class:`RunOutcome`; the
runner returns it, ``run`` maps it to an exit code and the status document records
:attr:`RunOutcome.status` (a :class:`StatusState`) as its ``state``.  Nothing else names these.
This module imports nothing of the project: ``status`` loads it without the trust core.
"""

from __future__ import annotations

import enum
from typing import Final

#: the outcome of an attempt that ended in an error before its data was processed
ATTEMPT_ERROR: Final = "error"


class StatusState(enum.StrEnum):
    """The ``state`` of the status document."""

    IDLE = "idle"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    BOOTSTRAPPED = "bootstrapped"
    REBOOTING = "rebooting"
    DISABLED = "disabled"
    NO_DATA = "no-data"
    FAILED = "failed"


class RunOutcome(enum.StrEnum):
    COMPLETE = "bootstrap-complete"
    REBOOTING = "rebooting"
    ALREADY = "already-bootstrapped"
    DISABLED = "disabled"
    NOTHING = "no-bootstrapping-data"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Whether the pass ended the bootstrapping (no further pass is needed)."""
        return self in _FINAL

    @property
    def ends_walk(self) -> bool:
        """Whether a server's outcome ends the walk over the remaining servers and sources."""
        return self in (RunOutcome.COMPLETE, RunOutcome.REBOOTING)

    @property
    def status(self) -> StatusState:
        """The status document's ``state`` for a pass that ended so."""
        return _STATUS[self]

    @classmethod
    def of_onboarding(cls, state: str) -> RunOutcome:
        """How a server's attempt ended when its onboarding machine ended in ``state`` (an
        ``OnboardingState``: complete, rebooting or failed)."""
        return _OF_ONBOARDING.get(state, cls.FAILED)


_FINAL = frozenset(
    {RunOutcome.COMPLETE, RunOutcome.REBOOTING, RunOutcome.ALREADY, RunOutcome.DISABLED}
)
_STATUS = {
    RunOutcome.COMPLETE: StatusState.BOOTSTRAPPED,
    RunOutcome.REBOOTING: StatusState.REBOOTING,
    RunOutcome.ALREADY: StatusState.BOOTSTRAPPED,
    RunOutcome.DISABLED: StatusState.DISABLED,
    RunOutcome.NOTHING: StatusState.NO_DATA,
    RunOutcome.FAILED: StatusState.FAILED,
}
_OF_ONBOARDING: dict[str, RunOutcome] = {
    "complete": RunOutcome.COMPLETE,
    "rebooting": RunOutcome.REBOOTING,
    "failed": RunOutcome.FAILED,
}

__all__ = ["ATTEMPT_ERROR", "RunOutcome", "StatusState"]
