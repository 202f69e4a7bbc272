"""`checkpoint bench --quick` prints every figure, the thresholds and a verdict."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from gateway.cli.ops import register
from gateway.operations.private_broker import mosquitto_binary

NUMBER = r"[\d,]+(\.\d+)?"


def test_quick_bench_prints_each_figure_and_a_verdict() -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["bench", "--quick"])
    lines = result.stdout.splitlines()
    assert result.exit_code in (0, 1), result.output
    expected = [
        r"checkpoint bench on .+ \(\d+ CPUs, .+\)",
        r"decode per frame \(zxing-cpp, median\):",
        rf"  640x480: empty {NUMBER} ms, with a code {NUMBER} ms",
        rf"  1280x720: empty {NUMBER} ms, with a code {NUMBER} ms",
        rf"scan-to-verdict over 15 scans: p50 {NUMBER} ms, p99 {NUMBER} ms",
        rf"durable writes: {NUMBER} entries per second \(one fsynced transaction each\)",
        (
            rf"MQTT round trip \(QoS 1, local broker\): p50 {NUMBER} ms, p99 {NUMBER} ms"
            if mosquitto_binary()
            else r"MQTT round trip: not measured \(mosquitto is not installed\)"
        ),
        r"thresholds: decode 1280x720 with a code <= \d+ ms, scan-to-verdict p99 <= \d+ ms, "
        r"durable writes >= \d+/s, MQTT round trip p50 <= \d+ ms",
        r"verdict: (fast enough for a gate|NOT fast enough for a gate: .+)",
    ]
    assert len(lines) == len(expected), result.output
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), line
    fast = lines[-1] == "verdict: fast enough for a gate"
    assert result.exit_code == (0 if fast else 1)
