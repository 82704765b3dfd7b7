"""The RFC 8572 §5.3-§5.6 processing of one piece of bootstrapping data, as a state table.

One :class:`OnboardingMachine` handles the data obtained from one source or bootstrap server:
it is fed events (what the runner observed) and answers with actions (what the runner must do
next).  The names (states, steps, events, actions) are in
:mod:`sztp_client.protocol.onboarding_events` and offered here too; everything that moves the
machine is in this module, in two tables, whose rows name the rules of
:mod:`sztp_client.protocol.onboarding_rules`.  It does no I/O.  :func:`transition_graph` lists
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
from typing import TYPE_CHECKING, Any, Final

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
from sztp_client.protocol.onboarding_rules import OnboardingRules

if TYPE_CHECKING:
    from sztp_client.protocol.graph import TransitionGraph

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


class OnboardingMachine(OnboardingRules):
    """One run of the §5.3-§5.6 processing.  ``reports`` is True only for a bootstrap server
    whose TLS certificate was authenticated (trust-state TRUE for the connection); the record
    and the rules are :class:`~sztp_client.protocol.onboarding_rules.OnboardingRules`'."""

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
    from sztp_client.protocol.graph import graph_of  # noqa: PLC0415 - the docs' tool only

    return graph_of(
        _TABLE, states=OnboardingState, start=OnboardingState.RECEIVED, terminal=TERMINAL
    )
