"""The wiring of discovery sources: the order of ``discovery.order``, findings, data a source
delivers itself through the session (R-025, R-109, R-111, D1), and the ``discovery.*`` keys."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sztp_client.config import DISCOVERY_KINDS, parse_config
from sztp_client.discovery import sources, wiring
from sztp_client.errors import ConfigurationError, DataError
from sztp_client.model.server_uri import ServerEndpoint
from sztp_client.protocol import onboarding as m
from sztp_client.protocol import session_events as s
from sztp_client.protocol.outcome import RunOutcome
from sztp_client.protocol.session import Session
from sztp_client.trust.sources import SourceKind

SERVER = ServerEndpoint("boot.example", 443)


@dataclass
class FakeSource:
    """A discovery source that yields what it was given and remembers being released."""

    kind: str
    findings: Sequence[sources.Finding]
    released: int = 0
    asked: list[int] = field(default_factory=list)

    def discover(self) -> Sequence[sources.Finding]:
        self.asked.append(1)
        return self.findings

    def release(self) -> None:
        self.released += 1


def _context(text: str = "") -> sources.DiscoveryContext:
    return sources.DiscoveryContext(parse_config(text, Path("/")), "SN-1")


def test_d1_default_order_is_media_dhcp_dns_then_configured() -> None:
    assert _context().config.discovery.order == DISCOVERY_KINDS
    assert DISCOVERY_KINDS == (
        "removable-media",
        "dhcpv4",
        "dhcpv6",
        "mdns-txt",
        "dns-txt",
        "mdns-srv",
        "dns-srv",
        "configured",
    )


def test_sources_built_in_the_configured_order_absent_kinds_kept() -> None:
    context = _context('[discovery]\norder = ["dns-srv", "configured", "dhcpv4"]\n')
    fake = FakeSource("dns-srv", [])
    built = wiring.build_sources(
        context,
        wiring.ConfiguredServers((SERVER,)),
        registry={"dns-srv": lambda ctx: [fake]},
    )
    assert [b.name for b in built] == ["dns-srv", "configured", "dhcpv4"]
    assert built[0].parts == [fake]
    assert not built[2].detect() and "not available" in built[2].summary


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[discovery]\norder = ["usb"]\n', "discovery.order"),
        ('[discovery]\norder = ["dhcpv4", "dhcpv4"]\n', "discovery.order"),
        ('[discovery.media]\ndirectory-name = "a/b"\n', "discovery.media.directory-name"),
        ("[discovery.media]\nmount-command = []\n", "discovery.media.mount-command"),
        ("[discovery.dhcp]\nquery = 1\n", "discovery.dhcp.query"),
        ("[discovery.dns]\ndomain = []\n", "discovery.dns.domain"),
    ],
)
def test_bad_discovery_keys_refused_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config(text, Path("/"))
    assert key in str(info.value)


def test_discovery_keys_read() -> None:
    config = parse_config(
        '[discovery]\ninterfaces = ["eth1"]\n'
        '[discovery.dhcp]\nlease-files = []\ndrop-dir = "/x"\nquery = false\n'
        '[discovery.dns]\ndomains = ["example.com"]\n'
        '[discovery.media]\ndirectory-name = "acme"\ndevices = ["/dev/sd*"]\n'
        'mount-command = ["fusefat", "-o", "ro"]\nunmount-command = ["fusermount", "-u"]\n',
        Path("/"),
    ).discovery
    assert config.interfaces == ("eth1",)
    assert config.dhcp.lease_files == () and config.dhcp.drop_dir == Path("/x")
    assert not config.dhcp.query and config.dns.domains == ("example.com",)
    assert config.media.directory_name == "acme" and config.media.devices == ("/dev/sd*",)
    assert config.media.mount_command == ("fusefat", "-o", "ro")


def test_findings_give_servers_and_delivered_data_labelled_with_the_trust_kind() -> None:
    artifacts = sources.SourceArtifacts(b"ci", b"oc", b"ov", medium=Path("/m"))
    findings = [
        sources.Finding("removable-media", "/dev/sdb1", artifacts=artifacts),
        sources.Finding("removable-media", "/dev/sdc1", error="no sztp folder"),
    ]
    kind = wiring.KindSource("removable-media", [FakeSource("removable-media", findings)])
    [delivered] = kind.fetch()
    assert isinstance(delivered, s.DeliveredData)
    assert delivered.source is SourceKind.REMOVABLE_STORAGE
    assert delivered.medium == Path("/m") and delivered.artifacts.owner_certificate == b"oc"
    assert wiring.record(findings[0])["artifacts"] == [
        "conveyed-information",
        "owner-certificate",
        "ownership-voucher",
    ]
    assert "/dev/sdc1: no sztp folder" in kind.summary


def test_a_part_that_raises_is_a_finding_not_a_crash() -> None:
    class Broken(FakeSource):
        def discover(self) -> Sequence[sources.Finding]:
            raise DataError("the answer is malformed")

    kind = wiring.KindSource("dns-txt", [Broken("dns-txt", [])])
    assert kind.fetch() == ()
    assert kind.findings[0].error == "the answer is malformed"


def _delivered(kind: SourceKind = SourceKind.DNS) -> s.DeliveredData:
    from sztp_client.trust.verifier import Artifacts

    return s.DeliveredData(Artifacts(b"ci", b"oc", b"ov"), kind, "dns-txt:SN-1._sztp.example")


def test_r109_delivered_data_is_verified_as_from_its_source_without_a_server() -> None:
    """Data a source delivers is verified as from that source kind, with no nonce, no
    connection and no reports; its attempt has the address '-'."""
    source = s.WellKnownServers(())
    session = Session([source])
    session.handle(s.Begin())
    started, verify = session.handle(s.SourceFetched((_delivered(),)))
    assert isinstance(started, s.AttemptStarted)
    assert started.address == "-" and not started.trusted
    assert isinstance(verify, s.VerifyData)
    assert verify.source is SourceKind.DNS and verify.nonce is None
    assert verify.artifacts.conveyed_information == b"ci"
    actions = session.handle(m.VerificationFailed(DataError("refused")))
    assert not [a for a in actions if isinstance(a, s.Disconnect | m.SendReport)]
    assert isinstance(actions[-1], s.PassEnded)
    assert actions[-1].outcome is RunOutcome.FAILED


def test_r111_medium_of_delivered_data_goes_with_its_attempt() -> None:
    session = Session([s.WellKnownServers(())])
    session.handle(s.Begin())
    data = s.DeliveredData(_delivered().artifacts, SourceKind.REMOVABLE_STORAGE, "m", Path("/m"))
    started, verify = session.handle(s.SourceFetched((data,)))
    assert isinstance(started, s.AttemptStarted) and started.medium == Path("/m")
    assert isinstance(verify, s.VerifyData) and verify.source is SourceKind.REMOVABLE_STORAGE


def test_a_pass_that_finds_nothing_names_every_source() -> None:
    first, second = s.WellKnownServers((), name="dhcpv4"), s.WellKnownServers((), name="dns-srv")
    session = Session([first, second])
    session.handle(s.Begin())
    session.handle(s.SourceAbsent("eth0: no SZTP redirect option"))
    notice, ended = session.handle(s.SourceFetched((), "no such name"))
    assert notice == s.Notice(
        "no bootstrapping data from any source: dhcpv4: eth0: no SZTP redirect option; "
        "dns-srv: no such name"
    )
    assert ended == s.PassEnded(RunOutcome.NOTHING, None)


_LEASE = (
    "lease {\n"
    '  interface "eth0";\n'
    "  fixed-address 192.0.2.20;\n"
    '  option domain-name "lab.example";\n'
    '  option domain-search "lab.example.", "corp.example.";\n'
    "}\n"
)


def test_dns_kinds_search_the_domains_of_the_dhcp_lease_first(tmp_path: Path) -> None:
    """D5, R-105: the domains of the current DHCP lease come before resolv.conf's and the
    configured ones; they reach the DNS builders through the discovery context."""
    (tmp_path / "dhclient.eth0.leases").write_text(_LEASE)
    config = parse_config(
        '[discovery]\norder = ["dns-srv", "configured"]\n'
        f'[discovery.dhcp]\nlease-files = ["{tmp_path}/dhclient.*.leases"]\n',
        tmp_path,
    )
    context = wiring.discovery_context(config, "SN-1")
    assert context.lease_domains == ("lab.example", "corp.example")


def test_no_lease_is_read_when_no_dns_kind_is_searched(tmp_path: Path) -> None:
    (tmp_path / "dhclient.eth0.leases").write_text(_LEASE)
    config = parse_config(
        '[discovery]\norder = ["configured"]\n'
        f'[discovery.dhcp]\nlease-files = ["{tmp_path}/dhclient.*.leases"]\n',
        tmp_path,
    )
    assert wiring.discovery_context(config, "SN-1").lease_domains == ()


_IMPORTED = """
import sys
from pathlib import Path
from sztp_client.config import parse_config
from sztp_client.discovery import sources, wiring
from sztp_client.model.server_uri import ServerEndpoint

