"""The RFC 8572 §5 walk of one pass, as a state table: sources → servers → addresses →
get-bootstrapping-data → onboarding → redirect hops → the pass outcome.

A :class:`Session` is fed events (what the executor observed) and answers with actions (what
the executor must do next).  It does no I/O, reads no clock and draws no random numbers: the
addresses of a host and the nonce for each of them come in with :class:`Resolved`.  The whole
behaviour is the table ``_TABLE``: (state, event type) → (next state, handler); the handler
only computes the actions.  The handlers are in :mod:`~sztp_client.protocol.session_walk`
(sources, servers, addresses) and :mod:`~sztp_client.protocol.session_data` (onboarding,
redirects, ends); what the pass keeps account of is in
:mod:`~sztp_client.protocol.session_pass`.  An event without a row raises
:class:`ProtocolError` and leaves the state unchanged.  The ``NEXT_*`` and ``*_DONE`` states
are choices: the handler that enters one adds a decision event (``Another``, ``NoneLeft`` ...)
that the table routes on.

What the table encodes:

* sources in order; each yields bootstrap servers, each tried in order (R-004, R-005), and
  data it delivered itself (DNS TXT, a removable medium), processed without a server and
  verified as data from that kind of source (R-025, R-109, R-111);
* every address of a server in order, none after the first that answers (R-058);
* the data is handed to an :class:`~sztp_client.protocol.onboarding.OnboardingMachine`, whose
  actions are passed on (its ``Verify`` becomes :class:`VerifyData` with the hop's source kind
  and nonce);
* redirect information is followed with the trust of :class:`~sztp_client.trust.hops.HopTrust`
  (R-059..R-061, R-026), up to ``max_hops`` hops (D16) and ``max_redirect_addresses``
  addresses across the hops of one pass (D28);
* a complete or rebooting server ends the pass; otherwise a pass that obtained data ends
  ``failed`` and one that obtained none ``no-bootstrapping-data`` (a redirect whose targets gave
  nothing counts as nothing), with one notice naming every source tried and what it gave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from sztp_client.errors import SZTPError
from sztp_client.protocol import onboarding_events as m
from sztp_client.protocol import session_data as data
from sztp_client.protocol import session_events as ev
from sztp_client.protocol import session_walk as walk
from sztp_client.protocol.onboarding_events import ProtocolError
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.protocol.session_pass import ServerAttempt, ServerList, nothing_found
from sztp_client.trust.hops import DeviceDetails

if TYPE_CHECKING:
    from sztp_client.protocol.graph import TransitionGraph


class Session(msgspec.Struct):
    """One pass.  ``details``: what a trusted server may learn about the device."""

    sources: Sequence[ev.Source]
    details: DeviceDetails = msgspec.field(default_factory=DeviceDetails)
    max_hops: int = 0
    max_redirect_addresses: int = 64
    state: ev.SessionState = ev.SessionState.IDLE
    last_error: SZTPError | None = None
    outcome: RunOutcome | None = None
    redirect_addresses_tried: int = 0
    history: list[tuple[ev.SessionState, str, ev.SessionState]] = msgspec.field(
        default_factory=list
    )
    #: the next source to fetch
    source_index: int = 0
    #: the lists of servers being walked: a source's, then one per redirect followed
    lists: list[ServerList] = msgspec.field(default_factory=list)
    #: every source tried on this pass and what it gave, for the message of an empty pass
    tried: list[tuple[str, str]] = msgspec.field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state is ev.SessionState.DONE

    def handle(self, event: ev.Event) -> list[ev.Action]:
        """Apply ``event``; return the actions to carry out, in order."""
        actions: list[ev.Action] = []
        pending: list[Any] = [event]
        while pending:
            current = pending.pop(0)
            row = _TABLE.get((self.state, type(current)))
            if row is None:
                raise ProtocolError(
                    f"event {type(current).__name__} is not expected in state {self.state.value}"
                )
            next_state, handler = row
            produced = handler(self, current)
            self.history.append((self.state, type(current).__name__, next_state))
            self.state = next_state
            for item in produced:
                if isinstance(item, ev.INTERNAL_TYPES):
                    pending.append(item)
                else:
                    actions.append(item)
        return actions

    def nothing_found(self) -> str:
        """The one message of a pass that found nothing: every source tried and why."""
        return nothing_found(self.tried)

    # -- for the handlers ---------------------------------------------------------------------

    def current_list(self) -> ServerList:
        return self.lists[-1]

    def current_server(self) -> ServerAttempt:
        server = self.current_list().current
        if server is None:
            raise ProtocolError("no server is being tried")
        return server

    def fail(self, error: SZTPError, *, notice: bool = False) -> list[Any]:
        """Record ``error`` as the pass's last; with ``notice`` also tell it at once."""
        self.last_error = error
        return [ev.Notice(error.message)] if notice else []


