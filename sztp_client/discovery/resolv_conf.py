"""What the device's resolver configuration says: name servers and domains (D5).

The unicast DNS sources ask the name servers of ``/etc/resolv.conf`` and search the domains
of D5's order: the DHCP lease's, then resolv.conf's ``search``/``domain`` line, then the
configured ones.  The file is read size-bounded; the line syntax is decoded by
:func:`~sztp_client.discovery.dns_records.resolv_conf_domains` and :func:`resolv_conf_nameservers`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from sztp_client.discovery.dns_records import resolv_conf_domains, search_domains
from sztp_client.errors import SizeLimitError

RESOLV_CONF: Final = Path("/etc/resolv.conf")
MAX_RESOLV_CONF_BYTES: Final = 65536
MAX_NAMESERVERS: Final = 8
#: the port a name server is checked with (its address only matters)
_DNS_PORT: Final = 53


def read_resolv_conf(path: Path = RESOLV_CONF) -> str:
    """resolv.conf's text, at most :data:`MAX_RESOLV_CONF_BYTES`; empty when it is missing."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RESOLV_CONF_BYTES + 1)
    except OSError:
        return ""
    if len(data) > MAX_RESOLV_CONF_BYTES:
        raise SizeLimitError(str(path), len(data), MAX_RESOLV_CONF_BYTES)
    return data.decode("utf-8", "replace")


def resolv_conf_nameservers(text: str) -> tuple[str, ...]:
    """The addresses of resolv.conf's ``nameserver`` lines, in order, each once (at most
    :data:`MAX_NAMESERVERS`); lines that are not IP addresses are left out."""
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                socket.getaddrinfo(fields[1], _DNS_PORT, flags=socket.AI_NUMERICHOST)
            except socket.gaierror:
                continue
            if fields[1] not in found:
                found.append(fields[1])
    return tuple(found[:MAX_NAMESERVERS])


def discovery_domains(
    lease_domains: Iterable[str] = (),
    configured: Iterable[str] = (),
    *,
    resolv_conf: Path = RESOLV_CONF,
) -> tuple[str, ...]:
    """D5's domains: the lease's, then resolv.conf's search/domain line, then the configured
    ones (each once, normalised, unusable names left out)."""
    return search_domains(
        lease_domains, resolv_conf_domains(read_resolv_conf(resolv_conf)), configured
    )
