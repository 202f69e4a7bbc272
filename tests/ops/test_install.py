"""`checkpoint install` and `uninstall` into a temporary root, as on a gate computer.

systemd is told offline (`systemctl --root`), the user is made by `systemd-sysusers --root`,
and the virtualenv is real: its own `checkpoint` must run. Offline mode is used so that no
package index is needed; the virtualenv reuses the packages of the Python running the tests.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import load_settings
from gateway.operations.install import Layout, install, source_tree, uninstall

pytestmark = pytest.mark.slow

WANTS = Path("etc/systemd/system/multi-user.target.wants")


@pytest.fixture(autouse=True)
def _systemd_tools() -> None:
    for tool in ("systemd-sysusers", "systemctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the systemd package provides it)")


def _source() -> Path:
    tree = source_tree()
    assert tree is not None, "the tests run from the source tree"
    return tree


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    root = tmp_path_factory.mktemp("root")
    said: list[str] = []
    install(Layout(root=root), source=_source(), offline=True, report=said.append)
    yield root, said


def test_service_user_is_created(installed: tuple[Path, list[str]]) -> None:
    root, _ = installed
    users = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/passwd").read_text().splitlines()
    }
    assert users["checkpoint"][5] == "/var/lib/checkpoint"


def test_virtualenv_runs_the_installed_checkpoint(installed: tuple[Path, list[str]]) -> None:
    root, _ = installed
    venv = root / "opt/checkpoint/venv"
    result = subprocess.run(
        [str(venv / "bin/checkpoint"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout and "collector" in result.stdout
    # The code comes from the virtualenv, not from the source tree the tests run in (run
    # elsewhere: `python -c` puts the working directory first on the import path).
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import gateway; print(gateway.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=root,
    )
    assert where.stdout.strip().startswith(str(venv))


def test_config_is_written_and_loads(installed: tuple[Path, list[str]]) -> None:
    root, said = installed
    config = root / "etc/checkpoint/gateway.toml"
    settings = load_settings(config)
    assert settings.storage.path == Path("/var/lib/checkpoint/gateway.db")
    assert config.stat().st_mode & 0o777 == 0o640
    assert any("wrote /etc/checkpoint/gateway.toml" in line for line in said)


def test_units_rules_and_sysusers_are_installed_and_gateway_enabled(
    installed: tuple[Path, list[str]],
) -> None:
    root, _ = installed
    unit = root / "etc/systemd/system/checkpoint-gateway.service"
    assert (
        "ExecStart=/opt/checkpoint/venv/bin/checkpoint run --config /etc/checkpoint/gateway.toml"
        in unit.read_text()
    )
    assert (root / "etc/systemd/system/checkpoint-collector.service").is_file()
    assert (root / "etc/udev/rules.d/99-checkpoint.rules").is_file()
    assert (root / "etc/sysusers.d/checkpoint.conf").is_file()
    link = root / WANTS / "checkpoint-gateway.service"
    assert link.is_symlink()
    assert str(link.readlink()) == "/etc/systemd/system/checkpoint-gateway.service"
    assert not (root / WANTS / "checkpoint-collector.service").exists()


def test_uninstall_keeps_config_and_data_and_reinstall_keeps_an_edited_config(
    tmp_path: Path,
) -> None:
    layout = Layout(root=tmp_path, prefix=Path("/srv/cp"), config_dir=Path("/etc/cp"))
    install(layout, source=_source(), offline=True, enable_collector=True, report=print)
    unit = (tmp_path / "etc/systemd/system/checkpoint-collector.service").read_text()
    assert "ExecStart=/srv/cp/venv/bin/checkpoint collector --config /etc/cp/gateway.toml" in unit
    assert (tmp_path / WANTS / "checkpoint-collector.service").is_symlink()

    config = tmp_path / "etc/cp/gateway.toml"
    edited = config.read_text().replace('id = "north-1"', 'id = "south-2"')
    config.write_text(edited)
    database = tmp_path / "var/lib/checkpoint/gateway.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"the gate's records")
    secret = tmp_path / "etc/credstore/checkpoint.mqtt-password"
    secret.write_text("s3cret")

    uninstall(layout, report=print)
    assert not (tmp_path / "etc/systemd/system/checkpoint-gateway.service").exists()
    assert not (tmp_path / "etc/systemd/system/checkpoint-collector.service").exists()
    assert not (tmp_path / WANTS / "checkpoint-gateway.service").exists()
    assert not (tmp_path / WANTS / "checkpoint-collector.service").exists()
    assert not (tmp_path / "etc/udev/rules.d/99-checkpoint.rules").exists()
    assert not (tmp_path / "srv/cp").exists()
    assert config.read_text() == edited
    assert database.read_bytes() == b"the gate's records"
    assert secret.exists()

    install(layout, source=_source(), offline=True, report=print)
    assert config.read_text() == edited
    assert load_settings(config).gate.id == "south-2"
    assert (tmp_path / WANTS / "checkpoint-gateway.service").is_symlink()

    uninstall(layout, purge=True, report=print)
    assert not config.exists()
    assert not database.exists()
    assert not secret.exists()
    assert "checkpoint:" in (tmp_path / "etc/passwd").read_text()
