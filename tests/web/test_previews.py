"""Device previews through the real app in-process: JPEG for technicians only, clear 404s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.preview import OUTLINE, camera_jpeg
from devices.qr_decode import decode_zxing
from devices.qr_scenes import code_frame
from tests.devices.support import decode_jpeg, near_colour, qr_modules
from tests.web.support import InProcess, build
from tests.web.test_access import sign_in


@pytest.fixture
def web(tmp_path: Path) -> InProcess:
    frame = code_frame(qr_modules("CP1:PREVIEW"), "rotation", (640, 480), np.random.default_rng(4))
    jpeg = camera_jpeg(frame, [code.polygon for code in decode_zxing(frame)])
    web = build(tmp_path, previews={"scanner-1": lambda: jpeg, "thermal": lambda: None})
    web.set_up()
    return web


def test_a_technician_sees_the_newest_frame_as_jpeg(web: InProcess) -> None:
    client = web.client()
    sign_in(client, "technician")
    response = client.get("/api/devices/scanner-1/preview")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert near_colour(decode_jpeg(response.content), OUTLINE).sum() > 200
    (device,) = client.get("/api/status").json()["devices"]
    assert (device["name"], device["preview"]) == ("scanner-1", True)


def test_no_frame_and_no_preview_are_told_apart(web: InProcess) -> None:
    client = web.client()
    sign_in(client, "technician")
    waiting = client.get("/api/devices/thermal/preview")
    assert (waiting.status_code, waiting.json()["detail"]) == (404, "no-recent-frame")
    unknown = client.get("/api/devices/scanner-9/preview")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no-preview")


@pytest.mark.parametrize("role", ["guard", "manager"])
def test_other_roles_and_strangers_see_no_camera(web: InProcess, role: str) -> None:
    client = web.client()
    sign_in(client, role)
    refused = client.get("/api/devices/scanner-1/preview")
    assert (refused.status_code, refused.json()["detail"]) == (403, "forbidden")
    assert web.client().get("/api/devices/scanner-1/preview").status_code == 401


def test_devices_without_a_picture_say_so_in_the_status(tmp_path: Path) -> None:
    web = build(tmp_path)
    web.set_up()
    client = web.client()
    sign_in(client, "technician")
    assert [d["preview"] for d in client.get("/api/status").json()["devices"]] == [False]
