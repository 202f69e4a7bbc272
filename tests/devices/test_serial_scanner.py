from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.serial_scanner import SerialScanner
from gateway.core.values import DeviceState, Direction, Scan
from tests.devices.support import PluggedPort, Pty, Running, wait_until


def make_scanner(port: str | Path, *, max_payload: int = 4096) -> SerialScanner:
    return SerialScanner(
        "lane-1", str(port), lane="1", direction=Direction.IN, max_payload=max_payload
    )


@pytest.fixture
def pty() -> Iterator[Pty]:
    opened = Pty()
    yield opened
    opened.unplug()


def start(scanner: SerialScanner) -> Running[Scan]:
    running = Running(scanner)
    assert wait_until(lambda: scanner.health().state is DeviceState.UP), scanner.health()
    return running


@pytest.fixture
def running(pty: Pty) -> Iterator[Running[Scan]]:
    scanner = start(make_scanner(pty.path))
    yield scanner
    scanner.end()


def payloads(running: Running[Scan], count: int) -> list[bytes]:
    return [scan.payload for scan in running.take(count)]


@pytest.mark.parametrize("terminator", [b"\n", b"\r", b"\r\n"])
def test_payloads_with_each_terminator(pty: Pty, running: Running[Scan], terminator: bytes) -> None:
    pty.write(b"CP1:FIRST" + terminator)
    pty.write(b"CP1:SECOND" + terminator)
    assert payloads(running, 2) == [b"CP1:FIRST", b"CP1:SECOND"]
    with pytest.raises(queue.Empty):
        running.next(timeout=0.3)


def test_a_scan_carries_source_lane_direction_and_both_clocks(
    pty: Pty, running: Running[Scan]
) -> None:
    before, before_ns = datetime.now(UTC), time.monotonic_ns()
    pty.write(b"HC1:ABC\r\n")
    scan = running.next()
    assert (scan.source, scan.lane, scan.direction) == ("lane-1", "1", Direction.IN)
    assert scan.wall_time.tzinfo is not None
    assert scan.wall_time.utcoffset() == timedelta(0)
    assert before <= scan.wall_time <= datetime.now(UTC)
    assert before_ns <= scan.monotonic_ns <= time.monotonic_ns()


def test_several_payloads_in_one_write(pty: Pty, running: Running[Scan]) -> None:
    pty.write(b"ONE\r\nTWO\nTHREE\r")
    assert payloads(running, 3) == [b"ONE", b"TWO", b"THREE"]


def test_one_payload_over_several_writes(pty: Pty, running: Running[Scan]) -> None:
    for part in (b"CP1:", b"NCF", b"OXA3\r", b"\nNEXT\n"):
        pty.write(part)
    assert payloads(running, 2) == [b"CP1:NCFOXA3", b"NEXT"]


def test_binary_garbage_is_passed_on_and_the_next_payload_still_arrives(
    pty: Pty, running: Running[Scan]
) -> None:
    garbage = bytes(b for b in range(256) if b not in b"\r\n \t\x0b\x0c")
    pty.write(garbage + b"\nGOOD\n")
    assert payloads(running, 2) == [garbage, b"GOOD"]
    assert running.source.health().state is DeviceState.UP


def test_an_overlong_unterminated_line_is_dropped_and_the_reader_resynchronises(
    pty: Pty,
) -> None:
    running = start(make_scanner(pty.path, max_payload=64))
    try:
        pty.write(b"A" * 100)
        pty.write(b"B" * 100)
        pty.write(b"C\nGOOD\r\n")
        assert payloads(running, 1) == [b"GOOD"]
        with pytest.raises(queue.Empty):
            running.next(timeout=0.3)
    finally:
        running.end()


def test_unplug_marks_down_and_replug_at_the_same_path_recovers(tmp_path: Path) -> None:
    port = PluggedPort(tmp_path)
    scanner = make_scanner(port.path)
    running = start(scanner)
    try:
        port.pty.write(b"BEFORE\n")
        assert payloads(running, 1) == [b"BEFORE"]

        port.pty.unplug()
        assert wait_until(lambda: scanner.health().state is DeviceState.DOWN)
        reason = scanner.health().reason
        assert reason.startswith(("port closed", "cannot open")), reason
        # While unplugged, the scanner keeps trying to reopen the configured path.
        assert wait_until(lambda: scanner.health().reason.startswith("cannot open"))
        assert str(port.path) in scanner.health().reason

        fresh = port.replug()
        assert wait_until(lambda: scanner.health().state is DeviceState.UP, timeout=6)
        fresh.write(b"AFTER\r\n")
        assert payloads(running, 1) == [b"AFTER"]
        assert running.thread.is_alive()
    finally:
        running.end()
        port.close()


def test_a_missing_port_is_down_with_the_reason_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "ttyACM9"
    scanner = make_scanner(path)
    assert scanner.health().state is DeviceState.DOWN
    running = Running(scanner)
    pty = Pty()
    try:
        assert wait_until(lambda: scanner.health().reason.startswith(f"cannot open {path}"))
        assert scanner.health().state is DeviceState.DOWN
        path.symlink_to(pty.path)
        assert wait_until(lambda: scanner.health().state is DeviceState.UP, timeout=6)
        pty.write(b"HELLO\n")
        assert payloads(running, 1) == [b"HELLO"]
    finally:
        running.end()
        pty.unplug()


def test_stop_ends_the_thread_and_reports_stopped(pty: Pty) -> None:
    scanner = make_scanner(pty.path)
    running = start(scanner)
    running.end()
    assert not running.thread.is_alive()
    assert scanner.health().state is DeviceState.DOWN
    assert scanner.health().reason == "stopped"
