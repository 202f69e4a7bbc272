"""The technician's log tail: a bounded ring of the newest records."""

from __future__ import annotations

import logging

from gateway.web.logbuffer import LogRing


def test_the_ring_keeps_the_newest_lines_and_stops_when_told() -> None:
    stopped = False
    ring = LogRing(3, until=lambda: stopped)
    log = logging.getLogger("tests.web.ring")
    log.addHandler(ring)
    log.setLevel(logging.DEBUG)
    try:
        log.debug("below the ring's level")
        for n in range(5):
            log.warning("line %s of %s", n, 5)
        try:
            raise ValueError("bad value")
        except ValueError:
            log.exception("failed")
        stopped = True
        log.error("after the end")
    finally:
        log.removeHandler(ring)
    lines = ring.tail(10)
    assert [line.message for line in lines] == [
        "line 3 of 5", "line 4 of 5", "failed (ValueError: bad value)",
    ]  # fmt: skip
    assert [line.level for line in lines] == ["WARNING", "WARNING", "ERROR"]
    assert lines[0].logger == "tests.web.ring"
    assert [line.message for line in ring.tail(1)] == ["failed (ValueError: bad value)"]
