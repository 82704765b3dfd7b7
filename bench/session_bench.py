"""Benchmark: image download throughput, and the time and memory of a bootstrapping session.

Everything runs on loopback (127.0.0.1) against a lab made by ``sztp_lab.lab.create_lab``.
Images are served by nginx, started by this script as a foreground process with its own
configuration in a temporary directory (TLS with the lab's bootstrap-server certificate,
``sendfile on``), and stopped at the end.

1. **Image download**: ``sztp_client.transport.download.download`` of a ``--image-mib`` image
   (default 1024 MiB) into a file, with the SHA-256 compared to the expected digest, against
   the baseline ``curl -sk URL | openssl dgst -sha256`` measured in the same run (alternating,
   ``--download-runs`` each, best and median in MB/s, and the ratio client / baseline).  Two
   reference rows separate the network path from the disk: ``download()`` into a sink that
   drops the bytes, and a plain write of the same size into a new file.
2. **One session**: wall time and peak RSS of ``sztp-client run --once`` (signed onboarding
   information, a 1 MiB image installed into the ab-directory slot, then the simulated reboot),
   a fresh device each run, ``--session-runs`` runs after one warm-up; and, as a reference,
   ``sztp-client run --help`` (the interpreter and the imports ``run`` needs, no work).
3. **Streaming**: peak RSS of ``sztp-client run --once`` installing an image of a quarter of
   ``--image-mib`` and one of ``--image-mib``: the two must be close if the image is streamed.

Peak RSS is ``ru_maxrss`` from ``os.wait4`` on the client's process, run by a small launcher
(see ``LAUNCHER``).  The client runs with a bytecode cache in the temporary directory.  Goals
are printed as
PASS/MISS; they are informational, and the script exits 0 whatever the figures, unless a step
fails outright (a run that does not install, a digest mismatch, nginx that does not start).
See docs/benchmarks.md.

    .venv/bin/python bench/session_bench.py [--quick] [--image-mib N] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import hashlib
import hmac
import io
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cryptography
import urllib3
from cryptography.hazmat.backends.openssl import backend as crypto_backend

from sztp_client.transport.download import download
from sztp_client.transport.http import Timeouts
from sztp_lab.artifacts import make_signed_set, onboarding_json
from sztp_lab.lab import LabLayout, create_lab
from sztp_lab.scenario import Device, make_device
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response, ServerConfig

MIB = 1024 * 1024
MB = 1000 * 1000
SERIAL = "SZTP-BENCH-0001"
SESSION_IMAGE_MIB = 1
DEFAULT_IMAGE_MIB = 1024
QUICK_IMAGE_MIB = 64
DISK_MARGIN = 512 * MIB
RUN_TIMEOUT = 600.0
BASELINE_TIMEOUT = 600.0
NGINX_START_TIMEOUT = 10.0

GOAL_DOWNLOAD_RATIO = 0.9  # client MB/s over baseline MB/s, medians
GOAL_SESSION_MS = 300.0  # run --once wall time, median
GOAL_SESSION_RSS = 50 * MIB  # run --once peak RSS, median
GOAL_STREAM_RSS = 80 * MB  # run --once peak RSS with a large image
GOAL_STREAM_SPREAD = 10 * MB  # peak RSS, large image minus quarter-size image


class BenchError(Exception):
    """A step failed outright: the figures would mean nothing."""


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ---------------------------------------------------------------------------------------------
# Files and tools


def write_image(path: Path, mib: int) -> bytes:
    """Write ``mib`` MiB of real data (one random MiB repeated); return its SHA-256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(block)
            digest.update(block)
    path.chmod(0o644)
    return digest.digest()


