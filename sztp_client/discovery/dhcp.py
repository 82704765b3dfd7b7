"""DHCP discovery sources: lease files, hook drop files and the client's own query
(RFC 8572 §4.3, §8; R-096..R-102, D9).

Each class here is a :class:`~sztp_client.protocol.session_events.Source` named by its kind
(``dhcpv4`` or ``dhcpv6``).  ``fetch`` yields the bootstrap servers the DHCP option named, as
provisional candidates (no trust anchors: DHCP is an untrusted source), and records what it saw
in :attr:`observations` (one :class:`Observation` per interface and origin: the lease file, drop
file or query, the servers accepted and the entries rejected with their reasons) for the status
record and ``sztp-client discover``.

* :class:`LeaseFileSource` reads ISC dhclient lease files (also those of NetworkManager's
  dhclient backend) through :mod:`.dhclient_leases`; the current lease of each interface counts.
* :class:`DropFileSource` reads the JSON files the hooks shipped in ``hooks/`` write into a
  drop directory (``/run/sztp/dhcp`` by default): one file per interface and family.
* :class:`QuerySource` asks the DHCP server itself, for systems whose DHCP client drops the
  option: DHCPv4 INFORM when the interface has an address, DISCOVER otherwise, with option 143
  in the parameter request list; DHCPv6 Information-Request with 136 in the option request
  option.  Plain UDP sockets bound to the interface (SO_BINDTODEVICE), bounded waits; an OFFER
  is never followed by a REQUEST, so no address is taken.
* :class:`DhcpSource` tries those three in that order for one family and yields the servers of
  the first that names any, which is what one entry of the discovery order needs.

The decoding is :mod:`.dhcp_option`'s; nothing here decides trust.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import secrets
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sztp_client.config import DhcpDiscoveryConfig
from sztp_client.discovery.dhclient_leases import DhcpFamily, parse_lease_file
from sztp_client.discovery.dhcp_option import (
    MAX_LIST_BYTES,
    OPTION_V4_SZTP_REDIRECT,
    OPTION_V6_SZTP_REDIRECT,
    BootstrapServerList,
    decode_v4,
    decode_v6,
    from_dhclient_value,
    from_udhcpc_hex,
    v4_option_instances,
    v6_option_instances,
)
from sztp_client.discovery.sources import Builder, DiscoveryContext, Finding
from sztp_client.errors import DataError
from sztp_client.files import read_bounded
from sztp_client.limits import MIB
from sztp_client.protocol.session_events import ServerCandidate

__all__ = [
    "BUILDERS",
    "DEFAULT_DROP_DIR",
    "DEFAULT_LEASE_GLOBS",
    "DROP_FILE_VERSION",
    "DhcpDiscovery",
    "DhcpFamily",
    "DhcpSource",
    "DropFileSource",
    "LeaseFileSource",
    "Observation",
    "QuerySource",
    "default_interfaces",
    "lease_domains",
    "query_v4",
    "query_v6",
]

DEFAULT_DROP_DIR: Final = "/run/sztp/dhcp"
#: the lease files read by default: the configuration's default, written once there
DEFAULT_LEASE_GLOBS: Final = DhcpDiscoveryConfig().lease_files
DROP_FILE_VERSION: Final = 1
MAX_DROP_FILE_BYTES: Final = 4 * MAX_LIST_BYTES + 4096
MAX_FILES: Final = 256
"""At most this many lease or drop files are read in one fetch; the rest are named as skipped."""

_SIOCGIFADDR: Final = 0x8915
_SIOCGIFHWADDR: Final = 0x8927
_SO_BINDTODEVICE: Final = getattr(socket, "SO_BINDTODEVICE", 25)
_DHCP_MAGIC: Final = b"\x63\x82\x53\x63"
_V4_TYPE_DISCOVER, _V4_TYPE_OFFER, _V4_TYPE_ACK, _V4_TYPE_INFORM = 1, 2, 5, 8
_V6_INFORMATION_REQUEST, _V6_REPLY = 11, 7
_V6_ALL_SERVERS: Final = "ff02::1:2"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one origin gave: ``origin`` names it (``lease file PATH``, ``drop file PATH``,
    ``DHCPINFORM on eth0`` ...), ``interface`` the interface when known; ``servers`` the
    accepted URIs in order, ``rejected`` each ignored entry with its reason, ``error`` why the
    origin gave nothing usable (``None`` when it gave servers)."""

    origin: str
    interface: str | None
    servers: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    error: str | None = None


