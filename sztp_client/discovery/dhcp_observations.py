"""What one DHCP origin gave (an :class:`Observation`), and the base of the DHCP parts.

The DHCP source of one family is made of three parts (drop files, lease files, the client's own
query, in :mod:`.dhcp_files` and :mod:`.dhcp_query`), each a :class:`Recorder`: its ``fetch``
yields the bootstrap servers the SZTP option named, as provisional candidates (no trust
anchors: DHCP is an untrusted source), and keeps in ``observations`` one :class:`Observation`
per interface and origin it looked at, for the status record and ``sztp-client discover``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import msgspec

from sztp_client.discovery.dhclient_leases import DhcpFamily
from sztp_client.discovery.dhcp_option import BootstrapServerList, decode_v4, decode_v6
from sztp_client.discovery.interfaces import default_interfaces
from sztp_client.errors import DataError
from sztp_client.files import read_bounded
from sztp_client.protocol.session_events import ServerCandidate

MAX_FILES: Final = 256
"""At most this many lease or drop files are read in one fetch; the rest are named as skipped."""


class Observation(msgspec.Struct, frozen=True):
    """What one origin gave: ``origin`` names it (``lease file PATH``, ``drop file PATH``,
    ``DHCPINFORM on eth0`` ...), ``interface`` the interface when known; ``servers`` the
    accepted URIs in order, ``rejected`` each ignored entry with its reason, ``error`` why the
    origin gave nothing usable (``None`` when it gave servers)."""

    origin: str
    interface: str | None
    servers: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    error: str | None = None


def chosen_interfaces(configured: Sequence[str] | None) -> tuple[str, ...]:
    """The configured interfaces, or (none configured) every up, non-loopback one."""
    return tuple(configured) if configured else default_interfaces()


class Recorder:
    """The base of the DHCP parts: one family, and the observations of the latest fetch."""

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
        return observe(origin, interface, decoded)


def observe(
    origin: str, interface: str | None, decoded: BootstrapServerList | None
) -> tuple[Observation, list[ServerCandidate]]:
    """What a decoded option (``None``: no option) gives at ``origin``, and its servers."""
    if decoded is None:
        return Observation(origin, interface, error="no SZTP redirect option"), []
    error = "the option holds no valid bootstrap server URI" if decoded.discarded else None
    observation = Observation(origin, interface, decoded.uris, decoded.reasons, error)
    return observation, [ServerCandidate(endpoint) for endpoint in decoded.endpoints]


def dedupe(candidates: Iterable[ServerCandidate]) -> list[ServerCandidate]:
    """``candidates`` in order, each endpoint once."""
    seen: set[str] = set()
    kept: list[ServerCandidate] = []
    for candidate in candidates:
        key = str(candidate.endpoint)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return kept


def expand_globs(globs: Sequence[str]) -> list[str]:
    """The regular files ``globs`` name, each pattern's sorted, each file once."""
    paths: list[str] = []
    for pattern in globs:
        for path in sorted(glob.glob(pattern)):
            if path not in paths and os.path.isfile(path):
                paths.append(path)
    return paths


def read_dhcp_file(path: str, limit: int) -> bytes:
    """A lease or drop file's octets, at most ``limit``."""
    return read_bounded(Path(path), limit, "the DHCP file")
