"""The runner: wires the pure parts to real I/O and walks the sources (RFC 8572 §5.2, §5.5).

For each configured bootstrap server (the well-known servers; the other sources of D1 arrive
with discovery), in order, every resolved address is tried until one yields data (R-058).  The
data is handed to a :class:`sztp_client.protocol.machine.Machine`; the runner carries out the
actions it emits (verify, report, image, scripts, configuration, reboot) and feeds the results
back as events.  Redirect information is followed recursively with per-hop trust anchors
(R-059..R-061) up to ``discovery.max-redirects`` hops (D16).  After onboarding, success or
failure, control returns to the enclosing loop (R-024, R-080).

``run_once`` makes one full pass (``run --once``); ``run_forever`` repeats passes with
exponential backoff and jitter until the device is bootstrapped or rebooting (D2).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from sztp_client import interrupt, preflight
from sztp_client.actions import configuration as config_actions
from sztp_client.actions import image as image_actions
from sztp_client.actions import installers, report_data, scripts
from sztp_client.config import ClientConfig, check_trust_configuration
from sztp_client.errors import (
    BootImageError,
    ConfigApplyError,
    ConfigurationError,
    DataError,
    EncodingError,
    FileTooLargeError,
    InternalError,
    ReportRejectedError,
    ScriptError,
    SZTPError,
    TransportError,
    VerificationFailure,
)
from sztp_client.files import read_bounded
from sztp_client.limits import KIB, MIB, TransportLimits
from sztp_client.model.conveyed import ConfigurationHandling, OnboardingInformation
from sztp_client.model.rpc import (
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportProgressInput,
)
from sztp_client.model.server_uri import ServerEndpoint, parse_server_uri
from sztp_client.progress import ProgressType
from sztp_client.protocol import onboarding as m
from sztp_client.state.device import DeviceState, InstalledImage, StateStore, now_text
from sztp_client.state.lock import RunLock
from sztp_client.state.status import StatusRecorder
from sztp_client.state.store import ensure_dir
from sztp_client.state.sweep import sweep
from sztp_client.transport import download as download_transport
from sztp_client.transport.http import Timeouts, resolve
from sztp_client.transport.restconf import RestconfClient
from sztp_client.transport.tls import ClientIdentity
from sztp_client.trust import armor, cms
from sztp_client.trust.clock import Clock
from sztp_client.trust.signer_policy import VoucherSignerPolicy
from sztp_client.trust.signer_policy import check_configuration as check_signer_configuration
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import (
    Artifacts,
    DeviceIdentity,
    TrustPolicy,
    verify_bootstrapping_data,
)

log = logging.getLogger("sztp_client.runner")

NONCE_BYTES = 32
MAX_PASSWORD_FILE = 4 * KIB
#: the largest certificate file (PEM or DER) or trust-anchor bag read
MAX_CERTIFICATE_FILE = MIB
REBOOT_TIMEOUT = 120.0


class Outcome(enum.StrEnum):
    COMPLETE = "bootstrap-complete"
    REBOOTING = "rebooting"
    ALREADY = "already-bootstrapped"
    DISABLED = "disabled"
    NOTHING = "no-bootstrapping-data"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Whether the pass ended the bootstrapping (no further pass is needed)."""
        return self in {Outcome.COMPLETE, Outcome.REBOOTING, Outcome.ALREADY, Outcome.DISABLED}


@dataclass(frozen=True, slots=True)
class _Context:
    """One conversation with one bootstrap server at one address."""

    client: RestconfClient
    server: str
    trusted: bool
    nonce: bytes
    hop: int


def _load_certificates(paths: Sequence[Path], key: str) -> tuple[x509.Certificate, ...]:
    found: list[x509.Certificate] = []
    for path in paths:
        try:
            data = read_bounded(path, MAX_CERTIFICATE_FILE, "the certificate file")
        except FileTooLargeError as exc:
            raise ConfigurationError(exc.message, key) from exc
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}", key) from exc
        try:
            certs = armor.load_certificates(data, str(path))
        except DataError as exc:
            raise ConfigurationError(exc.message, key) from exc
        if not certs:
            raise ConfigurationError(f"{path} holds no certificate", key)
        found.extend(certs)
    return tuple(found)


