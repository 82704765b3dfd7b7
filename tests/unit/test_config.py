"""The configuration file: defaults, drop-ins, relative paths, and errors that name the key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sztp_client.config import (
    ASSERTIONS,
    ClientConfig,
    DiscoveryConfig,
    DnsDiscoveryConfig,
    load_config,
    parse_config,
)
from sztp_client.errors import ConfigurationError
from sztp_client.model.voucher import Assertion

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config(tmp_path / "absent.toml")
    assert config.enabled
    assert config.trust.clock == "untrusted"  # D10
    assert config.trust.accept_assertions == {Assertion.VERIFIED, Assertion.LOGGED}  # D11
    assert config.discovery.max_redirects == 8  # D16
    assert config.paths.state_dir == Path("/var/lib/sztp")  # D21
    assert config.scripts.warning_codes == {10}  # D3
    assert config.limits.conveyed_information == 16 * 1024 * 1024  # D19


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_config(tmp_path / "absent.toml", required=True)


def test_example_configuration_loads() -> None:
    config = load_config(ROOT / "conf" / "client.toml", required=True)
    assert config.image.reboot_command == ("/bin/systemctl", "reboot")


def test_drop_ins_merge_in_name_order(tmp_path: Path) -> None:
    """D21: drop-ins override the main file key by key."""
    main = tmp_path / "client.toml"
    main.write_text('[trust]\nclock = "trusted"\n[scripts]\ntimeout = 30\n')
    dropins = tmp_path / "client.toml.d"
    dropins.mkdir()
    (dropins / "20-late.toml").write_text("[scripts]\ntimeout = 99\n")
    (dropins / "10-early.toml").write_text("[scripts]\ntimeout = 50\nwarning-codes = [3]\n")
    config = load_config(main)
    assert config.trust.clock == "trusted"
    assert config.scripts.timeout == 99
    assert config.scripts.warning_codes == {3}


def test_relative_paths_are_relative_to_the_main_file(tmp_path: Path) -> None:
    main = tmp_path / "etc" / "client.toml"
    main.parent.mkdir()
    main.write_text(
        '[paths]\nstate-dir = "../state"\n[identity]\ncertificate = "a.pem"\nkey = "a.key"\n'
    )
    config = load_config(main)
    assert config.paths.state_dir == tmp_path / "etc" / ".." / "state"
    assert config.identity.certificate == tmp_path / "etc" / "a.pem"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("enabeld = true", "enabeld"),
        ("[trust]\nclock = 5", "trust.clock"),
        ('[trust]\nclock = "sundial"', "trust.clock"),
        ('[trust]\naccept-assertions = ["blind"]', "trust.accept-assertions"),
        ("[discovery]\nmax-redirects = 11", "discovery.max-redirects"),
        ('[discovery]\nbootstrap-servers = "https://x"', "discovery.bootstrap-servers"),
        ("[scripts]\nwarning-codes = [300]", "scripts.warning-codes"),
        ("[scripts]\ntimeout = -1", "scripts.timeout"),
        ('[image]\ninstaller = "floppy"', "image.installer"),
        ('[configuration]\napplier = "file"', "configuration.file"),
        ('[identity]\ncertificate = "a.pem"', "identity"),
        ("[limits]\nhost-meta = 10", "limits.host-meta"),
        ("[network]\ntypo = 1", "network.typo"),
        ("trust = 3", "trust"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config(text, tmp_path)
    assert info.value.key == key
    assert key in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TOML"):
        parse_config("[trust\n", tmp_path)


@pytest.mark.subprocess
def test_invalid_file_exits_78_naming_the_key(tmp_path: Path) -> None:
    """D20: an invalid configuration file makes run and status exit 78."""
    bad = tmp_path / "client.toml"
    bad.write_text('[trust]\nclock = "sundial"\n')
    for command in (["run", "--once"], ["status"]):
        result = subprocess.run(
            [sys.executable, "-m", "sztp_client", *command, "--config", str(bad)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 78, result.stderr
        assert "trust.clock" in result.stderr
        assert "Traceback" not in result.stderr


def test_every_key_is_documented() -> None:
    """Every key the parser reads appears in docs/configuration.md."""
    source = "".join(p.read_text() for p in sorted((ROOT / "sztp_client" / "config").glob("*.py")))
    docs = (ROOT / "docs" / "configuration.md").read_text()
    keys = set(
        re.findall(
            r'\.(?:string|choice|boolean|integer|number|path|paths|strings|integers)\("([a-z-]+)"',
            source,
        )
    )
    missing = sorted(k for k in keys if f"{k}`" not in docs and f".{k}" not in docs)
    assert not missing, f"undocumented configuration keys: {missing}"


def test_d29_network_encoding(tmp_path: Path) -> None:
    """D29: network.encoding is json (default) or xml; anything else is refused (exit 78)."""
    assert load_config(ROOT / "conf" / "client.toml", required=True).network.encoding == "json"
    main = tmp_path / "client.toml"
    main.write_text('[network]\nencoding = "xml"\n')
    assert load_config(main, required=True).network.encoding == "xml"
    main.write_text('[network]\nencoding = "yaml"\n')
    with pytest.raises(ConfigurationError, match=r"network\.encoding"):
        load_config(main, required=True)


def test_d11_assertion_names_are_the_voucher_models() -> None:
    """D11: the names the configuration accepts are exactly the voucher model's assertions (the
    configuration holds them by name so that reading it never loads the voucher model)."""
    assert set(ASSERTIONS) == {a.value for a in Assertion}
    config = parse_config('[trust]\naccept-assertions = ["proximity"]\n', Path("/"))
    assert config.trust.accept_assertions == {Assertion.PROXIMITY}


def test_the_configuration_holds_no_password(tmp_path: Path) -> None:
    """D18: the HTTP Basic password is read from its file only when a run starts; the
    configuration (and so its repr, in a log or a traceback) holds the path alone."""
    secret = tmp_path / "password"
    secret.write_text("hunter2-not-in-repr\n")
    main = tmp_path / "client.toml"
    main.write_text('[identity]\npassword-file = "password"\n')
    config = load_config(main)
    assert config.identity.password_file == secret
    assert "hunter2" not in repr(config)
    assert "hunter2" not in repr(config.identity)


@pytest.mark.subprocess
def test_reading_the_configuration_loads_no_model() -> None:
    """``status`` reads the configuration: neither the voucher model nor the trust or identity
    modules are imported for it."""
    code = (
        "import sys; from sztp_client.config import load_config; load_config(None);"
        "print(sorted(m for m in sys.modules if m.startswith(('sztp_client.model',"
        " 'sztp_client.trust', 'sztp_client.identity', 'cryptography'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_tables_are_immutable_and_changed_by_copy(tmp_path: Path) -> None:
    """D21: a configuration read is never changed in place; a copy is made with ``_replace``
    (the tables are named tuples, so that ``status`` starts without msgspec), and a
    sub-table's default is one shared instance, which no one can change either."""
    config = parse_config("[retry]\ninitial = 1\n", tmp_path)
    with pytest.raises(AttributeError):
        config.retry.initial = 2.0  # type: ignore[misc]
    changed = config._replace(retry=config.retry._replace(initial=2.0))
    assert (changed.retry.initial, config.retry.initial) == (2.0, 1.0)
    assert changed.paths is config.paths
    assert ClientConfig().discovery.dns is DiscoveryConfig().dns == DnsDiscoveryConfig()
