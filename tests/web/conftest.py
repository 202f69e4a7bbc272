"""A real `checkpoint run` with a pty serial scanner behind a re-pluggable path, and Chromium."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devices.qr_scenes import code_frame
from devices.radiometry import celsius_to_y16
from devices.recordings import write_video, write_y16_video
from devices.thermal_scenes import ThermalScene
from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory, generate_private_key
from gateway.core.values import CodeStatus
from tests.devices.support import PluggedPort, qr_modules
from tests.devices.test_uvc_thermal import REFERENCE as LEPTON_REFERENCE
from tests.support.gateway_process import (
    CheckpointProcess,
    free_port,
    wait_until_serving,
    write_config,
)
from tests.web.support import set_up_accounts

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
SIZES = ((1024, 600), (1440, 900))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The kiosk plays its verdict tones without a tap first.
    "--autoplay-policy=no-user-gesture-required",
]


@dataclass
class Gate:
    """One gateway process, its database, its scanner's pty, and passes to show it."""

    tmp: Path
    db: Path
    port: int
    scanner: PluggedPort
    keys: KeyDirectory
    process: CheckpointProcess
    _people: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def scan(self, payload: bytes) -> None:
        self.scanner.pty.write(payload + b"\r\n")

    def new_pass(self, colour: CodeStatus = CodeStatus.GREEN, *, forged: bool = False) -> bytes:
        """A pass for a new person (so no pass-back), signed by the site or by a stranger."""
        signer = self.keys.signing_key()
        person = next(self._people)
        now = datetime.now(UTC)
        return issue_pass(
            signing_key=generate_private_key(Algorithm.EDDSA) if forged else signer.private_key,
            kid=signer.kid,
            issuer=signer.issuer,
            subject=f"person{person:04d}",
            label=["张*华", "李*", "王*国", "赵*"][person % 4],
            unit=f"{person % 9 + 1}-1-{person:03d}",
            colour=colour,
            issued_at=now - timedelta(days=1),
            expires_at=now + timedelta(days=30),
        ).encode()

    def set_up_accounts(self) -> None:
        set_up_accounts(self.url)

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.db)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()


def start_gate(
    tmp_path: Path, *, thermal: str = 'kind = "none"', extra: str = ""
) -> Iterator[Gate]:
    """A running gateway with the pty scanner, the thermal source and extra config given."""
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="community", site="xiaojiang", alg=Algorithm.EDDSA,
        now=datetime.now(UTC),
    )  # fmt: skip
    scanner = PluggedPort(tmp_path)
    port = free_port()
    config = write_config(
        tmp_path / "gateway.toml",
        db=tmp_path / "gateway.db",
        serial_device=str(scanner.path),
        broker_port=None,
        web_port=port,
        trust_list=keys.trust_list_path,
        thermal=thermal,
        extra=extra,
    )
    process = CheckpointProcess("run", config, tmp_path / "gateway.log").start()
    gate = Gate(tmp_path, tmp_path / "gateway.db", port, scanner, keys, process)
    try:
        wait_until_serving(port, process)
        yield gate
    finally:
        process.kill()
        scanner.close()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    yield from start_gate(tmp_path)


@pytest.fixture
def camera_gate(tmp_path: Path) -> Iterator[Gate]:
    """A gate with a camera scanner (`scanner-2`) and a radiometric thermal camera, both
    playing recordings through OpenCV: a code held up, and a person standing in view."""
    rng = np.random.default_rng(11)
    video = tmp_path / "camera.avi"
    code = qr_modules("CP1:CAMERA")
    write_video(video, [code_frame(code, "rotation", (640, 480), rng) for _ in range(10)], fps=10)
    r = LEPTON_REFERENCE
    person = ThermalScene(face_c=36.8, reference=r, camera_offset_c=1.2)
    lepton = tmp_path / "lepton.mkv"
    frames = [celsius_to_y16(person.render(rng), telemetry_rows=2) for _ in range(20)]
    write_y16_video(lepton, frames, 30)
    yield from start_gate(
        tmp_path,
        thermal=f'kind = "uvc-y16"\ndevice = "{lepton}"\n'
        f"reference_box = [{r.x}, {r.y}, {r.width}, {r.height}]\nreference_c = {r.celsius}",
        extra=f'[[scanners]]\nkind = "camera"\ndevice = "{video}"\nlane = "2"\n',
    )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies) at the kiosk's size."""
    context = chromium.new_context(viewport={"width": 1024, "height": 600}, accept_downloads=True)
    yield context.new_page()
    context.close()


def screenshots(page: Any, name: str, *, show: str | None = None) -> list[Path]:
    """The page at the kiosk's and a laptop's size, as docs/screenshots/<name>-<w>x<h>.png,
    from the top or scrolled to the element `show`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    written = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")
        if show is not None:
            page.locator(show).scroll_into_view_if_needed()
        path = SCREENSHOTS / f"{name}-{width}x{height}.png"
        page.screenshot(path=str(path))
        written.append(path)
    page.set_viewport_size(original)
    return written
