"""The client's configuration: a TOML file plus drop-ins, read into one frozen ``ClientConfig``.

The main file (default ``/etc/sztp/client.toml``) is read first, then every ``*.toml`` in the
drop-in directory beside it (``client.toml.d/``) in name order; tables merge key by key and a
later value replaces an earlier one (D21).  Unknown keys are errors, so a typo never passes
silently: the message names the file the key is in and suggests the nearest valid key.
Relative paths are taken relative to the directory of the main file, so an image
builder or a test can keep a whole device under one scratch root.  Every key, with its default,
is documented in docs/configuration.md.  An invalid file raises ConfigurationError naming the
key (exit 78).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sztp_client.errors import ConfigurationError
from sztp_client.limits import KIB, MIB, Limits
from sztp_client.model.voucher import Assertion
from sztp_client.toml_tables import Table, merge, note_origins, parse_toml, read_toml
from sztp_client.trust.oids import is_dotted_oid

DEFAULT_CONFIG = Path("/etc/sztp/client.toml")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    serial_number: str | None = None
    hardware_model: str | None = None
    os_name: str | None = None
    os_version: str | None = None


@dataclass(frozen=True, slots=True)
class TPMIdentityConfig:
    tcti: str = "device:/dev/tpmrm0"
    #: the TCG's first IDevID key handle
    key_handle: int = 0x81020000
    #: a PEM file path (resolved) or "nv:0x..." (an NV index); required for the tpm back-end
    certificate: str | None = None


IDENTITY_BACKENDS = ("file", "tpm", "auto")


@dataclass(frozen=True, slots=True)
class LDevIDConfig:
    """The [identity.ldevid] table: RFC 9646 certificate requests to trusted servers."""

    enabled: bool = False
    #: the new key's file (mode 0600); default ``<paths.state-dir>/ldevid/key.pem``
    key_file: Path | None = None
    #: where the post-configuration script writes the LDevID; default ``.../ldevid/cert.pem``
    certificate: Path | None = None
    #: the persistent handle of the new key when the identity is a TPM (apart from the IDevID's)
    tpm_handle: int = 0x81000100


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    backend: str = "file"
    certificate: Path | None = None
    key: Path | None = None
    password_file: Path | None = None
    tpm: TPMIdentityConfig = field(default_factory=TPMIdentityConfig)
    ldevid: LDevIDConfig = field(default_factory=LDevIDConfig)


@dataclass(frozen=True, slots=True)
class TrustConfig:
    """The [trust] table.  Paths stay paths here; the runner loads the certificates.

    ``voucher_signer_trust_anchors`` are the only anchors a voucher signer may validate to (the
    manufacturer's voucher CA); ``manufacturer_trust_anchors`` are the IDevID CAs, which the
    device's IDevID must validate to and which no voucher ever validates to (D27).
    """

    clock: str = "untrusted"
    bootstrap_server_trust_anchors: tuple[Path, ...] = ()
    voucher_signer_trust_anchors: tuple[Path, ...] = ()
    manufacturer_trust_anchors: tuple[Path, ...] = ()
    accept_assertions: frozenset[Assertion] = frozenset({Assertion.VERIFIED, Assertion.LOGGED})
    voucher_signer_extended_key_usage: str | None = None
    voucher_signer_certificate_policy: str | None = None
    voucher_signer_pinned_certificates: tuple[Path, ...] = ()
    require_nonce_voucher: bool = False


#: every kind of source, in the default order (removable media, DHCP, DNS as RFC 8572 §4.2.1
#: orders it, then the configured well-known servers)
DISCOVERY_KINDS: tuple[str, ...] = (
    "removable-media",
    "dhcpv4",
    "dhcpv6",
    "mdns-txt",
    "dns-txt",
    "mdns-srv",
    "dns-srv",
    "configured",
)


@dataclass(frozen=True, slots=True)
class DhcpDiscoveryConfig:
    #: lease files read (globs); a configured list replaces these, ``[]`` means none
    lease_files: tuple[str, ...] = (
        "/var/lib/dhcp/dhclient*.leases",
        "/var/lib/dhcp/dhclient*.lease",
        "/var/lib/dhclient/dhclient*.leases",
        "/var/lib/NetworkManager/dhclient-*.lease",
    )
    #: where the shipped hooks write ``<interface>.json``
    drop_dir: Path = Path("/run/sztp/dhcp")
    #: the client's own DHCP query (INFORM/DISCOVER, DHCPv6 Information-Request)
    query: bool = True


@dataclass(frozen=True, slots=True)
class DnsDiscoveryConfig:
    #: domains searched after those of the DHCP lease and resolv.conf
    domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaDiscoveryConfig:
    directory_name: str = "sztp"
    #: argv; ``{device}`` and ``{directory}`` replaced, appended in that order when absent
    mount_command: tuple[str, ...] = ("mount", "-o", "ro,nosuid,nodev,noexec")
    unmount_command: tuple[str, ...] = ("umount",)
    #: device paths or globs; empty: removable or hot-plugged block devices with a filesystem
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    bootstrap_servers: tuple[str, ...] = ()
    max_redirects: int = 8
    order: tuple[str, ...] = DISCOVERY_KINDS
    #: interfaces DHCP (and mDNS) use; empty: every up, non-loopback interface
    interfaces: tuple[str, ...] = ()
    dhcp: DhcpDiscoveryConfig = field(default_factory=DhcpDiscoveryConfig)
    dns: DnsDiscoveryConfig = field(default_factory=DnsDiscoveryConfig)
    media: MediaDiscoveryConfig = field(default_factory=MediaDiscoveryConfig)


@dataclass(frozen=True, slots=True)
class PathsConfig:
    state_dir: Path = Path("/var/lib/sztp")
    run_dir: Path = Path("/run/sztp")
    cache_dir: Path = Path("/var/cache/sztp")
    boot_id: Path = Path("/proc/sys/kernel/random/boot_id")
    os_release: Path = Path("/etc/os-release")


@dataclass(frozen=True, slots=True)
class ImageConfig:
    installer: str = "command"
    command: tuple[str, ...] = ()
    ab_root: Path = Path("/var/lib/sztp/slots")
    timeout: float = 1800.0
    min_free: int = 64 * MIB
    verify_tls: bool = False
    reboot_command: tuple[str, ...] = ("/bin/systemctl", "reboot")


@dataclass(frozen=True, slots=True)
class ScriptsConfig:
    timeout: float = 600.0
    warning_codes: frozenset[int] = frozenset({10})
    output_limit: int = 64 * KIB


@dataclass(frozen=True, slots=True)
class ConfigurationConfig:
    applier: str = "command"
    commit_command: tuple[str, ...] = ()
    rollback_command: tuple[str, ...] = ()
    file: Path | None = None
    timeout: float = 600.0


@dataclass(frozen=True, slots=True)
class CompletionConfig:
    ssh_host_keys: tuple[Path, ...] = ()
    trust_anchor_certs: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # the one media type of Accept and the body encoding of every request: "json" or "xml"
    encoding: str = "json"


@dataclass(frozen=True, slots=True)
class RetryConfig:
    initial: float = 5.0
    maximum: float = 600.0


@dataclass(frozen=True, slots=True)
class ClientConfig:
    source: Path | None = None
    enabled: bool = True
    device: DeviceConfig = field(default_factory=DeviceConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    scripts: ScriptsConfig = field(default_factory=ScriptsConfig)
    configuration: ConfigurationConfig = field(default_factory=ConfigurationConfig)
    bootstrap_complete: CompletionConfig = field(default_factory=CompletionConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    limits: Limits = field(default_factory=Limits)
    retry: RetryConfig = field(default_factory=RetryConfig)


# --- reading -----------------------------------------------------------------------------------


def load_config(path: Path | None = None, *, required: bool = False) -> ClientConfig:
    """Read ``path`` (default /etc/sztp/client.toml) and its drop-ins.

    A missing file is an error when ``required`` (``run`` always requires one: it never
    bootstraps on built-in defaults); otherwise it gives the built-in defaults (``status``
    reads the default paths then).
    """
    main = path or DEFAULT_CONFIG
    documents: list[tuple[Path, dict[str, Any]]] = []
    if main.exists():
        documents.append((main, read_toml(main)))
    elif required:
        raise ConfigurationError(
            f"the configuration file {main} does not exist: write it (every key is described "
            "in docs/configuration.md; conf/client.toml is an example) or name another file "
            "with --config"
        )
    dropin_dir = main.with_name(main.name + ".d")
    if dropin_dir.is_dir():
        for dropin in sorted(dropin_dir.glob("*.toml")):
            documents.append((dropin, read_toml(dropin)))
    merged: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    for source, document in documents:
        merge(merged, document)
        note_origins(origins, document, source)
    base = main.parent.resolve() if main.exists() else Path("/")
    return _build(merged, base, main if main.exists() else None, origins)


def parse_config(text: str, base: Path, source: Path | None = None) -> ClientConfig:
    """Build a configuration from TOML text (tests and embedders)."""
    return _build(parse_toml(text), base, source)


def _oid(table: Table, key: str) -> str | None:
    """An optional dotted OID string (e.g. "1.3.6.1.5.5.7.3.2")."""
    value = table.string(key)
    if value is None:
        return None
    if not is_dotted_oid(value):
        raise ConfigurationError(
            f"'{value}' is not an object identifier in dotted form (e.g. 1.3.6.1.5.5.7.3.3)",
            table.key(key),
        )
    return value


def _nonempty_paths(table: Table, key: str) -> tuple[Path, ...]:
    """An optional list of paths that, when given, is not empty."""
    raw = table.get(key)
    paths = table.paths(key)
    if raw is not None and not paths:
        raise ConfigurationError(
            "is empty; leave the key out or name at least one file", table.key(key)
        )
    return paths


def _check_anchor_lists(
    table: Table, voucher_signer: tuple[Path, ...], manufacturer: tuple[Path, ...]
) -> None:
    """Anchor lists that are given are not empty (an empty list is a mistake, never a policy)."""
    for key, value in (
        ("voucher-signer-trust-anchors", voucher_signer),
        ("manufacturer-trust-anchors", manufacturer),
    ):
        if table.data.get(key) is not None and not value:
            raise ConfigurationError(
                "is empty; name at least one PEM file"
                + (" (or leave the key out)" if key == "manufacturer-trust-anchors" else ""),
                table.key(key),
            )


def check_trust_configuration(trust: TrustConfig) -> None:
    """What ``run`` needs of the [trust] table before any traffic (D27): the voucher-signer
    anchors.  ``status`` and other read-only commands do not call this."""
    if trust.voucher_signer_trust_anchors:
        return
    explained = (
        "is required: name the PEM files of the manufacturer's voucher (MASA) CA, the only "
        "certificates a voucher signer may validate to"
    )
    if trust.manufacturer_trust_anchors:
        explained += (
            ". trust.manufacturer-trust-anchors no longer verifies vouchers: it now names the "
            "CAs that issue IDevIDs. Move the voucher CA to trust.voucher-signer-trust-anchors "
            "and keep only IDevID CAs in trust.manufacturer-trust-anchors (a CA that issues "
            "IDevIDs may not verify vouchers: any device's key could then sign a voucher for "
            "every other device)"
        )
    raise ConfigurationError(explained, "trust.voucher-signer-trust-anchors")


def _ldevid(t: Table) -> LDevIDConfig:
    handle = LDevIDConfig().tpm_handle
    if (raw_handle := t.get("tpm-handle")) is not None:
        from sztp_client.identity import tpm  # noqa: PLC0415 - tpm2-pytss itself is not imported

        handle = tpm.parse_handle(raw_handle, t.key("tpm-handle"))
    result = LDevIDConfig(
        enabled=t.boolean("enabled", False),
        key_file=t.path("key-file"),
        certificate=t.path("certificate"),
        tpm_handle=handle,
    )
    t.finish()
    return result


def _tpm_identity(t: Table) -> TPMIdentityConfig:
    defaults = TPMIdentityConfig()
    if not t.data:  # status and the like never load the TPM module (nor cryptography)
        return defaults
    from sztp_client.identity import tpm  # noqa: PLC0415 - tpm2-pytss itself is not imported

    tcti = tpm.parse_tcti(t.string("tcti", defaults.tcti), t.key("tcti"))
    raw_handle = t.get("key-handle")
    handle = (
        defaults.key_handle
        if raw_handle is None
        else tpm.parse_handle(raw_handle, t.key("key-handle"))
    )
    certificate = t.string("certificate")
    if certificate is not None:
        if tpm.is_nv_reference(certificate):
            tpm.parse_nv_index(certificate, t.key("certificate"))
        else:
            certificate = str(t.base / certificate)
    t.finish()
    return TPMIdentityConfig(tcti=tcti, key_handle=handle, certificate=certificate)


def _discovery_order(table: Table) -> tuple[str, ...]:
    order = table.strings("order", DiscoveryConfig().order)
    for kind in order:
        if kind not in DISCOVERY_KINDS:
            raise ConfigurationError(
                f"unknown source kind '{kind}' (known: {', '.join(DISCOVERY_KINDS)})",
                table.key("order"),
            )
    if len(set(order)) != len(order):
        raise ConfigurationError("names a source kind twice", table.key("order"))
    return order


def _dhcp_discovery(table: Table) -> DhcpDiscoveryConfig:
    d = DhcpDiscoveryConfig()
    found = DhcpDiscoveryConfig(
        lease_files=table.strings("lease-files", d.lease_files),
        drop_dir=table.path("drop-dir") or d.drop_dir,
        query=table.boolean("query", d.query),
    )
    table.finish()
    return found


def _dns_discovery(table: Table) -> DnsDiscoveryConfig:
    found = DnsDiscoveryConfig(domains=table.strings("domains", DnsDiscoveryConfig().domains))
    table.finish()
    return found


def _media_discovery(table: Table) -> MediaDiscoveryConfig:
    d = MediaDiscoveryConfig()
    name = table.string("directory-name", d.directory_name) or d.directory_name
    if "/" in name or name in (".", ".."):
        raise ConfigurationError(
            "is one folder name at the root of the medium", table.key("directory-name")
        )
    found = MediaDiscoveryConfig(
        directory_name=name,
        mount_command=table.strings("mount-command", d.mount_command),
        unmount_command=table.strings("unmount-command", d.unmount_command),
        devices=table.strings("devices", d.devices),
    )
    table.finish()
    for key, command in (
        ("mount-command", found.mount_command),
        ("unmount-command", found.unmount_command),
    ):
        if not command:
            raise ConfigurationError("is empty: name the command", table.key(key))
    return found


def _build(
    document: Mapping[str, Any],
    base: Path,
    source: Path | None,
    origins: Mapping[str, Path] | None = None,
) -> ClientConfig:
    top = Table(document, "", base, origins)
    enabled = top.boolean("enabled", ClientConfig().enabled)

    t = top.table("device")
    device = DeviceConfig(
        serial_number=t.string("serial-number"),
        hardware_model=t.string("hardware-model"),
        os_name=t.string("os-name"),
        os_version=t.string("os-version"),
    )
    t.finish()

    t = top.table("identity")
    identity_defaults = IdentityConfig()
    identity = IdentityConfig(
        backend=t.choice("backend", identity_defaults.backend, IDENTITY_BACKENDS),
        certificate=t.path("certificate"),
        key=t.path("key"),
        password_file=t.path("password-file"),
        tpm=_tpm_identity(t.table("tpm")),
        ldevid=_ldevid(t.table("ldevid")),
    )
    t.finish()
    if (identity.certificate is None) != (identity.key is None):
        raise ConfigurationError("certificate and key are given together", "identity")

    t = top.table("trust")
    td = TrustConfig()
    names = t.strings("accept-assertions", tuple(sorted(a.value for a in td.accept_assertions)))
    try:
        assertions = frozenset(Assertion(name) for name in names)
    except ValueError as exc:
        known = ", ".join(a.value for a in Assertion)
        raise ConfigurationError(
            f"unknown assertion ({known})", t.key("accept-assertions")
        ) from exc
    voucher_signer_anchors = t.paths("voucher-signer-trust-anchors")
    manufacturer_anchors = t.paths("manufacturer-trust-anchors")
    _check_anchor_lists(t, voucher_signer_anchors, manufacturer_anchors)
    trust = TrustConfig(
        clock=t.choice("clock", td.clock, ("trusted", "untrusted")),
        bootstrap_server_trust_anchors=t.paths("bootstrap-server-trust-anchors"),
        voucher_signer_trust_anchors=voucher_signer_anchors,
        manufacturer_trust_anchors=manufacturer_anchors,
        accept_assertions=assertions,
        voucher_signer_extended_key_usage=_oid(t, "voucher-signer-extended-key-usage"),
        voucher_signer_certificate_policy=_oid(t, "voucher-signer-certificate-policy"),
        voucher_signer_pinned_certificates=_nonempty_paths(t, "voucher-signer-pinned-certificates"),
        require_nonce_voucher=t.boolean("require-nonce-voucher", td.require_nonce_voucher),
    )
    t.finish()

    t = top.table("discovery")
    dd = DiscoveryConfig()
    discovery = DiscoveryConfig(
        bootstrap_servers=t.strings("bootstrap-servers", dd.bootstrap_servers),
        max_redirects=t.integer("max-redirects", dd.max_redirects, minimum=0, maximum=10),
        order=_discovery_order(t),
        interfaces=t.strings("interfaces", dd.interfaces),
        dhcp=_dhcp_discovery(t.table("dhcp")),
        dns=_dns_discovery(t.table("dns")),
        media=_media_discovery(t.table("media")),
    )
    t.finish()

    t = top.table("paths")
    defaults = PathsConfig()
    paths = PathsConfig(
        state_dir=t.path("state-dir") or defaults.state_dir,
        run_dir=t.path("run-dir") or defaults.run_dir,
        cache_dir=t.path("cache-dir") or defaults.cache_dir,
        boot_id=t.path("boot-id") or defaults.boot_id,
        os_release=t.path("os-release") or defaults.os_release,
    )
    t.finish()

    t = top.table("image")
    image_defaults = ImageConfig()
    image = ImageConfig(
        installer=t.choice("installer", image_defaults.installer, ("command", "ab-directory")),
        command=t.strings("command", image_defaults.command),
        ab_root=t.path("ab-root") or image_defaults.ab_root,
        timeout=t.number("timeout", image_defaults.timeout),
        min_free=t.integer("min-free", image_defaults.min_free),
        verify_tls=t.boolean("verify-tls", image_defaults.verify_tls),
        reboot_command=t.strings("reboot-command", image_defaults.reboot_command),
    )
    t.finish()

    t = top.table("scripts")
    sd = ScriptsConfig()
    scripts = ScriptsConfig(
        timeout=t.number("timeout", sd.timeout),
        warning_codes=t.integers("warning-codes", sd.warning_codes),
        output_limit=t.integer("output-limit", sd.output_limit, minimum=1024),
    )
    t.finish()

    t = top.table("configuration")
    cd = ConfigurationConfig()
    configuration = ConfigurationConfig(
        applier=t.choice("applier", cd.applier, ("command", "file")),
        commit_command=t.strings("commit-command", cd.commit_command),
        rollback_command=t.strings("rollback-command", cd.rollback_command),
        file=t.path("file", cd.file),
        timeout=t.number("timeout", cd.timeout),
    )
    t.finish()
    if configuration.applier == "file" and configuration.file is None:
        raise ConfigurationError("the file applier needs configuration.file", "configuration.file")

    t = top.table("bootstrap-complete")
    completion = CompletionConfig(
        ssh_host_keys=t.paths("ssh-host-keys"),
        trust_anchor_certs=t.paths("trust-anchor-certs"),
    )
    t.finish()

    t = top.table("network")
    nd = NetworkConfig()
    network = NetworkConfig(
        connect_timeout=t.number("connect-timeout", nd.connect_timeout),
        read_timeout=t.number("read-timeout", nd.read_timeout),
        encoding=t.choice("encoding", nd.encoding, ("json", "xml")),
    )
    t.finish()

    t = top.table("limits")
    ld = Limits()
    limits = Limits(
        conveyed_information=t.integer("conveyed-information", ld.conveyed_information, 1024),
        owner_certificate=t.integer("owner-certificate", ld.owner_certificate, 1024),
        ownership_voucher=t.integer("ownership-voucher", ld.ownership_voucher, 1024),
        error_document=t.integer("error-document", ld.error_document, 1024),
        host_meta=t.integer("host-meta", ld.host_meta, 1024),
        cms_certificates=t.integer("cms-certificates", ld.cms_certificates, 1, 1024),
        cms_crls=t.integer("cms-crls", ld.cms_crls, 0, 1024),
        path_validations=t.integer("path-validations", ld.path_validations, 1, 256),
        redirect_servers=t.integer("redirect-servers", ld.redirect_servers, 1, 1024),
        redirect_addresses=t.integer("redirect-addresses", ld.redirect_addresses, 1, 4096),
    )
    t.finish()

    t = top.table("retry")
    rd = RetryConfig()
    retry = RetryConfig(
        initial=t.number("initial", rd.initial), maximum=t.number("maximum", rd.maximum)
    )
    t.finish()
    top.finish()

    return ClientConfig(
        source=source,
        enabled=enabled,
        device=device,
        identity=identity,
        trust=trust,
        discovery=discovery,
        paths=paths,
        image=image,
        scripts=scripts,
        configuration=configuration,
        bootstrap_complete=completion,
        network=network,
        limits=limits,
        retry=retry,
    )
