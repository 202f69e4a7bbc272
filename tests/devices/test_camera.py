from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.camera import CameraScanner, CodeDeduper, Roi, to_gray
from devices.qr_decode import Decoded, GrayFrame, decode_zxing
from devices.qr_scenes import code_frame, empty_frame
from devices.recordings import write_video
from gateway.core.values import DeviceState, Direction, Scan
from tests.devices.support import Running, qr_modules, wait_until

SIZE = (640, 480)


def recording(path: Path, texts: list[str | None], *, fps: float = 20, seed: int = 1) -> Path:
    """A video with one frame per entry: a code showing that text, or an empty scene."""
    rng = np.random.default_rng(seed)
    frames = [
        empty_frame(SIZE, rng)
        if text is None
        else code_frame(qr_modules(text), "rotation", SIZE, rng)
        for text in texts
    ]
    write_video(path, frames, fps)
    return path


def camera(device: Path | str, **options: object) -> CameraScanner:
    return CameraScanner("gate-cam", str(device), lane="2", direction=Direction.OUT, **options)  # type: ignore[arg-type]


def start(scanner: CameraScanner) -> Running[Scan]:
    running = Running(scanner)
    assert wait_until(lambda: scanner.health().state is DeviceState.UP), scanner.health()
    return running


def test_a_code_held_in_view_is_one_scan_with_source_lane_and_direction(tmp_path: Path) -> None:
    video = recording(tmp_path / "gate.avi", [None] * 3 + ["CP1:HELD"] * 20 + [None] * 3)
    running = start(camera(video, dedupe_s=60))
    try:
        scan = running.next(timeout=5)
        with pytest.raises(queue.Empty):
            running.next(timeout=2.0)  # the file replays: still the same presentation
    finally:
        running.end()
    assert (scan.payload, scan.source, scan.lane, scan.direction) == (
        b"CP1:HELD",
        "gate-cam",
        "2",
        Direction.OUT,
    )
    assert scan.wall_time.tzinfo is not None


def test_a_code_shown_again_after_the_dedupe_window_is_a_new_scan(tmp_path: Path) -> None:
    video = recording(tmp_path / "gate.avi", ["CP1:AGAIN"] * 2 + [None] * 8, fps=20)
    running = start(camera(video, dedupe_s=0.1))
    try:
        # The recording replays every half second; each replay is a new presentation.
        assert [s.payload for s in running.take(2, timeout=5)] == [b"CP1:AGAIN"] * 2
    finally:
        running.end()