S = ev.SessionState
_Handler = Callable[[Session, Any], list[Any]]
_ONBOARDING_EVENTS: tuple[type, ...] = (
    m.Verified,
    m.VerificationFailed,
    m.ReportAcknowledged,
    m.ReportRejected,
    m.ImageUpToDate,
    m.ImageInstalled,
    m.StepSucceeded,
    m.StepFailed,
)

_TABLE: dict[tuple[ev.SessionState, type], tuple[ev.SessionState, _Handler]] = {
    (S.IDLE, ev.Begin): (S.NEXT_SOURCE, walk.on_begin),
    (S.NEXT_SOURCE, ev.Another): (S.FETCHING, walk.fetch_source),
    (S.NEXT_SOURCE, ev.NoneLeft): (S.DONE, walk.end_pass),
    (S.FETCHING, ev.SourceFetched): (S.NEXT_SERVER, walk.on_source_fetched),
    (S.FETCHING, ev.SourceAbsent): (S.NEXT_SOURCE, walk.on_source_absent),
    (S.NEXT_SERVER, ev.Another): (S.RESOLVING, walk.resolve),
    (S.NEXT_SERVER, ev.Delivered): (S.ONBOARDING, data.deliver),
    (S.NEXT_SERVER, ev.Skipped): (S.NEXT_SERVER, walk.skip),
    (S.NEXT_SERVER, ev.BoundReached): (S.NEXT_SERVER, walk.cut),
    (S.NEXT_SERVER, ev.NoneLeft): (S.SERVERS_DONE, data.servers_done),
    (S.SERVERS_DONE, ev.SourceListEnded): (S.NEXT_SOURCE, data.source_done),
    (S.SERVERS_DONE, ev.RedirectListEnded): (S.SERVER_DONE, data.redirect_done),
    (S.RESOLVING, ev.Resolved): (S.NEXT_ADDRESS, walk.on_resolved),
    (S.RESOLVING, ev.ResolveFailed): (S.SERVER_DONE, walk.on_resolve_failed),
    (S.NEXT_ADDRESS, ev.Another): (S.REQUESTING, walk.request),
    (S.NEXT_ADDRESS, ev.NoneLeft): (S.SERVER_DONE, walk.no_address_left),
    (S.NEXT_ADDRESS, ev.BoundReached): (S.SERVER_DONE, walk.address_cut),
    (S.REQUESTING, ev.DataReceived): (S.ONBOARDING, data.on_data),
    (S.REQUESTING, ev.RequestFailed): (S.NEXT_ADDRESS, walk.on_request_failed),
    (S.REQUESTING, ev.ActionFailed): (S.SERVER_DONE, data.on_action_failed),
    **{(S.ONBOARDING, e): (S.ONBOARDING, data.on_onboarding_event) for e in _ONBOARDING_EVENTS},
    (S.ONBOARDING, ev.ActionFailed): (S.SERVER_DONE, data.on_action_failed),
    (S.ONBOARDING, ev.OnboardingEnded): (S.SERVER_DONE, data.on_finished),
    (S.SERVER_DONE, ev.NoneLeft): (S.NEXT_SERVER, data.server_done),
    (S.SERVER_DONE, ev.Redirected): (S.NEXT_SERVER, data.follow),
    (S.NEXT_SERVER, ev.Final): (S.DONE, walk.end_pass),
}


def transitions() -> list[tuple[str, str, str]]:
    """The table as (state, event, next state) rows."""
    return [(s.value, e.__name__, n.value) for (s, e), (n, _h) in _TABLE.items()]


def transition_graph() -> TransitionGraph:
    """The table as a graph, for the generated diagram in docs/architecture.md."""
    from sztp_client.protocol.graph import graph_of  # noqa: PLC0415 - the docs' tool only

    return graph_of(_TABLE, states=ev.SessionState, start=ev.SessionState.IDLE, terminal={S.DONE})


__all__ = ["Session", "transition_graph", "transitions"]
