from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from devices.qr_decode import ImageError, decode_image

CONFORMANCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"


def test_decodes_a_qr_code_from_a_png(tmp_path: Path) -> None:
    path = tmp_path / "code.png"
    segno.make("CP1:HELLO 123", error="m", micro=False).save(str(path), scale=6, border=4)
    assert decode_image(path) == [b"CP1:HELLO 123"]


def test_a_dark_mode_code_is_read_as_the_camera_reads_it(tmp_path: Path) -> None:
    """Light modules on a dark ground, as phones in dark mode show them."""
    path = tmp_path / "dark.png"
    segno.make("CP1:DARK 7", error="m", micro=False).save(
        str(path), scale=6, border=4, dark="white", light="black"
    )
    assert decode_image(path) == [b"CP1:DARK 7"]
    assert decode_image(path, "pyzbar") == [b"CP1:DARK 7"]


def test_an_image_without_a_code_gives_nothing(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((120, 160), 255, dtype=np.uint8))
    assert decode_image(path) == []


@pytest.mark.parametrize("content", [b"", b"not an image"], ids=["empty", "junk"])
def test_a_file_that_is_no_image_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "code.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match="not an image"):
        decode_image(path)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        decode_image(tmp_path / "absent.png")


def test_only_qr_codes_are_read(tmp_path: Path) -> None:
    """The modules of some QR codes also read as one-dimensional barcodes (this one as a
    Codabar): only the QR code is a code here."""
    case = CONFORMANCE / "dcc" / "CY" / "7.json"
    document = json.loads(case.read_text(encoding="utf-8"))
    path = tmp_path / "code.png"
    path.write_bytes(base64.b64decode(document["2DCODE"]))
    assert decode_image(path) == [document["PREFIX"].encode()]
