"""The DNS sources' pure parts: name servers and domains from resolv.conf (D5), presence,
and the order and kinds of the four sources (R-104).  The queries themselves are tested
against real servers in tests/integration/test_discovery_dns.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from sztp_client.config import ClientConfig, DiscoveryConfig, DnsDiscoveryConfig
from sztp_client.discovery import resolv_conf
from sztp_client.discovery.dns_query import DnsBounds
from sztp_client.discovery.dns_sources import (
    DnsSrvSource,
    DnsTxtSource,
    MdnsSrvSource,
    MdnsTxtSource,
    dns_sources,
)
from sztp_client.discovery.resolv_conf import (
    MAX_RESOLV_CONF_BYTES,
    discovery_domains,
    read_resolv_conf,
    resolv_conf_nameservers,
)
from sztp_client.discovery.sources import DiscoveryContext, builders
from sztp_client.errors import SizeLimitError

RESOLV = """\
# written by the DHCP client
nameserver 192.0.2.53
nameserver fe80::1%eth0   ; link-local with a zone
nameserver not-an-address
nameserver 192.0.2.53
domain old.example
search Lab.Example. corp.example bad..name
"""


def test_nameservers_from_resolv_conf_in_order_each_once() -> None:
    assert resolv_conf_nameservers(RESOLV) == ("192.0.2.53", "fe80::1%eth0")


def test_d5_domains_lease_then_resolv_conf_then_configured(tmp_path: Path) -> None:
    """D5: lease domains first, then resolv.conf's last search/domain line, then the configured
    ones; each once, lower case, without the trailing dot, unusable names left out."""
    path = tmp_path / "resolv.conf"
    path.write_text(RESOLV)
    assert discovery_domains(
        ["dhcp.example", "lab.example"], ["own.example"], resolv_conf=path
    ) == ("dhcp.example", "lab.example", "corp.example", "own.example")


def test_missing_resolv_conf_gives_no_domains(tmp_path: Path) -> None:
    assert discovery_domains(resolv_conf=tmp_path / "absent") == ()
    assert read_resolv_conf(tmp_path / "absent") == ""


def test_resolv_conf_is_size_bounded(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("#" * (MAX_RESOLV_CONF_BYTES + 1))
    with pytest.raises(SizeLimitError):
        read_resolv_conf(path)


def test_r104_four_sources_in_order_with_their_kind_names() -> None:
    """R-104: mDNS TXT, unicast TXT, mDNS SRV, unicast SRV; the names are the kinds."""
    sources = dns_sources("SN1", domains=["example.com"], nameservers=["192.0.2.53"])
    assert [type(s) for s in sources] == [MdnsTxtSource, DnsTxtSource, MdnsSrvSource, DnsSrvSource]
    assert [s.name for s in sources] == ["mdns-txt", "dns-txt", "mdns-srv", "dns-srv"]
    assert all(s.report == () for s in sources)


def test_r104_unicast_present_only_with_a_name_server_and_a_domain() -> None:
    """R-104: unicast DNS is asked only when a DNS server is known (and a domain to ask in)."""
    assert DnsSrvSource(domains=("example.com",), nameservers=("192.0.2.53",)).detect()
    assert not DnsSrvSource(domains=("example.com",), nameservers=()).detect()
    assert not DnsTxtSource(serial_number="SN1", domains=(), nameservers=("192.0.2.53",)).detect()


def test_mdns_present_with_an_interface_or_ipv4() -> None:
    assert MdnsSrvSource(interfaces=(), ipv4=True).detect()
    assert not MdnsSrvSource(interfaces=None, ipv4=False, list_interfaces=tuple).detect()
    assert MdnsTxtSource(
        serial_number="SN1", interfaces=None, ipv4=False, list_interfaces=lambda: ("eth0",)
    ).detect()


def test_a_serial_number_that_is_no_dns_label_is_recorded_not_raised() -> None:
    """R-105: the serial number must be one DNS label; otherwise the TXT sources ask nothing
    and say why."""
    source = MdnsTxtSource(serial_number="has space", bounds=DnsBounds(timeout=0.1))
    assert source.fetch() == []
    [lookup] = source.report
    assert lookup.error is not None and "cannot be a DNS label" in lookup.error
    assert not lookup.found
    unicast = DnsTxtSource(
        serial_number="a.b", domains=("example.com",), nameservers=("192.0.2.53",)
    )
    assert unicast.fetch() == []
    assert "cannot be a DNS label" in str(unicast.report[0].error)


def test_d5_builders_take_domains_from_lease_resolv_conf_and_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The four kinds are registered with the discovery registry; each builder makes its one
    source with D5's domains and resolv.conf's name servers."""
    path = tmp_path / "resolv.conf"
    path.write_text(RESOLV)
    monkeypatch.setattr(resolv_conf, "RESOLV_CONF", path)
    config = ClientConfig(
        discovery=DiscoveryConfig(dns=DnsDiscoveryConfig(domains=("own.example",)))
    )
    context = DiscoveryContext(config, "SN1", ("eth0",), ("dhcp.example",))
    registry = builders()
    made = {
        kind: registry[kind](context) for kind in ("mdns-txt", "dns-txt", "mdns-srv", "dns-srv")
    }
    assert all(len(sources) == 1 and sources[0].kind == kind for kind, sources in made.items())
    [txt] = made["dns-txt"]
    assert isinstance(txt, DnsTxtSource)
    assert txt.domains == ("dhcp.example", "lab.example", "corp.example", "own.example")
    assert txt.nameservers == ("192.0.2.53", "fe80::1%eth0")
    assert txt.serial_number == "SN1"
    [mdns] = made["mdns-srv"]
    assert isinstance(mdns, MdnsSrvSource) and mdns.interfaces == ("eth0",)


def test_an_absent_source_says_why_it_asked_nothing() -> None:
    """discover() on a source that is not present asks nothing and gives one finding with the
    reason, for the message of a pass that found nothing."""
    [finding] = DnsSrvSource(domains=("example.com",), nameservers=()).discover()
    assert finding.kind == "dns-srv" and "no DNS name server" in str(finding.error)
    [finding] = DnsTxtSource(serial_number="SN1", nameservers=("192.0.2.53",)).discover()
    assert "no DNS domain" in str(finding.error)
    [finding] = MdnsSrvSource(interfaces=(), ipv4=False).discover()
    assert "no interface is up" in str(finding.error)
