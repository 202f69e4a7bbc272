"""QR decoding of grayscale frames, with zxing-cpp (the default) or pyzbar behind one signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

GrayFrame = npt.NDArray[np.uint8]
Point = tuple[int, int]
DecoderName = Literal["zxing", "pyzbar"]


class Decoded(NamedTuple):
    """One code found in a frame: its raw payload and its corners in frame pixels."""

    payload: bytes
    polygon: tuple[Point, ...]


Decoder = Callable[[GrayFrame], list[Decoded]]

_ZXING_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
_ZBAR_QR = [pyzbar.ZBarSymbol.QRCODE]


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
    """The decode function of the named backend."""
    try:
        return DECODERS[name]
    except KeyError:
        raise ValueError(f"unknown QR decoder {name!r}; use one of {sorted(DECODERS)}") from None


def _zxing_polygon(position: zxingcpp.Position) -> tuple[Point, ...]:
    corners = (
        position.top_left,
        position.top_right,
        position.bottom_right,
        position.bottom_left,
    )
    return tuple((int(p.x), int(p.y)) for p in corners)


def _zbar(gray: GrayFrame) -> list[Decoded]:
    # A C-contiguous array: pyzbar hands the buffer to ZBar as it is.
    symbols = pyzbar.decode(np.ascontiguousarray(gray), symbols=_ZBAR_QR)
    return [
        Decoded(bytes(symbol.data), tuple((int(p.x), int(p.y)) for p in symbol.polygon))
        for symbol in symbols
    ]
