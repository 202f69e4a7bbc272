"""Networked thermal cameras that serve their temperature matrix over HTTP.

The response follows the common ISAPI `jpegPicWithAppendData` layout: a multipart body whose
JSON part (`JpegPictureWithAppendData`) gives the matrix size and encoding, followed by the
thermal JPEG and the matrix itself (`application/octet-stream`, row-major little-endian):
float32 °C when `temperatureDataLength` is 4, or int16 counts with `scale` and `offset`
(kelvin = count / scale + offset) when it is 2.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from devices.backoff import Backoff
from devices.clock import SYSTEM_CLOCK, Clock
from devices.health import HealthCell
from devices.radiometry import KELVIN, Celsius, FrameError, ThermalFrame
from gateway.core.values import DeviceState

logger = logging.getLogger(__name__)

_META = "JpegPictureWithAppendData"
_BOUNDARY = "boundary"


def parse_matrix_response(content_type: str, body: bytes) -> Celsius:
    """The °C matrix of one response; `FrameError` saying what is wrong otherwise."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise FrameError(f"expected a multipart response, got {content_type!r}")
    parts = [p for p in message.iter_parts() if isinstance(p, EmailMessage)]
    meta = _metadata(parts)
    matrix = next((p for p in parts if p.get_content_type() == "application/octet-stream"), None)
    if matrix is None:
        raise FrameError("the response has no temperature matrix part")
    data = matrix.get_payload(decode=True)
    if not isinstance(data, bytes):
        raise FrameError("the temperature matrix part is empty")
    try:
        width, height = int(meta["jpegPicWidth"]), int(meta["jpegPicHeight"])
        size = int(meta["temperatureDataLength"])
        expected = int(meta["p2pDataLen"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameError(f"the matrix description lacks a valid {exc}") from None
    if size not in (2, 4) or expected != width * height * size or len(data) != expected:
        raise FrameError(
            f"a {width}x{height} matrix of {size}-byte values needs {width * height * size} "
            f"bytes; announced {expected}, received {len(data)}"
        )
    if size == 4:
        values = np.frombuffer(data, dtype="<f4").reshape(height, width).astype(np.float32)
        broken = int(np.count_nonzero(~np.isfinite(values)))
        if broken:
            raise FrameError(f"the matrix holds {broken} values that are no temperature (NaN, inf)")
        return values
    try:
        scale, offset = float(meta["scale"]), float(meta["offset"])
    except (KeyError, TypeError, ValueError):
        raise FrameError("an int16 matrix needs 'scale' and 'offset'") from None
    counts = np.frombuffer(data, dtype="<i2").reshape(height, width)
    return (counts.astype(np.float64) / scale + offset - KELVIN).astype(np.float32)


def encode_matrix_response(
    celsius: npt.NDArray[np.floating], *, int16_scale: float | None = None
) -> tuple[str, bytes]:
    """(content type, body) a camera sends for this matrix (the simulators' side)."""
    height, width = celsius.shape
    meta: dict[str, Any] = {"jpegPicWidth": width, "jpegPicHeight": height}
    if int16_scale is None:
        matrix = np.asarray(celsius, dtype="<f4").tobytes()
        meta["temperatureDataLength"] = 4
    else:
        counts = np.round((np.asarray(celsius, dtype=np.float64) + KELVIN - 200) * int16_scale)
        matrix = counts.astype("<i2").tobytes()
        meta.update(temperatureDataLength=2, scale=int16_scale, offset=200)
    meta["p2pDataLen"] = len(matrix)
    values = np.nan_to_num(np.asarray(celsius, dtype=np.float32))  # a broken sensor's NaN
    span = float(values.max() - values.min()) or 1.0
    grey = ((values - values.min()) * (255 / span)).astype(np.uint8)
    _, jpeg = cv2.imencode(".jpg", grey)
    meta["jpegPicLen"] = len(jpeg)
    parts = [
        ("application/json", json.dumps({_META: meta}).encode()),
        ("image/jpeg", jpeg.tobytes()),
        ("application/octet-stream", matrix),
    ]
    body = b"".join(
        f"--{_BOUNDARY}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
        + b"\r\n"
        for kind, data in parts
    )
    return f"multipart/form-data; boundary={_BOUNDARY}", body + f"--{_BOUNDARY}--\r\n".encode()


def _metadata(parts: list[EmailMessage]) -> dict[str, Any]:
    part = next((p for p in parts if p.get_content_type() == "application/json"), None)
    if part is None:
        raise FrameError("the response has no JSON description of the matrix")
    payload = part.get_payload(decode=True)
    try:
        document = json.loads(payload if isinstance(payload, bytes) else b"")
        meta = document[_META]
    except (ValueError, KeyError, TypeError):
        raise FrameError(f"the JSON part is no {_META} description") from None
    if not isinstance(meta, dict):
        raise FrameError(f"the JSON part is no {_META} description")
    return meta


class HttpMatrixFeed:
    """Polls a camera's matrix URL every `period_s`; unreachable is DOWN, bad data DEGRADED."""

    kind = "http-matrix"

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        period_s: float = 0.5,
        timeout_s: float = 5.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the matrix URL must be http:// or https://, not {url!r}")
        if period_s <= 0 or timeout_s <= 0:
            raise ValueError("period_s and timeout_s must be positive")
        self.url = url
        self._period_s = period_s
        self._timeout_s = timeout_s
        self._clock = clock
        handlers: list[urllib.request.BaseHandler] = []
        if username is not None:
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            passwords.add_password(None, url, username, password or "")
            handlers += [
                urllib.request.HTTPDigestAuthHandler(passwords),
                urllib.request.HTTPBasicAuthHandler(passwords),
            ]
        self._opener = urllib.request.build_opener(*handlers)

    def run(
        self,
        on_frame: Callable[[ThermalFrame], None],
        on_connect: Callable[[], None],
        health: HealthCell,
        stop: threading.Event,
    ) -> None:
        backoff = Backoff(0.5, 10.0)
        connected = False
        while not stop.is_set():
            try:
                content_type, body = self._fetch()
            except (urllib.error.URLError, OSError) as exc:
                connected = False
                health.set(DeviceState.DOWN, f"cannot fetch {self.url}: {_why(exc)}")
                stop.wait(backoff.next())
                continue
            backoff.reset()
            if not connected:
                connected = True
                health.set(DeviceState.UP)
                on_connect()
            try:
                celsius = parse_matrix_response(content_type, body)
            except FrameError as exc:
                health.set(DeviceState.DEGRADED, f"response rejected: {exc}")
            else:
                on_frame(ThermalFrame(celsius, self._clock.monotonic_ns()))
            stop.wait(self._period_s)

    def _fetch(self) -> tuple[str, bytes]:
        with self._opener.open(self.url, timeout=self._timeout_s) as response:
            return response.headers.get("Content-Type", ""), response.read()


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc)
