"""The SZTP option as the system's DHCP client left it: lease files and hook drop files
(RFC 8572 §8; R-097, R-098, D9).

* :class:`LeaseFileSource` reads ISC dhclient lease files (also those of NetworkManager's
  dhclient backend) through :mod:`.dhclient_leases`; the current lease of each interface counts.
  :func:`lease_domains` gives the DNS domains of the same leases, which the DNS sources search
  first (D5).
* :class:`DropFileSource` reads the JSON files the hooks shipped in ``hooks/`` write into a
  drop directory (``/run/sztp/dhcp`` by default): one file per interface and family
  (:func:`read_drop_file`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from sztp_client.config import DhcpDiscoveryConfig
from sztp_client.discovery.dhclient_leases import DhcpFamily, parse_lease_file
from sztp_client.discovery.dhcp_observations import (
    MAX_FILES,
    Observation,
    Recorder,
    dedupe,
    expand_globs,
    observe,
    read_dhcp_file,
)
from sztp_client.discovery.dhcp_option import MAX_LIST_BYTES, from_dhclient_value, from_udhcpc_hex
from sztp_client.errors import DataError
from sztp_client.limits import MIB
from sztp_client.protocol.session_events import ServerCandidate

DEFAULT_DROP_DIR: Final = "/run/sztp/dhcp"
#: the lease files read by default: the configuration's default, written once there
DEFAULT_LEASE_GLOBS: Final = DhcpDiscoveryConfig().lease_files
DROP_FILE_VERSION: Final = 1
MAX_DROP_FILE_BYTES: Final = 4 * MAX_LIST_BYTES + 4096


class LeaseFileSource(Recorder):
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
        return bool(expand_globs(self.globs))

    def fetch(self) -> Sequence[ServerCandidate]:
        observations: list[Observation] = []
        candidates: list[ServerCandidate] = []
        for number, path in enumerate(expand_globs(self.globs)):
            origin = f"lease file {path}"
            if number >= MAX_FILES:
                observations.append(Observation(origin, None, error="too many lease files"))
                continue
            try:
                leases = parse_lease_file(
                    read_dhcp_file(path, self.max_file_bytes), max_bytes=self.max_file_bytes
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
                observation, found = observe(origin, lease.interface, decoded)
                if lease.problems and decoded is None:
                    observation = Observation(
                        origin, lease.interface, rejected=lease.problems, error=lease.problems[0]
                    )
                observations.append(observation)
                candidates.extend(found)
        self.observations = tuple(observations)
        return dedupe(candidates)


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
    for path in expand_globs(globs)[:MAX_FILES]:
        try:
            leases = parse_lease_file(
                read_dhcp_file(path, max_file_bytes), max_bytes=max_file_bytes
            )
        except (OSError, DataError):
            continue
        for lease in leases.current():
            if interfaces and lease.interface not in interfaces:
                continue
            found.extend(domain for domain in lease.domains if domain not in found)
    return tuple(found)


class DropFileSource(Recorder):
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
        return expand_globs([str(self.drop_dir / "*.json")])

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
        return dedupe(candidates)


_NOTATIONS: Final[dict[str, Callable[[str], bytes]]] = {
    "dhclient": from_dhclient_value,
    "hex": from_udhcpc_hex,
}


def read_drop_file(path: str | os.PathLike[str]) -> tuple[DhcpFamily, str, bytes | None]:
    """The family, interface and option octets (``None``: the lease has no option) of a drop
    file; anything malformed raises :class:`~sztp_client.errors.DataError`."""
    raw = read_dhcp_file(os.fspath(path), MAX_DROP_FILE_BYTES)
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
