"""The manager's statistics and search on local days, from a real gateway database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from gateway.core.records import Period
from gateway.core.values import CodeStatus, Decision, Direction, Override
from gateway.service.spreadsheets import csv_bytes
from gateway.storage.records import Records, database_url
from gateway.storage.store import EntryStore
from tests.storage.test_store import new_entry

BEIJING = 8 * 60


def fill(path: Path) -> Records:
    store = EntryStore.open(path)
    at = lambda h, m=0: datetime(2026, 11, 24, h, m, tzinfo=UTC)  # noqa: E731
    store.record(new_entry(occurred_at=at(15, 30)))  # 23:30 on the 24th in Beijing
    store.record(new_entry(occurred_at=at(16, 10), direction=Direction.OUT))  # 00:10, 25th
    store.record(new_entry(occurred_at=at(23), decision=Decision.DENY, reasons=("fever",),
                           code_status=CodeStatus.RED))  # fmt: skip
    store.record(new_entry(occurred_at=at(23, 30), decision=Decision.ADMIT, code_format="visitor",
                           subject_label="王*明 *5678 3-2-501 · 探亲",
                           override=Override("王师傅", "电话核实")))  # fmt: skip
    store.close()
    return Records(database_url(path))


def test_statistics_count_local_days_and_hours(tmp_path: Path) -> None:
    records = fill(tmp_path / "g.db")
    day = records.stats(Period(date(2026, 11, 25), date(2026, 11, 25), BEIJING))
    assert (day.total, day.entering, day.leaving) == (3, 2, 1)
    assert (day.admit, day.deny, day.fever, day.red, day.visitors, day.overrides) == (
        2, 1, 1, 1, 1, 1,
    )  # fmt: skip
    assert day.hourly_out[0] == 1 and day.hourly_in[7] == 2
    utc = records.stats(Period(date(2026, 11, 25), date(2026, 11, 25), 0))
    assert utc.total == 0
    both = records.stats(Period(date(2026, 11, 24), date(2026, 11, 25), BEIJING))
    assert both.total == 4 and both.hourly_in[23] == 1


def test_search_finds_text_newest_first_in_pages(tmp_path: Path) -> None:
    records = fill(tmp_path / "g.db")
    period = Period(date(2026, 11, 24), date(2026, 11, 25), BEIJING)
    total, rows = records.search(period, limit=2)
    assert total == 4
    assert [r["occurred_at"][11:16] for r in rows] == ["23:30", "23:00"]
    total, rows = records.search(period, limit=2, offset=2)
    assert [r["occurred_at"][11:16] for r in rows] == ["16:10", "15:30"]
    assert records.search(period, text="王师傅")[0] == 1
    assert records.search(period, text="3-2-501")[0] == 4
    assert records.search(period, decision="deny")[0] == 1


def test_csv_export_has_the_contract_header_and_a_bom(tmp_path: Path) -> None:
    records = fill(tmp_path / "g.db")
    count, body = csv_bytes(records.rows(Period(date(2026, 11, 25), date(2026, 11, 25), BEIJING)))
    text = body.decode("utf-8")
    assert count == 3
    assert text.startswith("\ufeffid,seq,gate,site,occurred_at,direction,decision,")
    assert records.gates() == []
