"""One immutable record per table of the configuration file, with its defaults.

This is the only place a default is written (docs/configuration.md lists them).  The records
hold what the file says, checked and converted (paths resolved, names validated) by
:mod:`sztp_client.config.build`; nothing here reads a file or loads a certificate.  Cheap to
import: ``status`` reads the configuration too, so no model, trust or identity module is
imported here (the accepted voucher assertions are held by name, see :data:`ASSERTIONS`), and
the records are ``typing.NamedTuple`` rather than msgspec structs, so that ``status`` starts
without msgspec (docs/architecture.md, start-up).  A sub-table's default is a shared default
instance (immutable).  Change a copy with ``record._replace(key=value)``; a record is read by
attribute only, never as the tuple it also is (nothing iterates, indexes or compares records of
different tables).
"""

# no ``from __future__ import annotations`` here: a NamedTuple turns each annotation given as
# a string into a ForwardRef, compiling it (about a quarter of the cost of defining them)

from pathlib import Path
from typing import NamedTuple

from sztp_client.limits import KIB, MIB, Limits

DEFAULT_CONFIG = Path("/etc/sztp/client.toml")

IDENTITY_BACKENDS = ("file", "tpm", "auto")

#: the voucher assertions the configuration may name (RFC 8366 and rfc8366bis); the values of
#: ``sztp_client.model.voucher.Assertion``, which a test keeps equal
ASSERTIONS: tuple[str, ...] = ("verified", "logged", "proximity", "agent-proximity")

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


class DeviceConfig(NamedTuple):
    serial_number: str | None = None
    hardware_model: str | None = None
    os_name: str | None = None
    os_version: str | None = None


class TPMIdentityConfig(NamedTuple):
    tcti: str = "device:/dev/tpmrm0"
    #: the TCG's first IDevID key handle
    key_handle: int = 0x81020000
    #: a PEM file path (resolved) or "nv:0x..." (an NV index); required for the tpm back-end
    certificate: str | None = None


class LDevIDConfig(NamedTuple):
    """The [identity.ldevid] table: RFC 9646 certificate requests to trusted servers."""

    enabled: bool = False
    #: the new key's file (mode 0600); default ``<paths.state-dir>/ldevid/key.pem``
    key_file: Path | None = None
    #: where the post-configuration script writes the LDevID; default ``.../ldevid/cert.pem``
    certificate: Path | None = None
    #: the persistent handle of the new key when the identity is a TPM (apart from the IDevID's)
    tpm_handle: int = 0x81000100


class IdentityConfig(NamedTuple):
    """The [identity] table.  ``password_file`` is only the path: the password itself is read
    when a ``run`` starts (:mod:`sztp_client.context`) and never held here."""

    backend: str = "file"
    certificate: Path | None = None
    key: Path | None = None
    password_file: Path | None = None
    tpm: TPMIdentityConfig = TPMIdentityConfig()
    ldevid: LDevIDConfig = LDevIDConfig()


class TrustConfig(NamedTuple):
    """The [trust] table.  Paths stay paths here; the runner loads the certificates.

    ``voucher_signer_trust_anchors`` are the only anchors a voucher signer may validate to (the
    manufacturer's voucher CA); ``manufacturer_trust_anchors`` are the IDevID CAs, which the
    device's IDevID must validate to and which no voucher ever validates to (D27).
    ``accept_assertions`` holds the names of :data:`ASSERTIONS`; the trust policy turns them
    into ``Assertion`` members.
    """

    clock: str = "untrusted"
    bootstrap_server_trust_anchors: tuple[Path, ...] = ()
    voucher_signer_trust_anchors: tuple[Path, ...] = ()
    manufacturer_trust_anchors: tuple[Path, ...] = ()
    accept_assertions: frozenset[str] = frozenset({"verified", "logged"})
    voucher_signer_extended_key_usage: str | None = None
    voucher_signer_certificate_policy: str | None = None
    voucher_signer_pinned_certificates: tuple[Path, ...] = ()
    require_nonce_voucher: bool = False


class DhcpDiscoveryConfig(NamedTuple):
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


