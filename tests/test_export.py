"""`checkpoint export` and `stats`: one table from a gateway, SQLite or PostgreSQL collector."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.core.records import COLUMNS
from gateway.storage.records import database_url, iter_rows
from gateway.storage.store import EntryStore
from harness.broker import Broker
from sync.collector import Collector, collector_client
from sync.mqtt import MqttClient, MqttSettings
from sync.publisher import Publisher
from sync.topics import Topics
from tests.storage.test_store import new_entry

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def fill(path: Path, count: int = 5) -> EntryStore:
    store = EntryStore.open(path)
    for i in range(count):
        store.record(new_entry(occurred_at=T0 + timedelta(hours=i * 6)))
    return store


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_the_contract_columns_and_every_entry(tmp_path: Path) -> None:
    fill(tmp_path / "g.db").close()
    result = CliRunner().invoke(
        app, ["export", "--database", str(tmp_path / "g.db"), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header.startswith("id,seq,gate,site,occurred_at,direction,decision,")
    rows = read_csv(result.stdout)
    assert [int(r["seq"]) for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["subject_label"] == "张*华 3-2-501"


def test_date_range_is_inclusive_utc_days(tmp_path: Path) -> None:
    fill(tmp_path / "g.db").close()  # 06:00, 12:00, 18:00 on the 25th, 00:00 and 06:00 on the 26th
    out = tmp_path / "day.csv"
    result = CliRunner().invoke(
        app,
        ["export", "--database", str(tmp_path / "g.db"), "--from", "2026-11-26",
         "--to", "2026-11-26", "--output", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["seq"] for r in read_csv(out.read_text())] == ["4", "5"]


def test_xlsx_matches_csv(tmp_path: Path) -> None:
    fill(tmp_path / "g.db").close()
    out = tmp_path / "entries.xlsx"
    result = CliRunner().invoke(
        app, ["export", "--database", str(tmp_path / "g.db"), "--format", "xlsx", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    assert sheet is not None
    values = list(sheet.values)
    assert list(values[0]) == list(COLUMNS)
    assert len(values) == 6


def test_bad_options_exit_2(tmp_path: Path) -> None:
    fill(tmp_path / "g.db").close()
    for args in (["--format", "pdf"], ["--from", "yesterday"], ["--format", "xlsx"]):
        result = CliRunner().invoke(app, ["export", "--database", str(tmp_path / "g.db"), *args])
        assert result.exit_code == 2, args


def test_stats_counts_by_decision(tmp_path: Path) -> None:
    fill(tmp_path / "g.db").close()
    result = CliRunner().invoke(
        app, ["stats", "--database", str(tmp_path / "g.db"), "--day", "2026-11-25"]
    )
    assert result.exit_code == 0, result.output
    assert "2026-11-25: 3 entries" in result.output


def sync_through_collector(tmp_path: Path, broker: Broker, url: str, count: int) -> EntryStore:
    """Record entries on a gateway store and sync them to a collector at `url`."""
    store = fill(tmp_path / "g.db", count)
    collector = Collector(
        url,
        collector_client(
            MqttSettings(host="127.0.0.1", port=broker.port), client_id="test-collector"
        ),
    )
    collector.start()
    topics = Topics("checkpoint/v1", "xiaojiang", "north-1")
    client = MqttClient(MqttSettings(host="127.0.0.1", port=broker.port), client_id="gw-test")

    async def main() -> None:
        stop = asyncio.Event()
        publisher = Publisher(store, client, topics, version="test", ack_timeout_s=2)
        client.start()
        task = asyncio.create_task(publisher.run(stop))
        deadline = time.monotonic() + 20
        while store.backlog().count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await task

    try:
        asyncio.run(main())
    finally:
        client.stop()
        collector.stop()
    assert store.backlog().count == 0
    return store


@pytest.mark.broker
def test_sqlite_collector_exports_the_same_rows_as_the_gateway(
    tmp_path: Path, broker: Broker
) -> None:
    url = f"sqlite:///{tmp_path / 'collector.db'}"
    sync_through_collector(tmp_path, broker, url, 5).close()
    gateway_rows = list(iter_rows(database_url(tmp_path / "g.db")))
    collector_rows = list(iter_rows(url))
    assert collector_rows == gateway_rows


@pytest.mark.broker
@pytest.mark.postgres
def test_postgresql_collector_stores_each_entry_once_and_exports_like_the_gateway(
    tmp_path: Path, broker: Broker, postgres_url: str
) -> None:
    url = database_url(postgres_url)
    store = sync_through_collector(tmp_path, broker, url, 7)
    gateway_rows = list(iter_rows(database_url(tmp_path / "g.db")))
    collector_rows = list(iter_rows(url))
    assert [r["id"] for r in collector_rows] == [r["id"] for r in gateway_rows]
    assert collector_rows == gateway_rows
    store.close()
    result = CliRunner().invoke(app, ["export", "--database", postgres_url])
    assert result.exit_code == 0, result.output
    assert len(read_csv(result.stdout)) == 7
