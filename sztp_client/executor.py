"""The executor: carries out the session's actions with real I/O and feeds back the results.

:meth:`Executor.run_pass` drives one :class:`~sztp_client.protocol.session.Session`: each
action is carried out here (resolve, connect and request through the server factory it was
given, verify, report, install, run a script, commit, reboot) and its result goes back to the
session as an event.  Nothing here decides protocol: what to send, whom to trust, which server
comes next and how the pass ended are the session's.

The walk's actions, verification and reports are carried out here; the onboarding steps with
the most I/O in :mod:`sztp_client.executor_image` (the boot image) and
:mod:`sztp_client.executor_steps` (scripts, configuration, reboot).  ``_HANDLERS`` names the
handler of every action type carried out here, ``executor_steps.STEP_HANDLERS`` those of the
onboarding steps: that module, the actions it runs and the report contents are loaded with the
first step of verified onboarding information, not at start-up.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sztp_client.context import DeviceContext
from sztp_client.discovery import wiring
from sztp_client.errors import (
    CSRRequestError,
    DataError,
    InternalError,
    ReportRejectedError,
    SZTPError,
    TransportError,
    VerificationFailure,
)
from sztp_client.model.rpc import ReportProgressInput
from sztp_client.progress import ProgressType
from sztp_client.protocol import onboarding_events as m
from sztp_client.protocol import session_events as s
from sztp_client.protocol.session import Session
from sztp_client.state.device import DeviceState, StateStore
from sztp_client.state.status import StatusRecorder
from sztp_client.transport.interface import BootstrapServer, Resolver, ServerFactory
from sztp_client.trust.verifier import TrustPolicy, verify_bootstrapping_data

if TYPE_CHECKING:
    from sztp_client.model.voucher import Assertion

NONCE_BYTES = 32
MAX_REPORT_MESSAGE = 4000


def _fresh_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


class Executor:
    """Carries out actions for one device context; ``state`` and ``boot_id`` are the runner's."""

    def __init__(
        self,
        context: DeviceContext,
        recorder: StatusRecorder,
        store: StateStore,
        *,
        factory: ServerFactory,
        resolver: Resolver,
        nonce: Callable[[], bytes] | None = None,
    ) -> None:
        self.context = context
        self.config = context.config
        self.recorder = recorder
        self.store = store
        self.factory = factory
        self.resolver = resolver
        self.nonce = nonce or _fresh_nonce
        self.state = DeviceState()
        self.boot_id: str | None = None
        self.reboot_requested = False
        #: the connections that received data, innermost last, with the server's name
        self.connections: list[tuple[BootstrapServer, str]] = []
        self._attempts: list[int] = []
        #: per open attempt, the medium its data descends from (``file:`` URIs resolve there)
        self.media: list[Path | None] = []

    # -- the loop -----------------------------------------------------------------------------

    def run_pass(self, session: Session) -> s.PassEnded:
        """Drive ``session`` to its end; return how the pass ended."""
        queue: deque[s.Action] = deque(session.handle(s.Begin()))
        ended: s.PassEnded | None = None
        try:
            while queue:
                action = queue.popleft()
                if isinstance(action, s.PassEnded):
                    ended = action
                    continue
                try:
                    event = self.execute(action)
                except SZTPError as exc:
                    if session.state not in (s.SessionState.REQUESTING, s.SessionState.ONBOARDING):
                        raise
                    queue.clear()  # the rest of this server's actions are moot
                    event = s.ActionFailed(exc)
                if event is not None:
                    queue.extend(session.handle(event))
        finally:
            while self.connections:
                self.connections.pop()[0].close()
            for source in session.sources:  # unmount media on every path out
                release = getattr(source, "release", None)
                if release is not None:
                    with contextlib.suppress(SZTPError, OSError):
                        release()
        if ended is None:
            raise InternalError("the session ended without an outcome")
        return ended

    def execute(self, action: s.Action) -> s.Event | None:
        handler = _HANDLERS.get(type(action))
        if handler is None:
            # the onboarding steps, loaded with the first step of verified onboarding information
            from sztp_client.executor_steps import STEP_HANDLERS  # noqa: PLC0415 - after data

            handler = STEP_HANDLERS.get(type(action))
        if handler is None:
            raise InternalError(f"no way to carry out {type(action).__name__}")
        return handler(self, action)

    # -- the walk -----------------------------------------------------------------------------

    def _fetch_source(self, action: s.FetchSource) -> s.Event:
        source = action.source
        if not source.detect():
            return s.SourceAbsent(str(getattr(source, "summary", "")) or "not present")
        found = tuple(source.fetch())
        for finding in getattr(source, "findings", ()):
            self.recorder.source_found(wiring.record(finding))
        return s.SourceFetched(found, str(getattr(source, "summary", "")))

    def _resolve(self, action: s.Resolve) -> s.Event:
        try:
            addresses = self.resolver(action.host, action.port)
        except TransportError as exc:
            return s.ResolveFailed(exc)
        return s.Resolved(tuple(addresses), tuple(self.nonce() for _ in addresses))

    def _attempt_started(self, action: s.AttemptStarted) -> None:
        trust = "trusted" if action.trusted else "provisional"
        self._attempts.append(
            self.recorder.attempt_started(
                action.source, action.server, action.address, trust, action.hop
            )
        )
        self.media.append(action.medium)

    def _attempt_ended(self, action: s.AttemptEnded) -> None:
        self.recorder.attempt_ended(self._attempts.pop(), action.outcome, action.error)
        if self.media:
            self.media.pop()

    def _request(self, action: s.Request) -> s.Event:
        body = action.body
        rounds = 0
        while True:
            server = self.factory(action.endpoint, action.address, action.trust)
            try:
                output = server.get_bootstrapping_data(body)
            except (TransportError, DataError) as exc:
                server.close()
                if not action.body.csr_support or self.context.ldevid is None:
                    return s.RequestFailed(exc)
                from sztp_client.actions import ldevid as csr_rounds  # noqa: PLC0415 - RFC 9646

                asked = csr_rounds.csr_request_of(exc)
                if asked is None:
                    return s.RequestFailed(exc)
                rounds += 1
                try:  # RFC 9646: answer with a fresh key's p10-csr, then ask again
                    body = csr_rounds.answer(
                        action.body, asked, rounds, self.context.ldevid, self.context.idevid_subject
                    )
                except CSRRequestError as refused:
                    self.recorder.info(f"certificate request refused: {refused.message}")
                    return s.RequestFailed(refused)
                self.recorder.info(
                    f"certificate request {rounds}: new key at {self.context.ldevid.location}"
                )
                continue
            except BaseException:
                server.close()
                raise
            self.connections.append((server, action.server))
            return s.DataReceived(output)

    def _disconnect(self, action: s.Disconnect) -> None:
        self.connections.pop()[0].close()

    def _notice(self, action: s.Notice) -> None:
        self.recorder.info(action.text)

    # -- onboarding ---------------------------------------------------------------------------

    @property
    def _assertions(self) -> frozenset[Assertion]:
        """The configuration names the accepted assertions; the trust policy takes members."""
        from sztp_client.model.voucher import Assertion  # noqa: PLC0415 - when data arrives

        return frozenset(Assertion(name) for name in self.config.trust.accept_assertions)

    def _verify(self, action: s.VerifyData) -> m.Event:
        policy = TrustPolicy(
            voucher_signer=self.context.voucher_signer,
            clock=self.context.clock(),
            accepted_assertions=self._assertions,
            limits=self.context.verify_limits,
            require_nonce_voucher=self.config.trust.require_nonce_voucher,
        )
        try:
            data = verify_bootstrapping_data(
                action.artifacts,
                self.context.device,
                policy,
                source=action.source,
                nonce=action.nonce,
                decryptor=self.context.decryptor,  # encrypted artifacts
            )
        except DataError as exc:
            self.recorder.info(f"data refused ({exc.step or 'parse'}): {exc.message}")
            return m.VerificationFailed(exc)
        except SZTPError:
            raise
        except Exception as exc:  # D28: one server's data never stops the pass
            failure = VerificationFailure(None, exc)
            self.recorder.info(f"data refused ({failure.step}): {failure.message}")
            return m.VerificationFailed(failure)
        kind = data.kind.value
        self.recorder.info(f"{'signed' if data.signed else 'unsigned'} {kind} verified")
        return m.Verified(data)

    def _report(self, action: m.SendReport) -> m.Event | None:
        keys: tuple[object, ...] = ()
        anchors: tuple[bytes, ...] = ()
        if action.progress_type is ProgressType.BOOTSTRAP_COMPLETE:
            # host keys and trust-anchor bags (asn1crypto's CMS): only in the last report
            from sztp_client.actions import report_data  # noqa: PLC0415 - onboarding done

            done = self.config.bootstrap_complete
            keys = report_data.read_ssh_host_keys(done.ssh_host_keys)
            anchors = report_data.trust_anchor_bags(done.trust_anchor_certs)
        message = action.message[-MAX_REPORT_MESSAGE:] if action.message else None
        report = ReportProgressInput(
            progress_type=action.progress_type,
            message=message,
            ssh_host_keys=keys,  # type: ignore[arg-type]
            trust_anchor_certs=anchors,
        )
        try:
            self.connections[-1][0].report_progress(report)
        except (ReportRejectedError, TransportError) as exc:
            self.recorder.report_sent(action.progress_type.value, f"failed: {exc.message}")
            if action.acknowledge:
                return m.ReportRejected(action.progress_type, exc)
            return None
        self.recorder.report_sent(action.progress_type.value, "204")
        if action.acknowledge:
            return m.ReportAcknowledged(action.progress_type)
        return None

    def _step_started(self, action: m.StepStarted) -> None:
        self.recorder.step_started(action.step.value)

    def _step_ended(self, action: m.StepEnded) -> None:
        self.recorder.step_ended(action.step.value, action.outcome, action.message)

    def reboot(self) -> None:
        """Run the reboot command (again, when a requested reboot has not happened)."""
        from sztp_client import executor_steps  # noqa: PLC0415 - only a reboot runs it

        executor_steps.reboot(self)


_HANDLERS: dict[type, Callable[[Executor, Any], s.Event | None]] = {
    s.FetchSource: Executor._fetch_source,
    s.Resolve: Executor._resolve,
    s.AttemptStarted: Executor._attempt_started,
    s.AttemptEnded: Executor._attempt_ended,
    s.Request: Executor._request,
    s.Disconnect: Executor._disconnect,
    s.Notice: Executor._notice,
    s.VerifyData: Executor._verify,
    m.SendReport: Executor._report,
    m.StepStarted: Executor._step_started,
    m.StepEnded: Executor._step_ended,
}

__all__ = ["Executor"]
