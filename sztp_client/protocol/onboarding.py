"""The RFC 8572 §5.3-§5.6 processing of one piece of bootstrapping data, as a state table.

One :class:`OnboardingMachine` handles the data obtained from one source or bootstrap server:
it is fed events (what the runner observed) and answers with actions (what the runner must do
next).  The names (states, steps, events, actions) are in
:mod:`sztp_client.protocol.onboarding_events` and offered here too; everything that moves the
machine is in this module, in two tables.  It does no I/O.  :func:`transition_graph` lists
the table's transitions; docs/architecture.md shows them as a diagram drawn by
:mod:`sztp_client.protocol.graph`.

* ``_TABLE``: (state, event type) → (next state, action builder).  The next state is written in
  the row; the builder only returns the transition's actions (it may record the verified data
  and whether the configuration was committed, never the state).  An event with no row raises
  :class:`ProtocolError` and leaves the machine as it was.
* ``_ENTRY``: what the machine does on arriving in a state: either the actions it then waits on
  (a step's work, a report to be acknowledged), or, when the state's work does not apply to
  this data, an internal event that it feeds itself at once and that is looked up in
  ``_TABLE`` like any other (h11's state-triggered transitions).  ``handle`` never returns in
  ``verified``, and in ``initiating`` or ``completing`` only when a report is awaited.

Where the next state depends on the data, the data names the branch by an internal event, so
that every branch is a row of the table and an edge of the generated diagram:

* after verification the machine passes through ``verified``, left by ``RedirectVerified`` or
  ``OnboardingVerified`` according to the kind of data;
* the four steps form one chain in RFC order; a step the onboarding information lacks is left
  by ``StepAbsent`` (whatever subset of steps is present, the path runs along that chain);
* ``initiating`` and ``completing`` are left by ``NotReporting`` when the server is not
  trusted, by ``ReportAcknowledged`` or ``ReportRejected`` (its own row) when it is.

Internal events rather than finer runner events, because the runner reports what happened
(data verified, report answered) and must not know the protocol's branches; rather than more
states (an "is there a pre-script?" state before each step), because those would double the
diagram without adding a decision that an event does not already name.  ``handle`` refuses an
internal event from outside.

What the table encodes:

* data is verified first; a failure from a trusted server is reported as ``parsing-error``
  after ``bootstrap-initiated`` (R-040, R-068); redirect information ends this machine with a
  :class:`FollowRedirect` (R-057..R-061), trusted when the server was or the data was signed
  (R-021, R-026);
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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from sztp_client.errors import SZTPError
from sztp_client.model.conveyed import OnboardingInformation, RedirectInformation
from sztp_client.model.rpc import ReportingLevel
from sztp_client.progress import ProgressType
from sztp_client.protocol.graph import TransitionGraph, graph_of
from sztp_client.protocol.onboarding_events import (
    INTERNAL_EVENTS,
    TERMINAL,
    Action,
    CommitConfiguration,
    Event,
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
from sztp_client.trust.verifier import VerifiedData

__all__ = [
    "TERMINAL",
    "Action",
    "CommitConfiguration",
    "Event",
    "Finish",
    "FollowRedirect",
    "ImageInstalled",
    "ImageUpToDate",
    "KeepConfiguration",
    "OnboardingMachine",
    "OnboardingState",
    "OnboardingStep",
    "ProcessImage",
    "ProtocolError",
    "Reboot",
    "ReportAcknowledged",
    "ReportRejected",
    "RollbackConfiguration",
    "RunScript",
    "SendReport",
    "Start",
    "StepEnded",
    "StepFailed",
    "StepStarted",
    "StepSucceeded",
    "VerificationFailed",
    "Verified",
    "Verify",
    "transition_graph",
    "transitions",
]

P = ProgressType


class _StepReports(NamedTuple):
    initiated: ProgressType
    warning: ProgressType
    complete: ProgressType
    error: ProgressType


#: Each step's progress types (R-065, R-073..R-076), named ``<step>-<kind>`` by RFC 8572:
#: ``boot-image-initiated`` ... ``post-script-error``.
_REPORTS: Final = {
    step: _StepReports(*(ProgressType(f"{step}-{kind}") for kind in _StepReports._fields))
    for step in OnboardingStep
}
#: The state in which each step runs.
_STEP_OF: Final = {
    OnboardingState.BOOT_IMAGE: OnboardingStep.BOOT_IMAGE,
    OnboardingState.PRE_SCRIPT: OnboardingStep.PRE_SCRIPT,
    OnboardingState.CONFIG: OnboardingStep.CONFIG,
    OnboardingState.POST_SCRIPT: OnboardingStep.POST_SCRIPT,
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
        """Apply ``event`` and the internal events it leads to; return the actions to carry
        out, in order.  On :class:`ProtocolError` the machine is left as it was."""
        if type(event) in INTERNAL_EVENTS:
            raise ProtocolError(f"event {type(event).__name__} is the machine's own")
        saved = (self.state, self.data, self.committed, len(self.history))
        try:
            return self._run(event)
        except BaseException:
            self.state, self.data, self.committed = saved[:3]
            del self.history[saved[3] :]
            raise

    def _run(self, event: Event | InternalEvent) -> list[Action]:
        actions: list[Action] = []
        for _ in range(len(_TABLE)):  # each internal event moves on along the chain
            row = _TABLE.get((self.state, type(event)))
            if row is None:
                raise ProtocolError(
                    f"event {type(event).__name__} is not expected in state {self.state.value}"
                )
            target, build = row
            actions += build(self, event)
            self.history.append((self.state, type(event).__name__, target))
            self.state = target
            enter = _ENTRY.get(target)
            arrival = [] if enter is None else enter(self)
            if isinstance(arrival, list):
                return actions + arrival
            event = arrival
        raise ProtocolError(f"internal events did not settle in state {self.state.value}")

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
        current = _STEP_OF.get(self.state)
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
        step = _STEP_OF[self.state]
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
        return [StepStarted(step), *self._verbose(_REPORTS[step].initiated), work]

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
            actions += self._verbose(_REPORTS[step].warning, event.output or None)
        return actions + self._verbose(_REPORTS[step].complete)

    def _on_step_failed(self, event: StepFailed) -> list[Action]:
        step = self._step(event.step)
        reported = event.error.reported_as() or _REPORTS[step].error
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


_S = OnboardingState
_M = OnboardingMachine
_Builder = Callable[[OnboardingMachine, Any], list[Action]]

_TABLE: Final[dict[tuple[OnboardingState, type], tuple[OnboardingState, _Builder]]] = {
    # (state, event type): (next state, action builder)
    (_S.RECEIVED, Start): (_S.VERIFYING, _M._on_start),
    (_S.VERIFYING, Verified): (_S.VERIFIED, _M._on_verified),
    (_S.VERIFYING, VerificationFailed): (_S.FAILED, _M._on_verification_failed),
    (_S.VERIFIED, RedirectVerified): (_S.REDIRECTED, _M._on_redirect),
    (_S.VERIFIED, OnboardingVerified): (_S.INITIATING, _M._no_actions),
    (_S.INITIATING, NotReporting): (_S.BOOT_IMAGE, _M._no_actions),
    (_S.INITIATING, ReportAcknowledged): (_S.BOOT_IMAGE, _M._on_initiated),
    (_S.INITIATING, ReportRejected): (_S.FAILED, _M._on_initiated_rejected),
    (_S.BOOT_IMAGE, StepAbsent): (_S.PRE_SCRIPT, _M._on_step_absent),
    (_S.BOOT_IMAGE, ImageUpToDate): (_S.PRE_SCRIPT, _M._on_image_up_to_date),
    (_S.BOOT_IMAGE, ImageInstalled): (_S.REBOOTING, _M._on_image_installed),
    (_S.BOOT_IMAGE, StepFailed): (_S.FAILED, _M._on_step_failed),
    (_S.PRE_SCRIPT, StepAbsent): (_S.CONFIG, _M._on_step_absent),
    (_S.PRE_SCRIPT, StepSucceeded): (_S.CONFIG, _M._on_step_succeeded),
    (_S.PRE_SCRIPT, StepFailed): (_S.FAILED, _M._on_step_failed),
    (_S.CONFIG, StepAbsent): (_S.POST_SCRIPT, _M._on_step_absent),
    (_S.CONFIG, StepSucceeded): (_S.POST_SCRIPT, _M._on_step_succeeded),
    (_S.CONFIG, StepFailed): (_S.FAILED, _M._on_step_failed),
    (_S.POST_SCRIPT, StepAbsent): (_S.COMPLETING, _M._on_step_absent),
    (_S.POST_SCRIPT, StepSucceeded): (_S.COMPLETING, _M._on_step_succeeded),
    (_S.POST_SCRIPT, StepFailed): (_S.FAILED, _M._on_step_failed),
    (_S.COMPLETING, NotReporting): (_S.COMPLETE, _M._on_complete),
    (_S.COMPLETING, ReportAcknowledged): (_S.COMPLETE, _M._on_complete_acknowledged),
    (_S.COMPLETING, ReportRejected): (_S.FAILED, _M._on_complete_rejected),
}

_Entry = Callable[[OnboardingMachine], list[Action] | InternalEvent]

_ENTRY: Final[dict[OnboardingState, _Entry]] = {
    # state: what arriving there does (actions awaited, or the internal event taken at once)
    _S.VERIFIED: _M._enter_verified,
    _S.INITIATING: _M._enter_initiating,
    _S.BOOT_IMAGE: _M._enter_step,
    _S.PRE_SCRIPT: _M._enter_step,
    _S.CONFIG: _M._enter_step,
    _S.POST_SCRIPT: _M._enter_step,
    _S.COMPLETING: _M._enter_completing,
}


def transitions() -> list[tuple[str, str, str]]:
    """The table as (state, event, action builder) rows, for documentation and tests."""
    return [(s.value, e.__name__, build.__name__) for (s, e), (_, build) in _TABLE.items()]


def transition_graph() -> TransitionGraph:
    """The table as (state, event, next state) transitions, for the generated diagrams."""
    return graph_of(
        _TABLE, states=OnboardingState, start=OnboardingState.RECEIVED, terminal=TERMINAL
    )
