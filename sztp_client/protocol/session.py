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

* sources in order; each yields bootstrap servers, each tried in order (R-004, R-005);
* every address of a server in order, none after the first that answers (R-058);
* the data is handed to an :class:`~sztp_client.protocol.onboarding.OnboardingMachine`, whose
  actions are passed on (its ``Verify`` becomes :class:`VerifyData` with the hop's source kind
  and nonce);
* redirect information is followed with the trust of :class:`~sztp_client.trust.hops.HopTrust`
  (R-059..R-061, R-026), up to ``max_hops`` hops (D16) and ``max_redirect_addresses``
  addresses across the hops of one pass (D28);
* a complete or rebooting server ends the pass; otherwise a pass that obtained data ends
  ``failed`` and one that obtained none ``no-bootstrapping-data`` (a redirect whose targets gave
  nothing counts as nothing).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography import x509

from sztp_client.errors import DataError, SZTPError
from sztp_client.model.conveyed import BootstrapServer, RedirectInformation
from sztp_client.model.rpc import GetBootstrappingDataInput, GetBootstrappingDataOutput
from sztp_client.protocol import onboarding as m
from sztp_client.protocol.graph import TransitionGraph, graph_of
from sztp_client.protocol.onboarding import ProtocolError
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.transport.restconf import ServerEndpoint
from sztp_client.trust.hops import DeviceDetails, HopTrust, ServerTrust
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import Artifacts

# --- sources --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerCandidate:
    """A bootstrap server a source named; ``anchors`` empty: no anchor, provisional."""

    endpoint: ServerEndpoint
    anchors: tuple[x509.Certificate, ...] = ()


class Source(Protocol):
    """Where bootstrap servers (or, later, artifacts) come from (RFC 8572 §4).

    ``detect`` is cheap (is this source present at all?); ``fetch`` does the real work and
    yields the servers to try, in order.  The executor calls both; the session only orders.
    """

    @property
    def name(self) -> str: ...

    def detect(self) -> bool: ...

    def fetch(self) -> Sequence[ServerCandidate]: ...


@dataclass(frozen=True, slots=True)
class WellKnownServers:
    """The configured well-known bootstrap servers, with the configured anchors (R-004)."""

    endpoints: tuple[ServerEndpoint, ...]
    anchors: tuple[x509.Certificate, ...] = ()
    name: str = "well-known bootstrap server"

    def detect(self) -> bool:
        return bool(self.endpoints)

    def fetch(self) -> Sequence[ServerCandidate]:
        return [ServerCandidate(endpoint, self.anchors) for endpoint in self.endpoints]


# --- events: what the executor observed ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Begin:
    """A pass starts."""


@dataclass(frozen=True, slots=True)
class SourceFetched:
    servers: tuple[ServerCandidate, ...]


@dataclass(frozen=True, slots=True)
class SourceAbsent:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The addresses of the server, in order, and a fresh nonce for each (R-058)."""

    addresses: tuple[str, ...]
    nonces: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ResolveFailed:
    error: SZTPError


@dataclass(frozen=True, slots=True)
class DataReceived:
    output: GetBootstrappingDataOutput


@dataclass(frozen=True, slots=True)
class RequestFailed:
    error: SZTPError


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """Carrying out an onboarding action raised: this server's data is done with."""

    error: SZTPError


Event = (
    Begin
    | SourceFetched
    | SourceAbsent
    | Resolved
    | ResolveFailed
    | DataReceived
    | RequestFailed
    | ActionFailed
    | m.Event
)

# --- actions: what the executor must do ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchSource:
    source: Source


