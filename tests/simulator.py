"""An in-memory bootstrap server network for fast tests of the session walk (no sockets).

:class:`Simulator` stands in for DNS and the RESTCONF transport: ``resolve`` and ``factory``
are what the runner's executor is given instead of the real resolver and RestconfClient.
Each :class:`SimulatedServer` serves lab artifacts (``sztp_lab`` makes them), records every
request it was sent, byte for byte, with the trust decision it came with, and injects
failures: a connect error per address, an HTTP error or media-type refusal for
get-bootstrapping-data, a rejection per progress type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sztp_client.errors import ConnectError, ReportRejectedError, SZTPError
from sztp_client.model.rpc import (
    GetBootstrappingDataInput,
    GetBootstrappingDataOutput,
    ReportingLevel,
    ReportProgressInput,
)
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.progress import ProgressType
from sztp_client.trust.hops import ServerTrust
from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import SignedSet


@dataclass(frozen=True, slots=True)
class Sent:
    """One request a simulated server received."""

    operation: str  # "get-bootstrapping-data" or "report-progress"
    host: str
    address: str
    trusted: bool
    body: bytes
    progress_type: ProgressType | None = None


@dataclass
class SimulatedServer:
    host: str
    port: int = 443
    addresses: tuple[str, ...] = ("192.0.2.1",)
    output: GetBootstrappingDataOutput | None = None
    error: SZTPError | None = None  # raised for get-bootstrapping-data (an HTTP error ...)
    connect_errors: set[str] = field(default_factory=set)
    report_errors: dict[ProgressType, int] = field(default_factory=dict)  # type -> HTTP status
    resolve_error: bool = False
    sent: list[Sent] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def requests(self, operation: str = "get-bootstrapping-data") -> list[Sent]:
        return [s for s in self.sent if s.operation == operation]

    def reports(self) -> list[ProgressType]:
        return [s.progress_type for s in self.sent if s.progress_type is not None]


class Simulator:
    """The servers by (host, port), and every request in the order the servers saw them."""

    def __init__(self) -> None:
        self.servers: dict[tuple[str, int], SimulatedServer] = {}
        self.log: list[Sent] = []
        self.closed = 0
        self.connects: list[str] = []

    def add(self, host: str, port: int = 443, **kwargs: object) -> SimulatedServer:
        server = SimulatedServer(host, port, **kwargs)  # type: ignore[arg-type]
        self.servers[(host, port)] = server
        return server

    def resolve(self, host: str, port: int) -> list[str]:
        server = self.servers.get((host, port))
        if server is None or server.resolve_error:
            raise ConnectError(f"cannot resolve the host name {host!r}: unknown")
        return list(server.addresses)

    def factory(self, endpoint: ServerEndpoint, address: str, trust: ServerTrust) -> Connection:
        server = self.servers[(endpoint.host, endpoint.port)]
        self.connects.append(address)
        return Connection(self, server, address, trust)


@dataclass
class Connection:
    """One connection to one address, with the hop's trust decision (a BootstrapServer)."""

    simulator: Simulator
    server: SimulatedServer
    address: str
    trust: ServerTrust

    def _record(self, sent: Sent) -> None:
        self.server.sent.append(sent)
        self.simulator.log.append(sent)

    def get_bootstrapping_data(
        self, request: GetBootstrappingDataInput
    ) -> GetBootstrappingDataOutput:
        if self.address in self.server.connect_errors:
            raise ConnectError(f"cannot connect to {self.server.url} ({self.address}): refused")
        self._record(
            Sent(
                "get-bootstrapping-data",
                self.server.host,
                self.address,
                self.trust.trusted,
                request.to_json(),
            )
        )
        if self.server.error is not None:
            raise self.server.error
        if self.server.output is None:
            raise ConnectError(f"{self.server.url}: nothing configured to serve")
        return self.server.output

    def report_progress(self, report: ReportProgressInput) -> None:
        if not self.trust.may_report:
            raise ValueError("progress reports never go to an untrusted bootstrap server")
        self._record(
            Sent(
                "report-progress",
                self.server.host,
                self.address,
                self.trust.trusted,
                report.to_json(),
                report.progress_type,
            )
        )
        status = self.server.report_errors.get(report.progress_type)
        if status is not None:
            raise ReportRejectedError(f"report-progress: HTTP {status}", status=status)

    def close(self) -> None:
        self.simulator.closed += 1


def unsigned(
    conveyed: bytes, level: ReportingLevel = ReportingLevel.MINIMAL
) -> GetBootstrappingDataOutput:
    """Unsigned conveyed information (JSON), as a trusted server may send it."""
    return GetBootstrappingDataOutput(lab_cms.content_info("json", conveyed), reporting_level=level)


def signed(
    artifacts: SignedSet, level: ReportingLevel = ReportingLevel.MINIMAL
) -> GetBootstrappingDataOutput:
    return GetBootstrappingDataOutput(
        artifacts.conveyed_information,
        artifacts.owner_certificate,
        artifacts.ownership_voucher,
        reporting_level=level,
    )


def addresses_tried(log: Iterable[Sent]) -> list[str]:
    return [s.address for s in log if s.operation == "get-bootstrapping-data"]
