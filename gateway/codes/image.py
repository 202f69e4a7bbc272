"""Codes in an image file: what `checkpoint check --image` reads."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from gateway.core.errors import CheckpointError

# QR codes only: with every symbology on, the modules of a QR code also read as stray
# one-dimensional barcodes.
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


class ImageError(CheckpointError):
    """The file cannot be read as an image."""


def decode_image(path: Path) -> list[bytes]:
    """The raw payloads of all QR codes found in the image, in reading order; [] when none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the image: {exc.strerror}") from None
    # imdecode rather than imread: a clear error for a missing file, and any path encoding.
    gray = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if gray is None:
        raise ImageError(f"{path}: not an image format OpenCV can read")
    return [bytes(barcode.bytes) for barcode in zxingcpp.read_barcodes(gray, formats=_QR)]
