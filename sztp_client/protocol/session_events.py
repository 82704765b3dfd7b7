"""The session machine's vocabulary: sources, the events the executor feeds it, the actions it
asks for, its states and the decision events of its choice states.

The rules are in :mod:`sztp_client.protocol.session`; the executor speaks these names.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from sztp_client.protocol import onboarding_events as m

if TYPE_CHECKING:  # the records' field types only
    from pathlib import Path

    from cryptography import x509

    from sztp_client.errors import SZTPError
    from sztp_client.model.rpc import GetBootstrappingDataInput, GetBootstrappingDataOutput
    from sztp_client.model.server_uri import ServerEndpoint
    from sztp_client.protocol.outcome import RunOutcome
    from sztp_client.trust.hops import ServerTrust
    from sztp_client.trust.sources import SourceKind
    from sztp_client.trust.verifier import Artifacts

# --- sources --------------------------------------------------------------------------------


class ServerCandidate(msgspec.Struct, frozen=True):
    """A bootstrap server a source named; ``anchors`` empty: no anchor, provisional."""

    endpoint: ServerEndpoint
    anchors: tuple[x509.Certificate, ...] = ()


class DeliveredData(msgspec.Struct, frozen=True):
    """Bootstrapping data a source handed over itself (DNS TXT records, a removable medium).

    It is verified as data from ``source`` (what that kind may deliver unsigned is decided in
    :mod:`sztp_client.trust.sources`); ``medium`` is the root of the medium it came from, the
    only place a ``file:`` boot-image URI in it may resolve.
    """

    artifacts: Artifacts
    source: SourceKind
    origin: str
    medium: Path | None = None


#: what a source yields, in the order to try: servers to contact, data to process
Candidate = ServerCandidate | DeliveredData


class Source(Protocol):
    """Where bootstrap servers or bootstrapping data come from (RFC 8572 §4).

    ``detect`` is cheap (is this source present at all?); ``fetch`` does the real work and
    yields the servers to try and the data to process, in order.  The executor calls both;
    the session only orders.  ``summary`` (optional) says what the last fetch saw, for the
    message of a pass that found nothing.
    """

    @property
    def name(self) -> str: ...

    def detect(self) -> bool: ...

    def fetch(self) -> Sequence[Candidate]: ...


class WellKnownServers(msgspec.Struct, frozen=True):
    """The configured well-known bootstrap servers, with the configured anchors (R-004)."""

    endpoints: tuple[ServerEndpoint, ...]
    anchors: tuple[x509.Certificate, ...] = ()
    name: str = "configured"

    def detect(self) -> bool:
        return bool(self.endpoints)

    def fetch(self) -> Sequence[ServerCandidate]:
        return [ServerCandidate(endpoint, self.anchors) for endpoint in self.endpoints]


# --- events: what the executor observed ------------------------------------------------------


class Begin(msgspec.Struct, frozen=True):
    """A pass starts."""


class SourceFetched(msgspec.Struct, frozen=True):
    """``servers``: the candidates, servers and delivered data; ``summary``: what the source
    saw when it yielded nothing usable (for the message of a pass that found nothing)."""

    servers: tuple[Candidate, ...]
    summary: str = ""


class SourceAbsent(msgspec.Struct, frozen=True):
    reason: str = ""


class Resolved(msgspec.Struct, frozen=True):
    """The addresses of the server, in order, and a fresh nonce for each (R-058)."""

    addresses: tuple[str, ...]
    nonces: tuple[bytes, ...]


class ResolveFailed(msgspec.Struct, frozen=True):
    error: SZTPError


class DataReceived(msgspec.Struct, frozen=True):
    output: GetBootstrappingDataOutput


class RequestFailed(msgspec.Struct, frozen=True):
    error: SZTPError


class ActionFailed(msgspec.Struct, frozen=True):
    """Carrying out an onboarding action raised: this server's data is done with."""

    error: SZTPError


Event = (
    Begin
    | SourceFetched
    | SourceAbsent
    | Resolved
    | ResolveFailed
    | DataReceived
    | RequestFailed
    | ActionFailed
    | m.Event
)

# --- actions: what the executor must do ------------------------------------------------------


class FetchSource(msgspec.Struct, frozen=True):
    source: Source


class Resolve(msgspec.Struct, frozen=True):
    host: str
    port: int


