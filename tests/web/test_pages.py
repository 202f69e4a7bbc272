"""The pages in a real Chromium against a running gateway with a pty serial scanner (and, for
the previews, a camera and a thermal camera playing recordings)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openpyxl import load_workbook

from devices.preview import OUTLINE, PREVIEW_WIDTH
from gateway.core.records import COLUMNS
from gateway.core.values import CodeStatus
from gateway.storage.records import database_url, iter_rows
from tests.devices.support import decode_jpeg, near_colour, wait_until
from tests.devices.test_preview import white_in_picture
from tests.web.conftest import Gate, screenshots
from tests.web.support import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UNVERIFIABLE = b"https://health.example.gov.cn/hc?c=8f3a2b91d0"


def expect_verdict(page: Any, decision: str, timeout: float = 3000) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#verdict")).to_have_attribute("data-decision", decision, timeout=timeout)


def sign_in(page: Any, gate: Gate, user: str, next_path: str = "") -> None:
    from playwright.sync_api import expect

    page.goto(f"{gate.url}/login{'?next=' + next_path if next_path else ''}")
    expect(page.locator("#staff-submit")).to_have_text("登录")  # the page's script is ready
    if user == "guard":
        page.click("#tab-guard")
        page.fill("#guard-name", "王师傅")
        page.fill("#guard-pin", PASSWORDS["guard"])
        page.click("#guard-submit")
    else:
        page.fill("#username", user)
        page.fill("#password", PASSWORDS[user])
        page.click("#staff-submit")


def test_first_run_setup_then_a_scan_shows_within_a_second(gate: Gate, browser_page: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{gate.url}/manager")
    expect(page).to_have_url(f"{gate.url}/setup")
    expect(page.locator("#setup-form")).to_be_visible()
    screenshots(page, "setup")
    page.fill("#manager-password", PASSWORDS["manager"])
    page.fill("#technician-password", PASSWORDS["technician"])
    page.fill("#guard-pin", "12")
    page.click("#setup-submit")
    expect(page.locator("#setup-error")).to_have_text("PIN 为 4–12 位数字")
    page.fill("#guard-pin", PASSWORDS["guard"])
    page.click("#setup-submit")
    expect(page).to_have_url(f"{gate.url}/login")
    expect(page.locator("#staff-submit")).to_have_text("登录")
    screenshots(page, "login")
    assert gate.query("SELECT username, role FROM users ORDER BY role") == [
        ("guard", "guard"), ("manager", "manager"), ("technician", "technician"),
    ]  # fmt: skip

    page.goto(f"{gate.url}/")
    expect(page.locator("#word")).to_have_text("等待扫码")
    expect(page.locator("#gate-name")).to_have_text("北门")
    gate.scan(gate.new_pass())
    expect_verdict(page, "admit", timeout=1000)
    expect(page.locator("#word")).to_have_text("通行")
    expect(page.locator("body")).to_have_attribute("data-last-tone", "admit")
    gate.scan(gate.new_pass(CodeStatus.RED))
    expect_verdict(page, "deny", timeout=1000)
    expect(page.locator("#reasons")).to_contain_text("红码")
    expect(page.locator("body")).to_have_attribute("data-last-tone", "deny")
    expect(page.locator("#queue li")).to_have_count(2)
    screenshots(page, "guard")


def test_a_guard_confirms_a_colour_and_overrides_a_deny(gate: Gate, browser_page: Any) -> None:
    from playwright.sync_api import expect

    gate.set_up_accounts()
    page = browser_page
    page.goto(f"{gate.url}/")
    expect(page.locator("#word")).to_have_text("等待扫码")

    gate.scan(UNVERIFIABLE)
    expect_verdict(page, "refer")
    expect(page.locator("#reasons")).to_contain_text("码无法离线核验，请看手机")
    page.click("#act")
    expect(page.locator("#pin-dialog")).to_be_visible()
    page.fill("#pin-name", "王师傅")
    page.fill("#pin-pin", "0000")
    page.click("#pin-ok")
    expect(page.locator("#pin-error")).to_have_text("用户名、密码或 PIN 错误")
    page.fill("#pin-pin", PASSWORDS["guard"])
    page.click("#pin-ok")
    expect(page.locator("#action-dialog")).to_be_visible()
    expect(page.locator("#confirm-section")).to_be_visible()
    screenshots(page, "guard-actions")
    page.click("#confirm-section button[data-colour=green]")
    expect_verdict(page, "admit")
    expect(page.locator("#amended")).to_have_text("王师傅 已确认码色")

    gate.scan(gate.new_pass(forged=True))
    expect_verdict(page, "deny")
    expect(page.locator("#reasons")).to_contain_text("码是伪造的")
    page.click("#act")
    expect(page.locator("#override-section")).to_be_visible()
    page.click("#override-admit")
    expect(page.locator("#action-error")).to_have_text("请填写改判原因")
    page.fill("#override-reason", "已电话核实业主身份")
    page.click("#override-admit")
    expect_verdict(page, "admit")
    expect(page.locator("#amended")).to_have_text("王师傅 已改判：已电话核实业主身份")

    confirmed, overridden = gate.query(
        "SELECT decision, confirmed_by, override_by, override_reason, code_check FROM entries "
        "ORDER BY seq"
    )
    assert confirmed == ("admit", "王师傅", None, None, "unverifiable")
    assert overridden == ("admit", None, "王师傅", "已电话核实业主身份", "bad-signature")
    expected = [("王师傅", "sign-in"), ("王师傅", "confirm-colour"), ("王师傅", "override")]
    # The screen may hear of the override (server push) just before its audit row is written.
    assert wait_until(
        lambda: (
            gate.query("SELECT actor, action FROM audit_log WHERE actor = '王师傅' ORDER BY id")
            == expected
        )
    )


def test_a_manager_sees_todays_statistics_change_and_exports_match_the_database(
    gate: Gate, browser_page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    gate.set_up_accounts()
    gate.scan(gate.new_pass())
    assert wait_until(lambda: gate.query("SELECT count(*) FROM entries") == [(1,)], 5)
    page = browser_page
    sign_in(page, gate, "manager")
    expect(page).to_have_url(f"{gate.url}/manager")
    expect(page.locator("#stat-total")).to_have_text("1")
    expect(page.locator("#stat-admit")).to_have_text("1")

    gate.scan(gate.new_pass(CodeStatus.RED))
    time.sleep(0.3)  # two scans of one lane: let the first one's verdict settle
    gate.scan(gate.new_pass(CodeStatus.YELLOW))
    expect(page.locator("#stat-total")).to_have_text("3", timeout=10000)
    expect(page.locator("#stat-deny")).to_have_text("1")
    expect(page.locator("#stat-red")).to_have_text("1")
    expect(page.locator("#stat-yellow")).to_have_text("1")
    expect(page.locator("#stat-entering")).to_have_text("3")
    expect(page.locator("#records tr")).to_have_count(3)
    hour_bars = page.locator("#chart rect.in[data-count='3']")
    expect(hour_bars).to_have_count(1)
    page.fill("#search", "3-1-002")  # the red pass: the second person of this gate
    expect(page.locator("#records tr")).to_have_count(1)
    page.fill("#search", "")
    screenshots(page, "manager")

    expected = list(iter_rows(database_url(gate.db)))
    assert len(expected) == 3
    with page.expect_download() as csv_download:
        page.click("#export-csv")
    text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(COLUMNS)
    written = io.StringIO()
    csv.writer(written).writerows([[row[c] for c in COLUMNS] for row in expected])
    assert rows[1:] == list(csv.reader(io.StringIO(written.getvalue())))

    with page.expect_download() as xlsx_download:
        page.click("#export-xlsx")
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    workbook = tmp_path / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(workbook)
    sheet = load_workbook(workbook, read_only=True)["entries"]
    # A read-only sheet leaves out empty cells at the end of a row.
    width = len(COLUMNS)
    values = [[*r, *[None] * (width - len(r))] for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(COLUMNS)
    assert values[1:] == [[row[c] for c in COLUMNS] for row in expected]
    assert [a for (a,) in gate.query("SELECT action FROM audit_log WHERE action='export'")] == [
        "export", "export",
    ]  # fmt: skip

    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Manager dashboard")
    expect(page.locator("#stat-total")).to_have_text("3")


def test_a_technician_sees_a_scanner_go_down_and_come_back(gate: Gate, chromium: Any) -> None:
    from playwright.sync_api import expect

    gate.set_up_accounts()
    technician = chromium.new_context(viewport={"width": 1440, "height": 900}).new_page()
    kiosk = chromium.new_context(viewport={"width": 1024, "height": 600}).new_page()
    try:
        sign_in(technician, gate, "technician")
        expect(technician).to_have_url(f"{gate.url}/technician")
        scanner = technician.locator("#devices tr[data-device='scanner-1']")
        expect(scanner).to_have_attribute("data-state", "up")
        expect(technician.locator("#config")).to_contain_text('"kiosk_localhost": true')
        database = technician.locator("#doctor tr", has_text="database")
        expect(database).to_have_attribute("data-status", "pass", timeout=15000)
        expect(database).to_contain_text("is current")
        screenshots(technician, "technician")
        kiosk.goto(f"{gate.url}/")
        expect(kiosk.locator("#gate-name")).to_have_text("北门")  # the status has arrived
        expect(kiosk.locator("#banner")).not_to_contain_text("扫码器未连接")

        gate.scanner.pty.unplug()
        # The path goes too: a pty number freed here may be handed to another program at once.
        gate.scanner.path.unlink()
        expect(scanner).to_have_attribute("data-state", "down", timeout=6000)
        expect(kiosk.locator("#banner")).to_contain_text("扫码器未连接", timeout=6000)
        expect(technician.locator("#logs")).to_contain_text("scanner-1: down", timeout=6000)

        fresh = gate.scanner.replug()
        expect(scanner).to_have_attribute("data-state", "up", timeout=10000)
        expect(kiosk.locator("#banner")).not_to_contain_text("扫码器未连接", timeout=6000)
        fresh.write(gate.new_pass() + b"\r\n")
        expect_verdict(kiosk, "admit")
    finally:
        technician.context.close()
        kiosk.context.close()


def test_a_wrong_password_is_refused_and_then_rate_limited(gate: Gate, browser_page: Any) -> None:
    from playwright.sync_api import expect

    gate.set_up_accounts()
    page = browser_page
    page.goto(f"{gate.url}/login")
    expect(page.locator("#staff-submit")).to_have_text("登录")
    for _ in range(5):
        page.fill("#username", "manager")
        page.fill("#password", "guessing-wrong")
        page.click("#staff-submit")
        expect(page.locator("#login-error")).to_have_text("用户名、密码或 PIN 错误")
        page.fill("#password", "")
        page.evaluate("document.getElementById('login-error').textContent = ''")
    sign_in(page, gate, "manager")
    expect(page.locator("#login-error")).to_contain_text("尝试次数过多")
    expect(page).to_have_url(f"{gate.url}/login")
    assert gate.query("SELECT count(*) FROM audit_log WHERE action='sign-in-refused'") == [(5,)]


def test_manager_pages_refuse_a_guard_pin_session(gate: Gate, browser_page: Any) -> None:
    from playwright.sync_api import expect

    gate.set_up_accounts()
    page = browser_page
    sign_in(page, gate, "guard", next_path="/")
    expect(page).to_have_url(f"{gate.url}/")
    expect(page.locator("#who")).to_have_text("值班：王师傅（退出）")
    response = page.goto(f"{gate.url}/manager")
    assert response is not None and response.status == 403
    expect(page.locator("#forbidden-text")).to_have_text("当前登录的账号不能打开此页面。")
    status = page.evaluate("fetch('/api/stats').then((r) => r.status)")
    assert status == 403


def test_a_technician_sees_what_the_camera_and_the_thermal_camera_see(
    camera_gate: Gate, chromium: Any
) -> None:
    from playwright.sync_api import expect

    gate = camera_gate
    gate.set_up_accounts()
    page = chromium.new_context(viewport={"width": 1440, "height": 900}).new_page()
    try:
        sign_in(page, gate, "technician")
        expect(page).to_have_url(f"{gate.url}/technician")
        camera = page.locator("#previews figure[data-device='scanner-2']")
        thermal = page.locator("#previews figure[data-device='thermal']")
        expect(camera).to_have_attribute("data-live", "true", timeout=10000)
        expect(thermal).to_have_attribute("data-live", "true", timeout=10000)
        expect(page.locator("#previews figure")).to_have_count(2)  # not the serial scanner
        expect(page.locator("#no-previews")).to_be_hidden()
        expect(thermal.locator("figcaption")).to_contain_text("热成像")
        assert camera.locator("img").evaluate("img => img.naturalWidth") == PREVIEW_WIDTH

        def fetched(device: str) -> np.ndarray:
            response = page.request.get(f"{gate.url}/api/devices/{device}/preview")
            assert response.status == 200, response.text()
            return decode_jpeg(response.body())

        # The recordings replay: the code and the person come back into view.
        assert wait_until(lambda: near_colour(fetched("scanner-2"), OUTLINE).sum() > 200, 10)
        assert wait_until(lambda: white_in_picture(fetched("thermal")) > 100, 10)
        screenshots(page, "technician-previews", show="#previews")
    finally:
        page.context.close()
