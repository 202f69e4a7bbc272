"""The `checkpoint` command as installed: its help lists the DESIGN 4.1 commands."""

from __future__ import annotations

import subprocess
import sys

DESIGN_COMMANDS = (
    "demo",
    "run",
    "collector",
    "check",
    "export",
    "stats",
    "keys",
    "issue-pass",
    "init",
)


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in DESIGN_COMMANDS:
        assert f" {command} " in result.stdout, command


def test_unknown_command_is_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "frobnicate"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
