"""The bounds in bytes of the bodies the transport reads from a bootstrap server (D19).

Derived from the configuration's :class:`~sztp_client.limits.Limits` by
:meth:`TransportLimits.of`; the transport alone uses them, so they are a struct here and not
one more record of :mod:`sztp_client.limits`, which ``status`` loads without msgspec.
"""

from __future__ import annotations

from typing import Final

import msgspec

from sztp_client.limits import Limits
from sztp_client.units import KIB

#: bytes of a reply to report-progress (its body is empty or a small error document)
REPORT_REPLY_BYTES: Final = 64 * KIB


class TransportLimits(msgspec.Struct, frozen=True):
    """The bounds of one client's replies; a test may narrow one with
    ``msgspec.structs.replace`` (checked again: none may be negative)."""

    response: int
    error_document: int
    host_meta: int
    report_reply: int = REPORT_REPLY_BYTES

    def __post_init__(self) -> None:
        if min(self.response, self.error_document, self.host_meta, self.report_reply) < 0:
            raise ValueError("size limits must not be negative")

    @classmethod
    def of(cls, limits: Limits) -> TransportLimits:
        return cls(
            response=limits.bootstrapping_data_reply,
            error_document=limits.error_document,
            host_meta=limits.host_meta,
        )


__all__ = ["REPORT_REPLY_BYTES", "TransportLimits"]