@dataclass(frozen=True, slots=True)
class Resolve:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    source: str
    server: str
    address: str
    trusted: bool
    hop: int


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """``outcome`` is a :class:`RunOutcome` value or ``error``."""

    outcome: str
    error: SZTPError | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """Connect to ``address`` with ``trust`` and POST ``body``; answer DataReceived or
    RequestFailed.  On DataReceived the connection stays open (for reports) until
    :class:`Disconnect`."""

    endpoint: ServerEndpoint
    server: str
    address: str
    trust: ServerTrust
    body: GetBootstrappingDataInput


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the connection of the last :class:`Request` that received data."""


@dataclass(frozen=True, slots=True)
class VerifyData:
    """Verify the artifacts (§5.4); answer Verified or VerificationFailed."""

    artifacts: Artifacts
    source: SourceKind
    nonce: bytes | None


@dataclass(frozen=True, slots=True)
class Notice:
    text: str


@dataclass(frozen=True, slots=True)
class PassEnded:
    outcome: RunOutcome
    error: SZTPError | None


Action = (
    FetchSource
    | Resolve
    | AttemptStarted
    | AttemptEnded
    | Request
    | Disconnect
    | VerifyData
    | Notice
    | PassEnded
    | m.Action
)


class SessionState(enum.StrEnum):
    IDLE = "idle"
    NEXT_SOURCE = "next-source"
    FETCHING = "fetching"
    NEXT_SERVER = "next-server"
    RESOLVING = "resolving"
    NEXT_ADDRESS = "next-address"
    REQUESTING = "requesting"
    ONBOARDING = "onboarding"
    SERVER_DONE = "server-done"
    SERVERS_DONE = "servers-done"
    DONE = "done"


# decisions taken in choice states: internal events, never fed from outside
@dataclass(frozen=True, slots=True)
class Another:
    """There is one more (source, server, address) to try."""


@dataclass(frozen=True, slots=True)
class NoneLeft:
    """Nothing more to try here."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """This server is not tried (an unusable redirect anchor)."""


@dataclass(frozen=True, slots=True)
class BoundReached:
    """The redirect-address bound is reached: this server (or list) ends failed."""


@dataclass(frozen=True, slots=True)
class OnboardingEnded:
    """The onboarding machine finished (with a redirect to follow or not)."""


@dataclass(frozen=True, slots=True)
class Redirected:
    """Follow the redirect: a new list of servers one hop further."""


@dataclass(frozen=True, slots=True)
class Final:
    """A server completed or is rebooting: the pass ends."""


@dataclass(frozen=True, slots=True)
class SourceListEnded:
    """A source's list of servers ended."""


@dataclass(frozen=True, slots=True)
class RedirectListEnded:
    """A redirect's list of servers ended: the server that redirected ends with it."""


@dataclass(slots=True)
class _Server:
    """The server being tried in a list."""

    endpoint: ServerEndpoint
    trust: HopTrust
    name: str
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
    servers: tuple[ServerCandidate, ...] | tuple[BootstrapServer, ...]
    parent: _Server | None = None
    index: int = 0
    failed: bool = False
    current: _Server | None = None


