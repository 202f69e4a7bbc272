"""Log lines under systemd carry the journal priority and key=value fields."""

from __future__ import annotations

import logging

from gateway.runtime.logs import JournalFormatter


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("sync.mqtt", level, __file__, 1, message, (), None)


def test_journal_lines_carry_priority_and_fields() -> None:
    formatter = JournalFormatter()
    assert formatter.format(record(logging.ERROR, "broker gone")) == (
        "<3>logger=sync.mqtt level=error msg='broker gone'"
    )
    assert formatter.format(record(logging.INFO, "two\nlines")).startswith("<6>")
    assert "\n" not in formatter.format(record(logging.WARNING, "two\nlines"))
