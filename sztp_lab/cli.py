"""``sztp-lab``: make a lab on disk and serve a simple bootstrap scenario from it.

    sztp-lab create DIR [--serial-number SN] [--key-type ec-p256] [--port P] [--file-port P]
    sztp-lab serve DIR [--host H] [--port P] [--file-port P] [--image FILE]

``create`` writes the lab (PKI, the device's identity, the servers' files), a simulated device
for ``sztp-client`` under DIR/client (its configuration DIR/client/etc/client.toml names the
bootstrap server ``serve`` runs) and a signed set of artifacts under DIR/artifacts that
``sztp-client verify`` accepts; it prints the commands to try next.

``serve`` runs, on 127.0.0.1, a bootstrap server whose default answer is signed onboarding
information (a nonce voucher when the device sends a nonce) naming a boot image, and an HTTPS
file server offering that image, on the ports ``create`` wrote into the device's configuration
(8443 and 8444 unless told otherwise).  It prints the URLs as JSON, then one line per request,
and runs until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Final

from sztp_lab.artifacts import SignedSet, make_signed_set, onboarding_json
from sztp_lab.lab import DEFAULT_SERIAL_NUMBER, LabLayout, create_lab, load_lab
from sztp_lab.pki import KEY_TYPES
from sztp_lab.scenario import Device, make_device
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response, ServerConfig

DEFAULT_IMAGE_NAME: Final = "lab-os-1.0.img"
DEFAULT_IMAGE: Final = b"SZTP lab demo boot image, LabOS 1.0\n" * 1024
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8443
DEFAULT_FILE_PORT: Final = 8444
# DIR/serve.json: the ports `create` wrote into the device's configuration and artifacts,
# which `serve` listens on unless told otherwise.
SERVE_FILE: Final = "serve.json"
CLIENT_DIR: Final = "client"
ARTIFACTS_DIR: Final = "artifacts"
# Trust keys of the client configuration that are not `sztp-client verify` options.
_NOT_VERIFY_OPTIONS: Final = frozenset({"bootstrap-server-trust-anchors"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sztp-lab",
        description=__doc__.split("\n\n")[0].strip("`: ").replace("``", ""),
        epilog="exit codes: 0 success, 1 the lab could not be written or served (the message "
        "says why), 2 usage error",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create",
        help="write a lab: PKI, device, server files, a client configuration, signed artifacts",
        description="Write a lab under DIR: its PKI, one device's IDevID, the servers' files, a "
        "simulated device for sztp-client (DIR/client/etc/client.toml) and a signed set of "
        "artifacts (DIR/artifacts) for sztp-client verify.",
    )
    create.add_argument(
        "directory", type=Path, metavar="DIR", help="where to write the lab (new or empty)"
    )
    create.add_argument(
        "--serial-number",
        default=DEFAULT_SERIAL_NUMBER,
        metavar="SN",
        help=f"the device's serial number (default: {DEFAULT_SERIAL_NUMBER})",
    )
    create.add_argument(
        "--key-type",
        choices=KEY_TYPES,
        default="ec-p256",
        help="key type of every certificate of the lab (default: ec-p256)",
    )
    create.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        metavar="P",
        help="bootstrap server port the device's configuration names and serve listens on "
        f"(default: {DEFAULT_PORT})",
    )
    create.add_argument(
        "--file-port",
        type=_port,
        default=DEFAULT_FILE_PORT,
        metavar="P",
        help="file server port the boot image's URL names and serve listens on "
        f"(default: {DEFAULT_FILE_PORT})",
    )

    serve = commands.add_parser(
        "serve",
        help="serve a bootstrap scenario from a lab",
        description="Serve the lab's device a bootstrap server and an image file server on "
        "loopback, printing their URLs as JSON, then one line per request, until Ctrl-C or "
        "SIGTERM.",
    )
    serve.add_argument("directory", type=Path, metavar="DIR", help="a lab made by create")
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"loopback address to listen on (default: {DEFAULT_HOST})",
    )
    serve.add_argument(
        "--port",
        type=_port,
        metavar="P",
        help="bootstrap server port (default: the one create wrote into the device's "
        f"configuration, normally {DEFAULT_PORT}; 0: any free port)",
    )
    serve.add_argument(
        "--file-port",
        type=_port,
        metavar="P",
        help="file server port (default: the one create chose, normally "
        f"{DEFAULT_FILE_PORT}; 0: any free port)",
    )
    serve.add_argument(
        "--image",
        type=Path,
        metavar="FILE",
        help=f"boot image to offer (default: a small demo image, {DEFAULT_IMAGE_NAME})",
    )
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return port


def _image(layout: LabLayout, image: Path | None) -> Path:
    """The image to offer, placed in server/images/ (a link to ``image`` when given)."""
    layout.images_dir.mkdir(parents=True, exist_ok=True)
    if image is None:
        target = layout.images_dir / DEFAULT_IMAGE_NAME
        if not target.exists():
            target.write_bytes(DEFAULT_IMAGE)
        return target
    source = image.resolve(strict=True)
    target = layout.images_dir / source.name
    if target.is_symlink() or target.exists():
        if target.resolve() == source:
            return target
        target.unlink()
    target.symlink_to(source)
    return target


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


def _url(host: str, port: int, path: str = "") -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return f"https://{bracketed}:{port}{path}"


def _onboarding(image_url: str, image: Path) -> bytes:
    return onboarding_json(
        os_name="LabOS", os_version="1.0", download_uris=[image_url], sha256=_sha256(image)
    )


def _command(name: str) -> str:
    """The console script ``name`` of this environment when it is there, else the bare name."""
    script = Path(sys.executable).parent / name
    return str(script) if script.exists() else name


# ---------------------------------------------------------------------------------------------
# create


def _verify_command(device: Device, artifacts: Path) -> list[str]:
    """The ``sztp-client verify`` command line that checks ``artifacts`` as ``device`` would:
    each trust-anchor setting of its configuration becomes the option of the same name."""
    import tomllib  # noqa: PLC0415 - only create needs it

    config = tomllib.loads(device.config_path.read_text(encoding="utf-8"))
    base = device.config_path.parent
    command = [
        _command("sztp-client"),
        "verify",
        str(artifacts / "conveyed-information.cms"),
        "--owner-certificate",
        str(artifacts / "owner-certificate.cms"),
        "--ownership-voucher",
        str(artifacts / "ownership-voucher.cms"),
        "--serial-number",
        device.serial_number,
    ]
    trust: dict[str, Any] = config.get("trust", {})
    for key, files in trust.items():
        if not key.endswith("-trust-anchors") or key in _NOT_VERIFY_OPTIONS:
            continue
        for name in files:
            command += [f"--{key}", str((base / name).resolve())]
    return command


def _create(directory: Path, serial_number: str, key_type: Any, port: int, file_port: int) -> int:
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} is not empty; give a new or empty directory")
    layout = create_lab(directory, serial_number=serial_number, key_type=key_type)
    root = layout.directory.resolve()
    (root / SERVE_FILE).write_text(
        json.dumps({"port": port, "file-port": file_port}, indent=2) + "\n", encoding="utf-8"
    )
    device = make_device(
        root / CLIENT_DIR,
        layout.pki,
        layout.serial_number,
        idevid=layout.idevid,
        servers=[_url(DEFAULT_HOST, port)],
        server_trust_anchors=[layout.server_root.cert],
    )
    image = _image(layout, None)
    signed = make_signed_set(
        layout.pki,
        layout.serial_number,
        _onboarding(_url(DEFAULT_HOST, file_port, f"/{image.name}"), image),
    )
    artifacts = root / ARTIFACTS_DIR
    artifacts.mkdir()
    (artifacts / "conveyed-information.cms").write_bytes(signed.conveyed_information)
    (artifacts / "owner-certificate.cms").write_bytes(signed.owner_certificate or b"")
    (artifacts / "ownership-voucher.cms").write_bytes(signed.ownership_voucher or b"")

    client = _command("sztp-client")
    config = str(device.config_path)
    print(f"lab for device {layout.serial_number} written to {layout.directory}")
    print(f"  device configuration  {config}")
    print(f"  signed artifacts      {artifacts}/")
    print("\ncheck the signed artifacts as the device would:")
    print("  " + shlex.join(_verify_command(device, artifacts)))
    print("\nserve the lab (in another terminal, until Ctrl-C):")
    print("  " + shlex.join([_command("sztp-lab"), "serve", str(root)]))
    print("then bootstrap the device (twice: the first run installs an image and 'reboots'):")
    print("  " + shlex.join([client, "run", "--once", "--config", config]))
    print("  " + shlex.join([client, "status", "--config", config]))
    return 0


# ---------------------------------------------------------------------------------------------
# serve


class _RequestPrinter:
    """Prints one line per logged request (method, path, status, serial number), after the
    summary: lines of requests that arrive before it are held back until then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[str] | None = []

    def hook(self, server: str) -> Callable[[dict[str, Any]], None]:
        def on_record(record: dict[str, Any]) -> None:
            self._line(_request_line(server, record))

        return on_record

    def _line(self, line: str) -> None:
        with self._lock:
            if self._held is not None:
                self._held.append(line)
                return
            _print(line)

    def ready(self, summary: str) -> None:
        with self._lock:
            _print(summary)
            held, self._held = self._held or [], None
            for line in held:
                _print(line)


