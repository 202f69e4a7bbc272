"""Install checkpoint-gateway on a gate computer, or remove it again.

`install` creates the service user (systemd-sysusers), a virtualenv under the prefix with the
project in it, the config file from the `checkpoint init` template when there is none, the
systemd units, udev rules and sysusers file, and enables the units. Run with a `root` other
than `/`, everything lands in that directory tree and systemd is only told offline
(`systemctl --root`): that is how the tests install.

Where the dependencies come from:
- normally from the package index pip is configured for (the site's mirror, set in
  /etc/pip.conf or $PIP_INDEX_URL);
- with `offline`, from nowhere: the virtualenv sees the packages of the Python running this
  (its system site-packages, and when that Python is itself a virtualenv, that virtualenv's
  packages too), and only the project is installed, built without a package index. The
  installed service then depends on that environment staying where it is.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.config import load_settings
from gateway.core.errors import CheckpointError, ConfigError
from gateway.operations.example_config import render_example

USER = "checkpoint"
GATEWAY_UNIT = "checkpoint-gateway.service"
COLLECTOR_UNIT = "checkpoint-collector.service"
UNITS = (GATEWAY_UNIT, COLLECTOR_UNIT)
SYSUSERS_SOURCE = "checkpoint.sysusers"
SYSUSERS_NAME = "checkpoint.conf"
UDEV_RULES = "99-checkpoint.rules"
CREDENTIAL_PREFIX = "checkpoint."

# The paths written in the shipped unit files; rewritten to the chosen prefix and config dir.
SHIPPED_PREFIX = "/opt/checkpoint"
SHIPPED_CONFIG_DIR = "/etc/checkpoint"

STATE_DIR = Path("/var/lib/checkpoint")
UNIT_DIR = Path("/etc/systemd/system")
UDEV_DIR = Path("/etc/udev/rules.d")
SYSUSERS_DIR = Path("/etc/sysusers.d")
CREDSTORE = Path("/etc/credstore")

# What of a source tree makes the project (copied before building, so no build files land in
# the tree, which may also be read-only).
_PROJECT_FILES = ("pyproject.toml", "README.md", "gateway", "devices", "sync")

Report = Callable[[str], None]


class InstallError(CheckpointError):
    """The installation cannot go on; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things go. Paths are as the gate computer sees them; `host` maps them under root."""

    root: Path = Path("/")
    prefix: Path = Path(SHIPPED_PREFIX)
    config_dir: Path = Path(SHIPPED_CONFIG_DIR)

    def __post_init__(self) -> None:
        for name in ("root", "prefix", "config_dir"):
            if not getattr(self, name).is_absolute():
                raise InstallError(f"{name.replace('_', '-')} must be an absolute path")

    def host(self, path: Path) -> Path:
        """Where `path` of the installed system is in this computer's file system."""
        return self.root / path.relative_to("/")

    @property
    def venv(self) -> Path:
        return self.prefix / "venv"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "gateway.toml"

    @property
    def live(self) -> bool:
        """Installing into this running system, with systemd running as its service manager."""
        return self.root == Path("/") and Path("/run/systemd/system").is_dir()


def source_tree() -> Path | None:
    """The source tree this program runs from, or None when it runs from an installed copy."""
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "pyproject.toml").is_file() and (candidate / "systemd").is_dir():
        return candidate
    return None


def install(
    layout: Layout,
    *,
    source: Path,
    offline: bool = False,
    enable_gateway: bool = True,
    enable_collector: bool = False,
    report: Report = print,
) -> None:
    """Install (or upgrade) from the source tree `source` and enable the chosen units.

    An existing config file is never overwritten. Raises `InstallError`.
    """
    _require_source(source)
    _require_privileges(layout)
    sysusers = _install_file(
        source / "systemd" / SYSUSERS_SOURCE, layout.host(SYSUSERS_DIR / SYSUSERS_NAME)
    )
    layout.host(Path("/etc")).mkdir(parents=True, exist_ok=True)
    sysusers_args = (
        [str(sysusers)] if layout.root == Path("/") else [f"--root={layout.root}", str(sysusers)]
    )
    _run(["systemd-sysusers", *sysusers_args], "create the service user")
    report(f"user {USER}: present")

    _create_venv(layout, offline=offline)
    _install_project(layout, source, offline=offline)
    report(f"virtualenv: {layout.venv} ({'offline' if offline else 'from the package index'})")
    _install_file(source / "README.md", layout.host(layout.prefix / "README.md"))

    _install_config(layout, report)
    layout.host(CREDSTORE).mkdir(mode=0o700, parents=True, exist_ok=True)

    for unit in UNITS:
        _install_unit(layout, source / "systemd" / unit)
    _install_file(source / "systemd" / UDEV_RULES, layout.host(UDEV_DIR / UDEV_RULES))
    report(f"units and udev rules: {UNIT_DIR}, {UDEV_DIR / UDEV_RULES}")

    wanted = ((GATEWAY_UNIT, enable_gateway), (COLLECTOR_UNIT, enable_collector))
    enabled = [unit for unit, enable in wanted if enable]
    _activate(layout, enabled)
    if enabled:
        report(f"enabled: {', '.join(enabled)}")


