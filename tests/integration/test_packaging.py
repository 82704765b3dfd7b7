"""The device's wheel: only sztp_client, and it installs a working client on its own.

The lab (sztp_lab, the ``sztp-lab`` command) is a distribution of its own
(packaging/sztp-lab) and must never reach a device.  The wheel is built with the real pip from
a copy of the repository as a clean clone would have it (the files git tracks, plus new ones it
does not ignore), offline (no build isolation, no index), and installed into a fresh venv that
gets its runtime dependencies copied from this environment's installed distributions: nothing
else, in particular neither the editable finders nor the lab.
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from sztp_client import __version__
from sztp_lab.cli import main as lab_main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HANG = 300  # seconds: only ever reached when a command is stuck
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


def _run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
        env=env,
    )
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stderr}"
    return result.stdout


def _clean_copy(target: Path) -> Path:
    """The repository's files as a clean clone of the current work would hold them."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = _run(
            "git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"
        )
        for name in filter(None, listed.split("\0")):
            source = ROOT / name
            if source.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    else:
        shutil.copytree(ROOT, target, ignore=_NOT_IN_A_CLONE, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="module")
def client_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _clean_copy(tmp_path_factory.mktemp("clone"))
    wheels = tmp_path_factory.mktemp("wheels")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--wheel-dir",
        wheels,
        source,
    )
    (wheel,) = wheels.glob("*.whl")
    return wheel


def _runtime_distributions(wheel: Path) -> list[importlib.metadata.Distribution]:
    """The installed distributions the wheel's Requires-Dist needs, and theirs, recursively."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = email.parser.Parser().parsestr(archive.read(metadata).decode())
    pending = list(headers.get_all("Requires-Dist") or [])
    found: dict[str, importlib.metadata.Distribution] = {}
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = requirement.name.lower().replace("_", "-")
        if name in found:
            continue
        found[name] = importlib.metadata.distribution(requirement.name)
        pending.extend(found[name].requires or [])
    return list(found.values())


@pytest.fixture(scope="module")
def fresh_venv(client_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    for distribution in _runtime_distributions(client_wheel):
        for file in distribution.files or []:
            if ".." in file.parts:
                continue  # console scripts and the like, outside site-packages
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                (site / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, site / file)
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        client_wheel,
    )
    return venv


def test_client_wheel_holds_only_sztp_client(client_wheel: Path) -> None:
    """The lab is not shipped in the device's wheel: no sztp_lab module, no sztp-lab
    command, nothing but the sztp_client package and its metadata."""
    with zipfile.ZipFile(client_wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
    assert client_wheel.name == f"sztp_client-{__version__}-py3-none-any.whl"
    assert not [n for n in names if "sztp_lab" in n]
    assert {n.split("/")[0] for n in names} == {"sztp_client", info}
    assert top_level == ["sztp_client"]
    assert "sztp-lab" not in entry_points
    assert "sztp-client = sztp_client.cli.main:main" in entry_points
    assert "sztp_client/py.typed" in names


def test_wheel_installs_a_working_client(fresh_venv: Path) -> None:
    """Installed alone into a fresh venv, the wheel gives a working `sztp-client`."""
    client = fresh_venv / "bin" / "sztp-client"
    assert _run(client, "--version").strip().endswith(__version__)
    assert "CONVEYED-INFORMATION" in _run(client, "verify", "--help")
    python = fresh_venv / "bin" / "python"
    probe = (
        "import importlib.metadata as m, importlib.util as u, sztp_client; "
        "print(sztp_client.__file__); print(u.find_spec('sztp_lab')); "
        "print(sorted(d.metadata['Name'] for d in m.distributions()))"
    )
    where, lab, distributions = _run(python, "-I", "-c", probe).splitlines()
    assert Path(where).is_relative_to(fresh_venv)
    assert lab == "None"
    assert "sztp-client" in distributions
    assert "sztp-lab" not in distributions
    every_module = (
        "import importlib, pkgutil, sztp_client; "
        "[importlib.import_module(m.name) "
        "for m in pkgutil.walk_packages(sztp_client.__path__, 'sztp_client.') "
        "if not m.name.endswith('__main__')]"
    )
    _run(python, "-I", "-c", every_module)


def test_wheel_client_verifies_lab_artifacts(
    fresh_venv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The installed wheel's `verify` accepts the signed set `sztp-lab create` writes, with
    the command line create prints (the lab itself runs here, never in the fresh venv)."""
    assert lab_main(["create", str(tmp_path / "lab")]) == 0
    printed = capsys.readouterr().out.splitlines()
    (verify_line,) = [line for line in printed if " verify " in line]
    command = shlex.split(verify_line)
    command[0] = str(fresh_venv / "bin" / "sztp-client")
    assert "acceptable: yes" in _run(*command)


def test_client_never_imports_the_lab() -> None:
    """No module of sztp_client imports sztp_lab (the lab is absent on a device)."""
    offenders = []
    for path in sorted((ROOT / "sztp_client").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("sztp_lab")
            ]
    assert not offenders