def tool(name: str) -> str | None:
    """An executable on PATH, or in /usr/sbin and /sbin (nginx lives there)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def version_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, path from shutil.which
            argv, capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return "unknown"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].split(" (")[0] if text else "unknown"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------------------------
# nginx


NGINX_CONF = """\
{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 10;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {root};
        location / {{ }}
    }}
}}
"""


def nginx_user_directive() -> str:
    """As root, the workers run as nobody (the images are world-readable); else as we are."""
    if os.geteuid() != 0:
        return ""
    try:
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrgid(nobody.pw_gid).gr_name
    except KeyError:
        return "user root root;\n"
    return f"user nobody {group};\n"


@dataclass
class Nginx:
    """nginx serving ``root`` over HTTPS on 127.0.0.1, as a foreground child of this script."""

    binary: str
    prefix: Path
    root: Path
    lab: LabLayout
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def url_for(self, name: str) -> str:
        return f"{self.url}/{name}"

    def start(self) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        failure = ""
        for _ in range(3):  # the free port may be taken meanwhile
            self.port = free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    user=nginx_user_directive(),
                    prefix=self.prefix,
                    port=self.port,
                    cert=self.lab.server_cert,
                    key=self.lab.server_key,
                    root=self.root,
                )
            )
            output = (self.prefix / "stderr.log").open("wb")
            with output:
                self.process = subprocess.Popen(  # noqa: S603 - nginx with our own config
                    [
                        self.binary,
                        "-e",
                        str(self.prefix / "error.log"),
                        "-c",
                        str(conf),
                        "-p",
                        str(self.prefix),
                        "-g",
                        "daemon off;",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                return
            self.stop()
            failure = self._log_tail()
        raise BenchError(f"nginx did not start: {failure}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + NGINX_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            time.sleep(0.05)
        return False

    def _log_tail(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                texts.append((self.prefix / name).read_text(errors="replace").strip())
        return " / ".join(t for t in texts if t)[-2000:] or "no output"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # fast shutdown of the master and its worker
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# 1. Image download


@dataclass(frozen=True)
class Throughput:
    runs: int
    best_mbps: float
    median_mbps: float

    @classmethod
    def of(cls, size: int, seconds: Sequence[float]) -> Throughput:
        rates = [size / s / MB for s in seconds]
        return cls(len(rates), max(rates), statistics.median(rates))

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "best_mb_per_s": round(self.best_mbps, 1),
            "median_mb_per_s": round(self.median_mbps, 1),
        }


class Discard(io.RawIOBase):
    """A destination that drops what it is given: the download without the disk write."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(memoryview(data))


def time_client_download(url: str, destination: Path | None, size: int, expected: bytes) -> float:
    """One ``download()`` into a new file ``destination`` (None: into :class:`Discard`), with
    the runner's kind of space check; the digest must be the expected one."""
    directory = destination.parent if destination is not None else Path(tempfile.gettempdir())

    def check_space(_size: int) -> None:
        shutil.disk_usage(directory)

    def on_progress(_done: int, _total: int | None) -> None:
        return None

    start = time.perf_counter()
    with destination.open("wb") if destination is not None else Discard() as handle:
        result = download(
            url,
            handle,
            timeouts=Timeouts(),
            check_space=check_space,
            on_progress=on_progress,
            verify_tls=False,
        )
    ok = result.size == size and hmac.compare_digest(result.sha256, expected)
    elapsed = time.perf_counter() - start
    if not ok:
        raise BenchError(f"download() gave {result.size} bytes, sha256 {result.sha256.hex()}")
    return elapsed


