"""The session's walk: choosing the next source, server and address, and asking the executor
for them (fetch a source, resolve a host, request from an address).

Each function is the handler of rows of the session's table (:mod:`sztp_client.protocol.
session`): it takes the session and the event and returns what the row produces, actions for
the executor and decision events (``Another``, ``NoneLeft`` ...) that the table routes on.  The
``choose_*`` functions enter the choice states.  What happens to data once it arrived is in
:mod:`sztp_client.protocol.session_data`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sztp_client.errors import DataError
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.protocol import session_events as ev
from sztp_client.protocol.onboarding_events import ProtocolError
from sztp_client.protocol.outcome import ATTEMPT_ERROR, RunOutcome
from sztp_client.protocol.session_pass import (
    ServerAttempt,
    ServerList,
    address_limit_error,
    nothing_found,
    server_name,
    yielded,
)
from sztp_client.trust.hops import HopTrust

if TYPE_CHECKING:
    from pathlib import Path

    from sztp_client.protocol.session import Session

# -- sources ----------------------------------------------------------------------------------


def choose_source(session: Session) -> list[Any]:
    if session.source_index < len(session.sources):
        return [ev.Another()]
    return [ev.NoneLeft()]


def on_begin(session: Session, event: ev.Begin) -> list[Any]:
    return choose_source(session)


def fetch_source(session: Session, event: ev.Another) -> list[Any]:
    source = session.sources[session.source_index]
    session.source_index += 1
    return [ev.FetchSource(source)]


def end_pass(session: Session, event: ev.NoneLeft | ev.Final) -> list[Any]:
    out: list[Any] = []
    if session.outcome is None:
        session.outcome = RunOutcome.NOTHING
        out.append(ev.Notice(nothing_found(session.tried)))
    error = session.last_error if not session.outcome.ends_walk else None
    return [*out, ev.PassEnded(session.outcome, error)]


def on_source_fetched(session: Session, event: ev.SourceFetched) -> list[Any]:
    label = session.sources[session.source_index - 1].name
    if event.servers:
        session.tried.append((label, f"{yielded(event.servers)}, none gave bootstrapping data"))
    else:
        session.tried.append((label, event.summary or "found nothing"))
    session.lists.append(ServerList(label, event.servers))
    return choose_server(session)


def on_source_absent(session: Session, event: ev.SourceAbsent) -> list[Any]:
    label = session.sources[session.source_index - 1].name
    session.tried.append((label, event.reason or "not present"))
    return choose_source(session)


# -- servers ----------------------------------------------------------------------------------


def _address_bound_reached(session: Session) -> bool:
    return session.redirect_addresses_tried >= session.max_redirect_addresses


def choose_server(session: Session) -> list[Any]:
    lst = session.current_list()
    if lst.index >= len(lst.servers):
        return [ev.NoneLeft()]
    entry = lst.servers[lst.index]
    lst.index += 1
    if isinstance(entry, ev.DeliveredData):
        trust = HopTrust.delivered(entry.source, max_hops=session.max_hops)
        lst.current = ServerAttempt(None, trust, entry.origin, delivered=entry)
        return [ev.Delivered()]
    if isinstance(entry, ev.ServerCandidate):
        trust = HopTrust.first(entry.anchors, max_hops=session.max_hops)
        endpoint = entry.endpoint
    else:
        endpoint = ServerEndpoint(entry.address, entry.port)
        if _address_bound_reached(session):
            lst.current = None
            error = address_limit_error(session.max_redirect_addresses, server_name(endpoint))
            return [*session.fail(error, notice=True), ev.BoundReached()]
        parent = lst.parent
        if parent is None or parent.machine is None or parent.machine.data is None:
            raise ProtocolError("a redirect list without the verified data it came from")
        try:
            trust = parent.trust.next_hop(parent.machine.data, entry)
        except DataError as exc:
            lst.current = None
            session.last_error = exc
            return [
                ev.Notice(f"{entry.address}: unusable trust anchor: {exc.message}"),
                ev.Skipped(),
            ]
    lst.current = ServerAttempt(endpoint, trust, server_name(endpoint))
    return [ev.Another()]


def resolve(session: Session, event: ev.Another) -> list[Any]:
    endpoint = session.current_server().endpoint
    if endpoint is None:
        raise ProtocolError("delivered data has no server to resolve")
    return [ev.Resolve(endpoint.host, endpoint.port)]


def skip(session: Session, event: ev.Skipped) -> list[Any]:
    return choose_server(session)


def cut(session: Session, event: ev.BoundReached) -> list[Any]:
    lst = session.current_list()
    lst.failed = True
    lst.index = len(lst.servers)  # the targets after it are not tried either
    return [ev.NoneLeft()]


def on_resolve_failed(session: Session, event: ev.ResolveFailed) -> list[Any]:
    server = session.current_server()
    server.outcome = RunOutcome.NOTHING
    session.last_error = event.error
    return [
        attempt(session, server, "-"),
        ev.AttemptEnded(ATTEMPT_ERROR, event.error),
        ev.NoneLeft(),
    ]


def attempt(session: Session, server: ServerAttempt, address: str) -> ev.AttemptStarted:
    return ev.AttemptStarted(
        session.current_list().label,
        server.name,
        address,
        server.trust.trusted,
        server.trust.hop,
        medium(session),
    )


def medium(session: Session) -> Path | None:
    """The medium of the delivered data this hop descends from (none for servers)."""
    for lst in session.lists:
        if lst.current is not None and lst.current.delivered is not None:
            return lst.current.delivered.medium
    return None


# -- addresses --------------------------------------------------------------------------------


def on_resolved(session: Session, event: ev.Resolved) -> list[Any]:
    if len(event.nonces) < len(event.addresses):
        raise ProtocolError("one nonce is needed for every address")
    server = session.current_server()
    server.addresses, server.nonces = event.addresses, event.nonces
    return choose_address(session)


def choose_address(session: Session) -> list[Any]:
    server = session.current_server()
    if server.tried >= len(server.addresses):
        server.outcome = RunOutcome.NOTHING
        return [ev.NoneLeft()]
    if server.trust.hop > 0:
        if _address_bound_reached(session):
            server.outcome = RunOutcome.FAILED
            error = address_limit_error(session.max_redirect_addresses, server.name)
            return [*session.fail(error, notice=True), ev.BoundReached()]
        session.redirect_addresses_tried += 1
    return [ev.Another()]


def request(session: Session, event: ev.Another) -> list[Any]:
    server = session.current_server()
    if server.endpoint is None:
        raise ProtocolError("delivered data has no server to request from")
    address, nonce = server.addresses[server.tried], server.nonces[server.tried]
    server.tried += 1
    server.attempt_open = True
    body = server.trust.request(nonce, session.details)
    return [
        attempt(session, server, address),
        ev.Request(server.endpoint, server.name, address, server.trust.decision, body),
    ]


def on_request_failed(session: Session, event: ev.RequestFailed) -> list[Any]:
    server = session.current_server()
    server.attempt_open = False
    session.last_error = event.error
    return [ev.AttemptEnded(ATTEMPT_ERROR, event.error), *choose_address(session)]


def address_cut(session: Session, event: ev.BoundReached) -> list[Any]:
    return [ev.NoneLeft()]


def no_address_left(session: Session, event: ev.NoneLeft) -> list[Any]:
    return [ev.NoneLeft()]
