from __future__ import annotations

import logging

import pytest

from devices.framing import LineFramer


def framer(max_length: int = 16) -> LineFramer:
    return LineFramer(max_length, label="test")


@pytest.mark.parametrize("terminator", [b"\n", b"\r", b"\r\n"])
def test_each_terminator_ends_one_payload(terminator: bytes) -> None:
    lines = framer().feed(b"ABC" + terminator + b"DEF" + terminator)
    assert lines == [b"ABC", b"DEF"]


def test_crlf_split_between_reads_is_one_terminator() -> None:
    f = framer()
    assert f.feed(b"ABC\r") == [b"ABC"]
    assert f.feed(b"\nDEF\r\n") == [b"DEF"]


def test_a_payload_split_over_reads_is_joined() -> None:
    f = framer()
    assert f.feed(b"AB") == []
    assert f.feed(b"C") == []
    assert f.feed(b"D\n") == [b"ABCD"]


def test_blank_lines_are_ignored_and_whitespace_is_stripped() -> None:
    assert framer().feed(b"\n\n  \r\n ABC \t\n") == [b"ABC"]


def test_an_overlong_unterminated_line_is_discarded_up_to_the_next_terminator(
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = framer(8)
    with caplog.at_level(logging.WARNING, logger="devices.framing"):
        assert f.feed(b"X" * 10) == []
        assert f.feed(b"Y" * 5) == []
        assert f.feed(b"ZZ\nGOOD\n") == [b"GOOD"]
    assert "discarded" in caplog.text


def test_an_overlong_terminated_line_is_discarded() -> None:
    assert framer(4).feed(b"TOOLONG\nOK\n") == [b"OK"]


def test_a_line_of_exactly_the_maximum_length_is_kept() -> None:
    assert framer(4).feed(b"ABCD\n") == [b"ABCD"]


def test_reset_drops_a_partial_line() -> None:
    f = framer()
    f.feed(b"HALF")
    f.reset()
    assert f.feed(b"WHOLE\n") == [b"WHOLE"]