def default_interfaces() -> tuple[str, ...]:
    """Every up, non-loopback interface of this network namespace, by name."""
    found: list[str] = []
    for _index, name in socket.if_nameindex():
        if name == "lo":
            continue
        try:
            flags = Path(f"/sys/class/net/{name}/flags").read_text(encoding="ascii")
        except OSError:
            found.append(name)  # sysfs of another namespace: let the query find out
            continue
        if int(flags.strip(), 16) & 0x1:  # IFF_UP
            found.append(name)
    return tuple(found)


def _interfaces(configured: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(configured) if configured else default_interfaces()


class _Recorder:
    """The observations of the latest fetch, and the candidates they give."""

    family: DhcpFamily
    observations: tuple[Observation, ...]

    def __init__(self, family: DhcpFamily | str) -> None:
        self.family = DhcpFamily(family)
        self.observations = ()

    @property
    def name(self) -> str:
        return str(self.family)

    def _decode(self, payload: bytes) -> BootstrapServerList:
        if self.family is DhcpFamily.V4:
            return decode_v4(payload)
        return decode_v6(payload)

    def _observe_payload(
        self, origin: str, interface: str | None, payload: bytes | None
    ) -> tuple[Observation, list[ServerCandidate]]:
        """What one option payload (``None``: no option) gives, as an observation."""
        try:
            decoded = self._decode(payload) if payload is not None else None
        except DataError as exc:
            return Observation(origin, interface, error=str(exc)), []
        return _observe(origin, interface, decoded)


def _observe(
    origin: str, interface: str | None, decoded: BootstrapServerList | None
) -> tuple[Observation, list[ServerCandidate]]:
    if decoded is None:
        return Observation(origin, interface, error="no SZTP redirect option"), []
    error = "the option holds no valid bootstrap server URI" if decoded.discarded else None
    observation = Observation(origin, interface, decoded.uris, decoded.reasons, error)
    return observation, [ServerCandidate(endpoint) for endpoint in decoded.endpoints]


def _dedupe(candidates: Iterable[ServerCandidate]) -> list[ServerCandidate]:
    seen: set[str] = set()
    kept: list[ServerCandidate] = []
    for candidate in candidates:
        key = str(candidate.endpoint)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return kept


def _expand(globs: Sequence[str]) -> list[str]:
    paths: list[str] = []
    for pattern in globs:
        for path in sorted(glob.glob(pattern)):
            if path not in paths and os.path.isfile(path):
                paths.append(path)
    return paths


def _read_bounded(path: str, limit: int) -> bytes:
    return read_bounded(Path(path), limit, "the DHCP file")


# ---------------------------------------------------------------------------------------------
# lease files


class LeaseFileSource(_Recorder):
    """The SZTP option of the current leases in ISC dhclient lease files (R-097, R-098).

    ``globs`` are the lease files to read (default :data:`DEFAULT_LEASE_GLOBS`; an empty tuple
    reads none); ``interfaces`` the interfaces whose leases count (``None``: every interface a
    lease names).  A lease file that cannot be read is an observation with an error, not a
    failure of the source.
    """

    def __init__(
        self,
        family: DhcpFamily | str,
        globs: Sequence[str] = DEFAULT_LEASE_GLOBS,
        interfaces: Sequence[str] | None = None,
        *,
        max_file_bytes: int = MIB,
    ) -> None:
        super().__init__(family)
        self.globs = tuple(globs)
        self.interfaces = tuple(interfaces) if interfaces else None
        self.max_file_bytes = max_file_bytes

    def detect(self) -> bool:
        return bool(_expand(self.globs))

    def fetch(self) -> Sequence[ServerCandidate]:
        observations: list[Observation] = []
        candidates: list[ServerCandidate] = []
        for number, path in enumerate(_expand(self.globs)):
            origin = f"lease file {path}"
            if number >= MAX_FILES:
                observations.append(Observation(origin, None, error="too many lease files"))
                continue
            try:
                leases = parse_lease_file(
                    _read_bounded(path, self.max_file_bytes), max_bytes=self.max_file_bytes
                )
            except (OSError, DataError) as exc:
                observations.append(Observation(origin, None, error=str(exc)))
                continue
            for lease in leases.current():
                if lease.family is not self.family:
                    continue
                if self.interfaces is not None and lease.interface not in self.interfaces:
                    continue
                try:
                    decoded = lease.bootstrap_servers()
                except DataError as exc:
                    observations.append(Observation(origin, lease.interface, error=str(exc)))
                    continue
                observation, found = _observe(origin, lease.interface, decoded)
                if lease.problems and decoded is None:
                    observation = Observation(
                        origin, lease.interface, rejected=lease.problems, error=lease.problems[0]
                    )
                observations.append(observation)
                candidates.extend(found)
        self.observations = tuple(observations)
        return _dedupe(candidates)


def lease_domains(
    globs: Sequence[str] = DEFAULT_LEASE_GLOBS,
    interfaces: Sequence[str] | None = None,
    *,
    max_file_bytes: int = MIB,
) -> tuple[str, ...]:
    """The DNS domains of the current leases (v4 options 15 and 119, v6 option 24), in the
    order of the lease files, each once: the first domains the DNS sources search (D5).

    A lease file that cannot be read or parsed gives no domains; they are a hint, and the
    lease source reports the file's problem in its own record.
    """
    found: list[str] = []
    for path in _expand(globs)[:MAX_FILES]:
        try:
            leases = parse_lease_file(_read_bounded(path, max_file_bytes), max_bytes=max_file_bytes)
        except (OSError, DataError):
            continue
        for lease in leases.current():
            if interfaces and lease.interface not in interfaces:
                continue
            found.extend(domain for domain in lease.domains if domain not in found)
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# drop files


class DropFileSource(_Recorder):
    """The SZTP option as the shipped hooks left it in ``drop_dir`` (see docs/discovery-dhcp.md).

    Every ``*.json`` file of the directory is read; one whose ``family`` is not this source's,
    or whose ``interface`` is not among ``interfaces`` (when given), is passed over.
    """

    def __init__(
        self,
        family: DhcpFamily | str,
        drop_dir: str | os.PathLike[str] = DEFAULT_DROP_DIR,
        interfaces: Sequence[str] | None = None,
    ) -> None:
        super().__init__(family)
        self.drop_dir = Path(drop_dir)
        self.interfaces = tuple(interfaces) if interfaces else None

    def _files(self) -> list[str]:
        return _expand([str(self.drop_dir / "*.json")])

    def detect(self) -> bool:
        return bool(self._files())

    def fetch(self) -> Sequence[ServerCandidate]:
        observations: list[Observation] = []
        candidates: list[ServerCandidate] = []
        for number, path in enumerate(self._files()):
            origin = f"drop file {path}"
            if number >= MAX_FILES:
                observations.append(Observation(origin, None, error="too many drop files"))
                continue
            try:
                family, interface, payload = read_drop_file(path)
            except (OSError, DataError) as exc:
                observations.append(Observation(origin, None, error=str(exc)))
                continue
            if family is not self.family:
                continue
            if self.interfaces is not None and interface not in self.interfaces:
                continue
            observation, found = self._observe_payload(origin, interface, payload)
            observations.append(observation)
            candidates.extend(found)
        self.observations = tuple(observations)
        return _dedupe(candidates)


_NOTATIONS: Final[dict[str, Callable[[str], bytes]]] = {
    "dhclient": from_dhclient_value,
    "hex": from_udhcpc_hex,
}


def read_drop_file(path: str | os.PathLike[str]) -> tuple[DhcpFamily, str, bytes | None]:
    """The family, interface and option octets (``None``: the lease has no option) of a drop
    file; anything malformed raises :class:`~sztp_client.errors.DataError`."""
    raw = _read_bounded(os.fspath(path), MAX_DROP_FILE_BYTES)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{os.fspath(path)} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DataError(f"{os.fspath(path)} is not a JSON object")
    if document.get("version") != DROP_FILE_VERSION:
        raise DataError(f"{os.fspath(path)} has version {document.get('version')!r}, not 1")
    interface = document.get("interface")
    family_text = document.get("family")
    if not isinstance(interface, str) or not interface:
        raise DataError(f"{os.fspath(path)} names no interface")
    if family_text not in ("dhcpv4", "dhcpv6"):
        raise DataError(f"{os.fspath(path)} has family {family_text!r}, not dhcpv4 or dhcpv6")
    value = document.get("value")
    if value is None or value == "":
        return DhcpFamily(family_text), interface, None
    notation = document.get("notation")
    if not isinstance(value, str) or notation not in _NOTATIONS:
        raise DataError(f"{os.fspath(path)} has notation {notation!r}, not dhclient or hex")
    return DhcpFamily(family_text), interface, _NOTATIONS[notation](value)


# ---------------------------------------------------------------------------------------------
# the client's own query


class QuerySource(_Recorder):
    """Ask the DHCP server on each interface for the SZTP option (R-096..R-098).

    ``timeout`` bounds the wait on each interface (seconds); ``attempts`` how many times the
    request is sent within it.  ``interfaces`` ``None``: every up, non-loopback interface.
    """

    def __init__(
        self,
        family: DhcpFamily | str,
        interfaces: Sequence[str] | None = None,
        *,
        timeout: float = 3.0,
        attempts: int = 2,
    ) -> None:
        super().__init__(family)
        self.interfaces = tuple(interfaces) if interfaces else None
        self.timeout = timeout
        self.attempts = max(1, attempts)

    def detect(self) -> bool:
        return bool(_interfaces(self.interfaces))

    def fetch(self) -> Sequence[ServerCandidate]:
        observations: list[Observation] = []
        candidates: list[ServerCandidate] = []
        for interface in _interfaces(self.interfaces):
            if self.family is DhcpFamily.V4:
                origin, payload, error = query_v4(interface, self.timeout, self.attempts)
            else:
                origin, payload, error = query_v6(interface, self.timeout, self.attempts)
            if error is not None:
                observations.append(Observation(origin, interface, error=error))
                continue
            observation, found = self._observe_payload(origin, interface, payload)
            observations.append(observation)
            candidates.extend(found)
        self.observations = tuple(observations)
        return _dedupe(candidates)


def _ifreq(sock: socket.socket, request: int, interface: str) -> bytes:
    name = interface.encode("ascii", "replace")[:15]
    return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name))


