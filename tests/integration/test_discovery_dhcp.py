"""DHCP discovery against real DHCP servers and clients in network namespaces joined by a veth
pair (R-096..R-102, D9): dnsmasq serving option 143 and 136; ISC dhclient obtaining leases and
the client reading its lease file; the shipped hooks run for real (dhclient -sf, busybox udhcpc
-s, the NetworkManager dispatcher script with NetworkManager's environment) and their drop
files read; the client's own query (DHCPINFORM, DHCPDISCOVER, DHCPv6 Information-Request); the
RFC 3396 split option and malformed options through the tests' own DHCP server.

Every wait is on an event (a line printed, a file written); namespaces are unique per test and
always removed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dhcp_netns import (
    ROOT,
    WAIT,
    Link,
    dnsmasq,
    require_netns,
    run,
    veth_link,
    wait_for_file,
)

HOOKS = ROOT / "hooks"
SERVER = ROOT / "tests" / "helpers" / "dhcp_test_server.py"
V4_URIS = ("https://sztp.example:8443", "https://192.0.2.1")
V6_URIS = ("https://[2001:db8::1]:8443",)


def server_list(*uris: str) -> bytes:
    return b"".join(len(u.encode()).to_bytes(2, "big") + u.encode() for u in uris)


def colon(data: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in data)


def serving_options(
    v4: bytes = server_list(*V4_URIS), v6: bytes = server_list(*V6_URIS)
) -> list[str]:
    return [f"--dhcp-option-force=143,{colon(v4)}", f"--dhcp-option-force=option6:136,{colon(v6)}"]


PROBE = """
import json, msgspec
from sztp_client.discovery.{module} import {kind}
source = {kind}({args})
found = source.fetch()
print(json.dumps({{"name": source.name, "servers": [str(c.endpoint) for c in found],
    "anchors": [len(c.anchors) for c in found],
    "observations": [msgspec.structs.asdict(o) for o in source.observations]}}))