class DnsDiscoveryConfig(NamedTuple):
    #: domains searched after those of the DHCP lease and resolv.conf
    domains: tuple[str, ...] = ()


class MediaDiscoveryConfig(NamedTuple):
    directory_name: str = "sztp"
    #: argv; ``{device}`` and ``{directory}`` replaced, appended in that order when absent
    mount_command: tuple[str, ...] = ("mount", "-o", "ro,nosuid,nodev,noexec")
    unmount_command: tuple[str, ...] = ("umount",)
    #: device paths or globs; empty: removable or hot-plugged block devices with a filesystem
    devices: tuple[str, ...] = ()


class DiscoveryConfig(NamedTuple):
    bootstrap_servers: tuple[str, ...] = ()
    max_redirects: int = 8
    order: tuple[str, ...] = DISCOVERY_KINDS
    #: interfaces DHCP (and mDNS) use; empty: every up, non-loopback interface
    interfaces: tuple[str, ...] = ()
    dhcp: DhcpDiscoveryConfig = DhcpDiscoveryConfig()
    dns: DnsDiscoveryConfig = DnsDiscoveryConfig()
    media: MediaDiscoveryConfig = MediaDiscoveryConfig()


class PathsConfig(NamedTuple):
    state_dir: Path = Path("/var/lib/sztp")
    run_dir: Path = Path("/run/sztp")
    cache_dir: Path = Path("/var/cache/sztp")
    boot_id: Path = Path("/proc/sys/kernel/random/boot_id")
    os_release: Path = Path("/etc/os-release")


class ImageConfig(NamedTuple):
    installer: str = "command"
    command: tuple[str, ...] = ()
    ab_root: Path = Path("/var/lib/sztp/slots")
    timeout: float = 1800.0
    min_free: int = 64 * MIB
    verify_tls: bool = False
    reboot_command: tuple[str, ...] = ("/bin/systemctl", "reboot")


class ScriptsConfig(NamedTuple):
    timeout: float = 600.0
    warning_codes: frozenset[int] = frozenset({10})
    output_limit: int = 64 * KIB


class ConfigurationConfig(NamedTuple):
    applier: str = "command"
    commit_command: tuple[str, ...] = ()
    rollback_command: tuple[str, ...] = ()
    file: Path | None = None
    timeout: float = 600.0


class CompletionConfig(NamedTuple):
    ssh_host_keys: tuple[Path, ...] = ()
    trust_anchor_certs: tuple[Path, ...] = ()


class NetworkConfig(NamedTuple):
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # the one media type of Accept and the body encoding of every request: "json" or "xml"
    encoding: str = "json"


class RetryConfig(NamedTuple):
    """The [retry] table: the pause between passes starts at ``initial`` seconds and doubles
    up to ``maximum`` (D2; :mod:`sztp_client.protocol.backoff`)."""

    initial: float = 5.0
    maximum: float = 600.0


class ClientConfig(NamedTuple):
    source: Path | None = None
    enabled: bool = True
    device: DeviceConfig = DeviceConfig()
    identity: IdentityConfig = IdentityConfig()
    trust: TrustConfig = TrustConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    paths: PathsConfig = PathsConfig()
    image: ImageConfig = ImageConfig()
    scripts: ScriptsConfig = ScriptsConfig()
    configuration: ConfigurationConfig = ConfigurationConfig()
    bootstrap_complete: CompletionConfig = CompletionConfig()
    network: NetworkConfig = NetworkConfig()
    limits: Limits = Limits()
    retry: RetryConfig = RetryConfig()


__all__ = [
    "ASSERTIONS",
    "DEFAULT_CONFIG",
    "DISCOVERY_KINDS",
    "IDENTITY_BACKENDS",
    "ClientConfig",
    "CompletionConfig",
    "ConfigurationConfig",
    "DeviceConfig",
    "DhcpDiscoveryConfig",
    "DiscoveryConfig",
    "DnsDiscoveryConfig",
    "IdentityConfig",
    "ImageConfig",
    "LDevIDConfig",
    "MediaDiscoveryConfig",
    "NetworkConfig",
    "PathsConfig",
    "RetryConfig",
    "ScriptsConfig",
    "TPMIdentityConfig",
    "TrustConfig",
]
