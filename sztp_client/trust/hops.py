"""Trust across redirect hops: the one owner of what a bootstrap server is trusted with.

A :class:`HopTrust` holds one hop's trust anchors, whether the hop is trusted (its server
authenticated by TLS, R-059), the nonce sent to it and the hop count.  It decides, once, what
the server may be sent (an untrusted server gets only ``signed-data-preferred`` and a nonce:
no device details, no HTTP Basic credentials, no progress reports, D18, R-092), and it makes
the next hop from a redirect: a redirect target's trust anchor is adopted only when the
redirect came from a trusted server or was signed and verified (R-059..R-061); otherwise the
next hop is provisional (R-026).  Misuse — a request without a nonce, a redirect that did not
come from this hop's verified data, a hop past the limit — raises :class:`HopTrustError`.

No I/O: nonces come from the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec
from cryptography import x509

from sztp_client.errors import EncodingError, InternalError
from sztp_client.limits import MIB
from sztp_client.model.rpc import GetBootstrappingDataInput
from sztp_client.trust.sources import SourceKind
from sztp_client.trust.verifier import VerifiedData

if TYPE_CHECKING:
    from sztp_client.model.conveyed import BootstrapServer

#: largest trust-anchor bag unwrapped (D19: trust-anchor artifacts 1 MiB)
MAX_TRUST_ANCHOR = MIB


class HopTrustError(InternalError):
    """The trust owner was used out of order (a bug in the caller, never the server's)."""


class DeviceDetails(msgspec.Struct, frozen=True):
    """What a trusted server may learn about the device in get-bootstrapping-data."""

    hw_model: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    #: offer RFC 9646 certificate requests (sent to trusted servers only)
    csr_support: bool = False


class ServerTrust(msgspec.Struct, frozen=True):
    """The decision for one connection, given to the transport factory: authenticate the server
    to ``anchors`` when ``trusted``; ``may_report`` and ``may_send_credentials`` follow it."""

    trusted: bool
    anchors: tuple[x509.Certificate, ...] = ()

    @property
    def may_report(self) -> bool:
        """Progress reports go only to a trusted server (R-066, D18)."""
        return self.trusted

    @property
    def may_send_credentials(self) -> bool:
        """HTTP Basic credentials go only to a trusted server (R-092, D18)."""
        return self.trusted


class HopTrust(msgspec.Struct):
    """One hop of a pass.  ``anchors`` None: no anchor for this server, a provisional hop."""

    anchors: tuple[x509.Certificate, ...] | None
    hop: int = 0
    max_hops: int = 0
    nonce: bytes | None = None
    #: set for data a source delivered itself (DNS, removable media): no server, no nonce
    delivered_by: SourceKind | None = None

    @classmethod
    def first(cls, anchors: Sequence[x509.Certificate], *, max_hops: int) -> HopTrust:
        """A configured server: trusted when anchors were configured for it."""
        return cls(tuple(anchors) or None, hop=0, max_hops=max_hops)

    @classmethod
    def delivered(cls, source: SourceKind, *, max_hops: int) -> HopTrust:
        """Data a source handed over itself: never trusted, verified as data from ``source``."""
        if source.trusted:
            raise HopTrustError("only a bootstrap server reached over TLS can be trusted")
        return cls(None, hop=0, max_hops=max_hops, delivered_by=source)

    @property
    def trusted(self) -> bool:
        return self.anchors is not None

    @property
    def decision(self) -> ServerTrust:
        return ServerTrust(self.trusted, self.anchors or ())

    @property
    def source(self) -> SourceKind:
        if self.delivered_by is not None:
            return self.delivered_by
        return SourceKind.TRUSTED_SERVER if self.trusted else SourceKind.UNTRUSTED_SERVER

    def request(self, nonce: bytes, details: DeviceDetails) -> GetBootstrappingDataInput:
        """The get-bootstrapping-data input for this hop, recording ``nonce`` as sent (D18)."""
        if not nonce:
            raise HopTrustError("every get-bootstrapping-data request carries a nonce")
        self.nonce = nonce
        if not self.trusted:
            return GetBootstrappingDataInput(signed_data_preferred=True, nonce=nonce)
        return GetBootstrappingDataInput(
            hw_model=details.hw_model,
            os_name=details.os_name,
            os_version=details.os_version,
            nonce=nonce,
            csr_support=details.csr_support,
        )

    def credentials(self, basic_auth: tuple[str, str] | None) -> tuple[str, str] | None:
        return basic_auth if self.decision.may_send_credentials else None

    @property
    def may_follow(self) -> bool:
        """Whether one more redirect hop is allowed (D16)."""
        return self.hop < self.max_hops

    def redirect_trusted(self, data: VerifiedData) -> bool:
        """A redirect may hand over anchors when this hop is trusted or the data was signed."""
        return self.trusted or data.signed

    def next_hop(self, data: VerifiedData, target: BootstrapServer) -> HopTrust:
        """The hop to ``target``, one of the servers of ``data``'s redirect information.

        Its anchor is adopted only when the redirect was trusted or signed (R-059, R-060);
        without an anchor, or from an untrusted unsigned redirect, the hop is provisional
        (R-061, R-026).  Raises :class:`EncodingError` for an unusable anchor bag.
        """
        from sztp_client.model.conveyed import RedirectInformation  # noqa: PLC0415 - with data

        if not isinstance(data, VerifiedData):
            raise HopTrustError("a redirect is followed only from verified data")
        info = data.conveyed_information
        if not isinstance(info, RedirectInformation) or target not in info.bootstrap_servers:
            raise HopTrustError("the redirect target is not in this hop's redirect information")
        if self.nonce is None and self.delivered_by is None:
            raise HopTrustError("no request was sent at this hop; its data cannot redirect")
        if not self.may_follow:
            raise HopTrustError(f"the hop limit of {self.max_hops} is reached")
        anchors = None
        if self.redirect_trusted(data) and target.trust_anchor is not None:
            anchors = anchors_from_bag(target.trust_anchor)
        return HopTrust(anchors, hop=self.hop + 1, max_hops=self.max_hops)


def anchors_from_bag(data: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a redirect's trust-anchor CMS (degenerate SignedData)."""
    from sztp_client.trust import cms  # noqa: PLC0415 - loaded with the verification pipeline

    unwrapped = cms.unwrap(data, "trust-anchor", max_size=MAX_TRUST_ANCHOR)
    if not isinstance(unwrapped, cms.Signed) or not unwrapped.signed.certificates:
        raise EncodingError("trust-anchor: not a SignedData holding certificates")
    return unwrapped.signed.certificates


__all__ = [
    "DeviceDetails",
    "HopTrust",
    "HopTrustError",
    "ServerTrust",
    "anchors_from_bag",
]
