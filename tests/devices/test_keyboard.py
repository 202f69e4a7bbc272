"""Keyboard-wedge scanners: recorded evdev event sequences decoded; unplug and replug via the
device seam; the real evdev opener on paths that are no input device."""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from evdev import InputEvent, ecodes

from devices.keyboard import InputEvents, KeyboardScanner
from devices.keymap import KeystrokeDecoder
from gateway.core.values import DeviceState, Direction, Scan
from tests.devices.support import Running, wait_until

# HID usage IDs (keyboard page 0x07) that a USB keyboard reports in MSC_SCAN, by key code.
_USAGE = {
    **{getattr(ecodes, f"KEY_{c}"): 0x04 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")},
    **{getattr(ecodes, f"KEY_{c}"): 0x1E + i for i, c in enumerate("1234567890")},
    ecodes.KEY_ENTER: 0x28,
    ecodes.KEY_TAB: 0x2B,
    ecodes.KEY_SPACE: 0x2C,
    ecodes.KEY_MINUS: 0x2D,
    ecodes.KEY_EQUAL: 0x2E,
    ecodes.KEY_SEMICOLON: 0x33,
    ecodes.KEY_GRAVE: 0x35,
    ecodes.KEY_DOT: 0x37,
    ecodes.KEY_SLASH: 0x38,
    ecodes.KEY_KP7: 0x5F,
    ecodes.KEY_KP3: 0x5B,
    ecodes.KEY_LEFTSHIFT: 0xE1,
    ecodes.KEY_RIGHTSHIFT: 0xE5,
}
_PLAIN = {
    **{c.lower(): ecodes.ecodes[f"KEY_{c}"] for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{c: ecodes.ecodes[f"KEY_{c}"] for c in "1234567890"},
    " ": ecodes.KEY_SPACE,
    "-": ecodes.KEY_MINUS,
    "=": ecodes.KEY_EQUAL,
    ";": ecodes.KEY_SEMICOLON,
    "`": ecodes.KEY_GRAVE,
    ".": ecodes.KEY_DOT,
    "/": ecodes.KEY_SLASH,
}
_SHIFTED = {
    **{c: ecodes.ecodes[f"KEY_{c}"] for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **dict(zip("!@#$%^&*()", (ecodes.ecodes[f"KEY_{d}"] for d in "1234567890"), strict=True)),
    "_": ecodes.KEY_MINUS,
    "+": ecodes.KEY_EQUAL,
    ":": ecodes.KEY_SEMICOLON,
    "~": ecodes.KEY_GRAVE,
    ">": ecodes.KEY_DOT,
    "?": ecodes.KEY_SLASH,
}


class HidKeyboard:
    """Makes the events the kernel's USB HID driver delivers for a scanner typing text.

    Per key change: MSC_SCAN with the HID usage, EV_KEY (1 press, 0 release), SYN_REPORT;
    all three with the same timestamp, 4 ms between reports (a 250 Hz scanner).
    """

    def __init__(self, shift: int = ecodes.KEY_LEFTSHIFT) -> None:
        self._shift = shift
        self._usec = 0

    def key(self, code: int, value: int) -> list[InputEvent]:
        self._usec += 4000
        sec, usec = 1718090000 + self._usec // 1_000_000, self._usec % 1_000_000
        return [
            InputEvent(sec, usec, ecodes.EV_MSC, ecodes.MSC_SCAN, 0x70000 | _USAGE[code]),
            InputEvent(sec, usec, ecodes.EV_KEY, code, value),
            InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0),
        ]

    def tap(self, code: int) -> list[InputEvent]:
        return self.key(code, 1) + self.key(code, 0)

    def type(self, text: str, *, enter: bool = True) -> list[InputEvent]:
        """Shift pressed and released around each shifted character, as most scanners do."""
        events: list[InputEvent] = []
        for char in text:
            if char in _PLAIN:
                events += self.tap(_PLAIN[char])
            else:
                events += self.key(self._shift, 1) + self.tap(_SHIFTED[char])
                events += self.key(self._shift, 0)
        return events + (self.tap(ecodes.KEY_ENTER) if enter else [])


def decode(events: Sequence[InputEvent], max_length: int = 4096) -> list[bytes]:
    keys = KeystrokeDecoder(max_length, label="test")
    return [p for p in (keys.feed(event) for event in events) if p is not None]


BASE45_PASS = "CP1:NCFOXN%TS3DH$:QRK8A-*9+BB/.8 M 05VBL3"
URL = "https://jkm.example.gov.cn/v?c=Ab_9~x&t=1#top@2!"


def test_a_base45_pass_with_every_base45_character() -> None:
    assert decode(HidKeyboard().type(BASE45_PASS)) == [BASE45_PASS.encode()]


def test_a_url_with_lower_case_and_url_characters_typed_with_the_right_shift() -> None:
    assert decode(HidKeyboard(ecodes.KEY_RIGHTSHIFT).type(URL)) == [URL.encode()]


def test_consecutive_scans_are_separate_payloads() -> None:
    keyboard = HidKeyboard()
    events = keyboard.type("CP1:ONE") + keyboard.type("CP1:TWO")
    assert decode(events) == [b"CP1:ONE", b"CP1:TWO"]


def test_shift_held_across_a_run_of_capitals_and_keypad_digits() -> None:
    kb = HidKeyboard()
    events = kb.key(ecodes.KEY_LEFTSHIFT, 1)
    for code in (ecodes.KEY_C, ecodes.KEY_P, ecodes.KEY_1, ecodes.KEY_SEMICOLON):
        events += kb.tap(code)
    events += kb.key(ecodes.KEY_LEFTSHIFT, 0)
    events += kb.tap(ecodes.KEY_KP7) + kb.tap(ecodes.KEY_KP3) + kb.tap(ecodes.KEY_ENTER)
    assert decode(events) == [b"CP!:73"]


# "CP1:" and Enter as `evtest` prints what the kernel delivers from a USB scanner.
EVTEST_RECORDING = """\
Event: time 1718090000.004000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 700e1
Event: time 1718090000.004000, type 1 (EV_KEY), code 42 (KEY_LEFTSHIFT), value 1
Event: time 1718090000.004000, -------------- SYN_REPORT ------------
Event: time 1718090000.008000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70006
Event: time 1718090000.008000, type 1 (EV_KEY), code 46 (KEY_C), value 1
Event: time 1718090000.008000, -------------- SYN_REPORT ------------
Event: time 1718090000.012000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70006
Event: time 1718090000.012000, type 1 (EV_KEY), code 46 (KEY_C), value 0
Event: time 1718090000.012000, -------------- SYN_REPORT ------------
Event: time 1718090000.016000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70013
Event: time 1718090000.016000, type 1 (EV_KEY), code 25 (KEY_P), value 1
Event: time 1718090000.016000, -------------- SYN_REPORT ------------
Event: time 1718090000.020000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70013
Event: time 1718090000.020000, type 1 (EV_KEY), code 25 (KEY_P), value 0
Event: time 1718090000.020000, -------------- SYN_REPORT ------------
Event: time 1718090000.024000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 700e1
Event: time 1718090000.024000, type 1 (EV_KEY), code 42 (KEY_LEFTSHIFT), value 0
Event: time 1718090000.024000, -------------- SYN_REPORT ------------
Event: time 1718090000.028000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 7001e
Event: time 1718090000.028000, type 1 (EV_KEY), code 2 (KEY_1), value 1
Event: time 1718090000.028000, -------------- SYN_REPORT ------------
Event: time 1718090000.032000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 7001e
Event: time 1718090000.032000, type 1 (EV_KEY), code 2 (KEY_1), value 0
Event: time 1718090000.032000, -------------- SYN_REPORT ------------
Event: time 1718090000.036000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 700e5
Event: time 1718090000.036000, type 1 (EV_KEY), code 54 (KEY_RIGHTSHIFT), value 1
Event: time 1718090000.036000, -------------- SYN_REPORT ------------
Event: time 1718090000.040000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70033
Event: time 1718090000.040000, type 1 (EV_KEY), code 39 (KEY_SEMICOLON), value 1
Event: time 1718090000.040000, -------------- SYN_REPORT ------------
Event: time 1718090000.044000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70033
Event: time 1718090000.044000, type 1 (EV_KEY), code 39 (KEY_SEMICOLON), value 0
Event: time 1718090000.044000, -------------- SYN_REPORT ------------
Event: time 1718090000.048000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 700e5
Event: time 1718090000.048000, type 1 (EV_KEY), code 54 (KEY_RIGHTSHIFT), value 0
Event: time 1718090000.048000, -------------- SYN_REPORT ------------
Event: time 1718090000.052000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70028
Event: time 1718090000.052000, type 1 (EV_KEY), code 28 (KEY_ENTER), value 1
Event: time 1718090000.052000, -------------- SYN_REPORT ------------
Event: time 1718090000.056000, type 4 (EV_MSC), code 4 (MSC_SCAN), value 70028
Event: time 1718090000.056000, type 1 (EV_KEY), code 28 (KEY_ENTER), value 0
Event: time 1718090000.056000, -------------- SYN_REPORT ------------
"""


def parse_evtest(text: str) -> list[InputEvent]:
    events = []
    for line in text.splitlines():
        stamp = line.split("time ")[1].split(",")[0]
        sec, usec = (int(part) for part in stamp.split("."))
        if "SYN_REPORT" in line:
            events.append(InputEvent(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
            continue
        fields = line.split(", ")
        kind = int(fields[1].split()[1])
        code = int(fields[2].split()[1])
        value = int(fields[3].split()[1], 16 if kind == ecodes.EV_MSC else 10)
        events.append(InputEvent(sec, usec, kind, code, value))
    return events


def test_an_evtest_recording_decodes() -> None:
    events = parse_evtest(EVTEST_RECORDING)
    assert len(events) == 42
    assert decode(events) == [b"CP1:"]


def test_auto_repeat_and_other_event_types_add_nothing() -> None:
    kb = HidKeyboard()
    events = kb.key(ecodes.KEY_A, 1)
    events.append(InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_A, 2))  # held: auto-repeat
    events.append(InputEvent(0, 0, ecodes.EV_LED, ecodes.LED_NUML, 1))
    events += kb.key(ecodes.KEY_A, 0) + kb.tap(ecodes.KEY_ENTER)
    assert decode(events) == [b"a"]


def test_a_scan_with_a_key_without_character_is_dropped_and_the_next_one_reads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kb = HidKeyboard()
    events = kb.type("CP1:AB", enter=False) + kb.tap(ecodes.KEY_TAB) + kb.type("C")
    events += kb.type("CP1:NEXT")
    assert decode(events) == [b"CP1:NEXT"]
    assert "KEY_TAB has no character" in caplog.text


def test_an_overlong_scan_is_dropped_and_an_empty_one_ignored() -> None:
    kb = HidKeyboard()
    events = kb.type("A" * 9) + kb.tap(ecodes.KEY_ENTER) + kb.type("A" * 8)
    assert decode(events, max_length=8) == [b"AAAAAAAA"]


class InputNode:
    """A stand-in for /dev/input/eventN at the device seam: plugged in or not, delivering the
    events queued for it; reads on a handle of an unplugged node fail as evdev's do."""

    def __init__(self) -> None:
        self.plugged = True
        self.opened = 0
        self._generation = 0
        self._events: queue.Queue[tuple[int, InputEvent]] = queue.Queue()
        self._lock = threading.Lock()

    def open(self, path: str) -> InputEvents:
        with self._lock:
            if not self.plugged:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
            self.opened += 1
            return _Handle(self, self._generation)

    def deliver(self, events: Sequence[InputEvent]) -> None:
        for event in events:
            self._events.put((self._generation, event))

    def unplug(self) -> None:
        with self._lock:
            self.plugged = False
            self._generation += 1

    def replug(self) -> None:
        with self._lock:
            self.plugged = True

    def blip(self) -> None:
        """Gone and back between two reads: the open handle is dead, a reopen works."""
        with self._lock:
            self._generation += 1

    def drained(self) -> bool:
        return self._events.empty()

    def read(self, generation: int, timeout_s: float) -> list[InputEvent]:
        if generation != self._generation:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        try:
            first_generation, first = self._events.get(timeout=timeout_s)
        except queue.Empty:
            return []
        batch = [first] if first_generation == generation else []
        while not self._events.empty():
            queued_generation, event = self._events.get_nowait()
            if queued_generation == generation:
                batch.append(event)
        return batch


class _Handle:
    def __init__(self, node: InputNode, generation: int) -> None:
        self._node = node
        self._generation = generation
        self.closed = False

    def read(self, timeout_s: float) -> Sequence[InputEvent]:
        return self._node.read(self._generation, timeout_s)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def node() -> InputNode:
    return InputNode()


def scanner(
    open_input: object, device: str = "/dev/input/by-id/usb-scanner-kbd"
) -> KeyboardScanner:
    return KeyboardScanner(
        "lane-3",
        device,
        lane="3",
        direction=Direction.IN,
        open_input=open_input,  # type: ignore[arg-type]
    )


@pytest.fixture
def running(node: InputNode) -> Iterator[Running[Scan]]:
    source = scanner(node.open)
    started = Running(source)
    assert wait_until(lambda: source.health().state is DeviceState.UP)
    yield started
    started.end()


def test_scans_carry_source_lane_and_direction(node: InputNode, running: Running[Scan]) -> None:
    node.deliver(HidKeyboard().type(BASE45_PASS))
    scan = running.next()
    assert (scan.payload, scan.source, scan.lane, scan.direction) == (
        BASE45_PASS.encode(),
        "lane-3",
        "3",
        Direction.IN,
    )


def test_unplug_is_down_and_replug_is_up_and_a_partial_scan_is_forgotten(
    node: InputNode, running: Running[Scan]
) -> None:
    source = running.source
    kb = HidKeyboard()
    node.deliver(kb.type("CP1:BEFORE"))
    assert running.next().payload == b"CP1:BEFORE"

    node.deliver(kb.type("CP1:HALF", enter=False))
    assert wait_until(node.drained)
    node.unplug()
    assert wait_until(lambda: source.health().state is DeviceState.DOWN)
    assert wait_until(lambda: "No such file or directory" in source.health().reason)
    assert source.health().reason.startswith("cannot open /dev/input/by-id/usb-scanner-kbd")

    node.replug()
    assert wait_until(lambda: source.health().state is DeviceState.UP, timeout=6)
    node.deliver(kb.type("CP1:AFTER"))
    assert running.next().payload == b"CP1:AFTER"
    assert node.opened == 2
    with pytest.raises(queue.Empty):
        running.next(timeout=0.3)


def test_a_read_failure_is_reported_as_the_device_gone_and_it_is_reopened(
    node: InputNode, caplog: pytest.LogCaptureFixture
) -> None:
    source = scanner(node.open)
    started = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.UP)
        with caplog.at_level(logging.WARNING, logger="devices.health"):
            node.blip()
            assert wait_until(lambda: node.opened == 2, timeout=6)
        assert "lane-3: down: device gone: No such device" in caplog.text
        assert source.health().state is DeviceState.UP
    finally:
        started.end()
    assert source.health().reason == "stopped"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "event9", "No such file or directory"),
        (lambda tmp: (tmp / "not-an-input").write_text("x") and tmp / "not-an-input", "ioctl"),
    ],
)
def test_the_real_evdev_opener_reports_paths_that_are_no_input_device(
    tmp_path: Path, make: object, reason: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    source = KeyboardScanner("kbd", str(path), lane="1", direction=Direction.IN)
    started = Running(source)
    try:
        assert wait_until(lambda: reason in source.health().reason)
        assert source.health().state is DeviceState.DOWN
        assert source.health().reason.startswith(f"cannot open {path}")
    finally:
        started.end()
    assert not started.thread.is_alive()