class AttemptStarted(msgspec.Struct, frozen=True):
    """``address`` is ``-`` for delivered data; ``medium`` the root of the medium it came from."""

    source: str
    server: str
    address: str
    trusted: bool
    hop: int
    medium: Path | None = None


class AttemptEnded(msgspec.Struct, frozen=True):
    """``outcome`` is a :class:`RunOutcome` value or ``error``."""

    outcome: str
    error: SZTPError | None = None


class Request(msgspec.Struct, frozen=True):
    """Connect to ``address`` with ``trust`` and POST ``body``; answer DataReceived or
    RequestFailed.  On DataReceived the connection stays open (for reports) until
    :class:`Disconnect`."""

    endpoint: ServerEndpoint
    server: str
    address: str
    trust: ServerTrust
    body: GetBootstrappingDataInput


class Disconnect(msgspec.Struct, frozen=True):
    """Close the connection of the last :class:`Request` that received data."""


class VerifyData(msgspec.Struct, frozen=True):
    """Verify the artifacts (§5.4); answer Verified or VerificationFailed."""

    artifacts: Artifacts
    source: SourceKind
    nonce: bytes | None


class Notice(msgspec.Struct, frozen=True):
    text: str


class PassEnded(msgspec.Struct, frozen=True):
    outcome: RunOutcome
    error: SZTPError | None


Action = (
    FetchSource
    | Resolve
    | AttemptStarted
    | AttemptEnded
    | Request
    | Disconnect
    | VerifyData
    | Notice
    | PassEnded
    | m.Action
)


class SessionState(enum.StrEnum):
    IDLE = "idle"
    NEXT_SOURCE = "next-source"
    FETCHING = "fetching"
    NEXT_SERVER = "next-server"
    RESOLVING = "resolving"
    NEXT_ADDRESS = "next-address"
    REQUESTING = "requesting"
    ONBOARDING = "onboarding"
    SERVER_DONE = "server-done"
    SERVERS_DONE = "servers-done"
    DONE = "done"


# decisions taken in choice states: internal events, never fed from outside
class Another(msgspec.Struct, frozen=True):
    """There is one more (source, server, address) to try."""


class NoneLeft(msgspec.Struct, frozen=True):
    """Nothing more to try here."""


class Skipped(msgspec.Struct, frozen=True):
    """This server is not tried (an unusable redirect anchor)."""


class BoundReached(msgspec.Struct, frozen=True):
    """The redirect-address bound is reached: this server (or list) ends failed."""


class OnboardingEnded(msgspec.Struct, frozen=True):
    """The onboarding machine finished (with a redirect to follow or not)."""


class Redirected(msgspec.Struct, frozen=True):
    """Follow the redirect: a new list of servers one hop further."""


class Delivered(msgspec.Struct, frozen=True):
    """The next candidate is data a source delivered: process it without a server."""


class Final(msgspec.Struct, frozen=True):
    """A server completed or is rebooting: the pass ends."""


class SourceListEnded(msgspec.Struct, frozen=True):
    """A source's list of servers ended."""


class RedirectListEnded(msgspec.Struct, frozen=True):
    """A redirect's list of servers ended: the server that redirected ends with it."""


INTERNAL_TYPES = (
    Another,
    NoneLeft,
    Skipped,
    BoundReached,
    Delivered,
    OnboardingEnded,
    Redirected,
    Final,
    SourceListEnded,
    RedirectListEnded,
)


__all__ = [
    "INTERNAL_TYPES",
    "Action",
    "ActionFailed",
    "Another",
    "AttemptEnded",
    "AttemptStarted",
    "Begin",
    "BoundReached",
    "Candidate",
    "DataReceived",
    "Delivered",
    "DeliveredData",
    "Disconnect",
    "Event",
    "FetchSource",
    "Final",
    "NoneLeft",
    "Notice",
    "OnboardingEnded",
    "PassEnded",
    "RedirectListEnded",
    "Redirected",
    "Request",
    "RequestFailed",
    "Resolve",
    "ResolveFailed",
    "Resolved",
    "ServerCandidate",
    "SessionState",
    "Skipped",
    "Source",
    "SourceAbsent",
    "SourceFetched",
    "SourceListEnded",
    "VerifyData",
    "WellKnownServers",
]
