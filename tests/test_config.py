from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.config import load_settings
from gateway.core.errors import ConfigError
from gateway.operations.example_config import render_example


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, render_example()))
    assert settings.gate.id == "north-1"
    assert settings.scanners[0].kind == "serial"
    assert settings.policy_rules.fever_threshold_c == 37.3


def test_init_writes_a_loadable_commented_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "gateway.toml"
    result = CliRunner().invoke(app, ["init", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "# " in path.read_text()
    assert load_settings(path).gate.site == "xiaojiang"
    again = CliRunner().invoke(app, ["init", "--config", str(path)])
    assert again.exit_code == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[gate]\nidd = "x"\n', ["gate.idd", "unknown key", "allowed here: id, site, name"]),
        ("[mqtt]\nport = 99999\n", ["mqtt.port", "less than or equal to 65535"]),
        ('[gate]\nid = "North Gate"\n', ["gate.id", "pattern"]),
        ('[[scanners]]\nkind = "laser"\n', ["scanners.0.kind", "'camera'", "'serial'"]),
        ('[[scanners]]\nkind = "serial"\n', ["scanners.0", "needs 'device'"]),
        ('[policy]\nyellow = "maybe"\n', ["policy.yellow", "'admit', 'refer' or 'deny'"]),
        ("[thermal]\nfever_threshold_c = 45\n", ["thermal.fever_threshold_c"]),
        ("[gate\nid = 1", ["not valid TOML"]),
    ],
)
def test_bad_config_names_file_key_and_allowed(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    message = str(error.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_bad_config_exits_2_with_one_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nprot = 1883\n")
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "mqtt.prot" in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "checkpoint init" in result.output


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[mqtt]\nhost = "broker"\nport = 1883\n[gate]\nid = "a"\n')
    monkeypatch.setenv("CHECKPOINT_MQTT__PORT", "8883")
    monkeypatch.setenv("CHECKPOINT_GATE__NAME", "南门")
    settings = load_settings(path)
    assert settings.mqtt.port == 8883
    assert settings.mqtt.host == "broker"
    assert settings.gate.id == "a"
    assert settings.gate.name == "南门"


def test_bad_environment_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKPOINT_MQTT__PORT", "eighty")
    with pytest.raises(ConfigError, match=r"mqtt\.port"):
        load_settings(write(tmp_path, ""))
