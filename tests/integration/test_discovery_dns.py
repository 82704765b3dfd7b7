"""DNS and multicast DNS discovery against a real server in a network namespace
(R-103..R-110, D5, D6).

Two namespaces joined by a veth pair: the server's runs tests/helpers/dns_server.py (unicast
DNS on port 53 over UDP and TCP, a multicast DNS responder on 5353), the device's runs the
client's sources through tests/helpers/dns_probe.py.  The tests synchronise on the server's
"ready" line and read its query log to see what the client asked, in which order and over
which transport.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
SERIAL = "SN123"
_COUNTER = itertools.count()

# artifacts of several KB: over any UDP payload, so the answers come back truncated
CI = bytes(range(256)) * 20  # 5120 bytes
OC = hashlib.sha512(b"oc").digest() * 40  # 2560 bytes
OV = b"\x30\x82" + os.urandom(3000)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _txt(name: str, key: str, value: bytes) -> list[Any]:
    data = key.encode() + b"=" + value
    strings = [data[i : i + 255].hex() for i in range(0, len(data), 255)]
    return [name, "TXT", {"hex-strings": strings}]


def _run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60, **kwargs)


@dataclass
class Lab:
    device: str
    server_ns: str
    device_if: str
    server_if: str
    tmp: Path
    server: subprocess.Popen[str] | None = None

    def serve(self, unicast: list[Any], mdns: tuple[Any, ...] | list[Any] = ()) -> None:
        zone = self.tmp / "zone.json"
        zone.write_text(
            json.dumps(
                {
                    "unicast": unicast,
                    "mdns": list(mdns),
                    "interface": self.server_if,
                    "ipv4": "192.0.2.1",
                }
            )
        )
        self.server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.server_ns,
                sys.executable,
                "-m",
                "tests.helpers.dns_server",
                str(zone),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.server.stdout is not None
        line = self.server.stdout.readline()
        if line.strip() != "ready":
            self.server.kill()
            _, err = self.server.communicate(timeout=30)
            pytest.fail(f"the test DNS server did not start: {line!r} {err}")

    def dnsmasq(self, *options: str) -> None:
        """dnsmasq as the name server, authoritative for nothing but the records given; its
        query log goes to stderr, read by :meth:`dnsmasq_queries`."""
        require(shutil.which("dnsmasq") is not None, "dnsmasq (Debian package dnsmasq)")
        self.server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.server_ns,
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-daemon",
                "--conf-file=/dev/null",
                "--listen-address=192.0.2.1",
                "--bind-interfaces",
                "--port=53",
                "--log-queries",
                "--log-facility=-",
                f"--pid-file={self.tmp / 'dnsmasq.pid'}",
                "--user=root",
                *options,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.server.stderr is not None
        for line in self.server.stderr:
            if " started, version " in line:
                return
        self.server.wait(timeout=30)
        pytest.fail("dnsmasq did not start")

    def dnsmasq_queries(self) -> list[str]:
        """Stop dnsmasq and return the ``query[TYPE] name`` part of each logged query."""
        server = self.server
        assert server is not None and server.stderr is not None
        server.terminate()
        out = server.stderr.read()
        server.wait(timeout=30)
        self.server = None
        return [
            " ".join(line.split(": ", 1)[1].split()[:2])
            for line in out.splitlines()
            if ": query[" in line
        ]

    def queries(self) -> list[str]:
        """Stop the server and return its query log."""
        server = self.server
        assert server is not None and server.stdin is not None and server.stdout is not None
        server.stdin.close()
        out = server.stdout.read()
        server.wait(timeout=30)
        self.server = None
        return [
            line.removeprefix("query ") for line in out.splitlines() if line.startswith("query ")
        ]

    def probe(self, **arguments: Any) -> dict[str, Any]:
        arguments.setdefault("serial_number", SERIAL)
        arguments.setdefault("domains", ["example.com"])
        arguments.setdefault("nameservers", ["192.0.2.1"])
        arguments.setdefault("interfaces", [self.device_if])
        result = _run(
            "ip",
            "netns",
            "exec",
            self.device,
            sys.executable,
            "-m",
            "tests.helpers.dns_probe",
            json.dumps(arguments),
            cwd=ROOT,
        )
        found = json.loads(result.stdout)
        if isinstance(found, dict):
            return found
        return {entry["name"]: entry for entry in found}


def _ns(*argv: str) -> None:
    _run("ip", *argv)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Device and server namespaces on a veth pair: 192.0.2.2 / 192.0.2.1 and 2001:db8::2 /
    2001:db8::1, IPv6 link-local addresses without duplicate detection, and a route for
    224.0.0.0/4 so that IPv4 multicast DNS can leave."""
    require(shutil.which("ip") is not None and os.geteuid() == 0, "root and iproute2 (ip netns)")
    tag = f"{os.getpid() % 100000}x{next(_COUNTER)}"
    lab = Lab(f"sztpd-dev-{tag}", f"sztpd-srv-{tag}", f"dd{tag}", f"ds{tag}", tmp_path)
    made: list[str] = []
    try:
        for ns in (lab.device, lab.server_ns):
            _ns("netns", "add", ns)
            made.append(ns)
        _ns("link", "add", lab.device_if, "type", "veth", "peer", "name", lab.server_if)
        for ns, interface, v4, v6 in (
            (lab.device, lab.device_if, "192.0.2.2/24", "2001:db8::2/64"),
            (lab.server_ns, lab.server_if, "192.0.2.1/24", "2001:db8::1/64"),
        ):
            _ns("link", "set", interface, "netns", ns)
            _run(
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                f"net.ipv6.conf.{interface}.accept_dad=0",
            )
            _ns("-n", ns, "link", "set", "lo", "up")
            _ns("-n", ns, "addr", "add", v4, "dev", interface)
            _ns("-n", ns, "addr", "add", v6, "dev", interface, "nodad")
            _ns("-n", ns, "link", "set", interface, "up")
            _ns("-n", ns, "route", "add", "224.0.0.0/4", "dev", interface)
        yield lab
    finally:
        try:
            if lab.server is not None:
                lab.server.kill()
                lab.server.wait(timeout=30)
        finally:
            _remove(made)