class Runner:
    """Runs bootstrapping passes for one device configuration."""

    def __init__(
        self,
        config: ClientConfig,
        recorder: StatusRecorder,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.sleep = sleep
        self.store = StateStore(config.paths.state_dir)
        self.servers = self._well_known_servers()
        self.identity = self._identity()
        idevid_chain = self._idevid_chain()
        idevid = idevid_chain[0] if idevid_chain else None
        if idevid is not None and config.identity.key is not None:
            preflight.check_identity(idevid, config.identity.key)  # before any traffic
        self.serial_number = self._serial_number(idevid)
        self.device = DeviceIdentity(self.serial_number, _authority_key_id(idevid))
        self.server_anchors = _load_certificates(
            config.trust.bootstrap_server_trust_anchors, "trust.bootstrap-server-trust-anchors"
        )
        self.voucher_signer = self._voucher_signer_policy(idevid_chain)
        self.basic_auth = self._basic_auth()
        self.timeouts = Timeouts(
            connect=config.network.connect_timeout, read=config.network.read_timeout
        )
        # the transport's bounds derive from the [limits] table in one place (limits.py)
        self.transport_limits = TransportLimits.of(config.limits)
        self.verify_limits = config.limits
        self.redirect_addresses_tried = 0
        self.installer = self._installer()
        self.applier = self._applier()
        preflight.check_command(config.image.reboot_command, "image.reboot-command")
        self.state = DeviceState()
        self.boot_id: str | None = None
        self.last_error: SZTPError | None = None
        self.reboot_requested = False

    # -- set-up -------------------------------------------------------------------------------

    def _well_known_servers(self) -> list[ServerEndpoint]:
        endpoints = []
        for uri in self.config.discovery.bootstrap_servers:
            try:
                endpoints.append(parse_server_uri(uri))
            except DataError as exc:
                raise ConfigurationError(exc.message, "discovery.bootstrap-servers") from exc
        return endpoints

    def _identity(self) -> ClientIdentity | None:
        ident = self.config.identity
        if ident.certificate is None or ident.key is None:
            return None
        for path, key in ((ident.certificate, "identity.certificate"), (ident.key, "identity.key")):
            if not path.is_file():
                raise ConfigurationError(f"{path} does not exist", key)
        return ClientIdentity(certificate=ident.certificate, key=ident.key)

    def _idevid_chain(self) -> tuple[x509.Certificate, ...]:
        """The IDevID followed by the intermediates given with it (empty: no identity)."""
        if self.config.identity.certificate is None:
            return ()
        return _load_certificates([self.config.identity.certificate], "identity.certificate")

    def _voucher_signer_policy(
        self, idevid_chain: tuple[x509.Certificate, ...]
    ) -> VoucherSignerPolicy:
        """Load who may sign a voucher, and refuse a configuration that would let an IDevID
        key sign one (D27), before any traffic."""
        trust = self.config.trust
        check_trust_configuration(trust)
        voucher_anchors = _load_certificates(
            trust.voucher_signer_trust_anchors, "trust.voucher-signer-trust-anchors"
        )
        manufacturer_anchors = _load_certificates(
            trust.manufacturer_trust_anchors, "trust.manufacturer-trust-anchors"
        )
        check_signer_configuration(
            idevid_chain[0] if idevid_chain else None,
            idevid_chain[1:],
            voucher_anchors,
            manufacturer_anchors,
        )
        return VoucherSignerPolicy(
            trust_anchors=voucher_anchors,
            extended_key_usage=trust.voucher_signer_extended_key_usage,
            certificate_policy=trust.voucher_signer_certificate_policy,
            pinned=_load_certificates(
                trust.voucher_signer_pinned_certificates,
                "trust.voucher-signer-pinned-certificates",
            ),
        )

    def _serial_number(self, idevid: x509.Certificate | None) -> str:
        configured = self.config.device.serial_number
        from_cert = None
        if idevid is not None:
            attrs = idevid.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
            if attrs:
                value = attrs[0].value
                from_cert = value if isinstance(value, str) else value.decode()
        if configured and from_cert and configured != from_cert:
            raise ConfigurationError(
                f"'{configured}' differs from the IDevID's serialNumber '{from_cert}'",
                "device.serial-number",
            )
        serial = configured or from_cert
        if not serial:
            raise ConfigurationError(
                "no serial number: set it, or give an IDevID with a subject serialNumber",
                "device.serial-number",
            )
        return serial

    def _basic_auth(self) -> tuple[str, str] | None:
        path = self.config.identity.password_file
        if path is None:
            return None
        try:
            data = read_bounded(path, MAX_PASSWORD_FILE, "the password file")
        except FileTooLargeError as exc:
            raise ConfigurationError(exc.message, "identity.password-file") from exc
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}", "identity.password-file") from exc
        try:
            password = data.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ConfigurationError("the password is not UTF-8", "identity.password-file") from exc
        return (self.serial_number, password)

    def _installer(self) -> installers.Installer:
        image = self.config.image
        if image.installer == "ab-directory":
            return installers.ABDirectoryInstaller(image.ab_root)
        if not image.command:
            raise ConfigurationError(
                'image.installer is "command" (the default) but no command is configured: '
                'set image.command, or image.installer = "ab-directory"',
                "image.command",
            )
        preflight.check_command(image.command, "image.command")
        return installers.CommandInstaller(image.command, timeout=image.timeout)

    def _applier(self) -> config_actions.Applier:
        conf = self.config.configuration
        if conf.applier == "file":
            if conf.file is None:
                raise ConfigurationError("the file applier needs a file", "configuration.file")
            return config_actions.FileApplier(conf.file)
        if not conf.commit_command:
            raise ConfigurationError(
                'configuration.applier is "command" (the default) but no commit command is '
                'configured: set configuration.commit-command, or configuration.applier = "file"',
                "configuration.commit-command",
            )
        preflight.check_command(conf.commit_command, "configuration.commit-command")
        preflight.check_command(
            conf.rollback_command, "configuration.rollback-command", required=False
        )
        return config_actions.CommandApplier(
            conf.commit_command,
            conf.rollback_command or None,
            work_dir=self.config.paths.cache_dir / "configuration",
            timeout=conf.timeout,
        )

    def directories(self) -> list[tuple[Path, str]]:
        """The directories the client writes, with their keys (checked at start-up)."""
        paths = self.config.paths
        found = [
            (paths.state_dir, "paths.state-dir"),
            (paths.run_dir, "paths.run-dir"),
            (paths.cache_dir, "paths.cache-dir"),
        ]
        if isinstance(self.installer, installers.ABDirectoryInstaller):
            found.append((self.config.image.ab_root, "image.ab-root"))
        return found

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """What a ``run`` process holds from start to end: the directories checked (exit 77
        when the client may not use one), the run lock (exit 75 when another run holds it),
        and a status left "running" by a killed run recorded as interrupted."""
        preflight.prepare_directories(self.directories())
        with RunLock(self.config.paths.run_dir):
            self.recorder.recover_stale()
            yield

    def _sweep(self) -> None:
        """Remove what an earlier run that ended abruptly left behind (partial downloads,
        script directories, temporary files of atomic writes)."""
        paths = self.config.paths
        targets = [paths.state_dir / "state.json", paths.run_dir / "status.json"]
        if isinstance(self.installer, installers.ABDirectoryInstaller):
            root = self.config.image.ab_root
            targets.append(root / "next")
            for slot in ("a", "b"):
                targets += [root / slot / "image", root / slot / "image.json"]
        if isinstance(self.applier, config_actions.FileApplier) and self.config.configuration.file:
            targets.append(self.config.configuration.file)
        removed = sweep(paths.cache_dir, targets)
        if removed:
            names = ", ".join(str(path) for path in removed[:5])
            more = f" and {len(removed) - 5} more" if len(removed) > 5 else ""
            self.recorder.info(f"removed leftovers of an earlier run: {names}{more}")

    def clock(self) -> Clock:
        if self.config.trust.clock == "trusted":
            return Clock.trusted_at(dt.datetime.now(dt.UTC))
        return Clock.untrusted()

    def running_system(self) -> image_actions.RunningSystem:
        device = self.config.device
        if device.os_name or device.os_version:
            return image_actions.RunningSystem(device.os_name, device.os_version)
        if isinstance(self.installer, installers.ABDirectoryInstaller):
            running = installers.ABDirectoryInstaller.running_system(self.config.image.ab_root)
            if running.os_name or running.os_version:
                return running
        return image_actions.read_os_release(self.config.paths.os_release)

    # -- passes -------------------------------------------------------------------------------

    def run_forever(self) -> Outcome:
        """Pass after pass, with exponential backoff and jitter, until final (D2)."""
        delay = self.config.retry.initial
        while True:
            outcome = self.run_once()
            if outcome.final:
                return outcome
            pause = delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
            self.recorder.info(f"no success this pass; next pass in {pause:.0f} s")
            self.sleep(pause)
            delay = min(delay * 2, self.config.retry.maximum)

    def run_once(self) -> Outcome:
        if not self.config.enabled:
            self.recorder.info("SZTP is disabled in the configuration (enabled = false)")
            self.recorder.set_state("disabled")
            return Outcome.DISABLED
        ensure_dir(self.config.paths.state_dir, key="paths.state-dir")
        self._sweep()
        self.state = self.store.load()
        if self.state.bootstrapped:
            self.recorder.info("the device is bootstrapped already")
            # keep the record of the run that bootstrapped it: that is what status shows
            self.recorder.keep_last_run("bootstrapped", bootstrapped=True)
            return Outcome.ALREADY
        self.boot_id = image_actions.read_boot_id(self.config.paths.boot_id)
        if self.state.rebooting and self._reboot_pending():
            return self._reboot_again()
        if self.state.rebooting:
            self.state.rebooting = False
            self.store.save(self.state)
            self.recorder.info("running again after the reboot into a new boot image")
        self.recorder.run_started(bootstrapped=False)
        self.last_error = None
        self.redirect_addresses_tried = 0
        found_data = False
        for endpoint in self.servers:
            outcome = self._server(
                endpoint, self.server_anchors or None, hop=0, source="well-known bootstrap server"
            )
            if outcome in (Outcome.COMPLETE, Outcome.REBOOTING):
                return self._finish(outcome)
            found_data = found_data or outcome is Outcome.FAILED
        return self._finish(Outcome.FAILED if found_data else Outcome.NOTHING)

    def _reboot_pending(self) -> bool:
        """Whether the reboot requested after the last install has not happened: the boot id
        is still the one the image was installed under."""
        if self.boot_id is None or not self.state.images:
            return False
        return self.state.images[-1].boot_id == self.boot_id

    def _reboot_again(self) -> Outcome:
        """The reboot has not happened: request it again, without fetching the image again."""
        image = self.state.images[-1]
        notice = (
            f"the reboot requested after installing image {image.sha256[:16]}… at "
            f"{image.installed_at} has not happened (the boot id is unchanged): requesting it "
            "again, without downloading or installing the image again; check "
            "image.reboot-command"
        )
        self.recorder.info(notice)
        self.recorder.keep_last_run("rebooting", bootstrapped=False, notice=notice)
        self._reboot()
        return Outcome.REBOOTING

    def _finish(self, outcome: Outcome) -> Outcome:
        if outcome is Outcome.COMPLETE:
            self.recorder.set_state("bootstrapped", bootstrapped=True)
        elif outcome is Outcome.REBOOTING:
            self.recorder.set_state("rebooting")
        else:
            if self.last_error is not None:
                self.recorder.error(self.last_error)
            self.recorder.set_state("failed" if outcome is Outcome.FAILED else "no-data")
        return outcome

    # -- one server ---------------------------------------------------------------------------

    def _server(
        self,
        endpoint: ServerEndpoint,
        anchors: Sequence[x509.Certificate] | None,
        *,
        hop: int,
        source: str,
    ) -> Outcome:
        """Try every address of ``endpoint``; process the first data obtained (R-058)."""
        trusted = anchors is not None
        name = _server_name(endpoint)
        trust = "trusted" if trusted else "provisional"
        try:
            addresses = resolve(endpoint.host, endpoint.port)
        except TransportError as exc:
            index = self.recorder.attempt_started(source, name, "-", trust, hop)
            self.recorder.attempt_ended(index, "error", exc)
            self.last_error = exc
            return Outcome.NOTHING
        for address in addresses:
            if hop > 0 and not self._redirect_address_allowed(name):
                return Outcome.FAILED
            index = self.recorder.attempt_started(source, name, address, trust, hop)
            nonce = os.urandom(NONCE_BYTES)
            if trusted:
                request = GetBootstrappingDataInput(
                    hw_model=self.config.device.hardware_model,
                    os_name=self.running_system().os_name,
                    os_version=self.running_system().os_version,
                    nonce=nonce,
                )
            else:
                # D18: only signed-data-preferred and the nonce to an untrusted server
                request = GetBootstrappingDataInput(signed_data_preferred=True, nonce=nonce)
            client = RestconfClient(
                endpoint,
                address,
                trusted=trusted,
                anchors=tuple(anchors or ()),
                clock=self.clock(),
                identity=self.identity,
                basic_auth=self.basic_auth if trusted else None,
                timeouts=self.timeouts,
                limits=self.transport_limits,
                encoding=self.config.network.encoding,
            )
            try:
                with client:
                    try:
                        output = client.get_bootstrapping_data(request)
                    except (TransportError, DataError) as exc:
                        self.recorder.attempt_ended(index, "error", exc)
                        self.last_error = exc
                        continue
                    context = _Context(client, name, trusted, nonce, hop)
                    outcome = self._process(output, context)
            except SZTPError as exc:
                self.recorder.attempt_ended(index, "error", exc)
                self.last_error = exc
                return Outcome.FAILED
            self.recorder.attempt_ended(
                index, outcome.value, self.last_error if outcome is Outcome.FAILED else None
            )
            return outcome
        return Outcome.NOTHING

    # -- the machine --------------------------------------------------------------------------

    def _process(self, output: GetBootstrappingDataOutput, ctx: _Context) -> Outcome:
        machine = m.OnboardingMachine(reports=ctx.trusted, reporting_level=output.reporting_level)
        queue: list[m.Action] = machine.handle(m.Start())
        outcome = Outcome.FAILED
        while queue:
            action = queue.pop(0)
            if isinstance(action, m.Finish):
                if action.error is not None:
                    self.last_error = action.error
                outcome = {
                    m.OnboardingState.COMPLETE: Outcome.COMPLETE,
                    m.OnboardingState.REBOOTING: Outcome.REBOOTING,
                    m.OnboardingState.FAILED: Outcome.FAILED,
                }.get(action.outcome, outcome)
                continue
            if isinstance(action, m.FollowRedirect):
                outcome = self._follow(action, ctx)
                continue
            event = self._execute(action, output, ctx)
            if event is not None:
                queue.extend(machine.handle(event))
        return outcome

    def _execute(
        self, action: m.Action, output: GetBootstrappingDataOutput, ctx: _Context
    ) -> m.Event | None:
        if isinstance(action, m.Verify):
            return self._verify(output, ctx)
        if isinstance(action, m.SendReport):
            return self._report(action, ctx)
        if isinstance(action, m.StepStarted):
            self.recorder.step_started(action.step.value)
            return None
        if isinstance(action, m.StepEnded):
            self.recorder.step_ended(action.step.value, action.outcome, action.message)
            return None
        if isinstance(action, m.ProcessImage):
            return self._image(action.information)
        if isinstance(action, m.RunScript):
            return self._script(action, ctx)
        if isinstance(action, m.CommitConfiguration):
            return self._commit(action.information)
        if isinstance(action, m.RollbackConfiguration):
            self._rollback()
            return None
        if isinstance(action, m.KeepConfiguration):
            self._keep()
            return None
        if isinstance(action, m.Reboot):
            self._reboot()
            return None
        raise InternalError(f"no way to carry out {type(action).__name__}")

    def _verify(self, output: GetBootstrappingDataOutput, ctx: _Context) -> m.Event:
        artifacts = Artifacts(
            conveyed_information=output.conveyed_information,
            owner_certificate=output.owner_certificate,
            ownership_voucher=output.ownership_voucher,
        )
        policy = TrustPolicy(
            voucher_signer=self.voucher_signer,
            clock=self.clock(),
            accepted_assertions=self.config.trust.accept_assertions,
            limits=self.verify_limits,
            require_nonce_voucher=self.config.trust.require_nonce_voucher,
        )
        source = SourceKind.TRUSTED_SERVER if ctx.trusted else SourceKind.UNTRUSTED_SERVER
        try:
            data = verify_bootstrapping_data(
                artifacts, self.device, policy, source=source, nonce=ctx.nonce
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

    def _report(self, action: m.SendReport, ctx: _Context) -> m.Event | None:
        keys: tuple[object, ...] = ()
        anchors: tuple[bytes, ...] = ()
        if action.progress_type is ProgressType.BOOTSTRAP_COMPLETE:
            done = self.config.bootstrap_complete
            keys = report_data.read_ssh_host_keys(done.ssh_host_keys)
            anchors = report_data.trust_anchor_bags(done.trust_anchor_certs)
        message = action.message[-4000:] if action.message else None
        report = ReportProgressInput(
            progress_type=action.progress_type,
            message=message,
            ssh_host_keys=keys,  # type: ignore[arg-type]
            trust_anchor_certs=anchors,
        )
        try:
            ctx.client.report_progress(report)
        except (ReportRejectedError, TransportError) as exc:
            self.recorder.report_sent(action.progress_type.value, f"failed: {exc.message}")
            if action.acknowledge:
                return m.ReportRejected(action.progress_type, exc)
            return None
        self.recorder.report_sent(action.progress_type.value, "204")
        if action.acknowledge:
            return m.ReportAcknowledged(action.progress_type)
        return None

    # -- onboarding steps ---------------------------------------------------------------------

    def _image(self, info: OnboardingInformation) -> m.Event:
        boot_image = info.boot_image
        if boot_image is None:
            raise InternalError("image step without a boot image")
        running = self.running_system()
        if image_actions.image_matches_running(boot_image, running):
            return m.ImageUpToDate(
                f"running {running.os_name or ''} {running.os_version or ''}".strip()
            )
        try:
            digest = image_actions.supported_digest(boot_image)
            if self.state.booted_into(digest, self.boot_id):
                return m.ImageUpToDate(f"image {digest.hex()[:16]}… installed and booted")
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
                self.installer.install(image.path, boot_image, image.sha256)
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
            raise BootImageError(
                "file: download-uri refused: images from local files or removable media are "
                "not supported yet; serve the image over https"
            )
        result = download_transport.download(
            uri,
            destination,
            timeouts=self.timeouts,
            check_space=check,
            on_progress=self.recorder.progress,
            verify_tls=self.config.image.verify_tls,
            anchors=self.server_anchors,
            clock=self.clock(),  # with verify-tls, validity periods count as for every server
        )
        return result.sha256

    def _script(self, action: m.RunScript, ctx: _Context) -> m.Event:
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
                    "SZTP_SERIAL_NUMBER": self.serial_number,
                    "SZTP_BOOTSTRAP_SERVER": ctx.server,
                },
            )
        except ScriptError as exc:
            return m.StepFailed(action.step, exc)
        return m.StepSucceeded(action.step, warning=result.warning, output=result.output)

    def _commit(self, info: OnboardingInformation) -> m.Event:
        if info.configuration is None:
            raise InternalError("configuration step without a configuration")
        handling = info.configuration_handling or ConfigurationHandling.MERGE
        try:
            self.applier.commit(info.configuration, handling)
        except (ConfigApplyError, ConfigurationError) as exc:
            error = exc if isinstance(exc, ConfigApplyError) else ConfigApplyError(exc.message)
            return m.StepFailed(m.OnboardingStep.CONFIG, error)
        return m.StepSucceeded(m.OnboardingStep.CONFIG)

    def _rollback(self) -> None:
        try:
            self.applier.rollback()
            self.recorder.info("configuration rolled back")
        except SZTPError as exc:
            self.recorder.info(f"configuration rollback failed: {exc.message}")

    def _keep(self) -> None:
        with contextlib.suppress(SZTPError):
            self.applier.discard()
        self.state.bootstrapped = True
        self.state.bootstrapped_at = now_text()
        self.store.save(self.state)

    def _reboot(self) -> None:
        command = list(self.config.image.reboot_command)
        self.recorder.info(f"rebooting: {' '.join(command)}")
        self.reboot_requested = True
        # the SIGTERM of the shutdown this command starts must not kill it half-way
        with interrupt.deferred():
            self._run_reboot_command(command)

    def _run_reboot_command(self, command: list[str]) -> None:
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

    # -- redirects ----------------------------------------------------------------------------

    def _redirect_address_allowed(self, server: str) -> bool:
        """D28: at most limits.redirect-addresses addresses across the redirect hops of one
        pass; a redirect list cannot make the device try addresses without end."""
        limit = self.config.limits.redirect_addresses
        if self.redirect_addresses_tried >= limit:
            self.last_error = DataError(
                f"redirect address limit reached: {limit} addresses were tried across the "
                f"redirects of this pass; {server} and the redirect targets after it are not "
                "tried (limits.redirect-addresses)"
            )
            self.recorder.info(self.last_error.message)
            return False
        self.redirect_addresses_tried += 1
        return True

    def _follow(self, action: m.FollowRedirect, ctx: _Context) -> Outcome:
        hop = ctx.hop + 1
        if hop > self.config.discovery.max_redirects:
            self.last_error = DataError(
                f"redirect limit of {self.config.discovery.max_redirects} hops reached at "
                f"{ctx.server}; raise discovery.max-redirects if the chain is legitimate"
            )
            self.recorder.info(self.last_error.message)
            return Outcome.FAILED
        result = Outcome.NOTHING
        for server in action.information.bootstrap_servers:
            if self.redirect_addresses_tried >= self.config.limits.redirect_addresses:
                self._redirect_address_allowed(server.address)  # records why it stops
                return Outcome.FAILED
            endpoint = ServerEndpoint(server.address, server.port)
            anchors: tuple[x509.Certificate, ...] | None = None
            if action.trusted and server.trust_anchor is not None:
                try:
                    anchors = _anchors_from_bag(server.trust_anchor)
                except DataError as exc:
                    self.recorder.info(f"{server.address}: unusable trust anchor: {exc.message}")
                    self.last_error = exc
                    continue
            # no anchor, or an untrusted redirect: provisional connection
            outcome = self._server(endpoint, anchors, hop=hop, source=f"redirect from {ctx.server}")
            if outcome in (Outcome.COMPLETE, Outcome.REBOOTING):
                return outcome
            if outcome is Outcome.FAILED:
                result = Outcome.FAILED
        return result


def _anchors_from_bag(data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a redirect's trust-anchor CMS (degenerate SignedData)."""
    unwrapped = cms.unwrap(data, "trust-anchor", max_size=MAX_CERTIFICATE_FILE)
    if not isinstance(unwrapped, cms.Signed) or not unwrapped.signed.certificates:
        raise EncodingError("trust-anchor: not a SignedData holding certificates")
    return unwrapped.signed.certificates


def _authority_key_id(cert: x509.Certificate | None) -> bytes | None:
    if cert is None:
        return None
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    identifier: bytes | None = aki.key_identifier
    return identifier


def _server_name(endpoint: ServerEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"https://{host}:{endpoint.port}"


__all__ = ["Outcome", "Runner"]
