"""Who went in and out, on the manager's pages: a real gate (its own passages, scanned on a
pty) and a collector's site-wide dashboard in Chromium, in Chinese and English."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from gateway.cli.codes import code_reader
from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory
from gateway.core.values import CodeStatus
from gateway.wiring.collector import CollectorDashboard
from harness.ports import free_port
from harness.waiting import wait_until
from tests.test_lookups import NOW, SITE, T0, fill_collector
from tests.web.conftest import Gate, screenshots
from tests.web.support import PASSWORDS

PASSWORD = "site-secret-1"


def signed_in(base_url: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url)
    if user == "guard":
        response = client.post("/api/auth/pin", json={"pin": PASSWORDS["guard"], "name": "王师傅"})
    else:
        password = PASSWORDS.get(user, PASSWORD)
        response = client.post("/api/auth/sign-in", json={"username": user, "password": password})
    assert response.status_code == 200, response.text
    return client


def days(**extra: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {"first": str(today - timedelta(days=3)), "last": str(today), "tz": 0, **extra}


def test_a_gate_traces_a_scanned_code_for_managers_only_and_audits_it(gate: Gate) -> None:
    gate.set_up_accounts()
    people = [gate.new_pass() for _ in range(3)]
    for payload in people:
        gate.scan(payload)
    wait_until(lambda: gate.query("SELECT count(*) FROM entries")[0][0] == 3, what="3 entries")
    code = people[1].decode()
    manager = signed_in(gate.url, "manager")

    refused = {
        user: signed_in(gate.url, user).post("/api/lookups/trace", json=days(code=code, reason="x"))
        for user in ("guard", "technician")
    }
    no_reason = manager.post("/api/lookups/trace", json=days(code=code, reason="  "))
    garbage = manager.post("/api/lookups/trace", json=days(code="no code at all", reason="x"))
    traced = manager.post("/api/lookups/trace", json=days(code=code, reason="fever case 12"))
    near = manager.post("/api/lookups/contacts", json=days(code=code, reason="fever case 12"))

    assert {user: r.status_code for user, r in refused.items()} == {"guard": 403, "technician": 403}
    assert (no_reason.status_code, no_reason.json()["detail"]) == (422, "lookup-reason-needed")
    assert (garbage.status_code, garbage.json()["detail"]) == (422, "nobody-named")
    assert traced.status_code == 200, traced.text
    (passage,) = traced.json()["items"]
    assert passage["gate"] == "north-1" and passage["label"] == traced.json()["label"]
    assert {c["label"] for c in near.json()["items"]} == {
        r[0] for r in gate.query("SELECT subject_label FROM entries WHERE subject <> 'person0002'")
    }
    assert "subject" not in str(near.json()) and "person0002" not in traced.text
    audit = manager.get("/api/audit", params={"action": "trace"}).json()
    assert audit[0]["actor"] == "manager" and "person0002" in audit[0]["detail"]
    assert "reason: fever case 12" in audit[0]["detail"] and code not in audit[0]["detail"]
    stored = b"".join(p.read_bytes() for p in gate.db.parent.glob("gateway.db*"))
    assert code.encode() not in stored


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[CollectorDashboard, str]]:
    """A collector dashboard over the lookups' passages, reading codes with the site's keys;
    and the pass text of the person with the most contacts."""
    keys = KeyDirectory.create(
        tmp_path / "keys", issuer="lotus-office", site=SITE, alg=Algorithm.ES256, now=NOW
    )
    signing = keys.signing_key()
    code = issue_pass(
        signing_key=signing.private_key,
        kid=signing.kid,
        issuer=signing.issuer,
        subject="alice",
        label="王*明",
        unit="5-1-302",
        colour=CodeStatus.GREEN,
        issued_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=30),
    )
    url = fill_collector(f"sqlite:///{tmp_path / 'collector.db'}")
    running = CollectorDashboard(
        url,
        host="127.0.0.1",
        port=free_port(),
        code_holder=code_reader(None, trust=keys.trust_list_path),
    )
    running.start()
    setup = httpx.post(
        f"{running.url}/api/auth/setup", json={"manager": "boss", "manager_password": PASSWORD}
    )
    assert setup.status_code == 204, setup.text
    yield running, code
    running.stop()


def test_lists_export_as_csv_and_xlsx_with_masked_labels_only(
    site: tuple[CollectorDashboard, str],
) -> None:
    dashboard, code = site
    manager = signed_in(dashboard.url, "boss")
    body = days(code=code, reason="case 12", first=str((T0 - timedelta(days=1)).date()))

    as_csv = manager.post("/api/lookups/contacts", json={**body, "format": "csv"})
    as_xlsx = manager.post("/api/lookups/trace", json={**body, "format": "xlsx"})
    absent = manager.post("/api/lookups/absent", json={"days": 3, "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [row["label"] for row in rows] == ["李*华 2-1-101", "赵*丽 7-2-201"]
    assert "bob" not in as_csv.text and "attachment" in as_csv.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        "north-1", "south-2", "north-1",
    ]  # fmt: skip
    assert "周*强 9-9-909" in absent.content.decode("utf-8-sig") and "frank" not in absent.text
    actions = [a["action"] for a in manager.get("/api/audit").json()]
    assert actions[:3] == ["absent", "trace", "contacts"]


def test_the_site_dashboard_looks_up_a_person_in_a_browser(
    site: tuple[CollectorDashboard, str], chromium: Any
) -> None:
    from playwright.sync_api import expect

    dashboard, code = site
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{dashboard.url}/login")
        page.fill("#username", "boss")
        page.fill("#password", PASSWORD)
        page.click("#staff-submit")
        expect(page).to_have_url(f"{dashboard.url}/manager")
        page.fill("#first", str((T0 - timedelta(days=1)).date()))
        page.fill("#last", str(NOW.date()))
        page.dispatch_event("#last", "change")
        page.fill("#lookup-code", code)
        page.click("#lookup-trace")
        expect(page.locator("#lookup-error")).to_contain_text("请先填写查询理由")
        page.fill("#lookup-reason", "12号发热病例")
        page.click("#lookup-trace")
        # The first lookup reads the tables' layout; on a loaded machine that takes a while.
        expect(page.locator("#lookup-rows tr")).to_have_count(3, timeout=20_000)
        expect(page.locator("#lookup-heading")).to_contain_text("王*明 5-1-302 的行程")
        page.click("#lookup-contacts")
        expect(page.locator("#lookup-rows tr")).to_have_count(2)
        expect(page.locator("#lookup-rows tr.fever")).to_contain_text("赵*丽 7-2-201")
        expect(page.locator("#audit tr").first).to_contain_text("查询密接")
        screenshots(page, "manager-contacts", show="#lookups")
        with page.expect_download() as download:
            page.click("#lookup-xlsx")
        assert download.value.suggested_filename.startswith("contacts-")
        # A contact looked up in turn, from their row: by entry, no code needed.
        page.locator("#lookup-rows button[data-pick]").first.click()
        expect(page.locator("#lookup-picked")).to_contain_text("李*华 2-1-101")
        page.click("#lookup-trace")
        expect(page.locator("#lookup-heading")).to_contain_text("李*华 2-1-101 的行程")
        expect(page.locator("#lookup-rows tr")).to_have_count(2)
        page.click("#lookup-absent")
        expect(page.locator("#lookup-rows tr")).to_have_count(3)
        screenshots(page, "manager-absent", show="#lookups")
        page.click("#lang")
        page.click("#lookup-absent")
        expect(page.locator("#lookup-heading")).to_have_text("Not seen lately: 3 persons")
    finally:
        context.close()


def test_a_guard_gets_the_refusal_page_and_no_lookup(gate: Gate, chromium: Any) -> None:
    from playwright.sync_api import expect

    gate.set_up_accounts()
    context = chromium.new_context(viewport={"width": 1024, "height": 600})
    page = context.new_page()
    try:
        pin = {"pin": PASSWORDS["guard"], "name": "王师傅"}
        headers = {"origin": gate.url}
        assert page.request.post(f"{gate.url}/api/auth/pin", data=pin, headers=headers).ok
        page.goto(f"{gate.url}/manager")
        expect(page.locator("h1")).to_contain_text("无权访问")
        answer = page.request.post(
            f"{gate.url}/api/lookups/absent", data={"days": 3}, headers=headers
        )
        assert answer.status == 403
        screenshots(page, "manager-lookups-refused-guard")
    finally:
        context.close()