config = parse_config(sys.argv[1], Path("/"))
context = wiring.discovery_context(config, "SN-1")
built = wiring.build_sources(context, wiring.ConfiguredServers((ServerEndpoint("b.example", 443),)))
print(",".join(b.name for b in built))
print(",".join(sorted(set(sources.PROVIDERS.values()) & set(sys.modules))))
print(",".join(sorted(m for m in ("dns", "pyudev") if m in sys.modules)))
"""


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("order", "loaded"),
    [
        (["configured"], ""),
        (["dhcpv6", "configured"], "sztp_client.discovery.dhcp_sources"),
        (
            ["removable-media", "dns-srv", "configured"],
            "sztp_client.discovery.dns_sources,sztp_client.discovery.media_source",
        ),
    ],
)
def test_only_the_modules_of_the_configured_kinds_are_imported(
    order: list[str], loaded: str
) -> None:
    """D1: a kind's module (and dnspython, pyudev behind it) is imported only when the kind is
    in ``discovery.order``; a run with the configured servers alone (R-004) loads none."""
    text = f"[discovery]\norder = {json.dumps(order)}\n"
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED, text], capture_output=True, text=True, check=True
    )
    names, modules, libraries = done.stdout.splitlines()
    assert names.split(",") == order
    assert modules == loaded
    assert ("dns" in libraries.split(",")) == ("dns-srv" in order)
    assert "pyudev" not in libraries.split(",")


def _order(*kinds: str) -> str:
    return "[discovery]\norder = [" + ", ".join(f'"{kind}"' for kind in kinds) + "]\n"


def test_r108_server_names_under_local_go_to_multicast_dns_with_mdns_srv() -> None:
    """R-108: an mdns-srv server such as boot.local resolves by multicast DNS (the device need
    not have an mDNS-aware system resolver); other names still go to the system resolver."""
    asked: list[str] = []

    def system(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["192.0.2.7"]

    config = parse_config(_order("mdns-srv", "configured"), Path("/"))
    resolver = wiring.server_resolver(config, system)
    assert resolver is not system
    assert resolver("bootstrap.example.com", 443) == ["192.0.2.7"]
    assert asked == ["bootstrap.example.com"]
    without = parse_config(_order("dns-srv", "configured"), Path("/"))
    assert wiring.server_resolver(without, system) is system  # nothing loaded, nothing wrapped
