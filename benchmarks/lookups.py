"""Benchmark: who went in and out, on a collector's PostgreSQL with a month of a city's entries.

    .venv/bin/python -m benchmarks.lookups [--entries 5000000] [--runs 40] [--json]

`--entries` entries of 300 gates (30 sites of 10 gates) over 30 days go into a private
PostgreSQL cluster (fsync on) through the collector's own tables and indexes; about 200
residents per gate pass 2–4 times a day, mostly through their own gate. Then each lookup runs
`--runs` times for persons picked at random, and p50/p95 are printed (ms): a person's
passages over 30 days, their contacts (±10 minutes) over 14 days, and the persons not seen
for 3 days or last seen going out. With `--json` the figures are one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from gateway.storage.lookups import Lookups
from harness.postgres import Postgres
from sync.collector_store import ENTRIES, create_collector_engine, create_tables

SITES = 30
GATES_PER_SITE = 10
RESIDENTS_PER_GATE = 200
DAYS = 30
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = END - timedelta(days=DAYS)


def rows(count: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """`count` entries as rows of the collector's `entries` table, in no particular order."""
    rng = random.Random(seed)
    gates = [
        (f"site-{s:02d}", f"gate-{g:02d}") for s in range(SITES) for g in range(GATES_PER_SITE)
    ]
    residents = len(gates) * RESIDENTS_PER_GATE
    seq: dict[int, int] = {}
    span_s = DAYS * 86400
    for _ in range(count):
        person = rng.randrange(residents)
        home = person // RESIDENTS_PER_GATE
        # Mostly their own gate, sometimes another gate of their site.
        site_first = home - home % GATES_PER_SITE
        gate_index = home if rng.random() < 0.8 else site_first + rng.randrange(GATES_PER_SITE)
        site, gate = gates[gate_index]
        occurred = START + timedelta(seconds=rng.randrange(span_s))
        seq[gate_index] = seq.get(gate_index, 0) + 1
        fever = rng.random() < 0.002
        yield (
            str(uuid.UUID(int=rng.getrandbits(128))), gate, site, "1",
            "in" if rng.random() < 0.5 else "out", occurred, True, "boot", 1000,
            "community-pass", "valid", "green", f"p{person:06d}", f"张*华 {person % 9 + 1}-1-101",
            None, 38.4 if fever else 36.5, "ir", False, "deny" if fever else "admit",
            '["fever"]' if fever else '["ok"]', None, None, None, seq[gate_index], 0,
            occurred, occurred, None,
        )  # fmt: skip


def load(url: str, count: int, say: Callable[[str], None]) -> None:
    """Fill the collector's tables: indexes and each person's last passage dropped, rows
    copied, then built again as a collector does for an older database."""
    engine = create_collector_engine(url)
    create_tables(engine)
    with engine.begin() as connection:
        for index in ENTRIES.indexes:
            connection.execute(text(f"DROP INDEX {index.name}"))
        connection.execute(text("DROP TABLE last_passages"))
    started = time.perf_counter()
    names = ", ".join(column.name for column in ENTRIES.columns)
    with (
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"COPY entries ({names}) FROM STDIN") as copy,
    ):
        for row in rows(count):
            copy.write_row(row)
    say(f"  copied {count:,} entries in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    create_tables(engine)  # builds the missing indexes and the last passages
    with engine.begin() as connection:
        connection.execute(text("ANALYZE entries"))
    say(f"  indexes and last passages built in {time.perf_counter() - started:.0f} s")
    engine.dispose()


def timed(run: Callable[[], object], times: int) -> dict[str, float]:
    """p50 and p95 of `times` calls, in milliseconds."""
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        taken.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(taken, n=20, method="inclusive")
    return {"p50_ms": round(statistics.median(taken), 1), "p95_ms": round(cuts[18], 1)}


def measure(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="checkpoint-lookups-bench-"))
    cluster = Postgres(directory, durable=True).start()
    try:
        with psycopg.connect(cluster.url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE lookups")
        url = cluster.url.rsplit("/", 1)[0] + "/lookups"
        say(f"{args.entries:,} entries of {SITES * GATES_PER_SITE} gates over {DAYS} days:")
        load(url, args.entries, say)
        lookups = Lookups(url.replace("postgresql://", "postgresql+psycopg://", 1))
        rng = random.Random(11)
        residents = SITES * GATES_PER_SITE * RESIDENTS_PER_GATE

        def person() -> str:
            return f"p{rng.randrange(residents):06d}"

        try:
            figures = {
                "trace": timed(lambda: lookups.trace(person(), START, END), args.runs),
                "contacts": timed(
                    lambda: lookups.contacts(person(), END - timedelta(days=14), END),
                    args.runs,
                ),
                "absent": timed(lambda: lookups.absent(days=3, now=END), args.runs),
            }
        finally:
            lookups.close()
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
    for name, figure in figures.items():
        say(f"  {name:<9} p50 {figure['p50_ms']:>8,.1f} ms   p95 {figure['p95_ms']:>8,.1f} ms")
    return {"entries": args.entries, "runs": args.runs, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    say: Callable[[str], None] = (lambda _text: None) if args.json else print
    figures = measure(args, say)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
