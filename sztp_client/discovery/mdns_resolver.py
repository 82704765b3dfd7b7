"""Host names under ``local`` resolved by multicast DNS (RFC 6762), for mdns-srv servers.

An mdns-srv server such as ``https://boot.local:443`` must resolve without an mDNS-aware
system resolver: :func:`local_names_resolver` wraps the executor's resolver so that ``.local``
names are asked by multicast DNS (:func:`resolve_multicast`) and every other name as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dns.rdatatype

from sztp_client.discovery.dns_query import (
    DEFAULT_BOUNDS,
    MDNS_PORT,
    DnsBounds,
    answer_records,
    query_multicast,
)
from sztp_client.discovery.errors import DnsQueryError
from sztp_client.discovery.interfaces import up_interfaces
from sztp_client.errors import ConnectError


def resolve_multicast(
    host: str,
    *,
    interfaces: Sequence[str] = (),
    ipv4: bool = True,
    port: int = MDNS_PORT,
    bounds: DnsBounds = DEFAULT_BOUNDS,
) -> list[str]:
    """The addresses of a ``.local`` host by multicast DNS (RFC 6762): A, then AAAA, each once.

    Link-local IPv6 addresses are left out (they need the interface, which an address string
    does not carry).  :class:`~sztp_client.errors.ConnectError` naming the host when none came.
    """
    name = host if host.endswith(".") else host + "."
    found: list[str] = []
    reasons: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            answer, _ = query_multicast(
                name, rdtype, interfaces=interfaces, ipv4=ipv4, port=port, bounds=bounds
            )
        except DnsQueryError as exc:
            reasons.append(str(exc))
            continue
        for rdata in answer_records(answer, name, rdtype):
            address = str(getattr(rdata, "address", ""))
            if address and not address.lower().startswith("fe80:") and address not in found:
                found.append(address)
    if not found:
        raise ConnectError(
            f"cannot resolve the host name {host!r} by multicast DNS: " + "; ".join(reasons)
        )
    return found


def local_names_resolver(
    fallback: Callable[[str, int], list[str]],
    *,
    interfaces: Sequence[str] | None = None,
    ipv4: bool = True,
    port: int = MDNS_PORT,
    bounds: DnsBounds = DEFAULT_BOUNDS,
    list_interfaces: Callable[[], tuple[str, ...]] | None = None,
) -> Callable[[str, int], list[str]]:
    """A resolver (``(host, port) -> addresses``, as the executor takes) that looks up names
    under ``local`` by multicast DNS and every other name with ``fallback``: an mdns-srv
    server such as ``https://boot.local:443`` resolves without an mDNS-aware system
    resolver."""

    def resolve(host: str, server_port: int) -> list[str]:
        if host.rstrip(".").lower().endswith(".local"):
            chosen = (list_interfaces or up_interfaces)() if interfaces is None else interfaces
            return resolve_multicast(host, interfaces=chosen, ipv4=ipv4, port=port, bounds=bounds)
        return fallback(host, server_port)

    return resolve
