"""The interface every discovery source implements, and the registry that builds them.

A discovery source is one *kind* (``dhcpv4``, ``dns-srv``, ``removable-media`` ...).  Built from
the configuration by its :data:`Builder`, it answers :meth:`DiscoverySource.discover` with one
:class:`Finding` per place it looked (an interface, a lease file, a domain, a device): the
bootstrap servers named there, the artifacts found there (DNS TXT, removable media), what was
refused there and why, or why nothing was there.  It does the I/O of its kind (sockets, files,
mounting) and nothing else: it never contacts a bootstrap server, never verifies a signature
and never decides trust; what each kind may deliver unsigned is decided in
:mod:`sztp_client.trust.sources` when the data is verified.

Modules that implement kinds are named in :data:`PROVIDERS`, by kind; each exposes
``BUILDERS: dict[str, Builder]``.  A module is imported only when one of its kinds is asked for
(so that a run with the configured servers only never loads DNS, DHCP or media code), and a
module that is not installed leaves its kinds unavailable (the status then says so) rather
than failing the run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from sztp_client.protocol.session_events import ServerCandidate
from sztp_client.trust.sources import SourceKind

if TYPE_CHECKING:
    from sztp_client.config import ClientConfig

#: the kinds, exactly as ``discovery.order``, ``status`` and ``discover --json`` spell them
REMOVABLE_MEDIA = "removable-media"
DHCPV4 = "dhcpv4"
DHCPV6 = "dhcpv6"
MDNS_TXT = "mdns-txt"
DNS_TXT = "dns-txt"
MDNS_SRV = "mdns-srv"
DNS_SRV = "dns-srv"
CONFIGURED = "configured"

#: what each kind counts as when its data is verified (RFC 8572 §4, §5.3)
TRUST_KIND: Mapping[str, SourceKind] = {
    REMOVABLE_MEDIA: SourceKind.REMOVABLE_STORAGE,
    DHCPV4: SourceKind.DHCP,
    DHCPV6: SourceKind.DHCP,
    MDNS_TXT: SourceKind.DNS,
    DNS_TXT: SourceKind.DNS,
    MDNS_SRV: SourceKind.DNS,
    DNS_SRV: SourceKind.DNS,
}


class SourceArtifacts(msgspec.Struct, frozen=True):
    """Bootstrapping data a source hands over directly: DER (or BER) CMS bytes as found.

    ``medium`` is the root of the mounted medium they came from (removable media only): a
    ``file:`` boot-image URI in this data resolves inside it, and only there.  The medium stays
    readable until :meth:`DiscoverySource.release` is called.
    """

    conveyed_information: bytes
    owner_certificate: bytes | None = None
    ownership_voucher: bytes | None = None
    medium: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The artifacts present, as ``discover --json`` lists them."""
        found = ["conveyed-information"]
        if self.owner_certificate is not None:
            found.append("owner-certificate")
        if self.ownership_voucher is not None:
            found.append("ownership-voucher")
        return tuple(found)


class Finding(msgspec.Struct, frozen=True):
    """What one source saw at one ``origin`` (interface, lease file, domain, device).

    ``servers`` and ``artifacts`` are what it yielded (servers without anchors: provisional);
    ``rejected`` what it saw there and refused, each with why (an invalid URI entry, an option
    with no valid entry, a malformed record); ``error`` why nothing could be read there.
    """

    kind: str
    origin: str
    servers: tuple[ServerCandidate, ...] = ()
    artifacts: SourceArtifacts | None = None
    rejected: tuple[str, ...] = ()
    error: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.servers) or self.artifacts is not None


class DiscoveryContext(msgspec.Struct, frozen=True):
    """What a builder may use: the whole configuration and the device's serial number."""

    config: ClientConfig
    serial_number: str
    #: the interfaces to use; empty: the builder picks every up, non-loopback interface
    interfaces: tuple[str, ...] = ()
    #: the DNS domains learned from DHCP on this pass (the DNS kinds read them, D5)
    lease_domains: tuple[str, ...] = ()


class DiscoverySource(Protocol):
    """One kind of source, built for one pass."""

    @property
    def kind(self) -> str: ...

    def discover(self) -> Sequence[Finding]:
        """Look everywhere this kind looks; bounded in time and size; never raises for what
        the network or a medium holds (that is a Finding's ``error`` or ``rejected``)."""
        ...

    def release(self) -> None:
        """Give back what ``discover`` holds (unmount a medium); called on every path out."""
        ...


#: a kind's builder: the sources of that kind for this configuration (usually one)
Builder = Callable[[DiscoveryContext], Sequence[DiscoverySource]]

#: the module implementing each kind; each exposes ``BUILDERS: dict[str, Builder]``
PROVIDERS: Mapping[str, str] = {
    REMOVABLE_MEDIA: "sztp_client.discovery.media_source",
    DHCPV4: "sztp_client.discovery.dhcp_sources",
    DHCPV6: "sztp_client.discovery.dhcp_sources",
    MDNS_TXT: "sztp_client.discovery.dns_sources",
    DNS_TXT: "sztp_client.discovery.dns_sources",
    MDNS_SRV: "sztp_client.discovery.dns_sources",
    DNS_SRV: "sztp_client.discovery.dns_sources",
}


def builders(kinds: Iterable[str] | None = None) -> dict[str, Builder]:
    """The builders of ``kinds`` (``None``: every kind) that an installed provider module
    implements, by kind; only the modules of those kinds are imported."""
    wanted = set(PROVIDERS if kinds is None else kinds)
    found: dict[str, Builder] = {}
    for name in dict.fromkeys(PROVIDERS[kind] for kind in PROVIDERS if kind in wanted):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        registered: Mapping[str, Builder] = getattr(module, "BUILDERS", {})
        found.update((kind, build) for kind, build in registered.items() if kind in wanted)
    return found


__all__ = [
    "CONFIGURED",
    "DHCPV4",
    "DHCPV6",
    "DNS_SRV",
    "DNS_TXT",
    "MDNS_SRV",
    "MDNS_TXT",
    "PROVIDERS",
    "REMOVABLE_MEDIA",
    "TRUST_KIND",
    "Builder",
    "DiscoveryContext",
    "DiscoverySource",
    "Finding",
    "SourceArtifacts",
    "builders",
]