@dataclass
class Session:
    """One pass.  ``details``: what a trusted server may learn about the device."""

    sources: Sequence[Source]
    details: DeviceDetails = field(default_factory=DeviceDetails)
    max_hops: int = 0
    max_redirect_addresses: int = 64
    state: SessionState = SessionState.IDLE
    last_error: SZTPError | None = None
    outcome: RunOutcome | None = None
    redirect_addresses_tried: int = 0
    history: list[tuple[SessionState, str, SessionState]] = field(default_factory=list)
    _source_index: int = 0
    _lists: list[_List] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state is SessionState.DONE

    def handle(self, event: Event) -> list[Action]:
        """Apply ``event``; return the actions to carry out, in order."""
        actions: list[Action] = []
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
                if isinstance(item, _INTERNAL_TYPES):
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
        return [Notice(error.message)] if notice else []

    # -- sources ------------------------------------------------------------------------------

    def _choose_source(self) -> list[Any]:
        if self._source_index < len(self.sources):
            return [Another()]
        return [NoneLeft()]

    def _on_begin(self, event: Begin) -> list[Any]:
        return self._choose_source()

    def _fetch_source(self, event: Another) -> list[Any]:
        source = self.sources[self._source_index]
        self._source_index += 1
        return [FetchSource(source)]

    def _end_pass(self, event: NoneLeft | Final) -> list[Any]:
        if self.outcome is None:
            self.outcome = RunOutcome.NOTHING
        error = self.last_error if not self.outcome.ends_walk else None
        return [PassEnded(self.outcome, error)]

    def _on_source_fetched(self, event: SourceFetched) -> list[Any]:
        label = self.sources[self._source_index - 1].name
        self._lists.append(_List(label, event.servers))
        return self._choose_server()

    def _on_source_absent(self, event: SourceAbsent) -> list[Any]:
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
            return [NoneLeft()]
        entry = lst.servers[lst.index]
        lst.index += 1
        if isinstance(entry, ServerCandidate):
            trust = HopTrust.first(entry.anchors, max_hops=self.max_hops)
            endpoint = entry.endpoint
        else:
            endpoint = ServerEndpoint(entry.address, entry.port)
            if self._address_bound_reached():
                lst.current = None
                return [
                    *self._fail(self._address_limit_error(_server_name(endpoint)), notice=True),
                    BoundReached(),
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
                    Notice(f"{entry.address}: unusable trust anchor: {exc.message}"),
                    Skipped(),
                ]
        lst.current = _Server(endpoint, trust, _server_name(endpoint))
        return [Another()]

    def _resolve(self, event: Another) -> list[Any]:
        endpoint = self._server().endpoint
        return [Resolve(endpoint.host, endpoint.port)]

    def _skip(self, event: Skipped) -> list[Any]:
        return self._choose_server()

    def _cut(self, event: BoundReached) -> list[Any]:
        self._list().failed = True
        lst = self._list()
        lst.index = len(lst.servers)  # the targets after it are not tried either
        return [NoneLeft()]

    def _on_resolve_failed(self, event: ResolveFailed) -> list[Any]:
        server = self._server()
        server.outcome = RunOutcome.NOTHING
        self.last_error = event.error
        return [self._attempt(server, "-"), AttemptEnded("error", event.error), NoneLeft()]

    def _attempt(self, server: _Server, address: str) -> AttemptStarted:
        return AttemptStarted(
            self._list().label, server.name, address, server.trust.trusted, server.trust.hop
        )

    # -- addresses ----------------------------------------------------------------------------

    def _on_resolved(self, event: Resolved) -> list[Any]:
        if len(event.nonces) < len(event.addresses):
            raise ProtocolError("one nonce is needed for every address")
        server = self._server()
        server.addresses, server.nonces = event.addresses, event.nonces
        return self._choose_address()

    def _choose_address(self) -> list[Any]:
        server = self._server()
        if server.tried >= len(server.addresses):
            server.outcome = RunOutcome.NOTHING
            return [NoneLeft()]
        if server.trust.hop > 0:
            if self._address_bound_reached():
                server.outcome = RunOutcome.FAILED
                return [
                    *self._fail(self._address_limit_error(server.name), notice=True),
                    BoundReached(),
                ]
            self.redirect_addresses_tried += 1
        return [Another()]

    def _request(self, event: Another) -> list[Any]:
        server = self._server()
        address, nonce = server.addresses[server.tried], server.nonces[server.tried]
        server.tried += 1
        server.attempt_open = True
        body = server.trust.request(nonce, self.details)
        return [
            self._attempt(server, address),
            Request(server.endpoint, server.name, address, server.trust.decision, body),
        ]

    def _on_request_failed(self, event: RequestFailed) -> list[Any]:
        server = self._server()
        server.attempt_open = False
        self.last_error = event.error
        return [AttemptEnded("error", event.error), *self._choose_address()]

    def _address_cut(self, event: BoundReached) -> list[Any]:
        return [NoneLeft()]

    # -- onboarding ---------------------------------------------------------------------------

    def _on_data(self, event: DataReceived) -> list[Any]:
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
                if output is None:
                    raise ProtocolError("nothing to verify")
                artifacts = Artifacts(
                    conveyed_information=output.conveyed_information,
                    owner_certificate=output.owner_certificate,
                    ownership_voucher=output.ownership_voucher,
                )
                out.append(VerifyData(artifacts, server.trust.source, server.trust.nonce))
            elif isinstance(action, m.FollowRedirect):
                continue  # taken from the machine's final state (below)
            elif isinstance(action, m.Finish):
                if action.error is not None:
                    self.last_error = action.error
                if action.outcome is not m.OnboardingState.REDIRECTED:
                    server.outcome = RunOutcome.of_onboarding(action.outcome)
                out.append(OnboardingEnded())
            else:
                out.append(action)
        return out

    def _on_action_failed(self, event: ActionFailed) -> list[Any]:
        server = self._server()
        self.last_error = event.error
        server.outcome = RunOutcome.FAILED
        server.attempt_open = False
        return [AttemptEnded("error", event.error), NoneLeft()]

    def _on_finished(self, event: OnboardingEnded) -> list[Any]:
        server = self._server()
        machine = server.machine
        if machine is None or machine.state is not m.OnboardingState.REDIRECTED:
            return [NoneLeft()]
        if not server.trust.may_follow:
            server.outcome = RunOutcome.FAILED
            error = DataError(
                f"redirect limit of {self.max_hops} hops reached at {server.name}; raise "
                "discovery.max-redirects if the chain is legitimate"
            )
            return [*self._fail(error, notice=True), NoneLeft()]
        return [Redirected()]

    def _follow(self, event: Redirected) -> list[Any]:
        server = self._server()
        data = server.machine.data if server.machine is not None else None
        if data is None or not isinstance(data.conveyed_information, RedirectInformation):
            raise ProtocolError("a redirect without redirect information")
        targets = data.conveyed_information.bootstrap_servers
        self._lists.append(_List(f"redirect from {server.name}", targets, parent=server))
        return self._choose_server()

    # -- ends ---------------------------------------------------------------------------------

    def _server_done(self, event: NoneLeft | BoundReached) -> list[Any]:
        """A server ended: close its attempt and connection; go on or end the pass."""
        lst = self._list()
        server = lst.current
        out: list[Any] = []
        if server is not None:
            if server.attempt_open:
                error = self.last_error if server.outcome is RunOutcome.FAILED else None
                out.append(AttemptEnded(server.outcome.value, error))
                server.attempt_open = False
            if server.connected:
                out.append(Disconnect())
                server.connected = False
            lst.current = None
            if server.outcome.ends_walk:
                self.outcome = server.outcome
                return [*out, *self._unwind(), Final()]
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
                out.append(AttemptEnded(self.outcome.value if self.outcome else "error"))
            if parent.connected:
                out.append(Disconnect())
        return out

    def _servers_done(self, event: NoneLeft) -> list[Any]:
        lst = self._lists[-1]
        if lst.parent is None:
            return [SourceListEnded()]
        return [RedirectListEnded()]

    def _source_done(self, event: SourceListEnded) -> list[Any]:
        lst = self._lists.pop()
        if lst.failed:
            self.outcome = RunOutcome.FAILED
        return self._choose_source()

    def _redirect_done(self, event: RedirectListEnded) -> list[Any]:
        lst = self._lists.pop()
        if lst.parent is None:
            raise ProtocolError("a redirect list without its parent")
        lst.parent.outcome = RunOutcome.FAILED if lst.failed else RunOutcome.NOTHING
        return [NoneLeft()]