def interface_mac(interface: str) -> bytes:
    """The interface's hardware address, read with an ioctl (sysfs follows the mount namespace,
    not the network namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return _ifreq(sock, _SIOCGIFHWADDR, interface)[18:24]


def interface_ipv4(interface: str) -> bytes | None:
    """The interface's first IPv4 address (4 octets), or ``None`` when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            return _ifreq(sock, _SIOCGIFADDR, interface)[20:24]
        except OSError:
            return None


def build_v4_request(
    xid: bytes, mac: bytes, ciaddr: bytes | None, *, code: int = OPTION_V4_SZTP_REDIRECT
) -> bytes:
    """A DHCPINFORM (``ciaddr`` given) or DHCPDISCOVER with the broadcast flag, requesting the
    SZTP option, the DNS domains (15, 119) and the usual network parameters."""
    kind = _V4_TYPE_INFORM if ciaddr else _V4_TYPE_DISCOVER
    header = struct.pack(
        "!BBBB4sHH4s4s4s4s16s64s128s",
        1, 1, 6, 0, xid, 0, 0x8000,
        ciaddr or bytes(4), bytes(4), bytes(4), bytes(4),
        mac.ljust(16, b"\0"), b"", b"",
    )  # fmt: skip
    requested = bytes([1, 3, 6, 15, 119, code])
    options = (
        bytes([53, 1, kind])
        + bytes([55, len(requested)])
        + requested
        + bytes([57, 2])
        + (1500).to_bytes(2, "big")
        + bytes([61, 7, 1])
        + mac
        + b"\xff"
    )
    return header + _DHCP_MAGIC + options


