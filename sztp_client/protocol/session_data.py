"""What the session does with data once a server (or a source) gave it: the onboarding machine
run on it, a redirect followed one hop further, and the ends of a server, of a list of servers
and of the pass's walk back up the redirects.

Like :mod:`sztp_client.protocol.session_walk`, each function is the handler of rows of the
session's table (:mod:`sztp_client.protocol.session`).  The onboarding machine
(:mod:`sztp_client.protocol.onboarding`) and the conveyed-information model are imported with
the first data, not with the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sztp_client.errors import DataError
from sztp_client.protocol import onboarding_events as m
from sztp_client.protocol import session_events as ev
from sztp_client.protocol.onboarding_events import ProtocolError
from sztp_client.protocol.outcome import ATTEMPT_ERROR, RunOutcome
from sztp_client.protocol.session_pass import ServerList
from sztp_client.protocol.session_walk import choose_server, choose_source
from sztp_client.trust.verifier import Artifacts

if TYPE_CHECKING:
    from sztp_client.model.rpc import ReportingLevel
    from sztp_client.protocol.onboarding import OnboardingMachine
    from sztp_client.protocol.session import Session

# -- onboarding -------------------------------------------------------------------------------


def deliver(session: Session, event: ev.Delivered) -> list[Any]:
    """Process data a source delivered: no connection, no reports, no nonce."""
    server = session.current_server()
    delivered = server.delivered
    if delivered is None:
        raise ProtocolError("no delivered data")
    server.attempt_open = True
    server.outcome = RunOutcome.FAILED
    server.machine = _machine(reports=False)
    attempt = ev.AttemptStarted(
        session.current_list().label, server.name, "-", False, server.trust.hop, delivered.medium
    )
    return [attempt, *_onboard(session, server.machine.handle(m.Start()))]


def on_data(session: Session, event: ev.DataReceived) -> list[Any]:
    server = session.current_server()
    server.connected = True
    server.output = event.output
    server.outcome = RunOutcome.FAILED
    server.machine = _machine(
        reports=server.trust.decision.may_report,
        reporting_level=event.output.reporting_level,
    )
    return _onboard(session, server.machine.handle(m.Start()))


def _machine(*, reports: bool, reporting_level: ReportingLevel | None = None) -> OnboardingMachine:
    """A new onboarding machine for data just obtained (the server's reporting level, or the
    machine's default)."""
    from sztp_client.protocol.onboarding import OnboardingMachine  # noqa: PLC0415 - with data

    if reporting_level is None:
        return OnboardingMachine(reports=reports)
    return OnboardingMachine(reports=reports, reporting_level=reporting_level)


def on_onboarding_event(session: Session, event: m.Event) -> list[Any]:
    machine = session.current_server().machine
    if machine is None:
        raise ProtocolError("no onboarding machine")
    return _onboard(session, machine.handle(event))


def _onboard(session: Session, actions: list[m.Action]) -> list[Any]:
    """The onboarding machine's actions, passed on: ``Verify`` becomes :class:`VerifyData`
    with the hop's source kind and nonce, ``Finish`` records the server's outcome."""
    server = session.current_server()
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
            continue  # taken from the machine's final state (on_finished)
        elif isinstance(action, m.Finish):
            if action.error is not None:
                session.last_error = action.error
            if action.outcome is not m.OnboardingState.REDIRECTED:
                server.outcome = RunOutcome.of_onboarding(action.outcome)
            out.append(ev.OnboardingEnded())
        else:
            out.append(action)
    return out


def on_action_failed(session: Session, event: ev.ActionFailed) -> list[Any]:
    server = session.current_server()
    session.last_error = event.error
    server.outcome = RunOutcome.FAILED
    server.attempt_open = False
    return [ev.AttemptEnded(ATTEMPT_ERROR, event.error), ev.NoneLeft()]


# -- redirects --------------------------------------------------------------------------------


def on_finished(session: Session, event: ev.OnboardingEnded) -> list[Any]:
    server = session.current_server()
    machine = server.machine
    if machine is None or machine.state is not m.OnboardingState.REDIRECTED:
        return [ev.NoneLeft()]
    if not server.trust.may_follow:
        server.outcome = RunOutcome.FAILED
        error = DataError(
            f"redirect limit of {session.max_hops} hops reached at {server.name}; raise "
            "discovery.max-redirects if the chain is legitimate"
        )
        return [*session.fail(error, notice=True), ev.NoneLeft()]
    return [ev.Redirected()]


def follow(session: Session, event: ev.Redirected) -> list[Any]:
    from sztp_client.model.conveyed import RedirectInformation  # noqa: PLC0415 - with data

    server = session.current_server()
    data = server.machine.data if server.machine is not None else None
    if data is None or not isinstance(data.conveyed_information, RedirectInformation):
        raise ProtocolError("a redirect without redirect information")
    targets = data.conveyed_information.bootstrap_servers
    session.lists.append(ServerList(f"redirect from {server.name}", targets, parent=server))
    return choose_server(session)


# -- ends -------------------------------------------------------------------------------------


def server_done(session: Session, event: ev.NoneLeft | ev.BoundReached) -> list[Any]:
    """A server ended: close its attempt and connection; go on or end the pass."""
    lst = session.current_list()
    server = lst.current
    out: list[Any] = []
    if server is not None:
        if server.attempt_open:
            error = session.last_error if server.outcome is RunOutcome.FAILED else None
            out.append(ev.AttemptEnded(server.outcome.value, error))
            server.attempt_open = False
        if server.connected:
            out.append(ev.Disconnect())
            server.connected = False
        lst.current = None
        if server.outcome.ends_walk:
            session.outcome = server.outcome
            return [*out, *_unwind(session), ev.Final()]
        lst.failed = lst.failed or server.outcome is RunOutcome.FAILED
    return [*out, *choose_server(session)]


def _unwind(session: Session) -> list[Any]:
    """Close the attempts and connections of every server that redirected here."""
    out: list[Any] = []
    session.lists.pop()
    while session.lists:
        parent = session.lists.pop().current
        if parent is None:
            continue
        if parent.attempt_open:
            outcome = session.outcome.value if session.outcome else ATTEMPT_ERROR
            out.append(ev.AttemptEnded(outcome))
        if parent.connected:
            out.append(ev.Disconnect())
    return out


def servers_done(session: Session, event: ev.NoneLeft) -> list[Any]:
    if session.lists[-1].parent is None:
        return [ev.SourceListEnded()]
    return [ev.RedirectListEnded()]


def source_done(session: Session, event: ev.SourceListEnded) -> list[Any]:
    lst = session.lists.pop()
    if lst.failed:
        session.outcome = RunOutcome.FAILED
    return choose_source(session)


def redirect_done(session: Session, event: ev.RedirectListEnded) -> list[Any]:
    lst = session.lists.pop()
    if lst.parent is None:
        raise ProtocolError("a redirect list without its parent")
    lst.parent.outcome = RunOutcome.FAILED if lst.failed else RunOutcome.NOTHING
    return [ev.NoneLeft()]
