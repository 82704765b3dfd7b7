"""The status document (``<run-dir>/status.json``) and the live timeline of a run.

``StatusRecorder`` is told what happens (attempts, steps, reports, errors), keeps the versioned
document that ``sztp-client status --json`` prints, writes it atomically after every change,
and passes each event to listeners (the terminal timeline of ``run``).  The document format is
described in docs/status.md; its file's name and the read of it are in
:mod:`sztp_client.state.status_file`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from sztp_client.errors import SZTPError
from sztp_client.protocol.outcome import StatusState
from sztp_client.state.status_file import STATUS_VERSION
from sztp_client.state.store import read_json, write_json


def _now() -> str:
    # the YANG date-time writer is needed by a run only, not by ``status`` (start-up)
    from sztp_client.encoding.yang_types import format_datetime  # noqa: PLC0415

    return format_datetime(dt.datetime.now(dt.UTC), "microseconds")


class TimelineEvent(msgspec.Struct, frozen=True):
    kind: str  # attempt-start, attempt-end, step-start, step-end, report, info, error, progress
    text: str
    data: dict[str, Any]


Listener = Callable[[TimelineEvent], None]


def describe_error(error: SZTPError) -> dict[str, Any]:
    kind = type(error).__name__
    diagnosis = type(error).diagnosis  # the class's own or inherited along the MRO
    document: dict[str, Any] = {
        "type": kind,
        "message": error.message,
        "retryable": error.retryable,
        "diagnosis": diagnosis,
    }
    progress = error.reported_as()
    if progress is not None:
        document["progress-type"] = progress.value
    step = getattr(error, "step", None)
    if step:
        document["step"] = step
    return document


class StatusRecorder:
    def __init__(self, path: Path | None, listeners: list[Listener] | None = None) -> None:
        self.path = path
        self.listeners = list(listeners or [])
        previous = read_json(path) if path is not None else None
        self.previous: dict[str, Any] | None = previous if isinstance(previous, dict) else None
        self.document: dict[str, Any] = {
            "version": STATUS_VERSION,
            "state": StatusState.IDLE,
            "bootstrapped": False,
            "updated": _now(),
            "runs": previous.get("runs", 0) if isinstance(previous, dict) else 0,
            "sources": [],
            "attempts": [],
            "steps": [],
            "reports": [],
            "last-error": previous.get("last-error") if isinstance(previous, dict) else None,
        }

    # -- recording ------------------------------------------------------------------------------

    def _emit(self, kind: str, text: str, **data: Any) -> None:
        event = TimelineEvent(kind, text, data)
        for listener in self.listeners:
            listener(event)

    def save(self) -> None:
        self.document["updated"] = _now()
        if self.path is not None:
            write_json(self.path, self.document, mode=0o644)

    def recover_stale(self) -> bool:
        """Mark a previous run that was left "running" as "interrupted" (it was killed, e.g. by
        SIGKILL or a power loss: the caller holds the run lock, so it is not running).

        The previous document is saved back with its running steps and attempts marked
        interrupted; True when there was such a run.
        """
        previous = self.previous
        if previous is None or previous.get("state") != StatusState.RUNNING:
            return False
        _mark_interrupted(previous, "the run ended without finishing (killed)")
        previous["state"] = StatusState.INTERRUPTED
        self.document["last-error"] = previous.get("last-error")
        if self.path is not None:
            write_json(self.path, previous, mode=0o644)
        self._emit("info", "the previous run was killed while running: recorded as interrupted")
        return True

    def keep_last_run(
        self, state: StatusState, *, bootstrapped: bool, notice: str | None = None
    ) -> None:
        """Keep the record of the previous run (attempts, steps, reports) and only set the state
        (and a ``notice``): a run on a device bootstrapped already must not wipe how it was
        bootstrapped, nor one that finds a requested reboot not done how it was requested."""
        if self.previous is not None:
            self.document = self.previous
        if notice is not None:
            self.document["notice"] = notice
        self.set_state(state, bootstrapped=bootstrapped)

    def interrupted(self, reason: str) -> None:
        """The run was interrupted (SIGTERM, SIGINT): mark what was running and the state."""
        _mark_interrupted(self.document, reason)
        self.document["state"] = StatusState.INTERRUPTED
        self.document["finished"] = _now()
        self.save()
        self._emit("error", f"{reason}: the run stopped; the next run starts over")

    def run_started(self, bootstrapped: bool) -> None:
        self.document["runs"] = int(self.document.get("runs", 0)) + 1
        self.document["state"] = StatusState.RUNNING
        self.document["bootstrapped"] = bootstrapped
        self.document["started"] = _now()
        self.save()
        self._emit("info", "bootstrapping started")

    def set_state(self, state: StatusState, *, bootstrapped: bool | None = None) -> None:
        self.document["state"] = state
        if bootstrapped is not None:
            self.document["bootstrapped"] = bootstrapped
        if state != StatusState.RUNNING:
            self.document["finished"] = _now()
        self.save()

    def attempt_started(self, source: str, server: str, address: str, trust: str, hop: int) -> int:
        attempt = {
            "source": source,
            "server": server,
            "address": address,
            "trust": trust,
            "hop": hop,
            "started": _now(),
            "outcome": StatusState.RUNNING,
        }
        self.document["attempts"].append(attempt)
        self.save()
        self._emit("attempt-start", f"{'  ' * hop}{server} ({address}, {trust})", **attempt)
        return len(self.document["attempts"]) - 1

    def source_found(self, finding: dict[str, Any]) -> None:
        """What one source saw at one origin; ``outcome`` follows its attempts."""
        found = bool(finding["bootstrap-servers"] or finding["artifacts"])
        entry = {**finding, "outcome": "yielded" if found else "nothing"}
        self.document.setdefault("sources", []).append(entry)
        self.save()
        what = ", ".join([*finding["bootstrap-servers"], *finding["artifacts"]])
        why = finding["error"] or "; ".join(finding["rejected"]) or "nothing"
        data = {("source" if k == "kind" else k): v for k, v in entry.items()}
        self._emit("source", f"{finding['kind']} {finding['origin']}: {what or why}", **data)

    def attempt_ended(self, index: int, outcome: str, error: SZTPError | None = None) -> None:
        attempt = self.document["attempts"][index]
        for entry in self.document.get("sources", []):
            names = [*entry["bootstrap-servers"], f"{entry['kind']}:{entry['origin']}"]
            if entry["kind"] == attempt["source"] and attempt["server"] in names:
                entry["outcome"] = outcome  # what became of what this source yielded
        attempt["outcome"] = outcome
        attempt["finished"] = _now()
        if error is not None:
            attempt["error"] = describe_error(error)
        self.save()
        text = outcome if error is None else f"{outcome}: {error.message}"
        self._emit("attempt-end", f"{'  ' * int(attempt['hop'])}  -> {text}", **attempt)

    def step_started(self, step: str) -> None:
        self.document["steps"].append({"step": step, "started": _now(), "outcome": "running"})
        self.save()
        self._emit("step-start", step, step=step)

    def step_ended(self, step: str, outcome: str, message: str = "") -> None:
        for entry in reversed(self.document["steps"]):
            if entry["step"] == step and entry["outcome"] == "running":
                break
        else:
            entry = {"step": step, "started": _now()}
            self.document["steps"].append(entry)
        entry["outcome"] = outcome
        entry["finished"] = _now()
        if message:
            entry["message"] = message[-2000:]
        self.save()
        self._emit("step-end", f"{step}: {outcome}", step=step, outcome=outcome, message=message)

    def report_sent(self, progress_type: str, status: str) -> None:
        self.document["reports"].append(
            {"progress-type": progress_type, "time": _now(), "result": status}
        )
        self.save()
        self._emit("report", f"report {progress_type}: {status}", progress_type=progress_type)

    def error(self, error: SZTPError) -> None:
        self.document["last-error"] = describe_error(error) | {"time": _now()}
        self.save()
        self._emit("error", error.message)

    def info(self, text: str) -> None:
        self._emit("info", text)

    def progress(self, done: int, total: int | None) -> None:
        self._emit("progress", "", done=done, total=total)


def _mark_interrupted(document: dict[str, Any], reason: str) -> None:
    for entry in (*document.get("attempts", []), *document.get("steps", [])):
        if isinstance(entry, dict) and entry.get("outcome") == "running":
            entry["outcome"] = "interrupted"
            entry["finished"] = _now()
            entry["message"] = reason
    document["interrupted"] = reason
