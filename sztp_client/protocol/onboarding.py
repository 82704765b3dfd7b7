"""The RFC 8572 §5.3-§5.6 processing of one piece of bootstrapping data, as a state table.

One :class:`OnboardingMachine` handles the data obtained from one source or bootstrap server:
it is fed events (what the runner observed) and answers with actions (what the runner must do
next).
It does no I/O.  The whole behaviour is the table ``_TABLE``: (state, event type) → handler; an
event that has no row raises :class:`ProtocolError` and leaves the state unchanged.

What the table encodes:

* data is verified first; a failure from a trusted server is reported as ``parsing-error``
  after ``bootstrap-initiated`` (R-040, R-068); redirect information ends this machine with a
  :class:`FollowRedirect` (R-057..R-061);
* onboarding information runs in RFC order: boot image, pre-configuration script,
  configuration, post-configuration script (R-063), steps absent from the data are skipped;
* progress reports go only to a trusted bootstrap server (R-066): at ``minimal`` level
  ``bootstrap-initiated`` and exactly one terminating report (R-064); at ``verbose`` level also
  every initiated/warning/complete report of the steps present (R-065);
* ``bootstrap-initiated`` and ``bootstrap-complete`` must be answered with 204; anything else
  is an error reported as ``bootstrap-error`` (R-067, R-078);
* an error after the configuration was committed rolls it back before the error is reported
  (R-080, D25); every error ends the machine and returns to the enclosing loop (R-024);
* an installed image ends the machine with ``boot-image-installed-rebooting`` and a reboot
  (R-072, D24).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sztp_client.errors import InternalError, SZTPError
from sztp_client.model.conveyed import OnboardingInformation, RedirectInformation
from sztp_client.model.rpc import ReportingLevel
from sztp_client.progress import ProgressType
from sztp_client.trust.verifier import VerifiedData

P = ProgressType


class ProtocolError(InternalError):
    """An event arrived that the current state has no transition for (a bug in the runner)."""


class OnboardingState(enum.StrEnum):
    RECEIVED = "received"
    VERIFYING = "verifying"
    INITIATING = "initiating"
    BOOT_IMAGE = "boot-image"
    PRE_SCRIPT = "pre-script"
    CONFIG = "config"
    POST_SCRIPT = "post-script"
    COMPLETING = "completing"
    # terminal states
    REDIRECTED = "redirected"
    REBOOTING = "rebooting"
    COMPLETE = "complete"
    FAILED = "failed"


TERMINAL = frozenset(
    {
        OnboardingState.REDIRECTED,
        OnboardingState.REBOOTING,
        OnboardingState.COMPLETE,
        OnboardingState.FAILED,
    }
)


class OnboardingStep(enum.StrEnum):
    """The onboarding steps, in RFC order (R-063)."""

    BOOT_IMAGE = "boot-image"
    PRE_SCRIPT = "pre-script"
    CONFIG = "config"
    POST_SCRIPT = "post-script"


# --- events: what the runner observed ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """Bootstrapping data was obtained; verify it."""


@dataclass(frozen=True, slots=True)
class Verified:
    data: VerifiedData


@dataclass(frozen=True, slots=True)
class VerificationFailed:
    error: SZTPError


@dataclass(frozen=True, slots=True)
class ReportAcknowledged:
    progress_type: ProgressType


@dataclass(frozen=True, slots=True)
class ReportRejected:
    progress_type: ProgressType
    error: SZTPError


@dataclass(frozen=True, slots=True)
class ImageUpToDate:
    reason: str


@dataclass(frozen=True, slots=True)
class ImageInstalled:
    sha256: bytes


@dataclass(frozen=True, slots=True)
class StepSucceeded:
    """A script ran (``warning`` when it asked for one) or the configuration was committed."""

    step: OnboardingStep
    warning: bool = False
    output: str = ""


@dataclass(frozen=True, slots=True)
class StepFailed:
    step: OnboardingStep
    error: SZTPError


Event = (
    Start
    | Verified
    | VerificationFailed
    | ReportAcknowledged
    | ReportRejected
    | ImageUpToDate
    | ImageInstalled
    | StepSucceeded
    | StepFailed
)


# --- actions: what the runner must do ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verify:
    pass


@dataclass(frozen=True, slots=True)
class SendReport:
    """POST report-progress.  With ``acknowledge`` the runner feeds back ReportAcknowledged or
    ReportRejected; otherwise a failure is only logged."""

    progress_type: ProgressType
    message: str | None = None
    acknowledge: bool = False


@dataclass(frozen=True, slots=True)
class ProcessImage:
    """Decide whether the image is needed; if so download, verify and install it."""

    information: OnboardingInformation


@dataclass(frozen=True, slots=True)
class RunScript:
    step: OnboardingStep
    script: bytes


@dataclass(frozen=True, slots=True)
class CommitConfiguration:
    information: OnboardingInformation


@dataclass(frozen=True, slots=True)
class RollbackConfiguration:
    pass


@dataclass(frozen=True, slots=True)
class KeepConfiguration:
    """Success: forget the saved previous configuration."""


@dataclass(frozen=True, slots=True)
class Reboot:
    sha256: bytes


@dataclass(frozen=True, slots=True)
class FollowRedirect:
    information: RedirectInformation
    trusted: bool


@dataclass(frozen=True, slots=True)
class Finish:
    outcome: OnboardingState
    error: SZTPError | None = None


@dataclass(frozen=True, slots=True)
class StepStarted:
    """For the timeline and status: a step begins (no I/O needed)."""

    step: OnboardingStep


@dataclass(frozen=True, slots=True)
class StepEnded:
    step: OnboardingStep
    outcome: str
    message: str = ""


Action = (
    Verify
    | SendReport
    | ProcessImage
    | RunScript
    | CommitConfiguration
    | RollbackConfiguration
    | KeepConfiguration
    | Reboot
    | FollowRedirect
    | Finish
    | StepStarted
    | StepEnded
)


_INITIATED = {
    OnboardingStep.BOOT_IMAGE: P.BOOT_IMAGE_INITIATED,
    OnboardingStep.PRE_SCRIPT: P.PRE_SCRIPT_INITIATED,
    OnboardingStep.CONFIG: P.CONFIG_INITIATED,
    OnboardingStep.POST_SCRIPT: P.POST_SCRIPT_INITIATED,
}
_WARNING = {
    OnboardingStep.BOOT_IMAGE: P.BOOT_IMAGE_WARNING,
    OnboardingStep.PRE_SCRIPT: P.PRE_SCRIPT_WARNING,
    OnboardingStep.CONFIG: P.CONFIG_WARNING,
    OnboardingStep.POST_SCRIPT: P.POST_SCRIPT_WARNING,
}
_COMPLETE = {
    OnboardingStep.BOOT_IMAGE: P.BOOT_IMAGE_COMPLETE,
    OnboardingStep.PRE_SCRIPT: P.PRE_SCRIPT_COMPLETE,
    OnboardingStep.CONFIG: P.CONFIG_COMPLETE,
    OnboardingStep.POST_SCRIPT: P.POST_SCRIPT_COMPLETE,
}
_ERROR = {
    OnboardingStep.BOOT_IMAGE: P.BOOT_IMAGE_ERROR,
    OnboardingStep.PRE_SCRIPT: P.PRE_SCRIPT_ERROR,
    OnboardingStep.CONFIG: P.CONFIG_ERROR,
    OnboardingStep.POST_SCRIPT: P.POST_SCRIPT_ERROR,
}
_STATE_OF = {
    OnboardingStep.BOOT_IMAGE: OnboardingState.BOOT_IMAGE,
    OnboardingStep.PRE_SCRIPT: OnboardingState.PRE_SCRIPT,
    OnboardingStep.CONFIG: OnboardingState.CONFIG,
    OnboardingStep.POST_SCRIPT: OnboardingState.POST_SCRIPT,
}


@dataclass
class OnboardingMachine:
    """One run of the §5.3-§5.6 processing.  ``reports`` is True only for a bootstrap server
    whose TLS certificate was authenticated (trust-state TRUE for the connection)."""

    reports: bool
    reporting_level: ReportingLevel = ReportingLevel.MINIMAL
    state: OnboardingState = OnboardingState.RECEIVED
    data: VerifiedData | None = None
    committed: bool = False
    history: list[tuple[OnboardingState, str, OnboardingState]] = field(default_factory=list)

    @property
    def verbose(self) -> bool:
        return self.reports and self.reporting_level is ReportingLevel.VERBOSE

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def handle(self, event: Event) -> list[Action]:
        """Apply ``event``; return the actions to carry out, in order."""
        handler = _TABLE.get((self.state, type(event)))
        if handler is None:
            raise ProtocolError(
                f"event {type(event).__name__} is not expected in state {self.state.value}"
            )
        before = self.state
        actions = handler(self, event)
        self.history.append((before, type(event).__name__, self.state))
        return actions

    # -- helpers ------------------------------------------------------------------------------

    def _report(self, progress_type: ProgressType, message: str | None = None) -> list[Action]:
        return [SendReport(progress_type, message)] if self.reports else []

    def _verbose(self, progress_type: ProgressType, message: str | None = None) -> list[Action]:
        return [SendReport(progress_type, message)] if self.verbose else []

    def _onboarding(self) -> OnboardingInformation:
        if self.data is None or not isinstance(
            self.data.conveyed_information, OnboardingInformation
        ):
            raise ProtocolError("no onboarding information")
        return self.data.conveyed_information

    def _steps(self) -> list[OnboardingStep]:
        info = self._onboarding()
        steps = []
        if info.boot_image is not None:
            steps.append(OnboardingStep.BOOT_IMAGE)
        if info.pre_configuration_script is not None:
            steps.append(OnboardingStep.PRE_SCRIPT)
        if info.configuration is not None:
            steps.append(OnboardingStep.CONFIG)
        if info.post_configuration_script is not None:
            steps.append(OnboardingStep.POST_SCRIPT)
        return steps

    def _begin(self, step: OnboardingStep) -> list[Action]:
        info = self._onboarding()
        self.state = _STATE_OF[step]
        actions: list[Action] = [StepStarted(step), *self._verbose(_INITIATED[step])]
        if step is OnboardingStep.BOOT_IMAGE:
            actions.append(ProcessImage(info))
        elif step is OnboardingStep.CONFIG:
            actions.append(CommitConfiguration(info))
        else:
            script = (
                info.pre_configuration_script
                if step is OnboardingStep.PRE_SCRIPT
                else info.post_configuration_script
            )
            if script is None:
                raise ProtocolError(f"{step} has no script")
            actions.append(RunScript(step, script))
        return actions

    def _next_after(self, step: OnboardingStep | None) -> list[Action]:
        steps = self._steps()
        remaining = steps if step is None else steps[steps.index(step) + 1 :]
        if remaining:
            return self._begin(remaining[0])
        return self._complete()

    def _complete(self) -> list[Action]:
        if self.reports:
            self.state = OnboardingState.COMPLETING
            return [SendReport(P.BOOTSTRAP_COMPLETE, None, acknowledge=True)]
        self.state = OnboardingState.COMPLETE
        return [KeepConfiguration(), Finish(OnboardingState.COMPLETE)]

    def _fail(
        self, progress_type: ProgressType, error: SZTPError, message: str | None = None
    ) -> list[Action]:
        actions: list[Action] = []
        if self.committed:
            actions.append(RollbackConfiguration())
            self.committed = False
        actions += self._report(progress_type, message if message is not None else error.message)
        self.state = OnboardingState.FAILED
        actions.append(Finish(OnboardingState.FAILED, error))
        return actions

    # -- handlers -----------------------------------------------------------------------------

    def _on_start(self, event: Start) -> list[Action]:
        self.state = OnboardingState.VERIFYING
        return [Verify()]

    def _on_verified(self, event: Verified) -> list[Action]:
        self.data = event.data
        info = event.data.conveyed_information
        if isinstance(info, RedirectInformation):
            self.state = OnboardingState.REDIRECTED
            return [
                FollowRedirect(info, trusted=self.reports or event.data.signed),
                Finish(OnboardingState.REDIRECTED),
            ]
        if self.reports:
            self.state = OnboardingState.INITIATING
            return [SendReport(P.BOOTSTRAP_INITIATED, None, acknowledge=True)]
        return self._next_after(None)

    def _on_verification_failed(self, event: VerificationFailed) -> list[Action]:
        actions: list[Action] = []
        if self.reports:
            # bootstrap-initiated, then the parsing error
            actions.append(SendReport(P.BOOTSTRAP_INITIATED))
            actions.append(SendReport(P.PARSING_ERROR, event.error.message))
        self.state = OnboardingState.FAILED
        actions.append(Finish(OnboardingState.FAILED, event.error))
        return actions

    def _on_initiated(self, event: ReportAcknowledged) -> list[Action]:
        if event.progress_type is not P.BOOTSTRAP_INITIATED:
            raise ProtocolError(f"unexpected acknowledgement of {event.progress_type}")
        return self._next_after(None)

    def _on_initiated_rejected(self, event: ReportRejected) -> list[Action]:
        # anything but 204 to bootstrap-initiated: try bootstrap-error, then stop
        return self._fail(P.BOOTSTRAP_ERROR, event.error)

    def _on_image_up_to_date(self, event: ImageUpToDate) -> list[Action]:
        return [
            StepEnded(OnboardingStep.BOOT_IMAGE, "skipped", event.reason),
            *self._verbose(P.BOOT_IMAGE_COMPLETE, event.reason),
            *self._next_after(OnboardingStep.BOOT_IMAGE),
        ]

    def _on_image_installed(self, event: ImageInstalled) -> list[Action]:
        self.state = OnboardingState.REBOOTING
        return [
            StepEnded(OnboardingStep.BOOT_IMAGE, "installed", event.sha256.hex()),
            *self._report(P.BOOT_IMAGE_INSTALLED_REBOOTING),
            Reboot(event.sha256),
            Finish(OnboardingState.REBOOTING),
        ]

    def _step_of_state(self) -> OnboardingStep:
        for step, state in _STATE_OF.items():
            if state is self.state:
                return step
        raise ProtocolError(f"no step in state {self.state.value}")

    def _on_step_succeeded(self, event: StepSucceeded) -> list[Action]:
        step = self._step_of_state()
        if event.step is not step:
            raise ProtocolError(f"{event.step} finished while in {step}")
        if step is OnboardingStep.CONFIG:
            self.committed = True
        actions: list[Action] = [
            StepEnded(step, "warning" if event.warning else "ok", event.output)
        ]
        if event.warning:
            actions += self._verbose(_WARNING[step], event.output or None)
        actions += self._verbose(_COMPLETE[step])
        return actions + self._next_after(step)

    def _on_step_failed(self, event: StepFailed) -> list[Action]:
        step = self._step_of_state()
        if event.step is not step:
            raise ProtocolError(f"{event.step} failed while in {step}")
        reported = event.error.reported_as() or _ERROR[step]
        return [
            StepEnded(step, "error", event.error.message),
            *self._fail(reported, event.error),
        ]

    def _on_complete_acknowledged(self, event: ReportAcknowledged) -> list[Action]:
        if event.progress_type is not P.BOOTSTRAP_COMPLETE:
            raise ProtocolError(f"unexpected acknowledgement of {event.progress_type}")
        self.state = OnboardingState.COMPLETE
        self.committed = False
        return [KeepConfiguration(), Finish(OnboardingState.COMPLETE)]

    def _on_complete_rejected(self, event: ReportRejected) -> list[Action]:
        # non-204 to bootstrap-complete: roll back and try bootstrap-error
        return self._fail(P.BOOTSTRAP_ERROR, event.error)


_Handler = Callable[[OnboardingMachine, Any], list[Action]]
_STEP_STATES = (
    OnboardingState.BOOT_IMAGE,
    OnboardingState.PRE_SCRIPT,
    OnboardingState.CONFIG,
    OnboardingState.POST_SCRIPT,
)

_TABLE: dict[tuple[OnboardingState, type], _Handler] = {
    (OnboardingState.RECEIVED, Start): OnboardingMachine._on_start,
    (OnboardingState.VERIFYING, Verified): OnboardingMachine._on_verified,
    (OnboardingState.VERIFYING, VerificationFailed): OnboardingMachine._on_verification_failed,
    (OnboardingState.INITIATING, ReportAcknowledged): OnboardingMachine._on_initiated,
    (OnboardingState.INITIATING, ReportRejected): OnboardingMachine._on_initiated_rejected,
    (OnboardingState.BOOT_IMAGE, ImageUpToDate): OnboardingMachine._on_image_up_to_date,
    (OnboardingState.BOOT_IMAGE, ImageInstalled): OnboardingMachine._on_image_installed,
    (OnboardingState.COMPLETING, ReportAcknowledged): OnboardingMachine._on_complete_acknowledged,
    (OnboardingState.COMPLETING, ReportRejected): OnboardingMachine._on_complete_rejected,
    **{(state, StepFailed): OnboardingMachine._on_step_failed for state in _STEP_STATES},
    **{
        (state, StepSucceeded): OnboardingMachine._on_step_succeeded
        for state in (
            OnboardingState.PRE_SCRIPT,
            OnboardingState.CONFIG,
            OnboardingState.POST_SCRIPT,
        )
    },
}


def transitions() -> list[tuple[str, str, str]]:
    """The table as (state, event, handler) rows, for documentation and tests."""
    return [(s.value, e.__name__, h.__name__) for (s, e), h in _TABLE.items()]
