"""``make demo``: a simulated device bootstraps end to end against lab servers on loopback.

1. A fresh lab: manufacturer, owner and bootstrap-server PKIs, one device identity.
2. Three servers on 127.0.0.1: a well-known *redirect* server the device trusts through its
   configured bootstrap-server trust anchor; an *onboarding* server it learns the trust anchor
   of from that redirect; and an image file server whose first mirror URI is broken.
3. The device (a scratch root) runs ``sztp-client run --once``: it is redirected, gets signed
   onboarding information (owner certificate, voucher), downloads and verifies the image from
   the second mirror, installs it into the inactive A/B slot, reports
   boot-image-installed-rebooting and "reboots" (a new boot id, the new slot active).
4. It runs again: the image now runs, so the pre-configuration script runs, the configuration
   is committed, the post-configuration script runs and bootstrap-complete is reported.
5. The device's status and the reports the server received are printed; the servers stop.

Only loopback is used: nothing leaves the machine.  ``--keep DIR`` (``make demo KEEP=DIR``)
leaves the lab, the device (its configuration, state, status and slots) and the servers' logs
under DIR for a look, and prints how to look.

``--tpm`` (``make demo TPM=1``) keeps the device's IDevID key inside a software TPM: swtpm is
started on loopback ports with its state under the demo's directory, the lab's factory helper
provisions an ECC P-256 IDevID into it (persistent handle 0x81020000, certified by the lab's
IDevID CA) and the device is configured with ``identity.backend = "tpm"``; the rest is the
same, against the same servers, which require the manufacturer's client certificate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sztp_lab import cms as lab_cms
from sztp_lab.artifacts import make_signed_set, onboarding_json, redirect_json, trust_anchor_bag
from sztp_lab.lab import LabLayout, create_lab
from sztp_lab.scenario import Device, make_device, script
from sztp_lab.server import LabBootstrapServer, LabFileServer, Response, ServerConfig
from sztp_lab.swtpm import SoftwareTPM, swtpm_available

SERIAL = "SZTP-DEMO-0001"
IMAGE_SIZE = 8 * 1024 * 1024


def _say(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def _run_device(device: Device, label: str) -> int:
    _say(f"{label}: sztp-client run --once")
    started = time.monotonic()
    result = device.run("run", "--once")
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    print(f"(exit {result.returncode}, {time.monotonic() - started:.2f} s)")
    return result.returncode


def _how_to_look(root: Path, device: Device) -> None:
    script = Path(sys.executable).parent / "sztp-client"
    client = str(script) if script.exists() else "sztp-client"
    config = device.config_path
    _say(f"kept under {root}; to look at the device:")
    print(f"  {client} status --config {config}")
    print(f"  {client} status --json --config {config}")
    print(f"  device     {device.root}  (configuration {config})")
    print(f"  status     {device.status_path}")
    print(f"  state      {device.state_dir}")
    print(f"  slots      {device.slots}  (active: {device.slots / 'active'})")
    print(f"  scripts    {device.scripts_log}  (the stages its scripts ran in)")
    print(f"  logs       {root / 'logs'}  (one JSON line per request each server received)")
    print(f"  lab        {root / 'lab'}  (its PKI, the device's identity, the servers' files)")


def _tpm_identity(
    root: Path, lab: LabLayout, software_tpm: SoftwareTPM
) -> dict[str, dict[str, Any]]:
    """Provision the IDevID into the software TPM; the device's identity tables for it."""
    from sztp_client.identity.tpm import TPM  # noqa: PLC0415 - only with --tpm
    from sztp_lab.tpm_factory import DEFAULT_HANDLE, provision_idevid  # noqa: PLC0415

    software_tpm.start()
    with TPM(software_tpm.tcti) as tpm:  # closed before the device connects: one at a time
        provisioned = provision_idevid(tpm, lab.pki.idevid_ca, SERIAL, handle=DEFAULT_HANDLE)
    certificate = root / "tpm-idevid.pem"
    certificate.write_bytes(provisioned.pem_chain())
    print(f"software TPM      {software_tpm.tcti}  (IDevID key at {provisioned.handle_text})")
    return {
        "identity": {"backend": "tpm"},
        "identity.tpm": {
            "tcti": software_tpm.tcti,
            "key-handle": provisioned.handle_text,
            "certificate": str(certificate),
        },
    }


