"""Pre- and post-configuration scripts (R-074, R-076, D3, D4), and the bounded process runner
the other actions share.

How a script runs (D4):

* in a fresh private working directory (``mkdtemp`` under ``work_parent``, mode 0700) that is
  also its ``HOME`` and its current directory, removed afterwards whatever happened;
* from a file in that directory with mode 0700, started by the interpreter its ``#!`` line
  names (``[interpreter, *arguments, script]``; the interpreter must be an absolute path,
  ``/usr/bin/env`` included) or by ``/bin/sh`` when there is no ``#!`` line;
* with a clean environment: ``PATH=/usr/sbin:/usr/bin:/sbin:/bin``, ``HOME``, ``LANG=C.UTF-8``,
  ``SZTP_STAGE`` (``pre-configuration`` or ``post-configuration``) and the ``SZTP_*`` entries
  the caller passes (serial number, bootstrap server...); nothing is inherited from the client;
* with stdin from /dev/null, stdout and stderr captured together, and only the tail kept (a
  script writing gigabytes costs no memory);
* in its own process group: on timeout the whole group is killed with SIGKILL.  Processes the
  script leaves running after it exits normally are not touched.

What the result means (D3): exit status 0 is success; a status in ``warning_codes`` (default
10) is a warning (processing continues and the output is reported); any other status, a
signal or a timeout is an error (:class:`ScriptError` carrying the output tail).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

import msgspec

from sztp_client.actions import CLEAN_PATH
from sztp_client.actions.process import DEFAULT_OUTPUT_LIMIT, run_process
from sztp_client.config import ScriptsConfig
from sztp_client.errors import ScriptError, SZTPError

__all__ = [
    "ScriptPolicy",
    "ScriptResult",
    "ScriptStage",
    "run_script",
]

_log = logging.getLogger("sztp_client.actions")

_SCRIPTS_DEFAULTS: Final = ScriptsConfig()
"""Bytes of output kept (the tail) by default."""

ScriptStage = Literal["pre", "post"]

_STAGE_NAMES: Final[dict[str, str]] = {"pre": "pre-configuration", "post": "post-configuration"}
_MAX_SHEBANG: Final = 4096


# ---------------------------------------------------------------------------------------------
# Scripts


class ScriptPolicy(msgspec.Struct, frozen=True):
    """How scripts run: timeout in seconds, warning exit codes (D3), output bytes kept."""

    timeout: float = _SCRIPTS_DEFAULTS.timeout
    warning_codes: frozenset[int] = _SCRIPTS_DEFAULTS.warning_codes
    output_limit: int = DEFAULT_OUTPUT_LIMIT

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "warning_codes", frozenset(self.warning_codes))
        if self.timeout <= 0:
            raise ValueError("the script timeout must be positive")
        if self.output_limit <= 0:
            raise ValueError("the script output limit must be positive")
        if 0 in self.warning_codes:
            raise ValueError("exit status 0 means success and cannot be a warning code")


class ScriptResult(msgspec.Struct, frozen=True):
    """A script that succeeded (``warning`` False) or ended with a warning code (D3).

    ``output`` is the tail of its combined stdout and stderr (see :meth:`ProcessOutcome.text`).
    """

    stage: ScriptStage
    warning: bool
    exit_code: int
    output: str


def _interpreter(stage: ScriptStage, script: bytes) -> list[str]:
    """The command line before the script path, from the ``#!`` line or ``/bin/sh``."""
    if not script.startswith(b"#!"):
        return ["/bin/sh"]
    what = f"{_STAGE_NAMES[stage]} script"
    line = script[:_MAX_SHEBANG].split(b"\n", 1)[0].rstrip(b"\r")
    try:
        words = line[2:].decode("utf-8").split()
    except UnicodeDecodeError:
        raise ScriptError(stage, f"the {what}'s #! line is not UTF-8") from None
    if not words:
        raise ScriptError(stage, f"the {what}'s #! line names no interpreter")
    if not os.path.isabs(words[0]):
        raise ScriptError(
            stage,
            f"the {what}'s interpreter {words[0]!r:.200} is not an absolute path "
            "(write e.g. #!/bin/sh or #!/usr/bin/env python3)",
        )
    return words


