"""What the onboarding machine does on each transition and on arriving in a state.

:class:`OnboardingRules` holds the machine's record (its state, the verified data, whether the
configuration was committed, its history) and the functions its tables name: the entry rules
(on arriving in a state: the actions then awaited, or the internal event that picks the way on)
and the action builders (one per row: the transition's actions; a builder may record the
verified data and the commitment, never the state).  The tables that connect them, and the
loop that runs them, are :class:`~sztp_client.protocol.onboarding.OnboardingMachine`'s.  Which
progress reports go where (R-064..R-066) is decided here, in ``_report`` and ``_verbose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple

import msgspec

from sztp_client.model.conveyed import OnboardingInformation, RedirectInformation
from sztp_client.model.rpc import ReportingLevel
from sztp_client.progress import ProgressType
from sztp_client.protocol.onboarding_events import (
    Action,
    CommitConfiguration,
    Finish,
    FollowRedirect,
    ImageInstalled,
    ImageUpToDate,
    InternalEvent,
    KeepConfiguration,
    NotReporting,
    OnboardingState,
    OnboardingStep,
    OnboardingVerified,
    ProcessImage,
    ProtocolError,
    Reboot,
    RedirectVerified,
    ReportAcknowledged,
    ReportRejected,
    RollbackConfiguration,
    RunScript,
    SendReport,
    Start,
    StepAbsent,
    StepEnded,
    StepFailed,
    StepStarted,
    StepSucceeded,
    VerificationFailed,
    Verified,
    Verify,
)

if TYPE_CHECKING:
    from sztp_client.errors import SZTPError
    from sztp_client.trust.verifier import VerifiedData

P = ProgressType


class _StepReports(NamedTuple):
    initiated: ProgressType
    warning: ProgressType
    complete: ProgressType
    error: ProgressType


#: Each step's progress types (R-065, R-073..R-076), named ``<step>-<kind>`` by RFC 8572:
#: ``boot-image-initiated`` ... ``post-script-error``.
REPORTS: Final = {
    step: _StepReports(*(ProgressType(f"{step}-{kind}") for kind in _StepReports._fields))
    for step in OnboardingStep
}
#: The state in which each step runs.
STEP_OF: Final = {
    OnboardingState.BOOT_IMAGE: OnboardingStep.BOOT_IMAGE,
    OnboardingState.PRE_SCRIPT: OnboardingStep.PRE_SCRIPT,
    OnboardingState.CONFIG: OnboardingStep.CONFIG,
    OnboardingState.POST_SCRIPT: OnboardingStep.POST_SCRIPT,
}


class OnboardingRules(msgspec.Struct):
    """The machine's record and what its rows and entries do.  ``reports`` is True only for a
    bootstrap server whose TLS certificate was authenticated (trust-state TRUE for the
    connection)."""

    reports: bool
    reporting_level: ReportingLevel = ReportingLevel.MINIMAL
    state: OnboardingState = OnboardingState.RECEIVED
    data: VerifiedData | None = None
    committed: bool = False
    history: list[tuple[OnboardingState, str, OnboardingState]] = msgspec.field(
        default_factory=list
    )

    @property
    def verbose(self) -> bool:
        return self.reports and self.reporting_level is ReportingLevel.VERBOSE

    # -- helpers ------------------------------------------------------------------------------

    def _report(self, progress_type: ProgressType, message: str | None = None) -> list[Action]:
        return [SendReport(progress_type, message)] if self.reports else []

    def _verbose(self, progress_type: ProgressType, message: str | None = None) -> list[Action]:
        return [SendReport(progress_type, message)] if self.verbose else []

    def _verified(self) -> VerifiedData:
        if self.data is None:
            raise ProtocolError("no verified data")
        return self.data

    def _onboarding(self) -> OnboardingInformation:
        info = self._verified().conveyed_information
        if not isinstance(info, OnboardingInformation):
            raise ProtocolError("no onboarding information")
        return info

    def _step(self, step: OnboardingStep) -> OnboardingStep:
        """The step of the current state, which the event must name."""
        current = STEP_OF.get(self.state)
        if step is not current:
            raise ProtocolError(f"an event of {step} arrived in state {self.state.value}")
        return step

    def _acknowledged(self, event: ReportAcknowledged, expected: ProgressType) -> None:
        if event.progress_type is not expected:
            raise ProtocolError(f"unexpected acknowledgement of {event.progress_type}")

    def _fail(self, progress_type: ProgressType, error: SZTPError) -> list[Action]:
        actions: list[Action] = []
        if self.committed:
            actions.append(RollbackConfiguration())
            self.committed = False
        actions += self._report(progress_type, error.message)
        actions.append(Finish(OnboardingState.FAILED, error))
        return actions

    # -- entry rules: on arriving in a state --------------------------------------------------

    def _enter_verified(self) -> InternalEvent:
        info = self._verified().conveyed_information
        if isinstance(info, RedirectInformation):
            return RedirectVerified(info)
        return OnboardingVerified(info)

    def _enter_initiating(self) -> list[Action] | InternalEvent:
        if not self.reports:
            return NotReporting()
        return [SendReport(P.BOOTSTRAP_INITIATED, None, acknowledge=True)]

    def _enter_completing(self) -> list[Action] | InternalEvent:
        if not self.reports:
            return NotReporting()
        return [SendReport(P.BOOTSTRAP_COMPLETE, None, acknowledge=True)]

    def _enter_step(self) -> list[Action] | InternalEvent:
        step = STEP_OF[self.state]
        info = self._onboarding()
        work: Action | None
        if step is OnboardingStep.BOOT_IMAGE:
            work = ProcessImage(info) if info.boot_image is not None else None
        elif step is OnboardingStep.CONFIG:
            work = CommitConfiguration(info) if info.configuration is not None else None
        else:
            script = (
                info.pre_configuration_script
                if step is OnboardingStep.PRE_SCRIPT
                else info.post_configuration_script
            )
            work = RunScript(step, script) if script is not None else None
        if work is None:
            return StepAbsent(step)
        return [StepStarted(step), *self._verbose(REPORTS[step].initiated), work]

    # -- action builders: one per row ---------------------------------------------------------

    def _no_actions(self, event: object) -> list[Action]:
        return []

    def _on_start(self, event: Start) -> list[Action]:
        return [Verify()]

    def _on_verified(self, event: Verified) -> list[Action]:
        self.data = event.data
        return []

    def _on_verification_failed(self, event: VerificationFailed) -> list[Action]:
        # bootstrap-initiated, then the parsing error
        return [
            *self._report(P.BOOTSTRAP_INITIATED),
            *self._report(P.PARSING_ERROR, event.error.message),
            Finish(OnboardingState.FAILED, event.error),
        ]

    def _on_redirect(self, event: RedirectVerified) -> list[Action]:
        trusted = self.reports or self._verified().signed
        return [FollowRedirect(event.information, trusted), Finish(OnboardingState.REDIRECTED)]

    def _on_initiated(self, event: ReportAcknowledged) -> list[Action]:
        self._acknowledged(event, P.BOOTSTRAP_INITIATED)
        return []

    def _on_initiated_rejected(self, event: ReportRejected) -> list[Action]:
        # anything but 204 to bootstrap-initiated: try bootstrap-error, then stop
        return self._fail(P.BOOTSTRAP_ERROR, event.error)

    def _on_step_absent(self, event: StepAbsent) -> list[Action]:
        self._step(event.step)
        return []

    def _on_image_up_to_date(self, event: ImageUpToDate) -> list[Action]:
        return [
            StepEnded(OnboardingStep.BOOT_IMAGE, "skipped", event.reason),
            *self._verbose(P.BOOT_IMAGE_COMPLETE, event.reason),
        ]

    def _on_image_installed(self, event: ImageInstalled) -> list[Action]:
        return [
            StepEnded(OnboardingStep.BOOT_IMAGE, "installed", event.sha256.hex()),
            *self._report(P.BOOT_IMAGE_INSTALLED_REBOOTING),
            Reboot(event.sha256),
            Finish(OnboardingState.REBOOTING),
        ]

    def _on_step_succeeded(self, event: StepSucceeded) -> list[Action]:
        step = self._step(event.step)
        if step is OnboardingStep.CONFIG:
            self.committed = True
        actions: list[Action] = [
            StepEnded(step, "warning" if event.warning else "ok", event.output)
        ]
        if event.warning:
            actions += self._verbose(REPORTS[step].warning, event.output or None)
        return actions + self._verbose(REPORTS[step].complete)

    def _on_step_failed(self, event: StepFailed) -> list[Action]:
        step = self._step(event.step)
        reported = event.error.reported_as() or REPORTS[step].error
        return [StepEnded(step, "error", event.error.message), *self._fail(reported, event.error)]

    def _on_complete(self, event: NotReporting) -> list[Action]:
        self.committed = False
        return [KeepConfiguration(), Finish(OnboardingState.COMPLETE)]

    def _on_complete_acknowledged(self, event: ReportAcknowledged) -> list[Action]:
        self._acknowledged(event, P.BOOTSTRAP_COMPLETE)
        self.committed = False
        return [KeepConfiguration(), Finish(OnboardingState.COMPLETE)]

    def _on_complete_rejected(self, event: ReportRejected) -> list[Action]:
        # non-204 to bootstrap-complete: roll back and try bootstrap-error
        return self._fail(P.BOOTSTRAP_ERROR, event.error)


__all__ = ["REPORTS", "STEP_OF", "OnboardingRules"]
