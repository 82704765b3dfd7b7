"""Run inside ``unshare --mount``: udevd on a private /run/udev with only the test's rules,
then the removable-media source waiting through pyudev for the device the test attaches.

Argument: a JSON object (udevd, rules, device, serial, base, mount).  Prints ``waiting`` once
the source waits, then one JSON report; udevd is stopped on every path out.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sztp_client.discovery.media_layout import resolve_file_uri
from sztp_client.discovery.media_source import RemovableMediaSource


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def main() -> int:
    args = json.loads(sys.argv[1])
    sh("mount", "--make-rprivate", "/")
    Path("/run/udev").mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "tmpfs", "/run/udev")
    for rules in ("/usr/lib/udev/rules.d", "/etc/udev/rules.d"):
        if Path(rules).is_dir():
            sh("mount", "--bind", args["rules"], rules)
    udevd = subprocess.Popen(
        [args["udevd"], "--resolve-names=never"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not Path("/run/udev/control").exists():
            if udevd.poll() is not None or time.monotonic() > deadline:
                print("udevd did not start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        source = RemovableMediaSource(
            args["serial"],
            devices=[args["device"]],
            mount_command=args["mount"],
            mount_base=Path(args["base"]),
        )
        uses_udev = source.uses_udev()
        print("waiting", flush=True)
        noticed = source.wait(120)
        sh("udevadm", "settle", "--timeout=60")
        import pyudev

        udev_device = pyudev.Devices.from_device_file(pyudev.Context(), args["device"])
        report: dict[str, object] = {
            "uses_udev": uses_udev,
            "noticed": [d.path for d in noticed],
            "filesystem": noticed[0].filesystem if noticed else None,
            "udev_filesystem": udev_device.properties.get("ID_FS_TYPE"),
        }
        with source:
            found = source.fetch()
            report["errors"] = [finding.error for finding in source.findings]
            if found and found[0].medium is not None:
                report["conveyed"] = found[0].artifacts.conveyed_information.decode()
                boot = resolve_file_uri(found[0].medium, "file:/IMAGES/BOOT.IMG")
                report["boot"] = boot.read_text()
        report["mounted_after_close"] = list(source.mounted)
        print(json.dumps(report), flush=True)
        return 0
    finally:
        udevd.terminate()
        try:
            udevd.wait(30)
        except subprocess.TimeoutExpired:
            udevd.kill()
            udevd.wait()


if __name__ == "__main__":
    sys.exit(main())