def demo(root: Path, *, keep: bool = False, use_tpm: bool = False) -> int:
    _say(f"lab and device under {root}" + (", IDevID key in a software TPM" if use_tpm else ""))
    lab = create_lab(root / "lab", serial_number=SERIAL)
    software_tpm = SoftwareTPM(root / "swtpm") if use_tpm else None
    images = root / "images"
    images.mkdir()
    image = images / "labos-2.0.img"
    image.write_bytes(b"LabOS 2.0 boot image\n" + os.urandom(IMAGE_SIZE))
    digest = hashlib.sha256(image.read_bytes()).digest()
    logs = root / "logs"
    logs.mkdir()

    files = LabFileServer(images, identity=lab.server_identity, log_path=logs / "files.jsonl")
    files.start()
    onboarding_server: LabBootstrapServer | None = None
    redirect_server: LabBootstrapServer | None = None
    try:
        extra = _tpm_identity(root, lab, software_tpm) if software_tpm is not None else None
        device_log = root / "device" / "scripts.log"
        onboarding = onboarding_json(
            os_name="LabOS",
            os_version="2.0",
            download_uris=(files.url_for("missing-mirror.img"), files.url_for(image.name)),
            sha256=digest,
            configuration_handling="merge",
            configuration=json.dumps(
                {"hostname": "lab-device", "sztp": {"enabled": False}}
            ).encode(),
            pre_script=script('echo "pre-configuration: $SZTP_SERIAL_NUMBER"', device_log),
            post_script=script('echo "post-configuration done"', device_log),
        )
        signed = make_signed_set(lab.pki, SERIAL, onboarding)
        onboarding_server = LabBootstrapServer(
            ServerConfig(
                identity=lab.server_identity,
                client_ca=[lab.pki.manufacturer_root.cert],
                default=Response(signed=signed, reporting_level="verbose"),
            ),
            log_path=logs / "onboarding-server.jsonl",
        )
        onboarding_server.start()
        redirect = redirect_json(
            [("127.0.0.1", onboarding_server.port, trust_anchor_bag(lab.server_ca))]
        )
        redirect_server = LabBootstrapServer(
            ServerConfig(
                identity=lab.server_identity,
                client_ca=[lab.pki.manufacturer_root.cert],
                default=Response(unsigned=lab_cms.content_info("json", redirect)),
            ),
            log_path=logs / "redirect-server.jsonl",
        )
        redirect_server.start()
        print(f"redirect server   {redirect_server.url}  (well-known, trusted by its CA)")
        print(f"onboarding server {onboarding_server.url}  (trust anchor from the redirect)")
        print(f"image server      {files.url}  (first mirror URI is broken)")

        device = make_device(
            root / "device",
            lab.pki,
            SERIAL,
            idevid=lab.idevid,
            servers=[redirect_server.url],
            server_trust_anchors=[lab.server_root.cert],
            extra=extra,
        )
        first = _run_device(device, "first boot")
        second = _run_device(device, "after the simulated reboot")

        _say("sztp-client status")
        print(device.run("status").stdout)
        _say("progress reports received by the onboarding server")
        for progress in onboarding_server.reports():
            print(f"  {progress}")
        _say("device files")
        print(f"active slot: {(device.slots / 'active').read_text().strip()}")
        print(f"configuration: {device.config_file.read_text().strip()}")
        print(f"scripts ran: {device.scripts_log.read_text().split()}")
        status = device.status()
        ok = first == 0 and second == 0 and status.get("bootstrapped") is True
        _say("demo " + ("succeeded: the device is bootstrapped" if ok else "FAILED"))
        if keep:
            _how_to_look(root, device)
        else:
            print("(make demo KEEP=DIR, or --keep DIR, keeps the device and the logs to look at)")
        return 0 if ok else 1
    finally:
        for server in (redirect_server, onboarding_server, files):
            if server is not None:
                server.stop()
        if software_tpm is not None:
            software_tpm.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sztp_lab.demo", description=__doc__)
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="make the lab, the device and the logs under DIR (new or empty) and leave them there",
    )
    parser.add_argument(
        "--tpm",
        action="store_true",
        help="keep the IDevID key in a software TPM (swtpm) instead of a key file",
    )
    args = parser.parse_args(argv)
    if args.tpm and not swtpm_available():
        print("demo: --tpm needs swtpm (Debian package swtpm)", file=sys.stderr)
        return 2
    if args.keep is not None:
        keep: Path = args.keep
        if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
            print(
                f"demo: {keep} is not an empty directory; give a new or empty one", file=sys.stderr
            )
            return 2
        keep.mkdir(parents=True, exist_ok=True)
        return demo(keep.resolve(), keep=True, use_tpm=args.tpm)
    root = Path(tempfile.mkdtemp(prefix="sztp-demo-"))
    try:
        return demo(root, use_tpm=args.tpm)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
