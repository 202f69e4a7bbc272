"""The collector's manager dashboard: every gate of a site, from a real collector database."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.core.values import CodeStatus, Decision, Direction, Entry
from gateway.wiring.collector import CollectorDashboard
from harness.ports import free_port
from sync.batch import decode_batch, encode_batch
from sync.collector_store import (
    ReceivedBatch,
    create_collector_engine,
    create_tables,
    save_state,
    store_batches,
)
from sync.wire import StateMessage
from tests.storage.test_store import new_entry
from tests.web.conftest import screenshots

NOW = datetime.now(UTC).replace(microsecond=0)


def entry(gate: str, seq: int, **changes: Any) -> Entry:
    base = new_entry(gate=gate, occurred_at=NOW - timedelta(minutes=seq), **changes)
    return Entry(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)}, seq=seq)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[CollectorDashboard]:
    url = f"sqlite:///{tmp_path / 'collector.db'}"
    engine = create_collector_engine(url)
    create_tables(engine)
    red = {"decision": Decision.DENY, "code_status": CodeStatus.RED, "reasons": ("code-red",)}
    gates = {
        "north-1": [entry("north-1", 1), entry("north-1", 2, **red)],
        "south-2": [entry("south-2", 1, direction=Direction.OUT)],
    }
    with Session(engine) as session:
        for gate, entries in gates.items():
            batch = decode_batch(
                encode_batch(site="xiaojiang", gate=gate, entries=entries, sent_at=NOW)
            )
            store_batches(session, [ReceivedBatch(batch, NOW)])
        online = StateMessage.model_validate_json(
            json.dumps({"state": "online", "version": "0.1.0", "backlog": 2,
                        "oldest_unsynced": NOW.isoformat(), "devices": {}})
        )  # fmt: skip
        save_state(session, site="xiaojiang", gate="north-1", seen_at=NOW, message=online)
        save_state(session, site="xiaojiang", gate="south-2", seen_at=NOW - timedelta(hours=1),
                   message=StateMessage(state="offline"))  # fmt: skip
        session.commit()
    engine.dispose()
    running = CollectorDashboard(url, host="127.0.0.1", port=free_port())
    running.start()
    yield running
    running.stop()


def test_the_site_dashboard_counts_every_gate_and_shows_their_sync(
    dashboard: CollectorDashboard,
) -> None:
    client = httpx.Client(base_url=dashboard.url)
    assert client.get("/manager").headers["location"] == "/setup"
    me = client.get("/api/auth/me").json()
    assert (me["needs_setup"], me["roles"]) == (True, ["manager"])
    setup = client.post(
        "/api/auth/setup", json={"manager": "boss", "manager_password": "site-secret-1"}
    )
    assert setup.status_code == 204, setup.text
    signed = client.post(
        "/api/auth/sign-in", json={"username": "boss", "password": "site-secret-1"}
    )
    assert signed.status_code == 200, signed.text
    tz = {"tz": 0, "first": (NOW - timedelta(days=1)).date().isoformat(), "last": NOW.date()}
    stats = client.get("/api/stats", params=tz).json()
    assert (stats["total"], stats["deny"], stats["leaving"], stats["red"]) == (3, 1, 1, 1)
    gates = {g["gate"]: g for g in client.get("/api/sync").json()}
    assert (gates["north-1"]["state"], gates["north-1"]["backlog"]) == ("online", 2)
    assert gates["south-2"]["state"] == "offline"
    export = client.get("/api/export.csv", params=tz)
    assert export.text.count("\n") == 4  # the header and three entries
    assert client.get("/api/audit").json()[0]["action"] == "export"
    # A collector has no guard screen or technician pages.
    assert client.get("/", follow_redirects=False).headers["location"] == "/manager"
    assert client.get("/api/passages").status_code == 404
    assert client.get("/technician").status_code == 404


def test_the_site_dashboard_in_a_browser(dashboard: CollectorDashboard, chromium: Any) -> None:
    from playwright.sync_api import expect

    page = chromium.new_context(viewport={"width": 1440, "height": 900}).new_page()
    try:
        page.goto(f"{dashboard.url}/manager")
        expect(page.locator("#setup-form")).to_be_visible()
        expect(page.locator("#guard-pin")).to_be_hidden()
        page.fill("#manager-password", "site-secret-1")
        page.click("#setup-submit")
        expect(page).to_have_url(f"{dashboard.url}/login")
        expect(page.locator("#staff-submit")).to_have_text("登录")
        page.fill("#username", "manager")
        page.fill("#password", "site-secret-1")
        page.click("#staff-submit")
        expect(page).to_have_url(f"{dashboard.url}/manager")
        page.click("#week")
        expect(page.locator("#stat-total")).to_have_text("3")
        expect(page.locator("#sync tr")).to_have_count(2)
        expect(page.locator("#sync")).to_contain_text("离线")
        screenshots(page, "collector", show="#sync")
    finally:
        page.context.close()


def test_a_bad_web_address_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text('[mqtt]\nhost = "127.0.0.1"\nport = 1883\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["collector", "--config", str(config), "--web", "8081"])
    assert result.exit_code == 2
    assert "--web must be HOST:PORT" in result.output
