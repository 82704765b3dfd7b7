"""Committing the configuration and rolling it back (R-075, R-080, D25).

An :class:`Applier` commits the onboarding information's configuration with its
``configuration-handling``, can roll the last commit back (a failure after the commit, R-080),
and forgets the saved previous state once bootstrapping succeeded.  A commit that raises has
changed nothing that needs rolling back; ``rollback()`` without a commit to undo does nothing.

:class:`CommandApplier` (``command``)
    The device's own tooling decides.  ``commit_command`` gets the configuration in a 0600
    file (``{config}`` in an argument, else appended; also ``SZTP_CONFIG``) and the handling
    (``{handling}``, ``SZTP_CONFIG_HANDLING`` = ``merge`` or ``replace``): *merge* means "merge
    into the running configuration", *replace* "make it the running configuration", in the
    device's own terms.  When the device asked for an LDevID (RFC 9646), the command is also
    told where the new key is and where the certificate goes (``SZTP_LDEVID_KEY``,
    ``SZTP_LDEVID_CERT``): a certificate conveyed inside the configuration is the command's to
    install, and the client checks it against the key right after the commit.  The command
    must be atomic: exit status 0 means committed, anything else means nothing was applied.
    Rollback runs ``rollback_command``, which must restore the configuration from before the
    commit (without one, rollback is an error).

:class:`FileApplier` (``file``)
    The configuration is one file.  *replace*: the file's new content is exactly the
    configuration.  *merge*: the existing file and the configuration must both be JSON
    objects; they are merged recursively (objects merged key by key, anything else taken from
    the configuration); a missing or empty file is simply written.  Writes are atomic
    (temporary file, fsync, rename, fsync of the directory).  The previous content, or the
    fact that there was none, is kept in memory and in ``<path>.sztp-previous`` (0600), so a
    rollback works even after a crash; rollback restores it (removing the file if there was
    none), and discard deletes the backup.

The appliers are built at start-up (their commands checked then); the code that runs commands
and the conveyed-information model are imported with the first commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import msgspec

from sztp_client.actions import CLEAN_PATH
from sztp_client.config import ConfigurationConfig
from sztp_client.encoding.json import load_json
from sztp_client.errors import ConfigApplyError, EncodingError
from sztp_client.state.store import fsync_dir, write_atomic

if TYPE_CHECKING:
    from sztp_client.model.conveyed import ConfigurationHandling

__all__ = ["BACKUP_SUFFIX", "Applier", "CommandApplier", "FileApplier"]

BACKUP_SUFFIX: Final = ".sztp-previous"

_BACKUP_MAGIC: Final = b"sztp-previous v1"

_CONFIGURATION_DEFAULTS: Final = ConfigurationConfig()


class Applier(Protocol):
    """Commits a configuration, rolls the last commit back, or forgets how to."""

    @property
    def name(self) -> str: ...

    def commit(
        self,
        configuration: bytes,
        handling: ConfigurationHandling,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """Apply ``configuration`` atomically; raise :class:`ConfigApplyError` on failure.
        ``environment`` is what the device's own commands are told besides the configuration
        (the LDevID's key and certificate paths when a certificate was requested)."""
        ...

    def rollback(self) -> None:
        """Restore what was there before the last commit; :class:`ConfigApplyError` if it
        cannot be restored."""
        ...

    def discard(self) -> None:
        """Forget the saved previous state (bootstrapping succeeded)."""
        ...


# ---------------------------------------------------------------------------------------------
# command


class CommandApplier:
    """Commits and rolls back with the device's own commands (see the module documentation)."""

    def __init__(
        self,
        commit_command: Sequence[str],
        rollback_command: Sequence[str] | None,
        *,
        work_dir: Path,
        timeout: float = _CONFIGURATION_DEFAULTS.timeout,
    ) -> None:
        if not commit_command:
            raise ValueError("the commit command is empty")
        if rollback_command is not None and not rollback_command:
            rollback_command = None
        if timeout <= 0:
            raise ValueError("the configuration timeout must be positive")
        self.name = "command"
        self.commit_command = tuple(commit_command)
        self.rollback_command = tuple(rollback_command) if rollback_command else None
        self.work_dir = work_dir
        self.timeout = timeout
        self._committed: ConfigurationHandling | None = None

    def _run(self, argv: list[str], env: dict[str, str], what: str, shown: str) -> None:
        from sztp_client.actions.scripts import run_checked  # noqa: PLC0415 - after data

        run_checked(
            argv,
            env=env,
            cwd=self.work_dir,
            timeout=self.timeout,
            what=f"{what} command {shown}",
            error=ConfigApplyError,
        )

    def commit(
        self,
        configuration: bytes,
        handling: ConfigurationHandling,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        handling = _as_handling(handling)
        try:
            self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="configuration-", dir=self.work_dir)
        except OSError as exc:
            raise ConfigApplyError(
                f"cannot create a file for the configuration in {self.work_dir}: {exc}"
            ) from exc
        path = Path(name)
        try:
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(configuration)
            except OSError as exc:
                raise ConfigApplyError(f"cannot write the configuration to {path}: {exc}") from exc
            if any("{config}" in argument for argument in self.commit_command):
                argv = list(self.commit_command)
            else:
                argv = [*self.commit_command, "{config}"]
            argv = [
                a.replace("{config}", str(path)).replace("{handling}", handling.value) for a in argv
            ]
            env = {
                **(environment or {}),
                "PATH": CLEAN_PATH,
                "SZTP_CONFIG": str(path),
                "SZTP_CONFIG_HANDLING": handling.value,
            }
            self._run(argv, env, "commit", shlex.join(self.commit_command))
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        self._committed = handling

    def rollback(self) -> None:
        if self._committed is None:
            return
        if self.rollback_command is None:
            raise ConfigApplyError(
                "no rollback command configured: the committed configuration stays in place"
            )
        handling = self._committed.value
        argv = [a.replace("{handling}", handling) for a in self.rollback_command]
        env = {"PATH": CLEAN_PATH, "SZTP_CONFIG_HANDLING": handling}
        self._run(argv, env, "rollback", shlex.join(self.rollback_command))
        self._committed = None

    def discard(self) -> None:
        self._committed = None


# ---------------------------------------------------------------------------------------------
# file


class _Previous(msgspec.Struct, frozen=True):
    """The file before the commit: its content and mode, or None when it did not exist."""

    content: bytes | None
    mode: int = 0o600

    def encode(self) -> bytes:
        if self.content is None:
            return _BACKUP_MAGIC + b" absent\n"
        return _BACKUP_MAGIC + f" present {self.mode:o}\n".encode() + self.content

    @classmethod
    def decode(cls, data: bytes, where: Path) -> _Previous:
        header, newline, content = data.partition(b"\n")
        words = header.split()
        if newline and words == [*_BACKUP_MAGIC.split(), b"absent"] and not content:
            return cls(None)
        if newline and len(words) == 4 and words[:3] == [*_BACKUP_MAGIC.split(), b"present"]:
            try:
                mode = int(words[3], 8)
            except ValueError:
                mode = -1
            if 0 <= mode <= 0o7777:
                return cls(content, mode)
        raise ConfigApplyError(f"{where} is not a backup this client wrote; cannot roll back")


def _as_handling(value: str) -> ConfigurationHandling:
    """``value`` (a caller may pass the string) as the configuration-handling enum."""
    from sztp_client.model.conveyed import ConfigurationHandling  # noqa: PLC0415 - after data

    return ConfigurationHandling(value)


def _merge(old: object, new: object) -> object:
    """``new`` merged into ``old``: objects key by key, anything else taken from ``new``."""
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    return new


def _dump_json(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class FileApplier:
    """Applies the configuration to one file (see the module documentation)."""

    def __init__(self, path: Path, *, mode: int = 0o600) -> None:
        self.name = "file"
        self.path = path
        self.mode = mode
        self.backup = path.with_name(path.name + BACKUP_SUFFIX)
        self._previous: _Previous | None = None

    def _read_current(self) -> _Previous:
        try:
            with self.path.open("rb") as handle:
                content = handle.read()
                mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        except FileNotFoundError:
            return _Previous(None)
        except OSError as exc:
            raise ConfigApplyError(f"cannot read {self.path}: {exc}") from exc
        return _Previous(content, mode)

    def _read_backup(self) -> _Previous | None:
        try:
            data = self.backup.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigApplyError(f"cannot read the backup {self.backup}: {exc}") from exc
        return _Previous.decode(data, self.backup)

    def _new_content(self, current: _Previous, configuration: bytes, *, replace: bool) -> bytes:
        if replace:
            return configuration
        if current.content is None or not current.content.strip():
            return configuration
        try:
            old = load_json(current.content, f"the existing {self.path}")
            new = load_json(configuration, "the configuration")
        except EncodingError as exc:
            raise ConfigApplyError(
                f"merge needs JSON objects for the file applier: {exc}; {self.path} is unchanged"
            ) from exc
        if not isinstance(old, dict) or not isinstance(new, dict):
            raise ConfigApplyError(
                "merge needs JSON objects for the file applier: "
                f"{'the existing file' if not isinstance(old, dict) else 'the configuration'} "
                f"is not a JSON object; {self.path} is unchanged"
            )
        return _dump_json(_merge(old, new))

    def commit(
        self,
        configuration: bytes,
        handling: ConfigurationHandling,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        handling = _as_handling(handling)
        current = self._read_current()
        content = self._new_content(current, configuration, replace=handling == "replace")
        # A backup left by a commit that was neither rolled back nor discarded (a crash)
        # holds the state from before bootstrapping: keep it rather than the newer one.
        previous = self._previous or self._read_backup()
        wrote_backup = False
        try:
            if previous is None:
                previous = current
                write_atomic(self.backup, previous.encode(), mode=0o600)
                wrote_backup = True
            write_atomic(self.path, content, mode=self.mode)
        except OSError as exc:
            if wrote_backup:
                with contextlib.suppress(OSError):
                    self.backup.unlink()
            raise ConfigApplyError(f"cannot write {self.path}: {exc}; it is unchanged") from exc
        self._previous = previous

    def rollback(self) -> None:
        previous = self._previous or self._read_backup()
        if previous is None:
            return
        try:
            if previous.content is None:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                fsync_dir(self.path.parent)
            else:
                write_atomic(self.path, previous.content, mode=previous.mode)
        except OSError as exc:
            raise ConfigApplyError(
                f"cannot restore {self.path} from before the commit: {exc}; the backup stays "
                f"in {self.backup}"
            ) from exc
        self.discard()

    def discard(self) -> None:
        self._previous = None
        try:
            self.backup.unlink()
            fsync_dir(self.backup.parent)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigApplyError(f"cannot remove the backup {self.backup}: {exc}") from exc