def _remove(namespaces: list[str]) -> None:
    """Remove the namespaces (after their processes are gone), whatever happened before."""
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=60)


def test_r105_r107_r110_unicast_txt_of_several_kb_retried_over_tcp(lab: Lab) -> None:
    """R-105, R-106, R-107, R-110, D6: three TXT records of several KB at
    ``SN123._sztp.example.com.``, each value split into 255-octet strings, plus an unknown key:
    the UDP answer comes back truncated, the client asks again over TCP and reassembles the
    binary ci/oc/ov values exactly; the unknown key is ignored."""
    name = f"{SERIAL}._sztp.example.com."
    lab.serve(
        [
            _txt(name, "ci", CI),
            _txt(name, "oc", OC),
            _txt(name, "ov", OV),
            [name, "TXT", '"xx=1"'],
        ]
    )
    result = lab.probe(only=["dns-txt"])["dns-txt"]
    assert result["present"]
    assert len(result["artifacts"]) == 1, result["report"]
    [found] = result["artifacts"]
    assert (found["ci"], found["oc"], found["ov"]) == (_sha(CI), _sha(OC), _sha(OV))
    assert found["kind"] == "dns"
    [finding] = result["report"]
    assert finding["rejected"] == ["the key 'xx' is not an SZTP key: ignored"]
    assert name in found["origin"] and "192.0.2.1" in found["origin"]
    assert lab.queries() == [f"udp {name} TXT", f"tcp {name} TXT"]


def test_r108_unicast_srv_in_priority_and_weight_order(lab: Lab) -> None:
    """R-108: priorities 0, 1, 2, 2 (and a target '.') at ``_sztp._tcp.example.com.``:
    sztp1 before sztp2 before {sztp3, sztp4}; each as https://<target>:<port> without the
    trailing dot; the '.' record is left out and said so."""
    name = "_sztp._tcp.example.com."
    lab.serve(
        [
            [name, "SRV", "2 10 8443 sztp4.example.com."],
            [name, "SRV", "1 0 443 sztp2.example.com."],
            [name, "SRV", "2 90 9443 sztp3.example.com."],
            [name, "SRV", "0 5 1443 sztp1.example.com."],
            [name, "SRV", "3 0 443 ."],
        ]
    )
    result = lab.probe(only=["dns-srv"])["dns-srv"]
    servers = result["servers"]
    assert servers[:2] == ["https://sztp1.example.com:1443", "https://sztp2.example.com:443"]
    assert set(servers[2:]) == {"https://sztp3.example.com:9443", "https://sztp4.example.com:8443"}
    [lookup] = result["report"]
    assert lookup["found"] and any("target '.'" in why for why in lookup["rejected"])
    assert lab.queries() == [f"udp {name} SRV"]


