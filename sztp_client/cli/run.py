"""``sztp-client run [--once] [--config FILE] [--quiet]``: bootstrap the device.

With ``--once`` one full pass over the sources is made and the exit code tells the outcome
(D20): 0 bootstrapped, rebooting into a new image, already bootstrapped or disabled; 69 no
source yielded usable bootstrapping data; 65 or 75 the data was found but onboarding failed
(65: the data was refused or a script/configuration failed; 75: worth retrying, e.g. an image
download); 75 also when another run holds the lock; 77 a directory or file the client may not
use; 78 the configuration is invalid.  Without ``--once`` passes repeat with backoff until the
device is bootstrapped (D2); that is how systemd runs it.  SIGTERM and SIGINT end the run
cleanly (130 after SIGINT, 143 after SIGTERM).

On a terminal the timeline of the run is printed as it happens, with a progress bar while an
image downloads.  Output is best effort: a closed or broken stdout or stderr (a pipe whose
reader went away, a journal stream that closed) never stops provisioning.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sztp_client.cli.help import EXIT_CODES, HelpFormatter, paragraph
from sztp_client.config import DEFAULT_CONFIG, load_config
from sztp_client.errors import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    Interrupted,
    PermissionDeniedError,
    SZTPError,
)
from sztp_client.interrupt import interruptible
from sztp_client.protocol.outcome import RunOutcome, StatusState
from sztp_client.runner import Runner
from sztp_client.state.status import Listener, StatusRecorder, TimelineEvent


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="bootstrap the device (RFC 8572)",
        description=paragraph(
            "Bootstrap the device: contact the configured bootstrap servers, verify what they "
            "send, install the boot image, run the scripts and commit the configuration it "
            "holds.  One run at a time (a lock in the run directory holds the pid); SIGTERM "
            "and SIGINT end a run cleanly."
        ),
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="make one full pass over the sources, then exit with a code that tells the "
        "outcome (default: repeat passes with backoff until bootstrapped)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"the configuration file (default: {DEFAULT_CONFIG}, with drop-ins in "
        f"{DEFAULT_CONFIG.name}.d/ beside it)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="print no timeline and no result line; errors are still printed on stderr",
    )
    parser.set_defaults(handler=run)


def say(stream: TextIO | None, text: str) -> bool:
    """Write a line to ``stream``, best effort: False when the stream is closed or broken."""
    if stream is None:
        return False
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        _detach(stream)
        return False
    return True


def _detach(stream: TextIO) -> None:
    """Point a broken standard stream at /dev/null, so that neither a later write nor the
    flush at exit fails again (and the exit status stays the run's)."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is stream:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            with contextlib.suppress(OSError, ValueError):
                setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives to the exit


class Timeline:
    """Prints timeline events; a progress bar for downloads when the stream is a terminal.

    A write that fails (EPIPE, a closed stream) silences the timeline for the rest of the
    run; provisioning goes on.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            self.tty = stream.isatty()
        except (OSError, ValueError):
            self.tty = False
        self.start = time.monotonic()
        self.bar_shown = False
        self.last_bar = 0.0
        self.broken = False

    def __call__(self, event: TimelineEvent) -> None:
        if self.broken:
            return
        try:
            self._show(event)
        except (OSError, ValueError):
            self.broken = True
            _detach(self.stream)

    def end_line(self) -> None:
        """End a progress bar left on the terminal line."""
        if self.bar_shown and not self.broken:
            self.bar_shown = False
            say(self.stream, "")

    def _show(self, event: TimelineEvent) -> None:
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
        # Marked shown before it is written: a signal that interrupts the write must still
        # find the line to end, or the interruption's message would land on the bar's line.
        self.bar_shown = True
        self.stream.write("\r" + text)
        self.stream.flush()


def exit_code_for(outcome: RunOutcome, error: SZTPError | None) -> int:
    if outcome.final:
        return EXIT_OK
    if outcome is RunOutcome.FAILED and error is not None and error.exit_code not in (0, 70):
        return error.exit_code
    return EXIT_UNAVAILABLE


class Errors:
    """``--quiet``: only error events, on stderr."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: TimelineEvent) -> None:
        if event.kind == "error":
            say(self.stream, f"sztp-client: error: {event.text}")


def _standard_descriptors() -> None:
    """Open /dev/null on a standard descriptor that is closed, so that no file the client
    opens (the run lock, a download) becomes its stdout or stderr by accident."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: ``fd``


def run(args: argparse.Namespace) -> int:
    _standard_descriptors()
    timeline = None if args.quiet or sys.stdout is None else Timeline(sys.stdout)
    recorder: StatusRecorder | None = None
    runner: Runner | None = None
    try:
        with interruptible():
            try:
                config = load_config(args.config or DEFAULT_CONFIG, required=True)
                listeners: list[Listener] = [timeline] if timeline else [Errors(sys.stderr)]
                try:
                    recorder = StatusRecorder(config.paths.run_dir / "status.json", listeners)
                except PermissionDeniedError as exc:
                    raise PermissionDeniedError(exc.message, "paths.run-dir") from exc
                runner = Runner(config, recorder)
                with runner.session():
                    outcome = runner.run_once() if args.once else runner.run_forever()
            except Interrupted as exc:
                if timeline is not None:
                    timeline.end_line()
                if recorder is not None:
                    with contextlib.suppress(SZTPError, OSError):
                        if runner is not None and runner.reboot_requested:
                            recorder.set_state(StatusState.REBOOTING)  # the shutdown of that reboot
                        else:
                            recorder.interrupted(exc.message)
                say(sys.stderr, f"sztp-client: {exc.message}; the run stopped cleanly")
                return exc.exit_code
    except Interrupted as exc:  # a second signal during the clean-up above
        return exc.exit_code
    except SZTPError as exc:
        if timeline is not None:
            timeline.end_line()
        say(sys.stderr, f"sztp-client: {exc.message}")
        return exc.exit_code
    if timeline is not None:
        say(sys.stdout, f"result: {outcome.value}")
    return exit_code_for(outcome, runner.last_error)
