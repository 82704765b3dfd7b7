"""The executor: carries out the session's actions with real I/O and feeds back the results.

:meth:`Executor.run_pass` drives one :class:`~sztp_client.protocol.session.Session`: each
action is carried out here (resolve, connect and request through the server factory it was
given, verify, report, install, run a script, commit, reboot) and its result goes back to the
session as an event.  Nothing here decides protocol: what to send, whom to trust, which server
comes next and how the pass ended are the session's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from sztp_client import interrupt
from sztp_client.actions import image as image_actions
from sztp_client.actions import ldevid as csr_rounds
from sztp_client.actions import report_data, scripts
from sztp_client.actions.ldevid import LDevIDMismatchError
from sztp_client.context import DeviceContext
from sztp_client.discovery import media_layout, wiring
from sztp_client.errors import (
    BootImageError,
    ConfigApplyError,
    ConfigurationError,
    CSRRequestError,
    DataError,
    InternalError,
    ReportRejectedError,
    ScriptError,
    SZTPError,
    TransportError,
    VerificationFailure,
)
from sztp_client.model.conveyed import ConfigurationHandling, OnboardingInformation
from sztp_client.model.rpc import ReportProgressInput
from sztp_client.progress import ProgressType
from sztp_client.protocol import onboarding as m
from sztp_client.protocol import session_events as s
from sztp_client.protocol.image_policy import decide_image
from sztp_client.protocol.session import Session
from sztp_client.state.device import DeviceState, InstalledImage, StateStore, now_text
from sztp_client.state.status import StatusRecorder
from sztp_client.state.store import ensure_dir
from sztp_client.transport import download as download_transport
from sztp_client.transport.interface import BootstrapServer, Resolver, ServerFactory
from sztp_client.trust.verifier import TrustPolicy, verify_bootstrapping_data

NONCE_BYTES = 32
REBOOT_TIMEOUT = 120.0
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
        self._connections: list[tuple[BootstrapServer, str]] = []
        self._attempts: list[int] = []
        #: per open attempt, the medium its data descends from (``file:`` URIs resolve there)
        self._media: list[Path | None] = []

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
            while self._connections:
                self._connections.pop()[0].close()
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
        self._media.append(action.medium)

    def _attempt_ended(self, action: s.AttemptEnded) -> None:
        self.recorder.attempt_ended(self._attempts.pop(), action.outcome, action.error)
        if self._media:
            self._media.pop()

    def _request(self, action: s.Request) -> s.Event:
        body = action.body
        rounds = 0
        while True:
            server = self.factory(action.endpoint, action.address, action.trust)
            try:
                output = server.get_bootstrapping_data(body)
            except (TransportError, DataError) as exc:
                server.close()
                asked = csr_rounds.csr_request_of(exc) if action.body.csr_support else None
                if asked is None or self.context.ldevid is None:
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
            self._connections.append((server, action.server))
            return s.DataReceived(output)

    def _disconnect(self, action: s.Disconnect) -> None:
        self._connections.pop()[0].close()

    def _notice(self, action: s.Notice) -> None:
        self.recorder.info(action.text)

    # -- onboarding ---------------------------------------------------------------------------

    def _verify(self, action: s.VerifyData) -> m.Event:
        policy = TrustPolicy(
            voucher_signer=self.context.voucher_signer,
            clock=self.context.clock(),
            accepted_assertions=self.config.trust.accept_assertions,
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
            self._connections[-1][0].report_progress(report)
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

    def _image(self, action: m.ProcessImage) -> m.Event:
        boot_image = action.information.boot_image
        if boot_image is None:
            raise InternalError("image step without a boot image")
        try:
            decision = decide_image(
                boot_image, self.context.running_system(), self.state.images, self.boot_id
            )
            if not decision.needed or decision.digest is None:
                return m.ImageUpToDate(decision.reason)
            digest = decision.digest
            work = ensure_dir(self.config.paths.cache_dir / "images")
            image = image_actions.fetch_verified_image(
                boot_image,
                work,
                self._downloader,
                min_free_bytes=self.config.image.min_free,
                on_mirror_failure=lambda why: self.recorder.info(f"mirror failed: {why}"),
            )
            try:
                self.recorder.info(f"image verified (sha-256 {digest.hex()[:16]}…), installing")
                self.context.installer.install(image.path, boot_image, image.sha256)
            finally:
                with contextlib.suppress(OSError):
                    image.path.unlink()
        except SZTPError as exc:
            if not isinstance(exc, BootImageError):
                exc = BootImageError(exc.message)
            return m.StepFailed(m.OnboardingStep.BOOT_IMAGE, exc)
        self.state.images.append(
            InstalledImage(
                sha256=digest.hex(),
                boot_id=self.boot_id,
                installed_at=now_text(),
                os_name=boot_image.os_name,
                os_version=boot_image.os_version,
            )
        )
        self.state.rebooting = True
        self.store.save(self.state)
        return m.ImageInstalled(digest)

    def _downloader(self, uri: str, destination: BinaryIO, check: Callable[[int], None]) -> bytes:
        if urlsplit(uri).scheme.lower() == "file":
            return self._copy_from_medium(uri, destination, check)
        result = download_transport.download(
            uri,
            destination,
            timeouts=self.context.timeouts,
            check_space=check,
            on_progress=self.recorder.progress,
            verify_tls=self.config.image.verify_tls,
            anchors=self.context.server_anchors,
            clock=self.context.clock(),  # with verify-tls, validity periods count as for servers
            identity=self.context.identity,  # a file server asking for a client certificate
        )
        return result.sha256

    def _copy_from_medium(
        self, uri: str, destination: BinaryIO, check: Callable[[int], None]
    ) -> bytes:
        """A ``file:`` image: allowed only in data from a removable medium, and only a file
        inside that medium (symbolic links and ``..`` that leave it are refused)."""
        medium = self._media[-1] if self._media else None
        if medium is None:
            raise BootImageError(
                "file: download-uri refused: allowed only in data from a removable medium, "
                "where it names a file on that medium"
            )
        path = media_layout.resolve_file_uri(medium, uri)
        digest = hashlib.sha256()
        try:
            source = path.open("rb")
        except OSError as exc:
            raise BootImageError(f"cannot read {uri[:200]!r} on the medium: {exc}") from exc
        with source:
            size = os.fstat(source.fileno()).st_size
            check(size)
            copied = 0
            while chunk := source.read(1024 * 1024):
                copied += len(chunk)
                if copied > size:
                    raise BootImageError(f"{uri[:200]!r} grew while it was copied")
                destination.write(chunk)
                digest.update(chunk)
                self.recorder.progress(copied, size)
        return digest.digest()

    def _script(self, action: m.RunScript) -> m.Event:
        stage: scripts.ScriptStage = "pre" if action.step is m.OnboardingStep.PRE_SCRIPT else "post"
        policy = scripts.ScriptPolicy(
            timeout=self.config.scripts.timeout,
            warning_codes=self.config.scripts.warning_codes,
            output_limit=self.config.scripts.output_limit,
        )
        try:
            result = scripts.run_script(
                stage,
                action.script,
                policy=policy,
                work_parent=ensure_dir(self.config.paths.cache_dir / "scripts"),
                environment={
                    "SZTP_SERIAL_NUMBER": self.context.serial_number,
                    "SZTP_BOOTSTRAP_SERVER": self._connections[-1][1] if self._connections else "",
                    **csr_rounds.script_environment(self.context.ldevid),
                },
            )
        except ScriptError as exc:
            return m.StepFailed(action.step, exc)
        if stage == "post" and self.context.ldevid is not None:
            try:  # the LDevID the script installed must certify the new key (before complete)
                if self.context.ldevid.check_certificate():
                    self.recorder.info(f"LDevID installed at {self.context.ldevid.cert_path}")
            except LDevIDMismatchError as exc:
                return m.StepFailed(action.step, exc)
        return m.StepSucceeded(action.step, warning=result.warning, output=result.output)

    def _commit(self, action: m.CommitConfiguration) -> m.Event:
        info: OnboardingInformation = action.information
        if info.configuration is None:
            raise InternalError("configuration step without a configuration")
        handling = info.configuration_handling or ConfigurationHandling.MERGE
        try:
            self.context.applier.commit(info.configuration, handling)
        except (ConfigApplyError, ConfigurationError) as exc:
            error = exc if isinstance(exc, ConfigApplyError) else ConfigApplyError(exc.message)
            return m.StepFailed(m.OnboardingStep.CONFIG, error)
        return m.StepSucceeded(m.OnboardingStep.CONFIG)

    def _rollback(self, action: m.RollbackConfiguration) -> None:
        try:
            self.context.applier.rollback()
            self.recorder.info("configuration rolled back")
        except SZTPError as exc:
            self.recorder.info(f"configuration rollback failed: {exc.message}")

    def _keep(self, action: m.KeepConfiguration) -> None:
        with contextlib.suppress(SZTPError):
            self.context.applier.discard()
        self.state.bootstrapped = True
        self.state.bootstrapped_at = now_text()
        self.store.save(self.state)

    def _reboot(self, action: m.Reboot | None = None) -> None:
        command = list(self.config.image.reboot_command)
        self.recorder.info(f"rebooting: {' '.join(command)}")
        self.reboot_requested = True
        # the SIGTERM of the shutdown this command starts must not kill it half-way
        with interrupt.deferred():
            try:
                scripts.run_checked(
                    command,
                    env={"PATH": scripts.CLEAN_PATH},
                    cwd=self.config.paths.state_dir,
                    timeout=REBOOT_TIMEOUT,
                    what=f"reboot command {' '.join(command)}",
                    error=InternalError,
                )
            except InternalError as exc:
                self.recorder.info(exc.message)

    reboot = _reboot


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
    m.ProcessImage: Executor._image,
    m.RunScript: Executor._script,
    m.CommitConfiguration: Executor._commit,
    m.RollbackConfiguration: Executor._rollback,
    m.KeepConfiguration: Executor._keep,
    m.Reboot: Executor._reboot,
}

__all__ = ["Executor"]