def parse_v4_reply(
    packet: bytes, xid: bytes, expected: int, *, code: int = OPTION_V4_SZTP_REDIRECT
) -> bytes | bool | None:
    """``False`` when ``packet`` is not the answer awaited; otherwise the joined SZTP option
    instances (RFC 3396; ``None`` when absent).  Raises DataError for a malformed answer."""
    if len(packet) < 240 or packet[0] != 2 or packet[4:8] != xid or packet[236:240] != _DHCP_MAGIC:
        return False
    options, file_field, sname = packet[240:], packet[108:236], packet[44:108]
    types = v4_option_instances(options, code=53)
    if not types or types[0] != bytes([expected]):
        return False
    overload = v4_option_instances(options, code=52)
    areas = [options]
    if overload and overload[0] and overload[0][0] in (1, 3):
        areas.append(file_field)
    if overload and overload[0] and overload[0][0] in (2, 3):
        areas.append(sname)
    instances = v4_option_instances(*areas, code=code)
    if not instances:
        return None
    return b"".join(instances)


def query_v4(
    interface: str, timeout: float = 3.0, attempts: int = 2
) -> tuple[str, bytes | None, str | None]:
    """Send DHCPINFORM (when ``interface`` has an IPv4 address) or DHCPDISCOVER on it and wait
    up to ``timeout`` seconds for the ACK or OFFER.  Returns the origin, the option octets
    (``None``: the answer has no option) and an error text (``None`` when answered)."""
    try:
        mac = interface_mac(interface)
    except OSError as exc:
        return f"DHCPv4 query on {interface}", None, f"no hardware address: {exc.strerror}"
    ciaddr = interface_ipv4(interface)
    what = "DHCPINFORM" if ciaddr else "DHCPDISCOVER"
    origin = f"{what} on {interface}"
    expected = _V4_TYPE_ACK if ciaddr else _V4_TYPE_OFFER
    xid = secrets.token_bytes(4)
    request = build_v4_request(xid, mac, ciaddr)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        return origin, None, f"no UDP socket: {exc.strerror}"
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode() + b"\0")
            sock.bind(("", 68))
        except OSError as exc:
            return origin, None, f"cannot bind the DHCP client port: {exc.strerror}"

        def send() -> None:
            sock.sendto(request, ("255.255.255.255", 67))

        def accept(packet: bytes) -> bytes | bool | None:
            return parse_v4_reply(packet, xid, expected)

        return _exchange(sock, send, accept, origin=origin, timeout=timeout, attempts=attempts)


