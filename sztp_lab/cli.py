"""``sztp-lab``: make a lab on disk and serve a simple bootstrap scenario from it.

    sztp-lab create DIR [--serial-number SN] [--key-type ec-p256]
    sztp-lab serve DIR [--port P] [--file-port P] [--image FILE]

``serve`` runs, on 127.0.0.1, a bootstrap server whose default answer is signed onboarding
information (a nonce voucher when the device sends a nonce) naming a boot image, and an HTTPS
file server offering that image.  It prints the URLs and runs until interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from sztp_lab.artifacts import SignedSet, make_signed_set, onboarding_json
from sztp_lab.lab import DEFAULT_SERIAL_NUMBER, LabLayout, create_lab, load_lab
from sztp_lab.pki import KEY_TYPES
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response, ServerConfig

DEFAULT_IMAGE_NAME = "lab-os-1.0.img"
DEFAULT_IMAGE = b"SZTP lab demo boot image, LabOS 1.0\n" * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sztp-lab", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="write a lab (PKI, device, server files)")
    create.add_argument("directory", type=Path)
    create.add_argument("--serial-number", default=DEFAULT_SERIAL_NUMBER)
    create.add_argument("--key-type", choices=KEY_TYPES, default="ec-p256")

    serve = commands.add_parser("serve", help="serve a bootstrap scenario from a lab")
    serve.add_argument("directory", type=Path)
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    serve.add_argument("--port", type=int, default=0, help="bootstrap server port (0: any)")
    serve.add_argument("--file-port", type=int, default=0, help="file server port (0: any)")
    serve.add_argument("--image", type=Path, help="boot image to offer (default: a demo image)")
    return parser


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


def _serve(directory: Path, host: str, port: int, file_port: int, image: Path | None) -> int:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address; the lab serves loopback only")
    layout = load_lab(directory)
    image_path = _image(layout, image)
    digest = _sha256(image_path)
    files = LabFileServer(
        layout.images_dir,
        identity=layout.server_identity,
        host=host,
        port=file_port,
        log_path=layout.server_dir / "file-server.log.jsonl",
    )
    with files:
        image_url = files.url_for(image_path.name)
        onboarding = onboarding_json(
            os_name="LabOS",
            os_version="1.0",
            download_uris=[image_url],
            sha256=digest,
        )

        def make_signed(nonce: bytes | None) -> SignedSet:
            return make_signed_set(layout.pki, layout.serial_number, onboarding, nonce=nonce)

        config = ServerConfig(
            identity=layout.server_identity,
            client_ca=(layout.pki.manufacturer_root.cert,),
            default=Response(make_signed=make_signed, reporting_level="verbose"),
        )
        server = LabBootstrapServer(
            config, host=host, port=port, log_path=layout.server_dir / "bootstrap-server.log.jsonl"
        )
        with server:
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
            print(json.dumps(summary, indent=2), flush=True)
            print("serving; press Ctrl-C to stop", file=sys.stderr, flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("stopping", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "create":
            layout = create_lab(
                args.directory, serial_number=args.serial_number, key_type=args.key_type
            )
            print(f"lab for device {layout.serial_number} written to {layout.directory}")
            return 0
        return _serve(args.directory, args.host, args.port, args.file_port, args.image)
    except (OSError, ValueError, KeyError) as exc:
        print(f"sztp-lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