_INTERNAL_TYPES = (
    Another,
    NoneLeft,
    Skipped,
    BoundReached,
    OnboardingEnded,
    Redirected,
    Final,
    SourceListEnded,
    RedirectListEnded,
)

S = SessionState
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

_TABLE: dict[tuple[SessionState, type], tuple[SessionState, _Handler]] = {
    (S.IDLE, Begin): (S.NEXT_SOURCE, Session._on_begin),
    (S.NEXT_SOURCE, Another): (S.FETCHING, Session._fetch_source),
    (S.NEXT_SOURCE, NoneLeft): (S.DONE, Session._end_pass),
    (S.FETCHING, SourceFetched): (S.NEXT_SERVER, Session._on_source_fetched),
    (S.FETCHING, SourceAbsent): (S.NEXT_SOURCE, Session._on_source_absent),
    (S.NEXT_SERVER, Another): (S.RESOLVING, Session._resolve),
    (S.NEXT_SERVER, Skipped): (S.NEXT_SERVER, Session._skip),
    (S.NEXT_SERVER, BoundReached): (S.NEXT_SERVER, Session._cut),
    (S.NEXT_SERVER, NoneLeft): (S.SERVERS_DONE, Session._servers_done),
    (S.SERVERS_DONE, SourceListEnded): (S.NEXT_SOURCE, Session._source_done),
    (S.SERVERS_DONE, RedirectListEnded): (S.SERVER_DONE, Session._redirect_done),
    (S.RESOLVING, Resolved): (S.NEXT_ADDRESS, Session._on_resolved),
    (S.RESOLVING, ResolveFailed): (S.SERVER_DONE, Session._on_resolve_failed),
    (S.NEXT_ADDRESS, Another): (S.REQUESTING, Session._request),
    (S.NEXT_ADDRESS, NoneLeft): (S.SERVER_DONE, lambda session, event: [NoneLeft()]),
    (S.NEXT_ADDRESS, BoundReached): (S.SERVER_DONE, Session._address_cut),
    (S.REQUESTING, DataReceived): (S.ONBOARDING, Session._on_data),
    (S.REQUESTING, RequestFailed): (S.NEXT_ADDRESS, Session._on_request_failed),
    (S.REQUESTING, ActionFailed): (S.SERVER_DONE, Session._on_action_failed),
    **{(S.ONBOARDING, e): (S.ONBOARDING, Session._on_onboarding_event) for e in _ONBOARDING_EVENTS},
    (S.ONBOARDING, ActionFailed): (S.SERVER_DONE, Session._on_action_failed),
    (S.ONBOARDING, OnboardingEnded): (S.SERVER_DONE, Session._on_finished),
    (S.SERVER_DONE, NoneLeft): (S.NEXT_SERVER, Session._server_done),
    (S.SERVER_DONE, Redirected): (S.NEXT_SERVER, Session._follow),
    (S.NEXT_SERVER, Final): (S.DONE, Session._end_pass),
}


def transitions() -> list[tuple[str, str, str]]:
    """The table as (state, event, next state) rows."""
    return [(s.value, e.__name__, n.value) for (s, e), (n, _h) in _TABLE.items()]


def transition_graph() -> TransitionGraph:
    """The table as a graph, for the generated diagram in docs/architecture.md."""
    return graph_of(_TABLE, states=SessionState, start=SessionState.IDLE, terminal={S.DONE})


def _server_name(endpoint: ServerEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"https://{host}:{endpoint.port}"


__all__ = [
    "ActionFailed",
    "AttemptEnded",
    "AttemptStarted",
    "Begin",
    "DataReceived",
    "Disconnect",
    "FetchSource",
    "Notice",
    "PassEnded",
    "Request",
    "RequestFailed",
    "Resolve",
    "ResolveFailed",
    "Resolved",
    "ServerCandidate",
    "Session",
    "SessionState",
    "Source",
    "SourceAbsent",
    "SourceFetched",
    "VerifyData",
    "WellKnownServers",
]