"""
#: the module of each source the probe runs
MODULES = {
    "LeaseFileSource": "dhcp_files",
    "DropFileSource": "dhcp_files",
    "QuerySource": "dhcp_query",
    "DhcpSource": "dhcp_sources",
}


def probe(link: Link, kind: str, args: str) -> Any:
    return link.probe(PROBE.format(module=MODULES[kind], kind=kind, args=args))


DHCLIENT_CONF = """
option sztp-redirect-urls code 143 = string;
option dhcp6.sztp-redirect-urls code 136 = string;
request subnet-mask, routers, sztp-redirect-urls;
also request dhcp6.sztp-redirect-urls;
timeout 20;
"""


def dhclient(
    link: Link, workdir: Path, family: str, script: Path, *extra: str, until: tuple[Path, str]
) -> Path:
    """Run dhclient in the foreground in the device namespace with ``script`` as its whole
    script until ``until`` (a file and a text it must hold) shows the lease arrived, then stop
    it; returns the lease file."""
    conf = workdir / "dhclient.conf"
    conf.write_text(DHCLIENT_CONF, encoding="ascii")
    leases = workdir / f"dhclient{family}.leases"
    pid = workdir / f"dhclient{family}.pid"
    argv = [
        "dhclient", "-d", "-6" if family == "6" else "-4", "-1", "-v", "-cf", str(conf), "-lf",
        str(leases), "-pf", str(pid), "-sf", str(script), "-e", f"SZTP_DROP_DIR={workdir / 'drop'}",
        "-e", f"RECORD={workdir / f'env{family}'}", *extra, "dev0",
    ]  # fmt: skip
    process = link.start(link.device, argv)
    try:
        wait_for_file(*until, alive=process)
    except AssertionError as exc:
        process.drain()
        raise AssertionError(f"{exc}; dhclient said: {process.lines[-15:]}") from None
    finally:
        process.stop()
        stop_by_pid_file(pid)
    return leases


def stop_by_pid_file(path: Path) -> None:
    """Make sure the dhclient this test started is gone, should it have left its parent."""
    try:
        number = int(path.read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{number}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(path).encode() in cmdline:
        os.kill(number, signal.SIGKILL)


@pytest.fixture
def link() -> Any:
    require_netns("dnsmasq", "dhclient")
    with veth_link() as made:
        yield made


# --- dhclient lease files --------------------------------------------------------------------


def test_r097_r098_dhclient_leases_from_dnsmasq_read_by_the_lease_source(
    link: Link, tmp_path: Path
) -> None:
    dnsmasq(link, tmp_path, *serving_options())
    script = HOOKS / "dhclient-exit-hook"
    v4 = dhclient(link, tmp_path, "4", script, until=(tmp_path / "dhclient4.leases", "sztp"))
    v6 = dhclient(link, tmp_path, "6", script, until=(tmp_path / "dhclient6.leases", "sztp"))
    assert "sztp-redirect-urls" in v4.read_text() and "sztp-redirect-urls" in v6.read_text()
    # NetworkManager's dhclient backend writes the same format under its own name
    nm_dir = tmp_path / "NetworkManager"
    nm_dir.mkdir()
    shutil.copy(v4, nm_dir / "dhclient-0c4e9d5e-dev0.lease")
    glob_v4 = json.dumps([str(nm_dir / "dhclient-*.lease")])
    got = probe(link, "LeaseFileSource", f"'dhcpv4', {glob_v4}, ['dev0']")
    assert got["name"] == "dhcpv4" and got["servers"] == list(V4_URIS)
    assert got["anchors"] == [0, 0]
    assert got["observations"][0]["origin"].endswith("dhclient-0c4e9d5e-dev0.lease")
    got = probe(link, "LeaseFileSource", f"'dhcpv6', [{str(v6)!r}]")
    assert got["servers"] == list(V6_URIS)
    assert got["observations"][0]["interface"] == "dev0"


# --- the shipped hooks -----------------------------------------------------------------------


def test_dhclient_exit_hook_writes_drop_files_read_by_the_drop_source(
    link: Link, tmp_path: Path
) -> None:
    dnsmasq(link, tmp_path, *serving_options())
    script = HOOKS / "dhclient-exit-hook"
    drop = tmp_path / "drop"
    dhclient(link, tmp_path, "4", script, until=(drop / "dev0.json", "}"))
    # stateless DHCPv6 (-S) writes no lease file: only the hook sees option 136
    dhclient(link, tmp_path, "6", script, "-S", until=(drop / "dev0.v6.json", "}"))
    document = json.loads(wait_for_file(drop / "dev0.json"))
    assert document["client"] == "dhclient" and document["family"] == "dhcpv4"
    got = probe(link, "DropFileSource", f"'dhcpv4', {str(drop)!r}, ['dev0']")
    assert got["servers"] == list(V4_URIS)
    got = probe(link, "DropFileSource", f"'dhcpv6', {str(drop)!r}")
    assert got["servers"] == list(V6_URIS)


def test_udhcpc_script_under_busybox_writes_the_drop_file(link: Link, tmp_path: Path) -> None:
    require_netns("busybox")
    dnsmasq(link, tmp_path, *serving_options())
    drop = tmp_path / "drop"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SZTP_DROP_DIR": str(drop)}
    link.start(
        link.device,
        ["busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-i", "dev0", "-O", "143", "-s",
         str(HOOKS / "udhcpc-script")],
        env=env,
    ).wait_for("lease of 192.0.2.")  # fmt: skip
    document = json.loads(wait_for_file(drop / "dev0.json"))
    assert document["client"] == "udhcpc" and document["notation"] == "hex"
    got = probe(link, "DropFileSource", f"'dhcpv4', {str(drop)!r}")
    assert got["servers"] == list(V4_URIS)


RECORDER = """#!/bin/sh
env > "$RECORD.$reason.tmp" && mv "$RECORD.$reason.tmp" "$RECORD.$reason"
"""


def test_networkmanager_dispatcher_with_the_environment_networkmanager_gives(
    link: Link, tmp_path: Path
) -> None:
    """NetworkManager's dhclient backend turns dhclient's ``new_<option>`` variables into
    ``DHCP4_<OPTION>`` and ``DHCP6_<OPTION>`` (upper case, ``-`` and ``.`` as ``_``) for its
    dispatcher scripts, which it calls as ``SCRIPT INTERFACE ACTION``: the variables here come
    from a real dhclient."""
    dnsmasq(link, tmp_path, *serving_options())
    recorder = tmp_path / "record.sh"
    recorder.write_text(RECORDER, encoding="ascii")
    recorder.chmod(0o755)
    dhclient(link, tmp_path, "4", recorder, until=(tmp_path / "env4.BOUND", "new_"))
    dhclient(link, tmp_path, "6", recorder, until=(tmp_path / "env6.BOUND6", "new_"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SZTP_DROP_DIR": str(tmp_path / "nm")}
    env |= {"DEVICE_IFACE": "dev0", "DEVICE_IP_IFACE": "dev0", "CONNECTION_ID": "Wired 1"}
    for prefix, recorded in (("DHCP4_", "env4.BOUND"), ("DHCP6_", "env6.BOUND6")):
        for line in (tmp_path / recorded).read_text(encoding="latin-1").splitlines():
            name, _, value = line.partition("=")
            if name.startswith("new_"):
                env[prefix + name[4:].upper().replace("-", "_").replace(".", "_")] = value
    assert "DHCP4_SZTP_REDIRECT_URLS" in env and "DHCP4_IP_ADDRESS" in env
    assert "DHCP6_DHCP6_SZTP_REDIRECT_URLS" in env
    script = str(HOOKS / "networkmanager-dispatcher")
    subprocess.run([script, "dev0", "dhcp4-change"], env=env, check=True, timeout=WAIT)
    drop = tmp_path / "nm"
    assert json.loads((drop / "dev0.json").read_text())["client"] == "networkmanager"
    assert not (drop / "dev0.v6.json").exists()
    got = probe(link, "DropFileSource", f"'dhcpv4', {str(drop)!r}")
    assert got["servers"] == list(V4_URIS)
    subprocess.run([script, "dev0", "dhcp6-change"], env=env, check=True, timeout=WAIT)
    got = probe(link, "DropFileSource", f"'dhcpv6', {str(drop)!r}")
    assert got["servers"] == list(V6_URIS)
    subprocess.run([script, "dev0", "down"], env=env, check=True, timeout=WAIT)
    assert not (drop / "dev0.json").exists() and not (drop / "dev0.v6.json").exists()


# --- the client's own query ------------------------------------------------------------------


def test_r096_own_query_discover_then_inform_against_dnsmasq(link: Link, tmp_path: Path) -> None:
    dnsmasq(link, tmp_path, *serving_options())
    got = probe(link, "QuerySource", "'dhcpv4', ['dev0'], timeout=10")
    assert got["observations"][0]["origin"] == "DHCPDISCOVER on dev0"
    assert got["servers"] == list(V4_URIS)
    link.give_device_address()
    got = probe(link, "QuerySource", "'dhcpv4', ['dev0'], timeout=10")
    assert got["observations"][0]["origin"] == "DHCPINFORM on dev0"
    assert got["servers"] == list(V4_URIS)


def test_r098_own_dhcpv6_information_request_against_dnsmasq(link: Link, tmp_path: Path) -> None:
    dnsmasq(link, tmp_path, *serving_options())
    got = probe(link, "QuerySource", "'dhcpv6', ['dev0'], timeout=10")
    assert got["observations"][0]["origin"] == "DHCPv6 Information-Request on dev0"
    assert got["servers"] == list(V6_URIS)


def test_own_query_without_a_server_ends_within_its_bound(link: Link, tmp_path: Path) -> None:
    got = probe(link, "DhcpSource", f"'dhcpv4', ['dev0'], [], {str(tmp_path)!r}, timeout=1")
    assert got["servers"] == []
    assert "no answer within 1 s" in got["observations"][0]["error"]


def own_server(link: Link, tmp_path: Path, **config: object) -> None:
    path = tmp_path / "server.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    process = link.start(link.server, [sys.executable, str(SERVER), "srv0", str(path)])
    process.wait_for("ready")


LONG = (
    "https://" + ".".join(["b" * 60] * 3) + ".example:8443",
    "https://" + ".".join(["c" * 50] * 3) + ".example",
)


@pytest.mark.parametrize("overload", [False, True])
def test_r101_split_option_from_the_tests_own_server(
    link: Link, tmp_path: Path, overload: bool
) -> None:
    data = server_list(*LONG)
    assert len(data) > 255
    instances = [data[:255].hex(), data[255:300].hex(), data[300:].hex()]
    own_server(link, tmp_path, instances=instances, overload=overload)
    got = probe(link, "QuerySource", "'dhcpv4', ['dev0'], timeout=10")
    assert got["servers"] == list(LONG)
    link.give_device_address()
    got = probe(link, "QuerySource", "'dhcpv4', ['dev0'], timeout=10")
    assert got["observations"][0]["origin"] == "DHCPINFORM on dev0"
    assert got["servers"] == list(LONG)


@pytest.mark.parametrize(
    ("entries", "servers", "rejected"),
    [
        # an entry whose uri-length overruns the option: the entries before it count
        (server_list("https://ok.example") + b"\x00\x40https://cut", ["https://ok.example"], 1),
        (
            server_list(
                "http://plain.example",
                "https://path.example/restconf/operations/x",
                "https://dots.example/a/../b",
            ),
            [],
            3,
        ),
        (server_list("https://ok.example", "http://plain.example"), ["https://ok.example"], 1),
        (b"", [], 0),
    ],
    ids=["overrunning-length", "http-and-path", "one-valid", "empty-list"],
)
def test_r100_malformed_options_from_the_tests_own_server(
    link: Link, tmp_path: Path, entries: bytes, servers: list[str], rejected: int
) -> None:
    own_server(link, tmp_path, instances=[entries.hex()])
    got = probe(link, "QuerySource", "'dhcpv4', ['dev0'], timeout=10")
    (observation,) = got["observations"]
    assert got["servers"] == servers and observation["servers"] == servers
    assert len(observation["rejected"]) == rejected
    assert (observation["error"] is None) == bool(servers)


def test_malformed_dhcp_packet_is_no_answer(link: Link, tmp_path: Path) -> None:
    """An options area whose last option overruns it: the answer is passed over, named."""
    own_server(link, tmp_path, raw="8f40" + "00" * 8)
    got = probe(link, "QuerySource", "'dhcpv4', ['dev0'], timeout=2")
    assert got["servers"] == []
    assert "malformed answer" in got["observations"][0]["error"]


def test_run_helper_reports_failures() -> None:
    with pytest.raises(AssertionError, match="failed"):
        run(sys.executable, "-c", "import sys; sys.exit(3)")
