"""``sztp-client run [--once] [--config FILE]``: bootstrap the device.

With ``--once`` one full pass over the sources is made and the exit code tells the outcome
(D20): 0 bootstrapped, rebooting into a new image, already bootstrapped or disabled; 69 no
source yielded usable bootstrapping data; 65 or 75 the data was found but onboarding failed
(65: the data was refused or a script/configuration failed; 75: worth retrying, e.g. an image
download); 78 the configuration is invalid.  Without ``--once`` passes repeat with backoff
until the device is bootstrapped (D2); that is how systemd runs it.

On a terminal the timeline of the run is printed as it happens, with a progress bar while an
image downloads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sztp_client.config import DEFAULT_CONFIG, load_config
from sztp_client.errors import EXIT_OK, EXIT_UNAVAILABLE, SZTPError
from sztp_client.runner import Outcome, Runner
from sztp_client.state.status import Listener, StatusRecorder, TimelineEvent


def register(commands: Any) -> None:
    parser = commands.add_parser("run", help="bootstrap the device (RFC 8572)")
    parser.add_argument("--once", action="store_true", help="make one full pass, then exit")
    parser.add_argument("--config", metavar="FILE", type=Path)
    parser.add_argument("--quiet", action="store_true", help="print no timeline")
    parser.set_defaults(handler=run)


class Timeline:
    """Prints timeline events; a progress bar for downloads when the stream is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.bar_shown = False
        self.last_bar = 0.0

    def __call__(self, event: TimelineEvent) -> None:
        if event.kind == "progress":
            self._progress(int(event.data.get("done", 0)), event.data.get("total"))
            return
        if self.bar_shown:
            self.stream.write("\n")
            self.bar_shown = False
        elapsed = time.monotonic() - self.start
        marks = {
            "attempt-start": "->",
            "attempt-end": "  ",
            "step-start": "**",
            "step-end": "  ",
            "report": "<-",
            "error": "!!",
        }
        self.stream.write(f"[{elapsed:7.3f}] {marks.get(event.kind, '..')} {event.text}\n")
        self.stream.flush()

    def _progress(self, done: int, total: object) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if now - self.last_bar < 0.1 and not (isinstance(total, int) and done >= total):
            return
        self.last_bar = now
        if isinstance(total, int) and total > 0:
            width = 30
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"  image [{bar}] {done / 2**20:8.1f} / {total / 2**20:.1f} MiB"
        else:
            text = f"  image {done / 2**20:8.1f} MiB"
        self.stream.write("\r" + text)
        self.stream.flush()
        self.bar_shown = True


def exit_code_for(outcome: Outcome, error: SZTPError | None) -> int:
    if outcome.final:
        return EXIT_OK
    if outcome is Outcome.FAILED and error is not None and error.exit_code not in (0, 70):
        return error.exit_code
    return EXIT_UNAVAILABLE


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config or DEFAULT_CONFIG, required=args.config is not None)
        listeners: list[Listener] = [] if args.quiet else [Timeline(sys.stdout)]
        recorder = StatusRecorder(config.paths.run_dir / "status.json", listeners)
        runner = Runner(config, recorder)
        outcome = runner.run_once() if args.once else runner.run_forever()
    except SZTPError as exc:
        print(f"sztp-client: {exc.message}", file=sys.stderr)
        return exc.exit_code
    if not args.quiet:
        print(f"result: {outcome.value}")
    return exit_code_for(outcome, runner.last_error)