def build_v6_request(
    transaction: bytes, mac: bytes, *, code: int = OPTION_V6_SZTP_REDIRECT
) -> bytes:
    """A DHCPv6 Information-Request with a DUID-LL client identifier, the elapsed time and an
    option request option naming the SZTP option and the DNS options (23, 24)."""

    def option(number: int, value: bytes) -> bytes:
        return struct.pack("!HH", number, len(value)) + value

    duid = struct.pack("!HH", 3, 1) + mac
    oro = struct.pack("!HHH", code, 23, 24)
    return (
        bytes([_V6_INFORMATION_REQUEST])
        + transaction
        + option(1, duid)
        + option(6, oro)
        + option(8, b"\0\0")
    )


def parse_v6_reply(
    packet: bytes, transaction: bytes, *, code: int = OPTION_V6_SZTP_REDIRECT
) -> bytes | bool | None:
    """Like :func:`parse_v4_reply` for a DHCPv6 Reply; several instances are joined."""
    if len(packet) < 4 or packet[0] != _V6_REPLY or packet[1:4] != transaction:
        return False
    instances = v6_option_instances(packet[4:], code=code)
    if not instances:
        return None
    return b"".join(instances)


def query_v6(
    interface: str, timeout: float = 3.0, attempts: int = 2
) -> tuple[str, bytes | None, str | None]:
    """Send a DHCPv6 Information-Request on ``interface`` to All_DHCP_Relay_Agents_and_Servers
    and wait up to ``timeout`` seconds for the Reply (see :func:`query_v4` for the result)."""
    origin = f"DHCPv6 Information-Request on {interface}"
    try:
        mac = interface_mac(interface)
        index = socket.if_nametoindex(interface)
    except OSError as exc:
        return origin, None, f"no such interface: {exc.strerror or exc}"
    transaction = secrets.token_bytes(3)
    request = build_v6_request(transaction, mac)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError as exc:
        return origin, None, f"no UDP socket: {exc.strerror}"
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode() + b"\0")
            sock.bind(("::", 546, 0, 0))
        except OSError as exc:
            return origin, None, f"cannot bind the DHCPv6 client port: {exc.strerror}"

        def send() -> None:
            sock.sendto(request, (_V6_ALL_SERVERS, 547, 0, index))

        def accept(packet: bytes) -> bytes | bool | None:
            return parse_v6_reply(packet, transaction)

        return _exchange(sock, send, accept, origin=origin, timeout=timeout, attempts=attempts)


