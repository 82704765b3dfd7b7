"""Errors of the discovery parsers: data found by a source that cannot be used.

They are :class:`~sztp_client.errors.DataError` subclasses (exit status 65, parsing-error).
Discovery happens before any bootstrap server is known, so in practice they are recorded in
the status, not reported to a server; a ``file:`` boot-image URI leading out of its medium is
met while processing onboarding information and is a boot-image-error.
"""

from __future__ import annotations

from sztp_client.errors import DataError, TransportError
from sztp_client.progress import ProgressType


class DiscoveryError(DataError):
    """What a discovery source delivered is malformed or unusable; the message says why."""


class NothingUsableError(DiscoveryError):
    """A source answered, but nothing in the answer is usable; ``reasons`` says why each
    part was ignored (for the status record)."""

    def __init__(self, message: str, reasons: tuple[str, ...] = ()) -> None:
        shown = "; ".join(reasons[:8]) + ("; ..." if len(reasons) > 8 else "")
        super().__init__(f"{message}: {shown}" if shown else message)
        self.reasons = reasons


class DhcpOptionError(DiscoveryError):
    """A DHCP option value cannot be read in the notation it was handed over in."""


class LeaseFileError(DiscoveryError):
    """A DHCP client's lease file cannot be read at all."""


class DnsRecordError(DiscoveryError):
    """DNS records at one name cannot be used (for example a key in two TXT records)."""


class MediaLayoutError(DiscoveryError):
    """A removable medium's layout is ambiguous or unusable."""


class MediaPathError(DiscoveryError):
    """A ``file:`` URI is malformed or leads outside its medium (boot-image-error)."""

    progress_type = ProgressType.BOOT_IMAGE_ERROR


class DnsQueryError(TransportError):
    """A DNS or multicast DNS query got no usable answer: no reply in time, a malformed or
    oversized reply, or the network refused the query (retryable: the next pass asks again)."""


class MediaMountError(DiscoveryError):
    """A removable medium could not be mounted or unmounted; the message says which command
    failed and what it printed."""
