"""More discovery end to end in network namespaces, each source alone in `discovery.order`:
the real ``sztp-client run --once`` in a device namespace finds the lab bootstrap server of
the server namespace through DHCPv6 option 136 (its own Information-Request, answered by
dnsmasq; R-096, R-098..R-100, R-102), or finds the signed bootstrapping data itself in DNS TXT
records, by unicast DNS from dnsmasq (R-103..R-107, R-109, R-110, D5, D6) and by multicast DNS
from the tests' responder (R-104, R-105), and bootstraps to ``bootstrap-complete``.  The
multicast DNS SRV run (R-104, R-108) is expected to fail until ``run`` resolves a `.local`
server name by multicast DNS.

The namespaces, the lab server bound inside the server namespace and resolv.conf are those of
tests/e2e/test_discovery_netns.py.  Only the documentation ranges are used, inside the
namespaces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sztp_lab.artifacts import SignedSet
from sztp_lab.server import LabBootstrapServer, Response, ServerConfig
from tests.e2e import test_discovery_netns as netns
from tests.e2e.conftest import SERIAL, Env
from tests.integration.dhcp_netns import ROOT, WAIT, Link, dnsmasq

SERVER_V6 = "2001:db8::1"
DEVICE_V6 = "2001:db8::50/64"
DOMAIN = "sztp.test"  # the search domain of the device's resolv.conf
TXT_NAME = f"{SERIAL}._sztp.{DOMAIN}"
MDNS_TXT_NAME = f"{SERIAL}._sztp.local."

link = netns.link  # the server and device namespaces
resolv_conf = netns.resolv_conf  # the device's name server is the server namespace's


def _server_on(env: Env, link: Link, host: str, response: Response) -> LabBootstrapServer:
    """The lab server listening on ``host`` of the server namespace."""
    config = ServerConfig(
        identity=env.lab.server_identity,
        default=response,
        client_ca=[env.lab.pki.manufacturer_root.cert],
        strict=True,
    )
    server = LabBootstrapServer(config, host=host)
    netns._in_namespace(link.server, server.start)
    env.servers.append(server)
    return server


def _run_in_device(device: Any, link: Link) -> Any:
    result = device.run("run", "--once", wrapper=["ip", "netns", "exec", link.device])
    netns._bootstrapped(device, result)
    return device.status()


def test_r098_device_finds_the_lab_server_through_dhcpv6_and_bootstraps(
    env: Env, link: Link, tmp_path: Path
) -> None:
    """R-096, R-098, R-099, R-100, R-102: dnsmasq answers the device's own DHCPv6
    Information-Request (option 136 in its option request option) with option 136 naming
    an `http` entry and the lab server by its IPv6 literal `https://[2001:db8::1]:<port>`;
    the invalid entry is ignored and named, the server contacted provisionally (DHCP is
    untrusted) over IPv6, its signed data verified and applied: bootstrap-complete, and no
    progress reports to the untrusted server."""
    server = _server_on(env, link, SERVER_V6, netns._signed_response(env))
    assert server.url == f"https://[{SERVER_V6}]:{server.port}"
    option = netns._server_list(f"http://[{SERVER_V6}]:{server.port}", server.url)
    dnsmasq(link, tmp_path, f"--dhcp-option-force=option6:136,{netns._colon(option)}")
    link.in_device("ip", "-6", "addr", "add", DEVICE_V6, "dev", "dev0", "nodad")
    device = env.device(
        [],
        extra={
            "discovery": {"order": ["dhcpv6"], "interfaces": ["dev0"]},
            "discovery.dhcp": {"lease-files": [], "drop-dir": str(tmp_path / "drop")},
        },
    )
    status = _run_in_device(device, link)
    [found] = [s for s in status["sources"] if s["bootstrap-servers"]]
    assert found["kind"] == "dhcpv6"
    assert found["origin"] == "DHCPv6 Information-Request on dev0"
    assert found["bootstrap-servers"] == [server.url]
    assert len(found["rejected"]) == 1 and "http://" in found["rejected"][0]
    assert found["outcome"] == "bootstrap-complete"
    [attempt] = status["attempts"]
    assert attempt["source"] == "dhcpv6" and attempt["address"] == SERVER_V6
    assert attempt["trust"] == "provisional"
    assert server.reports() == []  # an untrusted server is sent no progress reports


def _txt_strings(key: str, value: bytes) -> list[bytes]:
    """One TXT record's character-strings: ``key=value`` cut into 255-octet pieces (D6)."""
    data = key.encode() + b"=" + value
    return [data[i : i + 255] for i in range(0, len(data), 255)]


def _txt_records(signed: SignedSet) -> dict[str, list[bytes]]:
    assert signed.owner_certificate is not None and signed.ownership_voucher is not None
    return {
        "ci": _txt_strings("ci", signed.conveyed_information),
        "oc": _txt_strings("oc", signed.owner_certificate),
        "ov": _txt_strings("ov", signed.ownership_voucher),
        "xx": [b"xx=an unknown key"],
    }


def _signed_data(env: Env) -> SignedSet:
    return env.signed(env.onboarding(configuration={"hostname": "found-on-the-network"}))