def _exchange(
    sock: socket.socket,
    send: Callable[[], None],
    accept: Callable[[bytes], bytes | bool | None],
    *,
    origin: str,
    timeout: float,
    attempts: int,
) -> tuple[str, bytes | None, str | None]:
    deadline = time.monotonic() + timeout
    interval = timeout / attempts
    sent = 0
    next_send = time.monotonic()
    last_error = "no answer"
    while True:
        now = time.monotonic()
        if now >= deadline:
            return origin, None, f"{last_error} within {timeout:g} s"
        if sent < attempts and now >= next_send:
            try:
                send()
            except OSError as exc:
                last_error = f"sending failed ({exc.strerror})"
            sent += 1
            next_send = now + interval
        wait = min(deadline, next_send if sent < attempts else deadline) - time.monotonic()
        readable, _, _ = select.select([sock], [], [], max(0.0, wait))
        if not readable:
            continue
        try:
            packet = sock.recv(65536)
        except OSError:
            continue
        try:
            result = accept(packet)
        except DataError as exc:
            last_error = f"a malformed answer ({exc})"
            continue
        if result is False:
            continue
        assert result is not True
        return origin, result, None


# ---------------------------------------------------------------------------------------------
# one source per family


@dataclass
class DhcpSource:
    """Drop files, then lease files, then (when ``query``) the own query, for one family; the
    first that names a server gives the servers.  ``observations`` holds what every part
    tried saw.  ``lease_globs`` ``()`` reads no lease file; ``interfaces`` ``()``/``None``:
    every up, non-loopback interface for the query, any interface for files."""

    family: DhcpFamily | str
    interfaces: Sequence[str] | None = None
    lease_globs: Sequence[str] = DEFAULT_LEASE_GLOBS
    drop_dir: str | os.PathLike[str] = DEFAULT_DROP_DIR
    query: bool = True
    timeout: float = 3.0
    observations: tuple[Observation, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        self.family = DhcpFamily(self.family)
        self.parts: list[DropFileSource | LeaseFileSource | QuerySource] = [
            DropFileSource(self.family, self.drop_dir, self.interfaces),
            LeaseFileSource(self.family, self.lease_globs, self.interfaces),
        ]
        if self.query:
            self.parts.append(QuerySource(self.family, self.interfaces, timeout=self.timeout))

    @property
    def name(self) -> str:
        return str(self.family)

    def detect(self) -> bool:
        return any(part.detect() for part in self.parts)

    def fetch(self) -> Sequence[ServerCandidate]:
        seen: list[Observation] = []
        try:
            for part in self.parts:
                if not part.detect():
                    continue
                found = part.fetch()
                seen.extend(part.observations)
                if found:
                    return found
            return []
        finally:
            self.observations = tuple(seen)


# ---------------------------------------------------------------------------------------------
# the discovery interface (sztp_client.discovery.sources)


@dataclass
class DhcpDiscovery:
    """:class:`DhcpSource` as a discovery source: one finding per origin it looked at."""

    source: DhcpSource

    @property
    def kind(self) -> str:
        return str(self.source.family)

    def discover(self) -> Sequence[Finding]:
        found = tuple(self.source.fetch()) if self.source.detect() else ()
        findings: list[Finding] = []
        for observation in self.source.observations:
            servers = found if observation.servers and found else ()
            found = () if servers else found  # the servers belong to the origin that named them
            origin = observation.origin
            if observation.interface and observation.interface not in origin:
                origin = f"{origin} ({observation.interface})"
            findings.append(
                Finding(
                    self.kind,
                    origin,
                    servers=servers,
                    rejected=observation.rejected,
                    error=None if servers else observation.error,
                )
            )
        if found:
            findings.append(Finding(self.kind, "DHCP", servers=found))
        return findings

    def release(self) -> None:
        return None


def _builder(family: DhcpFamily) -> Callable[[DiscoveryContext], Sequence[DhcpDiscovery]]:
    def build(context: DiscoveryContext) -> Sequence[DhcpDiscovery]:
        dhcp = context.config.discovery.dhcp
        source = DhcpSource(
            family,
            interfaces=context.interfaces or None,
            lease_globs=dhcp.lease_files,
            drop_dir=dhcp.drop_dir,
            query=dhcp.query,
        )
        return [DhcpDiscovery(source)]

    return build


BUILDERS: dict[str, Builder] = {
    "dhcpv4": _builder(DhcpFamily.V4),
    "dhcpv6": _builder(DhcpFamily.V6),
}
