"""Networked thermal cameras: a local HTTP server replays recorded matrix responses."""

from __future__ import annotations

import http.server
import queue
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from devices.body_temperature import (
    BodyTemperatureEstimator,
    EstimatorSettings,
    PassageSettings,
    ReferencePatch,
)
from devices.http_thermal import HttpMatrixFeed, encode_matrix_response, parse_matrix_response
from devices.radiometry import FrameError
from devices.thermal_camera import ThermalCamera
from devices.thermal_scenes import ThermalScene
from gateway.core.values import DeviceState, ReadingQuality, ThermalReading
from tests.devices.support import Running, wait_until

REFERENCE = ReferencePatch(x=136, y=88, width=8, height=8, celsius=35.0)
Response = tuple[int, str, bytes]


class Replay:
    """A camera's HTTP API played back: each GET answers with the next recorded response;
    the last one repeats."""

    def __init__(self, responses: list[Response]) -> None:
        self.responses = list(responses)
        self.requests = 0
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                replay.requests += 1
                status, content_type, body = (
                    replay.responses.pop(0) if len(replay.responses) > 1 else replay.responses[0]
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._handler = Handler
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = (
            f"http://127.0.0.1:{self.port}/ISAPI/Thermal/channels/2/thermometry/"
            "jpegPicWithAppendData?format=json"
        )
        self._thread = self._start()

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._server.serve_forever, name="test-camera-http")
        thread.start()
        return thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def restart(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self._thread = self._start()


def matrix(face_c: float | None, seed: int = 1, **encoding: float) -> Response:
    scene = ThermalScene(face_c=face_c, reference=REFERENCE, camera_offset_c=0.6)
    content_type, body = encode_matrix_response(
        scene.render(np.random.default_rng(seed)),
        **encoding,  # type: ignore[arg-type]
    )
    return 200, content_type, body


@pytest.fixture
def replay() -> Iterator[Replay]:
    server = Replay([matrix(None)])
    yield server
    server.stop()


def camera(url: str) -> ThermalCamera:
    return ThermalCamera(
        "net-thermal",
        HttpMatrixFeed(url, period_s=0.02),
        BodyTemperatureEstimator(EstimatorSettings(reference=REFERENCE)),
        passage=PassageSettings(frames=3, gap_s=0.2),
    )


def test_float32_and_int16_matrices_decode_exactly() -> None:
    celsius = np.random.default_rng(5).uniform(20, 40, (120, 160)).astype(np.float32)
    _, content_type, body = 200, *encode_matrix_response(celsius)
    assert np.array_equal(parse_matrix_response(content_type, body), celsius)
    content_type, body = encode_matrix_response(celsius, int16_scale=100)
    decoded = parse_matrix_response(content_type, body)
    assert decoded.shape == (120, 160)
    assert np.max(np.abs(decoded - celsius)) <= 0.005 + 1e-4


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b.replace(b'"p2pDataLen": 76800', b'"p2pDataLen": 76000'), "announced"),
        (lambda b: b[: len(b) // 2], "received"),
        (lambda b: b.replace(b"JpegPictureWithAppendData", b"Something"), "no JpegPicture"),
        (lambda b: b.replace(b"application/octet-stream", b"image/png"), "no temperature"),
    ],
)
def test_bad_responses_are_rejected_with_the_reason(mangle: object, message: str) -> None:
    content_type, body = encode_matrix_response(np.full((120, 160), 30.0, dtype=np.float32))
    with pytest.raises(FrameError, match=message):
        parse_matrix_response(content_type, mangle(body))  # type: ignore[operator]
    with pytest.raises(FrameError, match="multipart"):
        parse_matrix_response("application/json", b"{}")


def test_a_matrix_with_values_that_are_no_numbers_is_rejected() -> None:
    """A failing sensor can send NaN or inf: no face may be measured on it, no preview drawn."""
    celsius = np.full((120, 160), 30.0, dtype=np.float32)
    celsius[5, 7], celsius[9, 9] = np.nan, np.inf
    with pytest.raises(FrameError, match="2 values that are no temperature"):
        parse_matrix_response(*encode_matrix_response(celsius))


def test_a_person_in_the_replayed_matrices_gives_a_good_reading(replay: Replay) -> None:
    replay.responses = [matrix(None)] * 2 + [matrix(36.7, seed=n) for n in range(4)]
    replay.responses += [matrix(None)]
    source = camera(replay.url)
    running = Running(source)
    try:
        reading = running.next(timeout=3)
        assert source.health().state is DeviceState.UP
        assert source.health().kind == "http-matrix"
    finally:
        running.end()
    assert reading.celsius == pytest.approx(36.7, abs=0.1)
    assert reading.quality is ReadingQuality.GOOD


def test_error_responses_never_give_a_reading(replay: Replay) -> None:
    content_type, body = matrix(37.0)[1:]
    replay.responses = [(200, content_type, body[: len(body) - 100])]
    source = camera(replay.url)
    running: Running[ThermalReading] = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.DEGRADED)
        assert source.health().reason.startswith("response rejected:")
        with pytest.raises(queue.Empty):
            running.next(timeout=0.3)
        replay.responses = [(401, "text/plain", b"Unauthorized")]
        assert wait_until(lambda: "HTTP 401" in source.health().reason)
        assert source.health().state is DeviceState.DOWN
    finally:
        running.end()


def test_an_unreachable_camera_is_down_and_up_again_when_it_answers(replay: Replay) -> None:
    source = camera(replay.url)
    running: Running[ThermalReading] = Running(source)
    try:
        assert wait_until(lambda: source.health().state is DeviceState.UP)
        replay.stop()
        assert wait_until(lambda: source.health().state is DeviceState.DOWN, timeout=5)
        assert source.health().reason.startswith(f"cannot fetch {replay.url}")
        replay.restart()
        replay.responses = [matrix(36.9, seed=n) for n in range(6)]
        assert running.next(timeout=8).celsius == pytest.approx(36.9, abs=0.1)
        assert source.health().state is DeviceState.UP
    finally:
        running.end()


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpMatrixFeed("rtsp://camera/stream")