def time_plain_write(destination: Path, size: int) -> float:
    """Write ``size`` bytes (one MiB repeated) into a new file: what the disk write alone costs
    on this machine."""
    block = bytes(MIB)
    start = time.perf_counter()
    with destination.open("wb") as out:
        for _ in range(size // MIB):
            out.write(block)
    return time.perf_counter() - start


def time_baseline(bash: str, curl: str, openssl: str, url: str, expected: bytes) -> float:
    """One ``curl -sk URL | openssl dgst -sha256``; the digest it prints must be the expected."""
    pipeline = f"{curl} -sk {url} | {openssl} dgst -sha256"
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - fixed words, paths from shutil.which
        [bash, "-o", "pipefail", "-c", pipeline],
        capture_output=True,
        text=True,
        check=False,
        timeout=BASELINE_TIMEOUT,
    )
    elapsed = time.perf_counter() - start
    words = done.stdout.split()
    if done.returncode != 0 or not words or words[-1] != expected.hex():
        raise BenchError(f"{pipeline}: exit {done.returncode}: {done.stdout} {done.stderr}")
    return elapsed


def bench_download(
    nginx: Nginx, name: str, *, size: int, expected: bytes, work: Path, runs: int
) -> dict[str, Any]:
    url = nginx.url_for(name)
    bash, curl, openssl = tool("bash"), tool("curl"), tool("openssl")
    destination = work / "download.img"
    client: list[float] = []
    discard: list[float] = []
    baseline: list[float] = []
    write: list[float] = []
    for _ in range(runs):  # alternating, each after a sync so writeback does not carry over
        os.sync()
        client.append(time_client_download(url, destination, size, expected))
        destination.unlink()
        os.sync()
        discard.append(time_client_download(url, None, size, expected))
        if bash and curl and openssl:
            os.sync()
            baseline.append(time_baseline(bash, curl, openssl, url, expected))
        os.sync()
        write.append(time_plain_write(destination, size))
        destination.unlink()
    result: dict[str, Any] = {
        "size_mib": size // MIB,
        "client": Throughput.of(size, client),
        "client_discard": Throughput.of(size, discard),
        "plain_write": Throughput.of(size, write),
    }
    if baseline:
        result["baseline"] = Throughput.of(size, baseline)
    else:
        result["baseline"] = None
        result["baseline_error"] = "bash, curl or openssl not found on PATH"
    return result


# ---------------------------------------------------------------------------------------------
# 2 and 3. Client runs


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    max_rss: int  # bytes
    returncode: int
    floor: int  # bytes: the launcher's own peak RSS, below which max_rss cannot go


# ``ru_maxrss`` of a child starts at the peak RSS of the process it was forked from (the kernel
# carries the parent's high-water mark over fork/vfork and exec), so a child of this script
# would report at least this script's own RSS.  A small launcher (a bare interpreter, -I -S)
# starts the client instead, waits for it with os.wait4 and prints its figures as JSON.
LAUNCHER = """
import json, os, signal, sys, time
argv, env, output, timeout = json.loads(sys.argv[1])
actions = [
    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    (os.POSIX_SPAWN_DUP2, 1, 2),
]
with open("/proc/self/status") as status:  # this process's own high-water mark, in KiB
    floor = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.alarm(int(timeout))
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
signal.alarm(0)
code = os.waitstatus_to_exitcode(status)
print(json.dumps([seconds, usage.ru_maxrss, code, floor]))
"""


def run_measured(
    argv: list[str], env: dict[str, str], output: Path, timeout: float = RUN_TIMEOUT
) -> ProcessRun:
    """Run ``argv`` with its output in ``output``: wall time and peak RSS, from the launcher."""
    request = json.dumps([argv, env, str(output), timeout])
    done = subprocess.run(  # noqa: S603 - this interpreter with the launcher above
        [sys.executable, "-I", "-S", "-c", LAUNCHER, request],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout + 30,
    )
    if done.returncode != 0:
        raise BenchError(f"the launcher failed: {done.stderr.strip()[-2000:]}")
    seconds, max_rss_kib, returncode, floor_kib = json.loads(done.stdout)
    return ProcessRun(seconds, max_rss_kib * 1024, returncode, floor_kib * 1024)


