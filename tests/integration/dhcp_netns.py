"""Network namespaces for the DHCP tests: a server and a device namespace joined by a veth
pair (``srv0`` 192.0.2.1/24 and 2001:db8::1/64 in the server's, ``dev0`` in the device's),
and the processes run inside them, always stopped and the namespaces always removed.

Only the documentation ranges are used, and only inside these namespaces.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import require

_COUNTER = itertools.count()
ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # generous: the suite shares two cores


def require_netns(*tools: str) -> None:
    require(os.geteuid() == 0, "root (network namespaces)")
    require(shutil.which("ip") is not None, "ip (iproute2)")
    for tool in tools:
        require(shutil.which(tool) is not None, tool)


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, check=False)
    if done.returncode:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


class Process:
    """A child process with its output lines collected, to wait on a line it prints."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def drain(self) -> None:
        """Take the lines printed so far into :attr:`lines`."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if text in line:
                return line
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"{self.argv[0:4]} never printed {text!r}: {self.lines[-20:]}")

    def stop(self) -> None:
        self.drain()
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@dataclass
class Link:
    server: str
    device: str
    processes: list[Process] = field(default_factory=list)

    def start(self, namespace: str, argv: Sequence[str], **kwargs: Any) -> Process:
        process = Process(["ip", "netns", "exec", namespace, *argv], **kwargs)
        self.processes.append(process)
        return process

    def in_device(self, *argv: str) -> str:
        return run("ip", "netns", "exec", self.device, *argv)

    def in_server(self, *argv: str) -> str:
        return run("ip", "netns", "exec", self.server, *argv)

    def give_device_address(self) -> None:
        self.in_device("ip", "addr", "add", "192.0.2.50/24", "dev", "dev0")

    def probe(self, code: str) -> Any:
        """Run ``code`` with the project's Python inside the device namespace; it must print
        one JSON document as its last line."""
        out = run("ip", "netns", "exec", self.device, sys.executable, "-c", code)
        return json.loads(out.strip().splitlines()[-1])


def _wait_link_local(namespace: str, interface: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        out = run("ip", "netns", "exec", namespace, "ip", "-6", "addr", "show", "dev", interface)
        if "fe80::" in out and "tentative" not in out:
            return
        time.sleep(0.05)
    raise AssertionError(f"{interface} in {namespace} got no usable link-local address")


@contextmanager
def veth_link() -> Iterator[Link]:
    stem = f"sztpdhcp{os.getpid()}x{next(_COUNTER)}"
    link = Link(f"{stem}s", f"{stem}d")
    created: list[str] = []
    try:
        for namespace in (link.server, link.device):
            run("ip", "netns", "add", namespace)
            created.append(namespace)
            for setting in ("all", "default"):
                run("ip", "netns", "exec", namespace, "sysctl", "-qw",
                    f"net.ipv6.conf.{setting}.accept_dad=0")  # fmt: skip
            run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        link.in_device(
            "ip", "link", "add", "dev0", "type", "veth", "peer", "name", "srv0", "netns",
            link.server,
        )  # fmt: skip
        link.in_server("ip", "addr", "add", "192.0.2.1/24", "dev", "srv0")
        link.in_server("ip", "addr", "add", "2001:db8::1/64", "dev", "srv0", "nodad")
        link.in_server("ip", "link", "set", "srv0", "up")
        link.in_device("ip", "link", "set", "dev0", "up")
        _wait_link_local(link.device, "dev0")
        _wait_link_local(link.server, "srv0")
        yield link
    finally:
        for process in reversed(link.processes):
            process.stop()
        for namespace in reversed(created):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def dnsmasq(link: Link, workdir: Path, *options: str) -> Process:
    """dnsmasq serving DHCPv4 and DHCPv6 on ``srv0`` (no DNS), in the foreground."""
    process = link.start(
        link.server,
        [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            "--log-facility=-", "--log-dhcp", "--user=root", "--group=root", "--no-ping",
            "--interface=srv0", "--bind-interfaces", "--pid-file=",
            f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
            "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,1h",
            "--dhcp-range=2001:db8::100,2001:db8::1ff,64,1h",
            "--dhcp-authoritative",
            *options,
        ],
    )  # fmt: skip
    process.wait_for("DHCPv6, IP range")
    return process


def wait_for_file(
    path: Path, text: str = "", timeout: float = WAIT, alive: Process | None = None
) -> str:
    """Wait until ``path`` holds ``text``; fail early when ``alive`` (the process that should
    write it) has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.popen.poll() is not None:
            time.sleep(0.2)  # its last write may have just landed
            content = path.read_text(errors="replace") if path.exists() else ""
            if text in content:
                return content
            raise AssertionError(f"{alive.argv[3:5]} ended before {path} held {text!r}")
        try:
            content = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            content = None
        if content is not None and text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{path} never held {text!r}")