def _print(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # nobody reads the output: keep serving
        print(line, flush=True)


def _request_line(server: str, record: dict[str, Any]) -> str:
    when = str(record.get("time", ""))[11:23]
    if record.get("event") == "tls-handshake-failed":
        client, error = record.get("client"), record.get("error")
        return f"{when} {server} TLS handshake from {client} failed: {error}"
    serial = record.get("client_serial") or "-"
    line = (
        f"{when} {server} {record.get('method')} {record.get('path')} "
        f"{record.get('status')} {serial}"
    )
    if record.get("progress-type"):
        line += f" {record['progress-type']}"
    if record.get("error"):
        line += f" ({record['error']})"
    return line


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside; the previous handlers come back after.

    Installed explicitly: a process started in the background by a shell without job control
    inherits SIGINT ignored, and would otherwise never stop on it."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _serve_ports(layout: LabLayout, port: int | None, file_port: int | None) -> tuple[int, int]:
    chosen = {"port": DEFAULT_PORT, "file-port": DEFAULT_FILE_PORT}
    recorded = layout.directory / SERVE_FILE
    if recorded.exists():
        chosen.update(json.loads(recorded.read_text(encoding="utf-8")))
    return (
        port if port is not None else int(chosen["port"]),
        file_port if file_port is not None else int(chosen["file-port"]),
    )


def _serve(
    directory: Path, host: str, port: int | None, file_port: int | None, image: Path | None
) -> int:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address; the lab serves loopback only")
    layout = load_lab(directory)
    bootstrap_port, files_port = _serve_ports(layout, port, file_port)
    image_path = _image(layout, image)
    printer = _RequestPrinter()
    with _stop_on_signals() as stop:
        files = LabFileServer(
            layout.images_dir,
            identity=layout.server_identity,
            host=host,
            port=files_port,
            log_path=layout.server_dir / "file-server.log.jsonl",
        )
        files.on_record = printer.hook("file-server")
        with _listening(files, "file server", "--file-port"):
            image_url = files.url_for(image_path.name)
            onboarding = _onboarding(image_url, image_path)

            def make_signed(nonce: bytes | None) -> SignedSet:
                return make_signed_set(layout.pki, layout.serial_number, onboarding, nonce=nonce)

            config = ServerConfig(
                identity=layout.server_identity,
                client_ca=(layout.pki.manufacturer_root.cert,),
                default=Response(make_signed=make_signed, reporting_level="verbose"),
            )
            server = LabBootstrapServer(
                config,
                host=host,
                port=bootstrap_port,
                log_path=layout.server_dir / "bootstrap-server.log.jsonl",
            )
            server.on_record = printer.hook("bootstrap-server")
            with _listening(server, "bootstrap server", "--port"):
                summary = {
                    "bootstrap-server": server.url,
                    "restconf-root": server.restconf_root,
                    "file-server": files.url,
                    "image": image_url,
                    "serial-number": layout.serial_number,
                    "device-certificate": str(layout.idevid_cert),
                    "device-key": str(layout.idevid_key),
                    "voucher-signer-trust-anchors": str(layout.voucher_signer_trust_anchors),
                    "manufacturer-trust-anchors": str(layout.manufacturer_trust_anchors),
                    "bootstrap-server-trust-anchors": str(layout.bootstrap_server_trust_anchors),
                    "log": str(server.log_path),
                }
                client_config = layout.directory / CLIENT_DIR / "etc" / "client.toml"
                if client_config.exists():
                    summary["client-configuration"] = str(client_config.resolve())
                print("serving; press Ctrl-C to stop", file=sys.stderr, flush=True)
                printer.ready(json.dumps(summary, indent=2))
                stop.wait()
                print("stopping", file=sys.stderr, flush=True)
    return 0


@contextmanager
def _listening(
    server: LabBootstrapServer | LabFileServer, what: str, option: str
) -> Iterator[None]:
    """Run ``server``; a port already in use is said as such, naming the option to change."""
    try:
        server.start()
    except OSError as exc:
        raise OSError(
            f"cannot listen for the {what}: {exc} (choose another with {option})"
        ) from exc
    try:
        yield
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "create":
            return _create(
                args.directory, args.serial_number, args.key_type, args.port, args.file_port
            )
        return _serve(args.directory, args.host, args.port, args.file_port, args.image)
    except (OSError, ValueError, KeyError) as exc:
        print(f"sztp-lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
