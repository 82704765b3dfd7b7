"""The RFC 8572 §5 walk of one pass, as a state table: sources → servers → addresses →
get-bootstrapping-data → onboarding → redirect hops → the pass outcome.

A :class:`Session` is fed events (what the executor observed) and answers with actions (what
the executor must do next).  It does no I/O, reads no clock and draws no random numbers: the
addresses of a host and the nonce for each of them come in with :class:`Resolved`.  The whole
behaviour is the table ``_TABLE``: (state, event type) → (next state, handler); the handler
only computes the actions.  An event without a row raises :class:`ProtocolError` and leaves
the state unchanged.  The ``NEXT_*`` and ``*_DONE`` states are choices: the handler that
enters one adds a decision event (``Another``, ``NoneLeft`` ...) that the table routes on.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sztp_client.errors import DataError, SZTPError
from sztp_client.model.conveyed import BootstrapServer, RedirectInformation
from sztp_client.model.rpc import GetBootstrappingDataOutput
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.protocol import onboarding as m
from sztp_client.protocol import session_events as ev
from sztp_client.protocol.graph import TransitionGraph, graph_of
from sztp_client.protocol.onboarding import ProtocolError
from sztp_client.protocol.outcome import ATTEMPT_ERROR, RunOutcome
from sztp_client.trust.hops import DeviceDetails, HopTrust
from sztp_client.trust.verifier import Artifacts


@dataclass(slots=True)
class _Server:
    """The server being tried in a list."""

    endpoint: ServerEndpoint | None
    trust: HopTrust
    name: str
    delivered: ev.DeliveredData | None = None
    addresses: tuple[str, ...] = ()
    nonces: tuple[bytes, ...] = ()
    tried: int = 0
    attempt_open: bool = False
    connected: bool = False
    machine: m.OnboardingMachine | None = None
    output: GetBootstrappingDataOutput | None = None
    outcome: RunOutcome = RunOutcome.NOTHING


@dataclass(slots=True)
class _List:
    """One list of servers: a source's, or a redirect's (then ``parent`` redirected)."""

    label: str
    servers: tuple[ev.Candidate, ...] | tuple[BootstrapServer, ...]
    parent: _Server | None = None
    index: int = 0
    failed: bool = False
    current: _Server | None = None


@dataclass
class Session:
    """One pass.  ``details``: what a trusted server may learn about the device."""

    sources: Sequence[ev.Source]
    details: DeviceDetails = field(default_factory=DeviceDetails)
    max_hops: int = 0
    max_redirect_addresses: int = 64
    state: ev.SessionState = ev.SessionState.IDLE
    last_error: SZTPError | None = None
    outcome: RunOutcome | None = None
    redirect_addresses_tried: int = 0
    history: list[tuple[ev.SessionState, str, ev.SessionState]] = field(default_factory=list)
    _source_index: int = 0
    _lists: list[_List] = field(default_factory=list)
    #: every source tried on this pass and what it gave, for the message of an empty pass
    tried: list[tuple[str, str]] = field(default_factory=list)

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

    # -- helpers ------------------------------------------------------------------------------

    def _list(self) -> _List:
        return self._lists[-1]

    def _server(self) -> _Server:
        server = self._list().current
        if server is None:
            raise ProtocolError("no server is being tried")
        return server

    def _fail(self, error: SZTPError, *, notice: bool = False) -> list[Any]:
        self.last_error = error
        return [ev.Notice(error.message)] if notice else []

    # -- sources ------------------------------------------------------------------------------

    def _choose_source(self) -> list[Any]:
        if self._source_index < len(self.sources):
            return [ev.Another()]
        return [ev.NoneLeft()]

    def _on_begin(self, event: ev.Begin) -> list[Any]:
        return self._choose_source()

    def _fetch_source(self, event: ev.Another) -> list[Any]:
        source = self.sources[self._source_index]
        self._source_index += 1
        return [ev.FetchSource(source)]

    def _end_pass(self, event: ev.NoneLeft | ev.Final) -> list[Any]:
        out: list[Any] = []
        if self.outcome is None:
            self.outcome = RunOutcome.NOTHING
            out.append(ev.Notice(self.nothing_found()))
        error = self.last_error if not self.outcome.ends_walk else None
        return [*out, ev.PassEnded(self.outcome, error)]

    def nothing_found(self) -> str:
        """The one message of a pass that found nothing: every source tried and why."""
        if not self.tried:
            return "no bootstrapping data: no source is configured (discovery.order)"
        parts = "; ".join(f"{name}: {why}" for name, why in self.tried)
        return f"no bootstrapping data from any source: {parts}"

    def _on_source_fetched(self, event: ev.SourceFetched) -> list[Any]:
        label = self.sources[self._source_index - 1].name
        if event.servers:
            self.tried.append((label, f"{_yielded(event.servers)}, none gave bootstrapping data"))
        else:
            self.tried.append((label, event.summary or "found nothing"))
        self._lists.append(_List(label, event.servers))
        return self._choose_server()

    def _on_source_absent(self, event: ev.SourceAbsent) -> list[Any]:
        label = self.sources[self._source_index - 1].name
        self.tried.append((label, event.reason or "not present"))
        return self._choose_source()

    # -- servers ------------------------------------------------------------------------------

    def _address_bound_reached(self) -> bool:
        return self.redirect_addresses_tried >= self.max_redirect_addresses

    def _address_limit_error(self, server: str) -> DataError:
        return DataError(
            f"redirect address limit reached: {self.max_redirect_addresses} addresses were "
            f"tried across the redirects of this pass; {server} and the redirect targets after "
            "it are not tried (limits.redirect-addresses)"
        )

    def _choose_server(self) -> list[Any]:
        lst = self._list()
        if lst.index >= len(lst.servers):
            return [ev.NoneLeft()]
        entry = lst.servers[lst.index]
        lst.index += 1
        if isinstance(entry, ev.DeliveredData):
            trust = HopTrust.delivered(entry.source, max_hops=self.max_hops)
            lst.current = _Server(None, trust, entry.origin, delivered=entry)
            return [ev.Delivered()]
        if isinstance(entry, ev.ServerCandidate):
            trust = HopTrust.first(entry.anchors, max_hops=self.max_hops)
            endpoint = entry.endpoint
        else:
            endpoint = ServerEndpoint(entry.address, entry.port)
            if self._address_bound_reached():
                lst.current = None
                return [
                    *self._fail(self._address_limit_error(_server_name(endpoint)), notice=True),
                    ev.BoundReached(),
                ]
            parent = lst.parent
            if parent is None or parent.machine is None or parent.machine.data is None:
                raise ProtocolError("a redirect list without the verified data it came from")
            try:
                trust = parent.trust.next_hop(parent.machine.data, entry)
            except DataError as exc:
                lst.current = None
                self.last_error = exc
                return [
                    ev.Notice(f"{entry.address}: unusable trust anchor: {exc.message}"),
                    ev.Skipped(),
                ]
        lst.current = _Server(endpoint, trust, _server_name(endpoint))
        return [ev.Another()]

    def _resolve(self, event: ev.Another) -> list[Any]:
        endpoint = self._server().endpoint
        if endpoint is None:
            raise ProtocolError("delivered data has no server to resolve")
        return [ev.Resolve(endpoint.host, endpoint.port)]

    def _deliver(self, event: ev.Delivered) -> list[Any]:
        """Process data a source delivered: no connection, no reports, no nonce."""
        server = self._server()
        delivered = server.delivered
        if delivered is None:
            raise ProtocolError("no delivered data")
        server.attempt_open = True
        server.outcome = RunOutcome.FAILED
        server.machine = m.OnboardingMachine(reports=False)
        attempt = ev.AttemptStarted(
            self._list().label, server.name, "-", False, server.trust.hop, delivered.medium
        )
        return [attempt, *self._onboard(server.machine.handle(m.Start()))]

    def _skip(self, event: ev.Skipped) -> list[Any]:
        return self._choose_server()

    def _cut(self, event: ev.BoundReached) -> list[Any]:
        self._list().failed = True
        lst = self._list()
        lst.index = len(lst.servers)  # the targets after it are not tried either
        return [ev.NoneLeft()]

    def _on_resolve_failed(self, event: ev.ResolveFailed) -> list[Any]:
        server = self._server()
        server.outcome = RunOutcome.NOTHING
        self.last_error = event.error
        return [
            self._attempt(server, "-"),
            ev.AttemptEnded(ATTEMPT_ERROR, event.error),
            ev.NoneLeft(),
        ]

    def _attempt(self, server: _Server, address: str) -> ev.AttemptStarted:
        return ev.AttemptStarted(
            self._list().label,
            server.name,
            address,
            server.trust.trusted,
            server.trust.hop,
            self._medium(),
        )

    def _medium(self) -> Path | None:
        """The medium of the delivered data this hop descends from (none for servers)."""
        for lst in self._lists:
            if lst.current is not None and lst.current.delivered is not None:
                return lst.current.delivered.medium
        return None

    # -- addresses ----------------------------------------------------------------------------

    def _on_resolved(self, event: ev.Resolved) -> list[Any]:
        if len(event.nonces) < len(event.addresses):
            raise ProtocolError("one nonce is needed for every address")
        server = self._server()
        server.addresses, server.nonces = event.addresses, event.nonces
        return self._choose_address()

    def _choose_address(self) -> list[Any]:
        server = self._server()
        if server.tried >= len(server.addresses):
            server.outcome = RunOutcome.NOTHING
            return [ev.NoneLeft()]
        if server.trust.hop > 0:
            if self._address_bound_reached():
                server.outcome = RunOutcome.FAILED
                return [
                    *self._fail(self._address_limit_error(server.name), notice=True),
                    ev.BoundReached(),
                ]
            self.redirect_addresses_tried += 1
        return [ev.Another()]

    def _request(self, event: ev.Another) -> list[Any]:
        server = self._server()
        if server.endpoint is None:
            raise ProtocolError("delivered data has no server to request from")
        address, nonce = server.addresses[server.tried], server.nonces[server.tried]
        server.tried += 1
        server.attempt_open = True
        body = server.trust.request(nonce, self.details)
        return [
            self._attempt(server, address),
            ev.Request(server.endpoint, server.name, address, server.trust.decision, body),
        ]

    def _on_request_failed(self, event: ev.RequestFailed) -> list[Any]:
        server = self._server()
        server.attempt_open = False
        self.last_error = event.error
        return [ev.AttemptEnded(ATTEMPT_ERROR, event.error), *self._choose_address()]

    def _address_cut(self, event: ev.BoundReached) -> list[Any]:
        return [ev.NoneLeft()]

    # -- onboarding ---------------------------------------------------------------------------

    def _on_data(self, event: ev.DataReceived) -> list[Any]:
        server = self._server()
        server.connected = True
        server.output = event.output
        server.outcome = RunOutcome.FAILED
        server.machine = m.OnboardingMachine(
            reports=server.trust.decision.may_report,
            reporting_level=event.output.reporting_level,
        )
        return self._onboard(server.machine.handle(m.Start()))

    def _on_onboarding_event(self, event: m.Event) -> list[Any]:
        machine = self._server().machine
        if machine is None:
            raise ProtocolError("no onboarding machine")
        return self._onboard(machine.handle(event))

    def _onboard(self, actions: list[m.Action]) -> list[Any]:
        server = self._server()
        out: list[Any] = []
        for action in actions:
            if isinstance(action, m.Verify):
                output = server.output
                if server.delivered is not None:
                    artifacts = server.delivered.artifacts
                elif output is not None:
                    artifacts = Artifacts(
                        conveyed_information=output.conveyed_information,
                        owner_certificate=output.owner_certificate,
                        ownership_voucher=output.ownership_voucher,
                    )
                else:
                    raise ProtocolError("nothing to verify")
                out.append(ev.VerifyData(artifacts, server.trust.source, server.trust.nonce))
            elif isinstance(action, m.FollowRedirect):
                continue  # taken from the machine's final state (below)
            elif isinstance(action, m.Finish):
                if action.error is not None:
                    self.last_error = action.error
                if action.outcome is not m.OnboardingState.REDIRECTED:
                    server.outcome = RunOutcome.of_onboarding(action.outcome)
                out.append(ev.OnboardingEnded())
            else:
                out.append(action)
        return out

    def _on_action_failed(self, event: ev.ActionFailed) -> list[Any]:
        server = self._server()
        self.last_error = event.error
        server.outcome = RunOutcome.FAILED
        server.attempt_open = False
        return [ev.AttemptEnded(ATTEMPT_ERROR, event.error), ev.NoneLeft()]

    def _on_finished(self, event: ev.OnboardingEnded) -> list[Any]:
        server = self._server()
        machine = server.machine
        if machine is None or machine.state is not m.OnboardingState.REDIRECTED:
            return [ev.NoneLeft()]
        if not server.trust.may_follow:
            server.outcome = RunOutcome.FAILED
            error = DataError(
                f"redirect limit of {self.max_hops} hops reached at {server.name}; raise "
                "discovery.max-redirects if the chain is legitimate"
            )
            return [*self._fail(error, notice=True), ev.NoneLeft()]
        return [ev.Redirected()]

    def _follow(self, event: ev.Redirected) -> list[Any]:
        server = self._server()
        data = server.machine.data if server.machine is not None else None
        if data is None or not isinstance(data.conveyed_information, RedirectInformation):
            raise ProtocolError("a redirect without redirect information")
        targets = data.conveyed_information.bootstrap_servers
        self._lists.append(_List(f"redirect from {server.name}", targets, parent=server))
        return self._choose_server()

    # -- ends ---------------------------------------------------------------------------------

    def _server_done(self, event: ev.NoneLeft | ev.BoundReached) -> list[Any]:
        """A server ended: close its attempt and connection; go on or end the pass."""
        lst = self._list()
        server = lst.current
        out: list[Any] = []
        if server is not None:
            if server.attempt_open:
                error = self.last_error if server.outcome is RunOutcome.FAILED else None
                out.append(ev.AttemptEnded(server.outcome.value, error))
                server.attempt_open = False
            if server.connected:
                out.append(ev.Disconnect())
                server.connected = False
            lst.current = None
            if server.outcome.ends_walk:
                self.outcome = server.outcome
                return [*out, *self._unwind(), ev.Final()]
            lst.failed = lst.failed or server.outcome is RunOutcome.FAILED
        return [*out, *self._choose_server()]

    def _unwind(self) -> list[Any]:
        """Close the attempts and connections of every server that redirected here."""
        out: list[Any] = []
        self._lists.pop()
        while self._lists:
            parent = self._lists.pop().current
            if parent is None:
                continue
            if parent.attempt_open:
                out.append(ev.AttemptEnded(self.outcome.value if self.outcome else ATTEMPT_ERROR))
            if parent.connected:
                out.append(ev.Disconnect())
        return out

    def _servers_done(self, event: ev.NoneLeft) -> list[Any]:
        lst = self._lists[-1]
        if lst.parent is None:
            return [ev.SourceListEnded()]
        return [ev.RedirectListEnded()]

    def _source_done(self, event: ev.SourceListEnded) -> list[Any]:
        lst = self._lists.pop()
        if lst.failed:
            self.outcome = RunOutcome.FAILED
        return self._choose_source()

    def _redirect_done(self, event: ev.RedirectListEnded) -> list[Any]:
        lst = self._lists.pop()
        if lst.parent is None:
            raise ProtocolError("a redirect list without its parent")
        lst.parent.outcome = RunOutcome.FAILED if lst.failed else RunOutcome.NOTHING
        return [ev.NoneLeft()]


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
    (S.IDLE, ev.Begin): (S.NEXT_SOURCE, Session._on_begin),
    (S.NEXT_SOURCE, ev.Another): (S.FETCHING, Session._fetch_source),
    (S.NEXT_SOURCE, ev.NoneLeft): (S.DONE, Session._end_pass),
    (S.FETCHING, ev.SourceFetched): (S.NEXT_SERVER, Session._on_source_fetched),
    (S.FETCHING, ev.SourceAbsent): (S.NEXT_SOURCE, Session._on_source_absent),
    (S.NEXT_SERVER, ev.Another): (S.RESOLVING, Session._resolve),
    (S.NEXT_SERVER, ev.Delivered): (S.ONBOARDING, Session._deliver),
    (S.NEXT_SERVER, ev.Skipped): (S.NEXT_SERVER, Session._skip),
    (S.NEXT_SERVER, ev.BoundReached): (S.NEXT_SERVER, Session._cut),
    (S.NEXT_SERVER, ev.NoneLeft): (S.SERVERS_DONE, Session._servers_done),
    (S.SERVERS_DONE, ev.SourceListEnded): (S.NEXT_SOURCE, Session._source_done),
    (S.SERVERS_DONE, ev.RedirectListEnded): (S.SERVER_DONE, Session._redirect_done),
    (S.RESOLVING, ev.Resolved): (S.NEXT_ADDRESS, Session._on_resolved),
    (S.RESOLVING, ev.ResolveFailed): (S.SERVER_DONE, Session._on_resolve_failed),
    (S.NEXT_ADDRESS, ev.Another): (S.REQUESTING, Session._request),
    (S.NEXT_ADDRESS, ev.NoneLeft): (S.SERVER_DONE, lambda session, event: [ev.NoneLeft()]),
    (S.NEXT_ADDRESS, ev.BoundReached): (S.SERVER_DONE, Session._address_cut),
    (S.REQUESTING, ev.DataReceived): (S.ONBOARDING, Session._on_data),
    (S.REQUESTING, ev.RequestFailed): (S.NEXT_ADDRESS, Session._on_request_failed),
    (S.REQUESTING, ev.ActionFailed): (S.SERVER_DONE, Session._on_action_failed),
    **{(S.ONBOARDING, e): (S.ONBOARDING, Session._on_onboarding_event) for e in _ONBOARDING_EVENTS},
    (S.ONBOARDING, ev.ActionFailed): (S.SERVER_DONE, Session._on_action_failed),
    (S.ONBOARDING, ev.OnboardingEnded): (S.SERVER_DONE, Session._on_finished),
    (S.SERVER_DONE, ev.NoneLeft): (S.NEXT_SERVER, Session._server_done),
    (S.SERVER_DONE, ev.Redirected): (S.NEXT_SERVER, Session._follow),
    (S.NEXT_SERVER, ev.Final): (S.DONE, Session._end_pass),
}


def transitions() -> list[tuple[str, str, str]]:
    """The table as (state, event, next state) rows."""
    return [(s.value, e.__name__, n.value) for (s, e), (n, _h) in _TABLE.items()]


def transition_graph() -> TransitionGraph:
    """The table as a graph, for the generated diagram in docs/architecture.md."""
    return graph_of(_TABLE, states=ev.SessionState, start=ev.SessionState.IDLE, terminal={S.DONE})


def _yielded(candidates: Sequence[ev.Candidate]) -> str:
    servers = sum(1 for c in candidates if isinstance(c, ev.ServerCandidate))
    data = len(candidates) - servers
    parts = []
    if servers:
        parts.append(f"{servers} server{'s' if servers != 1 else ''}")
    if data:
        parts.append(f"{data} set{'s' if data != 1 else ''} of bootstrapping data")
    return " and ".join(parts)


def _server_name(endpoint: ServerEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"https://{host}:{endpoint.port}"


__all__ = ["Session", "transition_graph", "transitions"]