def uninstall(layout: Layout, *, purge: bool = False, report: Report = print) -> None:
    """Disable and remove the units, rules and virtualenv; config and data only with `purge`.

    The user account stays: files elsewhere (backups, exports) may still belong to it.
    """
    _require_privileges(layout)
    present = [unit for unit in UNITS if layout.host(UNIT_DIR / unit).exists()]
    if present:
        if layout.live:
            _run(["systemctl", "disable", "--now", *present], "disable the units")
        else:
            _run(["systemctl", f"--root={layout.root}", "disable", *present], "disable the units")
    for path in (
        *(UNIT_DIR / unit for unit in UNITS),
        UDEV_DIR / UDEV_RULES,
        SYSUSERS_DIR / SYSUSERS_NAME,
        layout.prefix / "README.md",
    ):
        layout.host(path).unlink(missing_ok=True)
    shutil.rmtree(layout.host(layout.venv), ignore_errors=True)
    _remove_if_empty(layout.host(layout.prefix))
    if layout.live:
        _run(["systemctl", "daemon-reload"], "reload systemd")
        _reload_udev()
    report(f"removed: units, udev rules, {layout.venv}")
    if purge:
        shutil.rmtree(layout.host(layout.config_dir), ignore_errors=True)
        shutil.rmtree(layout.host(STATE_DIR), ignore_errors=True)
        for credential in _credentials(layout):
            credential.unlink()
        report(f"purged: {layout.config_dir}, {STATE_DIR} and the checkpoint credentials")
    else:
        report(f"kept: {layout.config_dir} and {STATE_DIR} (remove them with --purge)")
    report(f"kept: the user {USER} (userdel {USER} removes it)")


def _require_source(source: Path) -> None:
    missing = [
        name
        for name in (*_PROJECT_FILES, f"systemd/{GATEWAY_UNIT}", f"systemd/{SYSUSERS_SOURCE}")
        if not (source / name).exists()
    ]
    if missing:
        raise InstallError(
            f"{source} is not a checkpoint-gateway source tree (missing {', '.join(missing)}); "
            "run install from the unpacked source, or name it with --source"
        )


def _require_privileges(layout: Layout) -> None:
    if layout.root == Path("/") and os.geteuid() != 0:
        raise InstallError("installing on this computer needs root: run it with sudo")


def _create_venv(layout: Layout, *, offline: bool) -> None:
    venv = layout.host(layout.venv)
    command = [sys.executable, "-m", "venv"]
    if offline:
        command.append("--system-site-packages")
    _run([*command, str(venv)], "create the virtualenv")
    if offline and sys.prefix != sys.base_prefix:
        # The system site-packages of a virtualenv's Python are its base interpreter's, not
        # the virtualenv's: name the running virtualenv's packages explicitly. Plain paths
        # only, so its .pth files (e.g. an editable install of this project) do not apply.
        purelib = _run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            "inspect the virtualenv",
        ).strip()
        Path(purelib, "_checkpoint_offline.pth").write_text(
            "".join(f"{path}\n" for path in site.getsitepackages()), encoding="utf-8"
        )


def _install_project(layout: Layout, source: Path, *, offline: bool) -> None:
    pip = [str(layout.host(layout.venv) / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    if offline:
        pip += ["--no-index", "--no-build-isolation", "--no-deps"]
    with tempfile.TemporaryDirectory(prefix="checkpoint-build-") as build:
        project = Path(build) / "checkpoint-gateway"
        project.mkdir()
        for name in _PROJECT_FILES:
            _copy(source / name, project / name)
        _run([*pip, str(project)], "install the project into the virtualenv")


def _install_config(layout: Layout, report: Report) -> None:
    config = layout.host(layout.config_file)
    if config.exists():
        report(f"config: {layout.config_file} kept as it is")
    else:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(render_example(db_path=str(STATE_DIR / "gateway.db")), encoding="utf-8")
        config.chmod(0o640)
        if os.geteuid() == 0:
            # Readable by the service user, writable by root only.
            os.chown(config, 0, _group_id(layout, USER))
        report(f"config: wrote {layout.config_file}; edit [gate], [[scanners]] and [mqtt]")
    try:
        load_settings(config)
    except ConfigError as exc:
        report(
            "warning: the config has errors; the service does not start until they are "
            f"fixed:\n{exc}"
        )


def _install_unit(layout: Layout, unit: Path) -> None:
    text = unit.read_text(encoding="utf-8")
    text = text.replace(SHIPPED_PREFIX + "/", f"{layout.prefix}/")
    text = text.replace(SHIPPED_CONFIG_DIR + "/", f"{layout.config_dir}/")
    target = layout.host(UNIT_DIR / unit.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.chmod(0o644)


def _activate(layout: Layout, units: list[str]) -> None:
    if not layout.live:
        if units:
            _run(["systemctl", f"--root={layout.root}", "enable", *units], "enable the units")
        return
    _run(["systemctl", "daemon-reload"], "reload systemd")
    _reload_udev()
    if units:
        _run(["systemctl", "enable", *units], "enable the units")
        # An upgrade: a running service restarts on the new code and migrates its database.
        _run(["systemctl", "try-restart", *units], "restart the running units")


def _reload_udev() -> None:
    if Path("/run/udev/control").exists():
        _run(["udevadm", "control", "--reload"], "reload the udev rules")
        _run(["udevadm", "trigger"], "apply the udev rules")


def _install_file(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o644)
    return target


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copyfile(source, target)


def _group_id(layout: Layout, name: str) -> int:
    for line in layout.host(Path("/etc/group")).read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == name and len(fields) > 2:
            return int(fields[2])
    raise InstallError(f"group {name!r} is missing from {layout.host(Path('/etc/group'))}")


def _credentials(layout: Layout) -> Iterable[Path]:
    credstore = layout.host(CREDSTORE)
    return sorted(credstore.glob(CREDENTIAL_PREFIX + "*")) if credstore.is_dir() else []


def _remove_if_empty(directory: Path) -> None:
    if directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()


def _run(command: list[str], what: str) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InstallError(f"cannot {what}: {command[0]} is not installed") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise InstallError(f"cannot {what}: {' '.join(command)} failed:\n" + "\n".join(output))
    return result.stdout
