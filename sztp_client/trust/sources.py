"""What each kind of source may deliver (RFC 8572 §4, §5.3; R-023, R-025, R-102, R-109, R-111).

One pure rule: a trusted bootstrap server (its TLS certificate validated to a configured trust
anchor or to one learned from a verified redirect) may deliver anything; every other source,
removable storage, DHCP, DNS and a bootstrap server reached provisionally alike, may deliver
only signed data or unsigned redirect information.  Signed data is acted on only after it has
passed every verification step, whichever source it came from (R-027).
"""

from __future__ import annotations

import enum

from sztp_client.errors import SourceTrustError


class SourceKind(enum.StrEnum):
    REMOVABLE_STORAGE = "removable-storage"
    DHCP = "dhcp"
    DNS = "dns"
    UNTRUSTED_SERVER = "untrusted-bootstrap-server"
    TRUSTED_SERVER = "trusted-bootstrap-server"

    @property
    def trusted(self) -> bool:
        return self is SourceKind.TRUSTED_SERVER


class InformationKind(enum.StrEnum):
    REDIRECT = "redirect-information"
    ONBOARDING = "onboarding-information"


def may_deliver(source: SourceKind, kind: InformationKind, signed: bool) -> bool:
    """Whether ``source`` may deliver ``kind`` of conveyed information, signed or not."""
    if source.trusted or signed:
        return True
    return kind is InformationKind.REDIRECT


def check_delivery(source: SourceKind, kind: InformationKind, signed: bool) -> None:
    """Raise :class:`SourceTrustError` unless ``source`` may deliver this (R-025)."""
    if not may_deliver(source, kind, signed):
        raise SourceTrustError(
            f"unsigned {kind} from an untrusted source ({source}) is refused: an untrusted "
            "source may deliver only signed data or unsigned redirect information "
            "(RFC 8572 §5.3); sign it with an owner certificate and ship a voucher with it"
        )
