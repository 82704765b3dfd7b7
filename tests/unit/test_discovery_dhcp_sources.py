"""The DHCP sources over files and packets made here: lease files, drop files, the own query's
packets (R-096..R-102, D9).  The real DHCP clients and servers are in
tests/integration/test_discovery_dhcp.py."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from sztp_client.discovery.dhcp_files import DropFileSource, LeaseFileSource, read_drop_file
from sztp_client.discovery.dhcp_packets import (
    build_v4_request,
    build_v6_request,
    parse_v4_reply,
    parse_v6_reply,
)
from sztp_client.discovery.dhcp_sources import DhcpSource
from sztp_client.errors import DataError


def server_list(*uris: str) -> bytes:
    return b"".join(len(u.encode()).to_bytes(2, "big") + u.encode() for u in uris)


def colon_hex(data: bytes) -> str:
    return ":".join(f"{octet:x}" for octet in data)


def lease_v4(interface: str, value: bytes | None) -> str:
    option = f"  option sztp-redirect-urls {colon_hex(value)};\n" if value is not None else ""
    return f'lease {{\n  interface "{interface}";\n  fixed-address 192.0.2.10;\n{option}}}\n'


def test_r097_lease_file_current_lease_counts(tmp_path: Path) -> None:
    path = tmp_path / "dhclient.eth0.leases"
    old = server_list("https://old.example")
    new = server_list("https://sztp.example:8443", "http://plain.example")
    path.write_text(lease_v4("eth0", old) + lease_v4("eth0", new))
    source = LeaseFileSource("dhcpv4", [str(tmp_path / "*.leases")])
    assert source.name == "dhcpv4" and source.detect()
    found = source.fetch()
    assert [str(c.endpoint) for c in found] == ["https://sztp.example:8443"]
    assert all(c.anchors == () for c in found)
    (observation,) = source.observations
    assert observation.origin == f"lease file {path}" and observation.interface == "eth0"
    assert observation.servers == ("https://sztp.example:8443",)
    assert len(observation.rejected) == 1 and "plain.example" in observation.rejected[0]


def test_r100_lease_with_only_invalid_entries_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.lease").write_text(lease_v4("eth1", server_list("https://h/p?q", "")))
    source = LeaseFileSource("dhcpv4", [str(tmp_path / "*.lease")], ["eth1"])
    assert source.fetch() == []
    (observation,) = source.observations
    assert observation.error and len(observation.rejected) == 2


def test_lease_files_filtered_by_interface_and_family(tmp_path: Path) -> None:
    uri = server_list("https://a.example")
    v6 = f'lease6 {{\n interface "eth0";\n option dhcp6.sztp-redirect-urls {colon_hex(uri)};\n}}\n'
    (tmp_path / "x.leases").write_text(lease_v4("eth9", uri) + v6)
    assert LeaseFileSource("dhcpv4", [str(tmp_path / "*")], ["eth0"]).fetch() == []
    found = LeaseFileSource("dhcpv6", [str(tmp_path / "*")], ["eth0"]).fetch()
    assert [str(c.endpoint) for c in found] == ["https://a.example"]


def test_no_lease_files_configured_reads_none(tmp_path: Path) -> None:
    source = LeaseFileSource("dhcpv4", [])
    assert not source.detect() and source.fetch() == []


def test_malformed_and_oversized_lease_files_are_observations(tmp_path: Path) -> None:
    (tmp_path / "cut.leases").write_text('lease {\n interface "eth0";\n option sztp-redirect')
    (tmp_path / "big.leases").write_bytes(b"#" * 2048)
    source = LeaseFileSource("dhcpv4", [str(tmp_path / "*.leases")], max_file_bytes=1024)
    assert source.fetch() == []
    errors = {Path(o.origin.split()[-1]).name: o.error for o in source.observations}
    assert errors.keys() == {"big.leases"}
    assert "larger than the limit of 1024" in str(errors["big.leases"])


def drop(directory: Path, name: str, **document: object) -> Path:
    path = directory / name
    path.write_text(json.dumps({"version": 1, **document}))
    return path


def test_drop_files_both_notations(tmp_path: Path) -> None:
    data = server_list("https://192.0.2.1:8443")
    drop(tmp_path, "eth0.json", interface="eth0", family="dhcpv4", client="dhclient",
         notation="dhclient", value=colon_hex(data))  # fmt: skip
    drop(tmp_path, "eth1.json", interface="eth1", family="dhcpv4", client="udhcpc",
         notation="hex", value=data.hex())  # fmt: skip
    drop(tmp_path, "eth0.v6.json", interface="eth0", family="dhcpv6", client="dhclient",
         notation="dhclient", value="")  # fmt: skip
    source = DropFileSource("dhcpv4", tmp_path)
    assert [str(c.endpoint) for c in source.fetch()] == ["https://192.0.2.1:8443"]
    assert [o.interface for o in source.observations] == ["eth0", "eth1"]
    v6 = DropFileSource("dhcpv6", tmp_path)
    assert v6.fetch() == []
    assert v6.observations[0].error == "no SZTP redirect option"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"version": 2}', "version 2"),
        ('{"version": 1, "family": "dhcpv4"}', "no interface"),
        ('{"version": 1, "interface": "e", "family": "dhcp"}', "family"),
        ('{"version": 1, "interface": "e", "family": "dhcpv4", "value": "00", "notation": "b"}',
         "notation"),
        ('{"version": 1, "interface": "e", "family": "dhcpv4", "value": "0", "notation": "hex"}',
         "hex digits"),
    ],
)  # fmt: skip
def test_malformed_drop_files_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "e.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_drop_file(path)
    source = DropFileSource("dhcpv4", tmp_path)
    assert source.fetch() == []
    assert message in str(source.observations[0].error)


def test_dhcp_source_prefers_drop_file_then_lease_file(tmp_path: Path) -> None:
    drops, leases = tmp_path / "drop", tmp_path / "leases"
    drops.mkdir()
    leases.mkdir()
    (leases / "l.leases").write_text(lease_v4("eth0", server_list("https://lease.example")))
    source = DhcpSource("dhcpv4", ["eth0"], [str(leases / "*")], drops, query=False)
    assert [str(c.endpoint) for c in source.fetch()] == ["https://lease.example"]
    drop(drops, "eth0.json", interface="eth0", family="dhcpv4", notation="hex",
         value=server_list("https://drop.example").hex())  # fmt: skip
    assert [str(c.endpoint) for c in source.fetch()] == ["https://drop.example"]
    assert [o.origin.split()[0] for o in source.observations] == ["drop"]
    empty = DhcpSource("dhcpv6", ["eth0"], [], tmp_path / "absent", query=False)
    assert not empty.detect() and empty.fetch() == [] and empty.observations == ()


# --- the own query's packets -----------------------------------------------------------------

MAC = bytes.fromhex("020000000001")
XID = b"\x01\x02\x03\x04"


def v4_reply(kind: int, options: bytes, *, file_field: bytes = b"", xid: bytes = XID) -> bytes:
    header = struct.pack(
        "!BBBB4sHH4s4s4s4s16s64s128s",
        2, 1, 6, 0, xid, 0, 0, bytes(4), bytes(4), bytes(4), bytes(4),
        MAC.ljust(16, b"\0"), b"", file_field,
    )  # fmt: skip
    return header + b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + options + b"\xff"


def test_r096_inform_and_discover_request_option_143() -> None:
    inform = build_v4_request(XID, MAC, bytes([192, 0, 2, 10]))
    discover = build_v4_request(XID, MAC, None)
    for packet, kind in ((inform, 8), (discover, 1)):
        assert packet[240:243] == bytes([53, 1, kind])
        requested = packet[packet.index(bytes([55])) :]
        assert 143 in requested[2 : 2 + requested[1]]
        assert packet[10:12] == b"\x80\x00" and packet[28:34] == MAC
    assert inform[12:16] == bytes([192, 0, 2, 10]) and discover[12:16] == bytes(4)


def test_r101_split_option_joined_also_from_overloaded_file_field() -> None:
    data = server_list("https://" + "a" * 300 + ".example")
    first, second, third = data[:255], data[255:300], data[300:]
    options = bytes([143, len(first)]) + first + bytes([52, 1, 1]) + bytes([143, len(second)])
    options += second
    file_field = bytes([143, len(third)]) + third + b"\xff"
    assert parse_v4_reply(v4_reply(5, options, file_field=file_field), XID, 5) == data


def test_v4_replies_not_awaited_are_passed_over() -> None:
    options = bytes([143, 2, 0, 0])
    assert parse_v4_reply(v4_reply(2, options), XID, 5) is False  # an OFFER, not the ACK
    assert parse_v4_reply(v4_reply(5, options, xid=b"zzzz"), XID, 5) is False
    assert parse_v4_reply(b"\x02" * 100, XID, 5) is False
    assert parse_v4_reply(v4_reply(5, b""), XID, 5) is None


def test_malformed_v4_reply_raises() -> None:
    with pytest.raises(DataError, match="overruns"):
        parse_v4_reply(v4_reply(5, bytes([143, 40, 0, 1])), XID, 5)


def test_r098_information_request_names_136_and_reply_parsed() -> None:
    request = build_v6_request(b"abc", MAC)
    assert request[0] == 11 and request[1:4] == b"abc"
    oro = request.index(b"\x00\x06\x00\x06")
    assert request[oro + 4 : oro + 6] == (136).to_bytes(2, "big")
    data = server_list("https://[2001:db8::1]:8443")
    reply = b"\x07abc" + struct.pack("!HH", 136, len(data)) + data
    assert parse_v6_reply(reply, b"abc") == data
    assert parse_v6_reply(b"\x07abd" + reply[4:], b"abc") is False
    assert parse_v6_reply(b"\x07abc", b"abc") is None
    with pytest.raises(DataError):
        parse_v6_reply(b"\x07abc\x00\x88\x00\x09ab", b"abc")
