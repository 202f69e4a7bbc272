"""QR decoding of grayscale frames, with zxing-cpp (the default) or pyzbar behind one signature.

The one decode path: camera scanners, `checkpoint check --image`, the doctor and the bench
all decode through `decoder(name)`, so a code one of them reads, all of them read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

GrayFrame = npt.NDArray[np.uint8]
Point = tuple[int, int]
DecoderName = Literal["zxing", "pyzbar"]


class Decoded(NamedTuple):
    """One code found in a frame: its raw payload and its corners in frame pixels."""

    payload: bytes
    polygon: tuple[Point, ...]


Decoder = Callable[[GrayFrame], list[Decoded]]

_ZXING_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def decode_zxing(gray: GrayFrame) -> list[Decoded]:
    """QR codes in a grayscale frame by zxing-cpp (rotated, downscaled and inverted tried too)."""
    barcodes = zxingcpp.read_barcodes(
        gray, formats=_ZXING_QR, try_rotate=True, try_downscale=True, try_invert=True
    )
    return [
        Decoded(bytes(barcode.bytes), _zxing_polygon(barcode.position))
        for barcode in barcodes
        if barcode.valid
    ]


def decode_pyzbar(gray: GrayFrame) -> list[Decoded]:
    """QR codes in a grayscale frame by ZBar; the inverted frame is tried when nothing is found.

    ZBar reads dark modules on a light ground only, so dark-mode codes on phones need the
    second pass. Only the QR symbology is enabled: the other decoders cost time and can
    mistake clutter for barcodes.
    """
    found = _zbar(gray)
    if not found:
        found = _zbar(np.bitwise_not(gray))
    return found


DECODERS: dict[DecoderName, Decoder] = {"zxing": decode_zxing, "pyzbar": decode_pyzbar}


def decoder(name: DecoderName) -> Decoder:
    """The decode function of the named backend, its library loaded now: a gate configured
    for pyzbar without ZBar installed fails as it starts, not at its first frame."""
    try:
        chosen = DECODERS[name]
    except KeyError:
        raise ValueError(f"unknown QR decoder {name!r}; use one of {sorted(DECODERS)}") from None
    if chosen is decode_pyzbar:
        _pyzbar()
    return chosen


class ImageError(ValueError):
    """A file that cannot be read as an image."""


def read_gray(path: Path) -> GrayFrame:
    """An image file as a grayscale frame (PNG, JPEG and the other formats OpenCV reads)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the image: {exc.strerror}") from None
    # imdecode rather than imread: a clear error for a missing file, and any path encoding.
    gray = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if gray is None:
        raise ImageError(f"{path}: not an image format OpenCV can read")
    return np.asarray(gray, dtype=np.uint8)


def decode_image(path: Path, name: DecoderName = "zxing") -> list[bytes]:
    """The payloads of the QR codes in an image file, as a camera would read them."""
    return [found.payload for found in decoder(name)(read_gray(path))]


def _zxing_polygon(position: zxingcpp.Position) -> tuple[Point, ...]:
    corners = (
        position.top_left,
        position.top_right,
        position.bottom_right,
        position.bottom_left,
    )
    return tuple((int(p.x), int(p.y)) for p in corners)


@functools.cache
def _pyzbar() -> Any:  # the pyzbar module; it has no type hints
    """pyzbar, imported on first use: ZBar and ctypes would cost a gate that decodes with
    zxing-cpp about 2 MB for nothing."""
    from pyzbar import pyzbar

    return pyzbar


def _zbar(gray: GrayFrame) -> list[Decoded]:
    pyzbar = _pyzbar()
    # A C-contiguous array: pyzbar hands the buffer to ZBar as it is.
    symbols = pyzbar.decode(np.ascontiguousarray(gray), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [
        Decoded(bytes(symbol.data), tuple((int(p.x), int(p.y)) for p in symbol.polygon))
        for symbol in symbols
    ]
