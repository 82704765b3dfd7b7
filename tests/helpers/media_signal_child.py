"""Run by the tests: the removable-media source inside ``interruptible()``, holding its media
mounted until SIGTERM or SIGINT arrives.

Argument: a JSON object (device, serial, base, mount).  Prints ``mounted <root>`` once the
medium is mounted, then waits; on the signal it unwinds (unmounting) and exits 128 + signal.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sztp_client.discovery.media_source import RemovableMediaSource
from sztp_client.errors import Interrupted
from sztp_client.interrupt import interruptible


def main() -> int:
    args = json.loads(sys.argv[1])
    source = RemovableMediaSource(
        args["serial"],
        devices=[args["device"]],
        mount_command=args["mount"],
        mount_base=Path(args["base"]),
        use_udev=False,
    )
    try:
        with interruptible(), source:
            found = source.fetch()
            print("mounted", *(str(item.medium) for item in found), flush=True)
            time.sleep(600)
    except Interrupted as interruption:
        print("unmounted", *source.mounted, flush=True)
        return 128 + interruption.signal_number
    return 0


if __name__ == "__main__":
    sys.exit(main())
