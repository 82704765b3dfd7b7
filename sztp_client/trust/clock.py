"""The clock a verification runs under (D10, R-030, R-115..R-117).

A device at first boot often cannot trust its clock.  Under an *untrusted* clock no validity
period is enforced anywhere (vouchers, owner, signer and TLS certificates alike) and freshness
comes from the nonce.  Under a *trusted* clock every validity period is enforced at ``now``.
The clock is always passed in; nothing here reads the system time.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class Clock(msgspec.Struct, frozen=True):
    trusted: bool
    now: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.trusted and self.now is None:
            raise ValueError("a trusted clock needs the current time")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("the time must be timezone-aware")

    @classmethod
    def trusted_at(cls, now: dt.datetime) -> Clock:
        return cls(trusted=True, now=now)

    @classmethod
    def untrusted(cls) -> Clock:
        return cls(trusted=False, now=None)

    @property
    def mode(self) -> str:
        return "trusted" if self.trusted else "untrusted"

    def trusted_now(self) -> dt.datetime:
        """The current time; only meaningful under a trusted clock."""
        if self.now is None:
            raise ValueError("no time under an untrusted clock")
        return self.now