def client_environment(cache: Path) -> dict[str, str]:
    """The client runs with a bytecode cache of its own (filled by the warm-up runs), as an
    installed package has its .pyc files, even where PYTHONDONTWRITEBYTECODE is set; nothing
    is written into the source tree."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def client_command() -> list[str]:
    script = Path(sys.executable).parent / "sztp-client"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sztp_client"]


def tail(path: Path, limit: int = 2000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-limit:]
    return ""


@dataclass
class Session:
    """A bootstrap server offering signed onboarding information with one image."""

    lab: LabLayout
    server: LabBootstrapServer
    image_size: int
    env: dict[str, str]

    @classmethod
    @contextlib.contextmanager
    def serving(
        cls, lab: LabLayout, image_url: str, image_size: int, digest: bytes, env: dict[str, str]
    ) -> Iterator[Session]:
        conveyed = onboarding_json(
            os_name="LabOS",
            os_version="2.0",
            download_uris=(image_url,),
            sha256=digest,
            configuration_handling="merge",
            configuration=json.dumps({"hostname": "bench-device"}).encode(),
            pre_script=b"#!/bin/sh\nexit 0\n",
            post_script=b"#!/bin/sh\nexit 0\n",
        )
        server = LabBootstrapServer(
            ServerConfig(
                identity=lab.server_identity,
                client_ca=[lab.pki.manufacturer_root.cert],
                default=Response(signed=make_signed_set(lab.pki, SERIAL, conveyed)),
            )
        )
        server.start()
        try:
            yield cls(lab, server, image_size, env)
        finally:
            server.stop()

    def device(self, root: Path) -> Device:
        return make_device(
            root,
            self.lab.pki,
            SERIAL,
            idevid=self.lab.idevid,
            servers=[self.server.url],
            server_trust_anchors=[self.lab.server_root.cert],
        )

    def run_once(self, root: Path) -> ProcessRun:
        """``run --once`` on a fresh device under ``root``: it must install and reboot."""
        device = self.device(root)
        log = root / "client-output.log"
        result = run_measured(
            [*client_command(), "run", "--once", "--config", str(device.config_path)],
            self.env,
            log,
        )
        installed = device.slots / "b" / "image"
        size = installed.stat().st_size if installed.exists() else None
        if result.returncode != 0 or device.reboots != 1 or size != self.image_size:
            raise BenchError(
                f"sztp-client run --once exit {result.returncode}, {device.reboots} reboots, "
                f"slot b image size {size} (expected {self.image_size}): {tail(log)}"
            )
        shutil.rmtree(root)
        return result


def process_stats(runs: Sequence[ProcessRun]) -> dict[str, Any]:
    ms = [r.seconds * 1000 for r in runs]
    rss = [r.max_rss / MIB for r in runs]
    return {
        "runs": len(runs),
        "median_ms": round(statistics.median(ms), 1),
        "min_ms": round(min(ms), 1),
        "median_rss_mib": round(statistics.median(rss), 1),
        "max_rss_mib": round(max(rss), 1),
        "min_rss_mib": round(min(rss), 1),
        "launcher_floor_mib": round(max(r.floor for r in runs) / MIB, 1),
    }


def bench_session(
    lab: LabLayout, image_url: str, digest: bytes, *, work: Path, runs: int, env: dict[str, str]
) -> dict[str, Any]:
    startup: list[ProcessRun] = []
    for i in range(runs + 1):  # the first is a warm-up
        done = run_measured([*client_command(), "run", "--help"], env, work / "startup.log")
        if done.returncode != 0:
            raise BenchError(f"sztp-client run --help exit {done.returncode}")
        if i:
            startup.append(done)
    sessions: list[ProcessRun] = []
    with Session.serving(lab, image_url, SESSION_IMAGE_MIB * MIB, digest, env) as session:
        for i in range(runs + 1):
            done = session.run_once(work / f"session-{i}")
            if i:
                sessions.append(done)
    run_stats = process_stats(sessions)
    return {
        "image_mib": SESSION_IMAGE_MIB,
        "run_once": run_stats,
        "startup": process_stats(startup),
        "goal_ms": verdict(run_stats["median_ms"] < GOAL_SESSION_MS),
        "goal_rss": verdict(statistics.median(r.max_rss for r in sessions) < GOAL_SESSION_RSS),
    }


def bench_streaming(
    lab: LabLayout, images: Sequence[tuple[str, int, bytes]], work: Path, env: dict[str, str]
) -> dict[str, Any]:
    """One ``run --once`` per image (url, size, digest): peak RSS and wall time."""
    rows: list[dict[str, Any]] = []
    for url, size, digest in images:
        with Session.serving(lab, url, size, digest, env) as session:
            done = session.run_once(work / f"stream-{size // MIB}")
        rows.append(
            {
                "image_mib": size // MIB,
                "wall_s": round(done.seconds, 2),
                "max_rss_mib": round(done.max_rss / MIB, 1),
                "max_rss_bytes": done.max_rss,
                "goal_rss": verdict(done.max_rss < GOAL_STREAM_RSS),
            }
        )
    spread = rows[-1]["max_rss_bytes"] - rows[0]["max_rss_bytes"]
    return {
        "runs": rows,
        "rss_difference_mb": round(spread / MB, 1),
        "goal_difference": verdict(abs(spread) < GOAL_STREAM_SPREAD),
    }


# ---------------------------------------------------------------------------------------------
# Run and report


def disk_needed(large: int) -> int:
    """Peak disk use: the served images (large + quarter), then during the large run --once
    the downloaded copy and the slot copy; during the download benchmark one more copy."""
    return large + large // 4 + 2 * large + DISK_MARGIN


def run(image_mib: int, download_runs: int, session_runs: int) -> dict[str, Any]:
    large = image_mib * MIB
    quarter = max(image_mib // 4, 1) * MIB
    nginx_binary = tool("nginx")
    curl, openssl = tool("curl"), tool("openssl")
    summary: dict[str, Any] = {
        "environment": {
            "python": platform.python_version(),
            "urllib3": urllib3.__version__,
            "cryptography": cryptography.__version__,
            "cryptography_openssl": crypto_backend.openssl_version_text(),
            "nginx": version_line([nginx_binary, "-v"]) if nginx_binary else None,
            "curl": version_line([curl, "--version"]) if curl else None,
            "openssl_cli": version_line([openssl, "version"]) if openssl else None,
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
        },
        "goals": {
            "download_ratio_min": GOAL_DOWNLOAD_RATIO,
            "session_ms_max": GOAL_SESSION_MS,
            "session_rss_mib_max": GOAL_SESSION_RSS / MIB,
            "stream_rss_mb_max": GOAL_STREAM_RSS / MB,
            "stream_difference_mb_max": GOAL_STREAM_SPREAD / MB,
        },
    }
    base = Path(tempfile.mkdtemp(prefix="sztp-session-bench-"))
    nginx: Nginx | None = None
    files: LabFileServer | None = None
    try:
        free = shutil.disk_usage(base).free
        if free < disk_needed(large):
            raise BenchError(
                f"{base} has {free // MIB} MiB free; {disk_needed(large) // MIB} MiB are needed "
                f"for {image_mib} MiB images: use --image-mib with a smaller size"
            )
        base.chmod(0o755)  # nginx workers (as nobody when we are root) read the images
        lab = create_lab(base / "lab", serial_number=SERIAL)
        images = base / "images"
        images.mkdir(mode=0o755)
        digests = {
            "session.img": write_image(images / "session.img", SESSION_IMAGE_MIB),
            "quarter.img": write_image(images / "quarter.img", quarter // MIB),
            "large.img": write_image(images / "large.img", image_mib),
        }
        work = base / "work"
        work.mkdir()

        url_for: Callable[[str], str]
        if nginx_binary is not None:
            nginx = Nginx(nginx_binary, base / "nginx", images, lab)
            nginx.start()
            url_for = nginx.url_for
            summary["image_server"] = f"nginx {nginx.url}"
            summary["download"] = bench_download(
                nginx,
                "large.img",
                size=large,
                expected=digests["large.img"],
                work=work,
                runs=download_runs,
            )
        else:
            files = LabFileServer(images, identity=lab.server_identity)
            files.start()
            url_for = files.url_for
            summary["image_server"] = f"LabFileServer {files.url} (nginx not found)"
            summary["download"] = {"skipped": "nginx not found on PATH or in /usr/sbin"}

        env = client_environment(base / "pycache")
        summary["session"] = bench_session(
            lab,
            url_for("session.img"),
            digests["session.img"],
            work=work,
            runs=session_runs,
            env=env,
        )
        summary["streaming"] = bench_streaming(
            lab,
            [
                (url_for("quarter.img"), quarter, digests["quarter.img"]),
                (url_for("large.img"), large, digests["large.img"]),
            ],
            work,
            env,
        )
    finally:
        if nginx is not None:
            nginx.stop()
        if files is not None:
            files.stop()
        shutil.rmtree(base, ignore_errors=True)

    download_result = summary["download"]
    if "client" in download_result:
        baseline = download_result["baseline"]
        if baseline is not None:
            for key, name in (("client", "ratio"), ("client_discard", "ratio_discard")):
                measured = download_result[key]
                download_result[f"{name}_median"] = round(
                    measured.median_mbps / baseline.median_mbps, 2
                )
                download_result[f"{name}_best"] = round(measured.best_mbps / baseline.best_mbps, 2)
            download_result["goal"] = verdict(
                download_result["ratio_median"] >= GOAL_DOWNLOAD_RATIO
            )
        for key in ("client", "client_discard", "plain_write", "baseline"):
            value = download_result[key]
            download_result[key] = value.as_dict() if value is not None else None
    return summary


def format_table(summary: dict[str, Any]) -> str:
    env = summary["environment"]
    lines = [
        "SZTP client session: image download, sztp-client run --once, memory against image size",
        f"python {env['python']}, urllib3 {env['urllib3']}, cryptography {env['cryptography']} "
        f"({env['cryptography_openssl']}), {env['cpus']} CPUs ({env['machine']})",
        f"{env['nginx'] or 'nginx absent'}; {env['curl'] or 'curl absent'}; "
        f"openssl CLI: {env['openssl_cli'] or 'absent'}",
        f"image server: {summary['image_server']}; bootstrap server: the lab's; "
        "client: warm bytecode cache",
        "MB = 10^6 bytes, MiB = 2^20 bytes",
        "",
    ]
    header = f"{'measurement':<52} {'best':>9} {'median':>9}  {'unit':<5} goal"
    lines += [header, "-" * 100]

    def row(label: str, best: float | str, median: float | str, unit: str, goal: str = "") -> None:
        def cell(value: float | str) -> str:
            return f"{value:>9.1f}" if isinstance(value, float) else f"{value:>9}"

        lines.append(f"{label:<52} {cell(best)} {cell(median)}  {unit:<5} {goal}".rstrip())

    d = summary["download"]
    if "skipped" in d:
        lines.append(f"1. image download: skipped: {d['skipped']}")
    else:
        lines.append(
            f"1. image download + SHA-256, {d['size_mib']} MiB over loopback HTTPS "
            f"({d['client']['runs']} runs each, alternating)"
        )
        c, x, w = d["client"], d["client_discard"], d["plain_write"]
        row(
            "   client: download() into a new file",
            c["best_mb_per_s"],
            c["median_mb_per_s"],
            "MB/s",
        )
        row(
            "   client: download() into a discarding sink",
            x["best_mb_per_s"],
            x["median_mb_per_s"],
            "MB/s",
        )
        b = d["baseline"]
        if b is None:
            lines.append(f"   baseline skipped: {d['baseline_error']}")
        else:
            row(
                "   baseline: curl -sk URL | openssl dgst -sha256",
                b["best_mb_per_s"],
                b["median_mb_per_s"],
                "MB/s",
            )
        row(
            f"   reference: write {d['size_mib']} MiB into a new file",
            w["best_mb_per_s"],
            w["median_mb_per_s"],
            "MB/s",
        )
        if b is not None:
            lines.append(
                f"{'   ratio client (file) / baseline':<52} {d['ratio_best']:>9.2f} "
                f"{d['ratio_median']:>9.2f}  {'':<5} >= {GOAL_DOWNLOAD_RATIO:g} (median): "
                f"{d['goal']}"
            )
            lines.append(
                f"{'   ratio client (sink) / baseline':<52} {d['ratio_discard_best']:>9.2f} "
                f"{d['ratio_discard_median']:>9.2f}"
            )
    s = summary["session"]
    r, v = s["run_once"], s["startup"]
    lines.append(
        f"2. sztp-client run --once: signed onboarding, {s['image_mib']} MiB image, "
        f"ab-directory ({r['runs']} runs after a warm-up, fresh device each)"
    )
    row(
        "   wall time",
        r["min_ms"],
        r["median_ms"],
        "ms",
        f"< {GOAL_SESSION_MS:g} ms (median): {s['goal_ms']}",
    )
    row(
        "   peak RSS",
        r["min_rss_mib"],
        r["median_rss_mib"],
        "MiB",
        f"< {GOAL_SESSION_RSS // MIB} MiB (median): {s['goal_rss']}",
    )
    row("   reference: sztp-client run --help, wall time", v["min_ms"], v["median_ms"], "ms")
    row(
        "   reference: sztp-client run --help, peak RSS",
        v["min_rss_mib"],
        v["median_rss_mib"],
        "MiB",
    )
    row(
        "   run --once minus run --help (medians)",
        "",
        round(r["median_ms"] - v["median_ms"], 1),
        "ms",
    )
    st = summary["streaming"]
    lines.append("3. sztp-client run --once, peak RSS against image size (one run each)")
    for item in st["runs"]:
        row(
            f"   {item['image_mib']} MiB image: peak RSS (wall {item['wall_s']:.1f} s)",
            "",
            item["max_rss_mib"],
            "MiB",
            f"< {GOAL_STREAM_RSS // MB} MB: {item['goal_rss']}",
        )
    first, last = st["runs"][0]["image_mib"], st["runs"][-1]["image_mib"]
    row(
        f"   peak RSS difference, {last} MiB - {first} MiB image",
        "",
        st["rss_difference_mb"],
        "MB",
        f"< {GOAL_STREAM_SPREAD // MB} MB: {st['goal_difference']}",
    )
    lines.append("")
    lines.append(
        "Best = highest MB/s, lowest ms and MiB. The goals are informational; "
        "figures never fail this script."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--image-mib",
        type=int,
        default=None,
        help=f"size of the large image in MiB (default {DEFAULT_IMAGE_MIB}, "
        f"{QUICK_IMAGE_MIB} with --quick); the streaming run also uses a quarter of it",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_IMAGE_MIB} MiB images: a fast smoke run"
    )
    parser.add_argument(
        "--download-runs", type=int, default=3, help="downloads of each kind (default 3)"
    )
    parser.add_argument(
        "--session-runs", type=int, default=5, help="timed run --once sessions (default 5)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON summary instead of the table"
    )
    args = parser.parse_args(argv)
    image_mib = args.image_mib or (QUICK_IMAGE_MIB if args.quick else DEFAULT_IMAGE_MIB)
    if image_mib < 4 or args.download_runs < 1 or args.session_runs < 1:
        parser.error("--image-mib must be at least 4, the run counts at least 1")
    try:
        summary = run(image_mib, args.download_runs, args.session_runs)
    except BenchError as exc:
        print(f"session benchmark failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
