"""The composition root: configuration → device context.

:func:`build_context` reads what the configuration names (the IDevID and its key, the trust
anchors, the password file), runs every start-up check that needs no directory (the identity
key matches its certificate, who may sign a voucher, the commands exist) and builds the parts
the executor uses: identity and serial number, the IDevID's issuer key id, anchors, the
voucher-signer policy, limits, installer, applier, the clock source, basic auth and timeouts.
Everything that can never succeed later fails here, before any traffic (exit 78).

The identity (files or a TPM-held key) comes from
:func:`~sztp_client.identity.base.build_identity`; a new installer or
applier at :func:`_installer` / :func:`_applier`; new sources at :func:`sources`.

What only some configurations or deliveries use is imported when it is first needed, not with
this module (start-up, docs/architecture.md): the LDevID key store when ``identity.ldevid`` is
enabled, the envelope decryptor when an artifact arrives encrypted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from cryptography import x509

from sztp_client import preflight
from sztp_client.actions import configuration as config_actions
from sztp_client.actions import image as image_actions
from sztp_client.actions import installers
from sztp_client.certificate_files import load_certificates
from sztp_client.config import ClientConfig, check_trust_configuration
from sztp_client.discovery import wiring
from sztp_client.errors import ConfigurationError, DataError, FileTooLargeError
from sztp_client.files import read_bounded
from sztp_client.identity.base import FileIdentity, TPMIdentity, build_identity
from sztp_client.limits import Limits
from sztp_client.model.server_uri import ServerEndpoint, parse_server_uri
from sztp_client.protocol.image_policy import RunningSystem
from sztp_client.protocol.session_events import Source
from sztp_client.transport.http import Timeouts
from sztp_client.transport.limits import TransportLimits
from sztp_client.trust.clock import Clock
from sztp_client.trust.identity import issuer_key_id, subject_serial_number
from sztp_client.trust.signer_policy import VoucherSignerPolicy
from sztp_client.trust.signer_policy import check_configuration as check_signer_configuration
from sztp_client.trust.verifier import DeviceIdentity
from sztp_client.units import KIB

if TYPE_CHECKING:
    from sztp_client.actions.ldevid import LDevIDKeyStore
    from sztp_client.trust.cms import Decryptor
    from sztp_client.trust.envelope import EnvelopeDecryptor
    from sztp_client.trust.envelope.keys import RecipientKey

MAX_PASSWORD_FILE = 4 * KIB


class LazyDecryptor:
    """The identity key's decryptor, built on the first encrypted artifact: the key is read at
    start-up (a key that cannot work fails before any traffic), the envelope code is loaded
    only when a delivery is encrypted."""

    def __init__(self, key: RecipientKey) -> None:
        self.key = key
        self._decryptor: EnvelopeDecryptor | None = None

    def decrypt(self, content_type: str, der: bytes) -> tuple[str, bytes]:
        if self._decryptor is None:
            from sztp_client.trust.envelope import EnvelopeDecryptor  # noqa: PLC0415

            self._decryptor = EnvelopeDecryptor(self.key)
        return self._decryptor.decrypt(content_type, der)


class DeviceContext(msgspec.Struct, frozen=True):
    """What one device configuration amounts to, built once per ``run``."""

    config: ClientConfig
    serial_number: str
    device: DeviceIdentity
    identity: FileIdentity | TPMIdentity | None
    servers: tuple[ServerEndpoint, ...]
    server_anchors: tuple[x509.Certificate, ...]
    voucher_signer: VoucherSignerPolicy
    basic_auth: tuple[str, str] | None
    timeouts: Timeouts
    transport_limits: TransportLimits
    verify_limits: Limits
    installer: installers.Installer
    applier: config_actions.Applier
    clock_source: Callable[[], Clock]
    #: opens encrypted artifacts with the identity's key (None without an identity)
    decryptor: Decryptor | None = None
    #: RFC 9646: the key file store for a requested LDevID (None unless identity.ldevid.enabled)
    ldevid: LDevIDKeyStore | None = None
    #: the IDevID's subject (DER), mirrored by a CSR the server gave no cert-req-info for
    idevid_subject: bytes = b"\x30\x00"

    def clock(self) -> Clock:
        return self.clock_source()

    def sources(self) -> list[Source]:
        """The sources of bootstrapping data in the order of ``discovery.order``, built afresh
        for every pass (removable media, DHCP, DNS, then the configured servers by default)."""
        context = wiring.discovery_context(self.config, self.serial_number)
        configured = wiring.ConfiguredServers(self.servers, self.server_anchors)
        return list(wiring.build_sources(context, configured))

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

    def leftovers(self) -> list[Path]:
        """Files whose partial versions an abruptly ended run may have left (swept)."""
        paths = self.config.paths
        targets = [paths.state_dir / "state.json", paths.run_dir / "status.json"]
        if isinstance(self.installer, installers.ABDirectoryInstaller):
            root = self.config.image.ab_root
            targets.append(root / "next")
            for slot in ("a", "b"):
                targets += [root / slot / "image", root / slot / "image.json"]
        conf = self.config.configuration
        if isinstance(self.applier, config_actions.FileApplier) and conf.file:
            targets.append(conf.file)
        return targets

    def running_system(self) -> RunningSystem:
        device = self.config.device
        if device.os_name or device.os_version:
            return RunningSystem(device.os_name, device.os_version)
        if isinstance(self.installer, installers.ABDirectoryInstaller):
            running = installers.ABDirectoryInstaller.running_system(self.config.image.ab_root)
            if running.os_name or running.os_version:
                return running
        return image_actions.read_os_release(self.config.paths.os_release)


def build_context(config: ClientConfig) -> DeviceContext:
    """The device context of ``config``; raises ConfigurationError (78) or
    PermissionDeniedError (77) for what can never work."""
    servers = well_known_servers(config)
    # the back-end chosen and checked: files present, or the TPM key usable for TLS (75/78)
    identity = build_identity(config.identity)
    idevid_chain = identity.chain if identity is not None else ()
    idevid = idevid_chain[0] if idevid_chain else None
    if idevid is not None and isinstance(identity, FileIdentity):
        preflight.check_identity(idevid, identity.key)  # before any traffic
    serial = serial_number(config.device.serial_number, idevid)
    server_anchors = load_certificates(
        config.trust.bootstrap_server_trust_anchors, "trust.bootstrap-server-trust-anchors"
    )
    voucher_signer = _voucher_signer_policy(config, idevid_chain)
    basic_auth = _basic_auth(config, serial)
    installer = _installer(config)
    applier = _applier(config)
    preflight.check_command(config.image.reboot_command, "image.reboot-command")
    trusted_clock = config.trust.clock == "trusted"
    return DeviceContext(
        config=config,
        serial_number=serial,
        device=DeviceIdentity(serial, issuer_key_id(idevid)),
        identity=identity,
        servers=tuple(servers),
        server_anchors=server_anchors,
        voucher_signer=voucher_signer,
        basic_auth=basic_auth,
        timeouts=Timeouts(connect=config.network.connect_timeout, read=config.network.read_timeout),
        # the transport's bounds derive from the [limits] table in one place (limits.py)
        transport_limits=TransportLimits.of(config.limits),
        verify_limits=config.limits,
        installer=installer,
        applier=applier,
        clock_source=_trusted_now if trusted_clock else Clock.untrusted,
        decryptor=LazyDecryptor(identity.recipient_key()) if identity is not None else None,
        ldevid=_ldevid_store(config, identity),
        idevid_subject=idevid.subject.public_bytes() if idevid is not None else b"\x30\x00",
    )


def _ldevid_store(
    config: ClientConfig, identity: FileIdentity | TPMIdentity | None
) -> LDevIDKeyStore | None:
    """RFC 9646: the new key is made where the IDevID key is: inside the TPM for a TPM
    identity (at identity.ldevid.tpm-handle), else in a key file."""
    settings = config.identity.ldevid
    if not settings.enabled:
        return None

    base = config.paths.state_dir / "ldevid"
    cert_path = settings.certificate or base / "cert.pem"
    if isinstance(identity, TPMIdentity):
        from sztp_client.identity.ldevid_tpm import TPMKeyStore  # noqa: PLC0415 - TPM only

        return TPMKeyStore(identity.device, settings.tpm_handle, cert_path, identity.handle)
    from sztp_client.actions.ldevid import FileKeyStore  # noqa: PLC0415

    return FileKeyStore(key_path=settings.key_file or base / "key.pem", cert_path=cert_path)


def _trusted_now() -> Clock:
    return Clock.trusted_at(dt.datetime.now(dt.UTC))


def serial_number(configured: str | None, idevid: x509.Certificate | None) -> str:
    """The device's serial number: configured, or the IDevID's; both must agree."""
    from_cert = subject_serial_number(idevid) if idevid is not None else None
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


def well_known_servers(config: ClientConfig) -> list[ServerEndpoint]:
    """The servers of ``discovery.bootstrap-servers``; a bad URI names the key."""
    endpoints = []
    for uri in config.discovery.bootstrap_servers:
        try:
            endpoints.append(parse_server_uri(uri))
        except DataError as exc:
            raise ConfigurationError(exc.message, "discovery.bootstrap-servers") from exc
    return endpoints


def _voucher_signer_policy(
    config: ClientConfig, idevid_chain: tuple[x509.Certificate, ...]
) -> VoucherSignerPolicy:
    """Who may sign a voucher; refuse a configuration that would let an IDevID key sign one
    (D27), before any traffic."""
    trust = config.trust
    check_trust_configuration(trust)
    voucher_anchors = load_certificates(
        trust.voucher_signer_trust_anchors, "trust.voucher-signer-trust-anchors"
    )
    manufacturer_anchors = load_certificates(
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
        pinned=load_certificates(
            trust.voucher_signer_pinned_certificates, "trust.voucher-signer-pinned-certificates"
        ),
    )


def _basic_auth(config: ClientConfig, serial: str) -> tuple[str, str] | None:
    path = config.identity.password_file
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
    return (serial, password)


def _installer(config: ClientConfig) -> installers.Installer:
    image = config.image
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


def _applier(config: ClientConfig) -> config_actions.Applier:
    conf = config.configuration
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
    preflight.check_command(conf.rollback_command, "configuration.rollback-command", required=False)
    return config_actions.CommandApplier(
        conf.commit_command,
        conf.rollback_command or None,
        work_dir=config.paths.cache_dir / "configuration",
        timeout=conf.timeout,
    )


__all__ = ["DeviceContext", "build_context", "serial_number", "well_known_servers"]
