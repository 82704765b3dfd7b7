"""The one vocabulary of how a pass (and one server of it) ended.

The session machine ends every server attempt and every pass with a :class:`RunOutcome`; the
runner returns it, ``run`` maps it to an exit code and the status document records
:attr:`RunOutcome.status` as its ``state``.  Nothing else names these outcomes.
"""

from __future__ import annotations

import enum

from sztp_client.protocol.onboarding import OnboardingState


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
    def status(self) -> str:
        """The status document's ``state`` for a pass that ended so."""
        return _STATUS[self]

    @classmethod
    def of_onboarding(cls, state: OnboardingState) -> RunOutcome:
        """How a server's attempt ended when its onboarding machine ended in ``state``."""
        return _OF_ONBOARDING.get(state, cls.FAILED)


_FINAL = frozenset(
    {RunOutcome.COMPLETE, RunOutcome.REBOOTING, RunOutcome.ALREADY, RunOutcome.DISABLED}
)
_STATUS = {
    RunOutcome.COMPLETE: "bootstrapped",
    RunOutcome.REBOOTING: "rebooting",
    RunOutcome.ALREADY: "bootstrapped",
    RunOutcome.DISABLED: "disabled",
    RunOutcome.NOTHING: "no-data",
    RunOutcome.FAILED: "failed",
}
_OF_ONBOARDING = {
    OnboardingState.COMPLETE: RunOutcome.COMPLETE,
    OnboardingState.REBOOTING: RunOutcome.REBOOTING,
    OnboardingState.FAILED: RunOutcome.FAILED,
}

__all__ = ["RunOutcome"]