def test_only_the_region_of_interest_is_decoded(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    left = code_frame(qr_modules("CP1:LEFT"), "rotation", (320, 480), rng)
    right = code_frame(qr_modules("CP1:RIGHT"), "rotation", (320, 480), rng)
    frame = np.hstack([left, right])
    assert sorted(camera("x.avi").decode_frame(frame)) == [b"CP1:LEFT", b"CP1:RIGHT"]
    assert camera("x.avi", roi=Roi(0.5, 0.0, 0.5, 1.0)).decode_frame(frame) == [b"CP1:RIGHT"]
    assert camera("x.avi", roi=Roi(0.0, 0.0, 0.5, 1.0)).decode_frame(frame) == [b"CP1:LEFT"]


@pytest.mark.parametrize(
    "roi", [(0.5, 0, 0.6, 1), (-0.1, 0, 0.5, 0.5), (0, 0, 0, 1), (0, 1.0, 1, 0.1)]
)
def test_a_region_outside_the_frame_is_rejected(roi: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match="roi"):
        Roi(*roi)


def test_stale_frames_are_dropped_and_the_newest_is_decoded(tmp_path: Path) -> None:
    """A decoder slower than the camera skips frames instead of falling behind."""
    texts: list[str | None] = [f"F{n:03d}" for n in range(40)]
    video = recording(tmp_path / "numbered.avi", texts, fps=20)
    decoded_at: list[tuple[float, int]] = []
    played_from = time.monotonic()

    def slow_decoder(gray: GrayFrame) -> list[Decoded]:
        time.sleep(0.2)  # four camera frames per decode
        found = decode_zxing(gray)
        decoded_at.extend((time.monotonic() - played_from, int(d.payload[1:])) for d in found)
        return found

    scanner = camera(video, decoder=slow_decoder, fps=30, dedupe_s=0)
    running = Running(scanner)
    try:
        assert wait_until(lambda: len(decoded_at) >= 6, timeout=5)
    finally:
        running.end()
    frames = [frame for _, frame in decoded_at[:6]]
    assert all(b > a for a, b in itertools.pairwise(frames)), frames
    assert max(b - a for a, b in itertools.pairwise(frames)) >= 3, frames
    assert scanner.frames_dropped > 0


def test_a_video_file_that_disappears_is_down_and_up_again_when_it_returns(
    tmp_path: Path,
) -> None:
    video = recording(tmp_path / "gate.avi", ["CP1:BEFORE"] * 4, fps=20)
    scanner = camera(video)
    running = start(scanner)
    try:
        assert running.next(timeout=5).payload == b"CP1:BEFORE"
        video.unlink()
        assert wait_until(lambda: scanner.health().state is DeviceState.DOWN, timeout=5)
        assert scanner.health().reason == f"cannot open {video}"
        recording(video, ["CP1:AFTER"] * 4, fps=20)
        assert wait_until(lambda: scanner.health().state is DeviceState.UP, timeout=8)
        assert running.next(timeout=5).payload == b"CP1:AFTER"
        assert running.thread.is_alive()
    finally:
        running.end()


class VideoServer:
    """A local HTTP server streaming the files of a directory, stoppable and restartable."""

    def __init__(self, directory: Path) -> None:
        self._handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler)
        self.port = self._server.server_address[1]
        self._thread = self._serve()

    def _serve(self) -> threading.Thread:
        thread = threading.Thread(target=self._server.serve_forever, name="test-video-http")
        thread.start()
        return thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def restart(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._thread = self._serve()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def video_server(tmp_path: Path) -> Iterator[VideoServer]:
    server = VideoServer(tmp_path)
    yield server
    with contextlib.suppress(OSError):
        server.stop()


def test_a_stream_url_that_fails_is_down_and_recovers(
    tmp_path: Path, video_server: VideoServer
) -> None:
    recording(tmp_path / "live.avi", ["CP1:STREAM"] * 4, fps=20)
    url = f"http://127.0.0.1:{video_server.port}/live.avi"
    scanner = camera(url, dedupe_s=0.1)
    running = start(scanner)
    try:
        assert running.next(timeout=5).payload == b"CP1:STREAM"
        video_server.stop()
        assert wait_until(lambda: scanner.health().reason == f"cannot open {url}", timeout=8)
        assert scanner.health().state is DeviceState.DOWN
        video_server.restart()
        assert wait_until(lambda: scanner.health().state is DeviceState.UP, timeout=8)
        while running.next(timeout=5).payload != b"CP1:STREAM":
            pass
    finally:
        running.end()


def test_a_missing_camera_device_is_down_with_the_reason_and_stops_promptly() -> None:
    scanner = camera("/dev/video-missing")
    running = Running(scanner)
    try:
        assert wait_until(lambda: scanner.health().reason == "cannot open /dev/video-missing")
        assert scanner.health().state is DeviceState.DOWN
    finally:
        running.end(timeout=2)
    assert not running.thread.is_alive()
    assert scanner.health().reason == "stopped"


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="fps"):
        camera("0", fps=0)
    with pytest.raises(ValueError, match="device"):
        camera("")


def test_the_deduper_forgets_codes_after_the_window() -> None:
    deduper = CodeDeduper(1.0)
    assert deduper.is_new(b"A", 0)
    assert not deduper.is_new(b"A", 900_000_000)
    assert not deduper.is_new(b"A", 1_800_000_000)  # still in view: the window slides
    assert deduper.is_new(b"B", 1_900_000_000)
    assert deduper.is_new(b"A", 2_900_000_001)


def test_frames_of_every_layout_become_one_grey_channel() -> None:
    grey = np.full((4, 6), 200, dtype=np.uint8)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    bgra = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)
    for frame in (grey, bgr, bgra):
        converted = to_gray(frame)
        assert converted.shape == (4, 6)
        assert converted.dtype == np.uint8
        assert int(converted[0, 0]) == 200