def _script_environment(
    stage: ScriptStage, work_dir: Path, environment: Mapping[str, str]
) -> dict[str, str]:
    env = {
        "PATH": CLEAN_PATH,
        "HOME": str(work_dir),
        "LANG": "C.UTF-8",
        "SZTP_STAGE": _STAGE_NAMES[stage],
    }
    for key, value in environment.items():
        env[key] = value
    return env


def _check_environment(environment: Mapping[str, str]) -> None:
    for key, value in environment.items():
        if not key.startswith("SZTP_") or "=" in key or "\0" in key:
            raise ValueError(f"script environment entries must be SZTP_* names, not {key!r}")
        if key == "SZTP_STAGE":
            raise ValueError("SZTP_STAGE is set by run_script itself")
        if "\0" in value:
            raise ValueError(f"the value of {key} contains a NUL character")


def _make_removable(path: Path) -> None:
    """Give the owner access to every directory below ``path`` (a script may have removed it)."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _make_removable(Path(entry.path))


def _remove_work_dir(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError:
        _make_removable(path)
        shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        _log.warning("could not remove the script working directory %s", path)


def run_checked(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    what: str,
    error: Callable[[str], SZTPError],
) -> None:
    """Run a configured command (installer, commit, rollback); raise ``error(message)`` when it
    cannot start, exits non-zero, is killed or times out.  The message names the command and
    carries the tail of its output."""
    try:
        outcome = run_process(
            argv, env=env, cwd=cwd, timeout=timeout, output_limit=DEFAULT_OUTPUT_LIMIT
        )
    except OSError as exc:
        raise error(f"cannot start the {what}: {exc.strerror or exc}") from exc
    if outcome.timed_out or outcome.returncode != 0:
        output = outcome.text()
        message = f"the {what} {outcome.describe()}"
        raise error(f"{message}; output:\n{output}" if output else message)


def run_script(
    stage: ScriptStage,
    script: bytes,
    *,
    policy: ScriptPolicy,
    work_parent: Path,
    environment: Mapping[str, str],
) -> ScriptResult:
    """Run a pre- or post-configuration script as D4 says and judge its result as D3 says.

    Returns a :class:`ScriptResult` on success or warning; raises :class:`ScriptError` on any
    other exit status, a signal, a timeout, or when the script cannot be started.
    ``environment`` may only hold ``SZTP_*`` names (else :class:`ValueError`).
    """
    if stage not in _STAGE_NAMES:
        raise ValueError(f"unknown script stage {stage!r}")
    _check_environment(environment)
    what = f"{_STAGE_NAMES[stage]} script"
    interpreter = _interpreter(stage, script)
    try:
        work_dir = Path(tempfile.mkdtemp(prefix=f"sztp-{stage}-script-", dir=work_parent))
    except OSError as exc:
        raise ScriptError(
            stage, f"cannot create a working directory for the {what} in {work_parent}: {exc}"
        ) from exc
    try:
        script_path = work_dir / f"{_STAGE_NAMES[stage]}-script"
        try:
            fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o700)
                handle.write(script)
        except OSError as exc:
            raise ScriptError(stage, f"cannot write the {what} to {work_dir}: {exc}") from exc
        env = _script_environment(stage, work_dir, environment)
        try:
            outcome = run_process(
                [*interpreter, str(script_path)],
                env=env,
                cwd=work_dir,
                timeout=policy.timeout,
                output_limit=policy.output_limit,
            )
        except OSError as exc:
            raise ScriptError(
                stage, f"cannot start the {what} with {interpreter[0]}: {exc.strerror or exc}"
            ) from exc
    finally:
        _remove_work_dir(work_dir)
    output = outcome.text()
    if not outcome.timed_out and outcome.returncode == 0:
        return ScriptResult(stage, warning=False, exit_code=0, output=output)
    if not outcome.timed_out and outcome.returncode in policy.warning_codes:
        return ScriptResult(stage, warning=True, exit_code=outcome.returncode, output=output)
    raise ScriptError(stage, f"the {what} {outcome.describe()}", output)
