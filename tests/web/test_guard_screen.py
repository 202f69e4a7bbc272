"""The guard screen in a real Chromium: verdicts arrive by server push, in large colour."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gateway_process import (
    CheckpointProcess,
    free_port,
    wait_until_serving,
    write_config,
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser


@pytest.fixture
def page() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser.new_page(viewport={"width": 1024, "height": 600})
        browser.close()


def test_verdicts_appear_live_and_survive_a_gateway_restart(tmp_path: Path, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    master, slave = os.openpty()
    port = free_port()
    config = write_config(
        tmp_path / "gateway.toml",
        db=tmp_path / "gateway.db",
        serial_device=os.ttyname(slave),
        broker_port=None,
        web_port=port,
    )
    gateway = CheckpointProcess("run", config, tmp_path / "gateway.log").start()
    try:
        wait_until_serving(port, gateway)
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#word")).to_have_text("等待扫码")
        os.write(master, b"https://health.example.gov.cn/hc?c=1\r")
        verdict = page.locator("#verdict")
        expect(verdict).to_have_attribute("data-decision", "refer", timeout=3000)
        expect(page.locator("#word")).to_have_text("请核验")
        expect(page.locator("#reasons")).to_contain_text("码无法离线核验")
        expect(page.locator("#queue li")).to_have_count(1)

        gateway.stop()
        gateway.start()
        wait_until_serving(port, gateway)
        # The page reconnects by itself and shows the next verdict without a reload.
        os.write(master, b"CP1:garbage\r")
        expect(page.locator("#reasons")).to_contain_text("码无法识别", timeout=10000)
        expect(page.locator("#queue li")).to_have_count(2)
    finally:
        gateway.kill()
        os.close(master)
        os.close(slave)