def _delivered(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """The one source entry that yielded artifacts, and checks that no server was asked."""
    found: dict[str, Any]
    [found] = [s for s in status["sources"] if s["artifacts"]]
    assert found["kind"] == kind
    assert sorted(found["artifacts"]) == [
        "conveyed-information", "owner-certificate", "ownership-voucher",
    ]  # fmt: skip
    assert found["bootstrap-servers"] == []
    assert found["outcome"] == "bootstrap-complete"
    [attempt] = status["attempts"]
    assert attempt["source"] == kind and attempt["address"] == "-"
    return found


def test_r105_device_bootstraps_from_signed_data_in_dns_txt_records(
    env: Env, link: Link, tmp_path: Path, resolv_conf: Path
) -> None:
    """R-103, R-105, R-106, R-107, R-109, R-110, D5, D6: dnsmasq holds the three signed
    artifacts as TXT records at `<serial>._sztp.sztp.test` (the domain of resolv.conf), each
    value cut into 255-octet character-strings, beside a record of an unknown key; the answer
    is too large for UDP and is asked again over TCP; the device reassembles the values,
    verifies them as data from DNS (untrusted) and bootstraps with no bootstrap server."""
    records = _txt_records(_signed_data(env))
    rdata = {
        key: b"".join(bytes([len(s)]) + s for s in strings) for key, strings in records.items()
    }
    assert sum(map(len, rdata.values())) > 1232  # over any UDP payload the client offers
    dns = link.start(
        link.server,
        [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--log-facility=-",
            "--log-queries", "--user=root", "--group=root", "--no-resolv", "--no-hosts",
            f"--listen-address={netns.SERVER_ADDRESS}", "--bind-interfaces", "--pid-file=",
            *(f"--dns-rr={TXT_NAME},16,{data.hex()}" for data in rdata.values()),
        ],
    )  # fmt: skip
    dns.wait_for("started")
    link.give_device_address()
    device = env.device([], extra={"discovery": {"order": ["dns-txt"]}})
    status = _run_in_device(device, link)
    found = _delivered(status, "dns-txt")
    assert TXT_NAME in found["origin"] and netns.SERVER_ADDRESS in found["origin"]
    assert found["rejected"] == ["the key 'xx' is not an SZTP key: ignored"]
    dns.drain()
    asked = [line for line in dns.lines if f"query[TXT] {TXT_NAME}" in line]
    assert len(asked) == 2, dns.lines  # over UDP, truncated, then again over TCP


class Responder:
    """tests/helpers/dns_server.py in the server namespace: a multicast DNS responder (and a
    unicast server no one is told of).  It lives until its standard input closes."""

    def __init__(self, link: Link, zone: Path, mdns: list[Any]) -> None:
        zone.write_text(
            json.dumps({"unicast": [], "mdns": mdns, "interface": "srv0", "ipv4": "192.0.2.1"})
        )
        self.popen = subprocess.Popen(
            ["ip", "netns", "exec", link.server, sys.executable, "-m", "tests.helpers.dns_server",
             str(zone)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            pytest.fail(f"the test DNS responder did not start: {line!r}")

    def queries(self) -> list[str]:
        """Stop the responder; the queries it logged."""
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self.popen.stdin.close()
        out = self.popen.stdout.read()
        self.popen.wait(timeout=WAIT)
        return [line.removeprefix("query ") for line in out.splitlines() if "query " in line]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=WAIT)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def responder(link: Link, tmp_path: Path) -> Iterator[list[Responder]]:
    """Started by the test (it knows the records); stopped before the namespaces go."""
    started: list[Responder] = []
    try:
        yield started
    finally:
        for one in started:
            one.stop()


def test_r104_device_bootstraps_from_signed_data_in_mdns_txt_records(
    env: Env, link: Link, tmp_path: Path, responder: list[Responder]
) -> None:
    """R-104, R-105, R-106, R-107, R-109, D6: a multicast DNS responder in the server
    namespace answers for `<serial>._sztp.local.` with the three signed artifacts as TXT
    records; the device, with no IPv4 address yet and no name server, asks over IPv6
    link-local (ff02::fb), verifies the data as from DNS and bootstraps with no server."""
    records = _txt_records(_signed_data(env))
    mdns = [[MDNS_TXT_NAME, "TXT", {"hex-strings": [s.hex() for s in strings]}]
            for strings in records.values()]  # fmt: skip
    responder.append(Responder(link, tmp_path / "zone.json", mdns))
    device = env.device([], extra={"discovery": {"order": ["mdns-txt"], "interfaces": ["dev0"]}})
    status = _run_in_device(device, link)
    found = _delivered(status, "mdns-txt")
    assert MDNS_TXT_NAME in found["origin"] and "fe80:" in found["origin"]
    assert responder[0].queries() == [f"mdns6 {MDNS_TXT_NAME} TXT"]


def test_r108_device_finds_the_lab_server_through_mdns_srv_and_bootstraps(
    env: Env, link: Link, tmp_path: Path, responder: list[Responder]
) -> None:
    """R-104, R-108: the multicast DNS responder answers `_sztp._tcp.local.` with an SRV
    record naming `boot.local.` and the lab server's port, and `boot.local.` with its
    addresses; the device, with no name server, resolves `boot.local` by multicast DNS too
    (no mDNS-aware system resolver is assumed), contacts the server provisionally and
    bootstraps."""
    server = netns._server_in(env, link, netns._signed_response(env))
    mdns = [
        ["_sztp._tcp.local.", "SRV", f"0 0 {server.port} boot.local."],
        ["boot.local.", "A", netns.SERVER_ADDRESS],
        ["boot.local.", "AAAA", SERVER_V6],
    ]
    responder.append(Responder(link, tmp_path / "zone.json", mdns))
    link.give_device_address()
    device = env.device([], extra={"discovery": {"order": ["mdns-srv"], "interfaces": ["dev0"]}})
    status = _run_in_device(device, link)
    [found] = [s for s in status["sources"] if s["bootstrap-servers"]]
    assert found["kind"] == "mdns-srv"
    assert found["bootstrap-servers"] == [f"https://boot.local:{server.port}"]
    assert found["outcome"] == "bootstrap-complete"
    [attempt] = status["attempts"]
    assert attempt["source"] == "mdns-srv" and attempt["address"] == netns.SERVER_ADDRESS
    assert attempt["trust"] == "provisional"
