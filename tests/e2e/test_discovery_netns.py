"""Discovery end to end in network namespaces: the real ``sztp-client`` runs in a device
namespace, finds the lab bootstrap server of the server namespace through DHCPv4 option 143
(R-096, R-097, R-102) and, separately, through DNS SRV records (R-108, D1), and bootstraps
from its signed data to ``bootstrap-complete``.

The lab server listens on the server namespace's address: its socket is bound from a thread
that entered that namespace.  Only the documentation ranges are used, inside the namespaces.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sztp_lab.server import LabBootstrapServer, Response, ServerConfig
from tests.e2e.conftest import Env
from tests.integration.dhcp_netns import Link, dnsmasq, require_netns, veth_link

SERVER_ADDRESS = "192.0.2.1"
CLONE_NEWNET = 0x40000000


def _in_namespace(namespace: str, action: Any) -> None:
    """Run ``action`` in a thread that entered ``namespace`` (the sockets it creates stay
    there); re-raise what it raised."""
    failure: list[BaseException] = []

    def body() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            action()
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _server_in(env: Env, link: Link, response: Response) -> LabBootstrapServer:
    config = ServerConfig(
        identity=env.lab.server_identity,
        default=response,
        client_ca=[env.lab.pki.manufacturer_root.cert],
        strict=True,
    )
    server = LabBootstrapServer(config, host=SERVER_ADDRESS)
    _in_namespace(link.server, server.start)
    env.servers.append(server)
    return server


def _signed_response(env: Env) -> Response:
    conveyed = env.onboarding(configuration={"hostname": "found-on-the-network"})
    return Response(signed=env.signed(conveyed), reporting_level="verbose")


def _colon(data: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in data)


def _server_list(*uris: str) -> bytes:
    return b"".join(len(u).to_bytes(2, "big") + u.encode() for u in uris)


@pytest.fixture
def link() -> Iterator[Link]:
    require_netns("dnsmasq")
    with veth_link() as made:
        yield made


def _bootstrapped(device: Any, result: Any) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(device.config_file.read_text())["hostname"] == "found-on-the-network"
    assert device.status()["state"] == "bootstrapped"


def test_r097_device_finds_the_lab_server_through_dhcpv4_and_bootstraps(
    env: Env, link: Link, tmp_path: Path
) -> None:
    """R-096, R-097, R-102: dnsmasq names the lab server in option 143; the device's own
    DHCPINFORM finds it; the server is contacted provisionally (DHCP is untrusted), its signed
    data verified and applied; the untrusted server gets no progress reports."""
    server = _server_in(env, link, _signed_response(env))
    option = _server_list(server.url)
    dnsmasq(link, tmp_path, f"--dhcp-option-force=143,{_colon(option)}")
    link.give_device_address()
    device = env.device(
        [],
        extra={
            "discovery": {"order": ["dhcpv4"], "interfaces": ["dev0"]},
            "discovery.dhcp": {"lease-files": [], "drop-dir": str(tmp_path / "drop")},
        },
    )
    result = device.run("run", "--once", wrapper=["ip", "netns", "exec", link.device])
    _bootstrapped(device, result)
    status = device.status()
    [found] = [s for s in status["sources"] if s["bootstrap-servers"]]
    assert found["kind"] == "dhcpv4" and "dev0" in found["origin"]
    assert found["bootstrap-servers"] == [server.url]
    assert found["outcome"] == "bootstrap-complete"
    [attempt] = status["attempts"]
    assert attempt["source"] == "dhcpv4" and attempt["trust"] == "provisional"
    assert server.reports() == []  # an untrusted server is sent no progress reports


@pytest.fixture
def resolv_conf(link: Link) -> Iterator[Path]:
    """``ip netns exec`` mounts /etc/netns/<namespace>/resolv.conf over /etc/resolv.conf: the
    device namespace's name server is the server namespace's dnsmasq."""
    directory = Path("/etc/netns") / link.device
    directory.mkdir(parents=True)
    try:
        path = directory / "resolv.conf"
        path.write_text(f"nameserver {SERVER_ADDRESS}\nsearch sztp.test\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_r108_device_finds_the_lab_server_through_dns_srv_and_bootstraps(
    env: Env, link: Link, tmp_path: Path, resolv_conf: Path
) -> None:
    """R-108, D1, D5: the SRV record `_sztp._tcp.sztp.test` (the domain from resolv.conf)
    names `boot.sztp.test` and the lab server's port; the device contacts
    `https://boot.sztp.test:<port>` provisionally and bootstraps from its signed data."""
    server = _server_in(env, link, _signed_response(env))
    link.start(
        link.server,
        [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--log-facility=-",
            "--log-queries", "--user=root", "--group=root", "--no-resolv", "--no-hosts",
            f"--listen-address={SERVER_ADDRESS}", "--bind-interfaces", "--pid-file=",
            f"--srv-host=_sztp._tcp.sztp.test,boot.sztp.test,{server.port},0,0",
            f"--host-record=boot.sztp.test,{SERVER_ADDRESS}",
        ],
    ).wait_for("started")  # fmt: skip
    link.give_device_address()
    device = env.device([], extra={"discovery": {"order": ["dns-srv"]}})
    result = device.run("run", "--once", wrapper=["ip", "netns", "exec", link.device])
    _bootstrapped(device, result)
    status = device.status()
    [found] = [s for s in status["sources"] if s["bootstrap-servers"]]
    assert found["kind"] == "dns-srv"
    assert found["bootstrap-servers"] == [f"https://boot.sztp.test:{server.port}"]
    [attempt] = status["attempts"]
    assert attempt["source"] == "dns-srv" and attempt["address"] == SERVER_ADDRESS
    assert attempt["trust"] == "provisional"