def test_d5_domains_tried_in_order_until_one_has_records(lab: Lab) -> None:
    """D5, R-105: each domain in the order given; a domain without the name (NXDOMAIN) is
    recorded and the next one asked; the QNAME is exactly ``<serial>._sztp.<domain>.``."""
    lab.serve([["_sztp._tcp.second.example.", "SRV", "0 0 443 boot.second.example."]])
    result = lab.probe(domains=["first.example", "second.example"], only=["dns-srv", "dns-txt"])
    assert result["dns-srv"]["servers"] == ["https://boot.second.example:443"]
    outcomes = [(r["origin"].split()[0], r["error"]) for r in result["dns-srv"]["report"]]
    assert outcomes[0] == ("_sztp._tcp.first.example.", "no such name")
    assert result["dns-txt"]["artifacts"] == []
    assert lab.queries() == [
        f"udp {SERIAL}._sztp.first.example. TXT",
        f"udp {SERIAL}._sztp.second.example. TXT",
        "udp _sztp._tcp.first.example. SRV",
        "udp _sztp._tcp.second.example. SRV",
    ]


def test_r104_mdns_then_unicast_txt_then_mdns_then_unicast_srv(lab: Lab) -> None:
    """R-103, R-104: all four sources in their order; the query log reads mDNS TXT, unicast
    TXT, mDNS SRV, unicast SRV.  The mDNS responder answers the TXT (artifacts) and the SRV
    at ``local``; IPv4 multicast goes out over the 224.0.0.0/4 route."""
    local_txt = f"{SERIAL}._sztp.local."
    lab.serve(
        unicast=[["_sztp._tcp.example.com.", "SRV", "0 0 443 uni.example.com."]],
        mdns=[
            _txt(local_txt, "ci", CI[:3000]),
            ["_sztp._tcp.local.", "SRV", "0 0 8443 lab.local."],
        ],
    )
    result = lab.probe(interfaces=[])  # IPv4 multicast only
    assert list(result) == ["mdns-txt", "dns-txt", "mdns-srv", "dns-srv"]
    [found] = result["mdns-txt"]["artifacts"]
    assert found["ci"] == _sha(CI[:3000]) and found["oc"] is None
    assert "192.0.2.1" in found["origin"]
    assert result["mdns-srv"]["servers"] == ["https://lab.local:8443"]
    assert result["dns-srv"]["servers"] == ["https://uni.example.com:443"]
    assert lab.queries() == [
        f"mdns4 {local_txt} TXT",
        f"udp {SERIAL}._sztp.example.com. TXT",
        "mdns4 _sztp._tcp.local. SRV",
        "udp _sztp._tcp.example.com. SRV",
    ]


def test_r104_mdns_over_ipv6_link_local_without_ipv4(lab: Lab) -> None:
    """R-104: with IPv4 multicast off (a device before its IPv4 address), the query goes to
    ff02::fb on the interface and the responder's link-local answer counts."""
    lab.serve(unicast=[], mdns=[["_sztp._tcp.local.", "SRV", "0 0 443 v6.local."]])
    result = lab.probe(mdns_ipv4=False, only=["mdns-srv"])["mdns-srv"]
    assert result["servers"] == ["https://v6.local:443"]
    assert "fe80:" in result["report"][0]["origin"]
    assert lab.queries() == ["mdns6 _sztp._tcp.local. SRV"]


def test_r110_answer_over_the_size_bound_refused(lab: Lab) -> None:
    """Every answer is size-bounded: with a bound of 2000 bytes the 5 KB TCP answer is
    refused before its body is read, recorded, and nothing is yielded."""
    name = f"{SERIAL}._sztp.example.com."
    lab.serve([_txt(name, "ci", CI)])
    result = lab.probe(bounds={"max_answer_bytes": 2000}, only=["dns-txt"])["dns-txt"]
    assert result["artifacts"] == []
    [lookup] = result["report"]
    assert "over the limit of 2000 bytes" in lookup["error"] and not lookup["found"]
    assert "over the limit of 2000 bytes" in result["summary"]


def test_r106_key_in_two_records_and_missing_ci_give_nothing(lab: Lab) -> None:
    """D6, R-106: a key in two TXT records at one name is an error for that name; a name with
    only oc/ov yields nothing; both recorded, neither raises."""
    first = f"{SERIAL}._sztp.one.example."
    second = f"{SERIAL}._sztp.two.example."
    lab.serve(
        [
            _txt(first, "ci", b"A" * 10),
            _txt(first, "ci", b"B" * 10),
            _txt(second, "oc", b"C" * 10),
        ]
    )
    result = lab.probe(domains=["one.example", "two.example"], only=["dns-txt"])["dns-txt"]
    assert result["artifacts"] == []
    first_name, second_name = result["report"]
    assert "appears in two TXT records" in first_name["rejected"][0]
    assert "without a 'ci' value" in second_name["rejected"][-1]
    assert not first_name["found"] and not second_name["found"]


