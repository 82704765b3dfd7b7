"""The network interfaces discovery asks on, and what the kernel says of each.

Two views of "every interface in use", each kept for its source: :func:`up_interfaces` (the DNS
sources' multicast queries) asks the kernel by ioctl which are up and not loopback;
:func:`default_interfaces` (the DHCP query) reads each one's flags in sysfs and, where sysfs
belongs to another network namespace, keeps the interface so that the query itself finds out.
:func:`interface_mac` and :func:`interface_ipv4` are what the DHCP query puts in its request.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path
from typing import Final

_SIOCGIFFLAGS: Final = 0x8913
_SIOCGIFADDR: Final = 0x8915
_SIOCGIFHWADDR: Final = 0x8927
_IFF_UP: Final = 0x1
_IFF_LOOPBACK: Final = 0x8


def up_interfaces() -> tuple[str, ...]:
    """The names of the interfaces that are up and not loopback, in index order (asked of the
    kernel by ioctl: /sys follows the mount namespace, not the network namespace)."""
    names: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = struct.pack("16sH14x", name.encode()[:15], 0)
            try:
                reply = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)
            except OSError:
                continue
            flags = struct.unpack("16sH14x", reply)[1]
            if flags & _IFF_UP and not flags & _IFF_LOOPBACK:
                names.append(name)
    return tuple(names)


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