def test_r104_unanswered_servers_recorded_and_next_server_asked(lab: Lab) -> None:
    """A name server that does not answer is recorded and the next one is asked; mDNS without
    a responder ends with a recorded timeout, not an error."""
    lab.serve([["_sztp._tcp.example.com.", "SRV", "0 0 443 b.example.com."]])
    result = lab.probe(
        nameservers=["192.0.2.77", "192.0.2.1"],
        bounds={"timeout": 1.0},
        only=["dns-srv", "mdns-srv"],
    )
    assert result["dns-srv"]["servers"] == ["https://b.example.com:443"]
    first = result["dns-srv"]["report"][0]
    assert "192.0.2.77" in first["origin"] and "no answer" in first["error"]
    assert result["mdns-srv"]["servers"] == []
    assert "no multicast DNS answer" in result["mdns-srv"]["report"][0]["error"]


def _txt_rr_hex(key: str, value: bytes) -> str:
    """One TXT RDATA in dnsmasq's --dns-rr hex: 255-octet character-strings, length-prefixed."""
    data = key.encode() + b"=" + value
    parts = [data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(bytes([len(part)]) + part for part in parts).hex()


def test_r110_r108_dnsmasq_large_txt_over_tcp_and_weighted_srv(lab: Lab) -> None:
    """R-105..R-108, R-110 against dnsmasq: three TXT records of several KB at
    ``SN123._sztp.example.com`` (dnsmasq truncates the UDP answer, the client asks again over
    TCP: two queries logged) and SRV records with priorities and weights; read through
    ``discover()``'s findings."""
    name = f"{SERIAL}._sztp.example.com"
    lab.dnsmasq(
        f"--dns-rr={name},16,{_txt_rr_hex('ci', CI)}",
        f"--dns-rr={name},16,{_txt_rr_hex('oc', OC)}",
        f"--dns-rr={name},16,{_txt_rr_hex('ov', OV)}",
        "--srv-host=_sztp._tcp.example.com,sztp3.example.com,9443,2,60",
        "--srv-host=_sztp._tcp.example.com,sztp2.example.com,443,1,0",
        "--srv-host=_sztp._tcp.example.com,sztp4.example.com,8443,2,40",
        "--srv-host=_sztp._tcp.example.com,sztp1.example.com,1443,0,0",
    )
    result = lab.probe(only=["dns-txt", "dns-srv"], discover=True)
    [found] = result["dns-txt"]["artifacts"]
    assert (found["ci"], found["oc"], found["ov"]) == (_sha(CI), _sha(OC), _sha(OV))
    servers = result["dns-srv"]["servers"]
    assert servers[:2] == ["https://sztp1.example.com:1443", "https://sztp2.example.com:443"]
    assert set(servers[2:]) == {"https://sztp3.example.com:9443", "https://sztp4.example.com:8443"}
    assert lab.dnsmasq_queries() == [
        f"query[TXT] {name}",
        f"query[TXT] {name}",
        "query[SRV] _sztp._tcp.example.com",
    ]


def test_r110_truncated_mdns_answer_left_out(lab: Lab) -> None:
    """R-110: TXT records over the 9000 bytes of a multicast DNS message come back truncated;
    multicast DNS has no TCP to ask again over, so the answer is left out and said so (a part
    of the records must never pass for all of them)."""
    lab.serve(unicast=[], mdns=[_txt(f"{SERIAL}._sztp.local.", "ci", CI * 2)])
    result = lab.probe(bounds={"timeout": 1.0}, only=["mdns-txt"])["mdns-txt"]
    assert result["artifacts"] == []
    [finding] = result["report"]
    assert "truncated answer: left out" in finding["error"]


def test_r108_local_srv_target_resolved_by_multicast_dns(lab: Lab) -> None:
    """R-108: an mdns-srv target under ``local`` resolves by multicast DNS (A, then AAAA;
    link-local AAAA left out); other names go to the system resolver; a name nobody answers
    for is a ConnectError naming it."""
    lab.serve(
        unicast=[],
        mdns=[
            ["lab.local.", "A", "192.0.2.1"],
            ["lab.local.", "AAAA", "2001:db8::1"],
            ["lab.local.", "AAAA", "fe80::1"],
        ],
    )
    resolved = lab.probe(
        resolve=["lab.local", "boot.example.com", "absent.local"], bounds={"timeout": 1.0}
    )
    assert resolved["lab.local"] == ["192.0.2.1", "2001:db8::1"]
    assert resolved["boot.example.com"] == ["fallback:boot.example.com"]
    assert (
        "cannot resolve the host name 'absent.local' by multicast DNS" in resolved["absent.local"]
    )
