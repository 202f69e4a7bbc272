"""Privacy end to end: 1,000 health certificates carrying synthetic names and ID numbers go
through a real gateway, broker and collector; none of those strings lands in the database,
its WAL, the logs or the MQTT traffic, and a purge removes the purged entries' digests."""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest

from gateway.codes import cose
from gateway.codes.dcc import PREFIX
from gateway.codes.trust import TrustList, save_trust_list
from gateway.storage.store import EntryStore
from harness.broker import Broker
from tests.codes.dcc_issuer import DccSigner
from tests.support.gateway_process import (
    CheckpointProcess,
    free_port,
    wait_until_serving,
    write_config,
)
from tests.support.mqtt import Capture
from tests.test_end_to_end import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SURNAMES = ["ZHANG", "WANG", "LI", "ZHAO", "CHEN", "LIU", "YANG", "HUANG", "ZHOU", "WU"]
GIVEN = ["XIAOHUA", "JIANGUO", "MEILING", "ZHIQIANG", "YUTONG", "HAORAN", "SHUFEN", "WEIDONG"]
HANZI_SURNAMES = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄", "周", "吴"]
HANZI_GIVEN = ["晓华", "建国", "美玲", "志强", "雨桐", "浩然", "淑芬", "卫东"]


def synthetic_people(count: int) -> list[dict[str, str]]:
    rng = random.Random(20261125)
    people = []
    for n in range(count):
        s, g = rng.randrange(len(SURNAMES)), rng.randrange(len(GIVEN))
        people.append(
            {
                "fn": HANZI_SURNAMES[s],
                "gn": HANZI_GIVEN[g],
                "fnt": SURNAMES[s],
                "gnt": f"{GIVEN[g]}<{n:04d}",
                "id": f"1101011990{rng.randrange(10**8):08d}",
                "dob": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
            }
        )
    return people


def certificate(signer: DccSigner, person: dict[str, str], now: datetime) -> bytes:
    names = {k: person[k] for k in ("fn", "gn", "fnt", "gnt")}
    vaccination = {
        "tg": "840539006", "dn": 2, "sd": 2, "dt": "2026-01-10", "co": "CN",
        "ci": f"URN:UVCI:01:CN:{person['id']}",
    }  # fmt: skip
    hcert = {"ver": "1.3.0", "nam": names, "dob": person["dob"], "v": [vaccination]}
    claims = {
        1: "CN", 4: int((now + timedelta(days=90)).timestamp()),
        6: int((now - timedelta(days=1)).timestamp()), -260: {1: hcert},
    }  # fmt: skip
    message = cose.sign1(cbor2.dumps(claims), signer.private_key, _raw_kid(signer))
    return cose.encode_text(message, PREFIX).encode()


def _raw_kid(signer: DccSigner) -> bytes:
    import base64

    return base64.b64decode(signer.kid)


def secrets_of(people: list[dict[str, str]]) -> list[bytes]:
    values: set[str] = set()
    for p in people:
        values |= {p["fn"] + p["gn"], p["gn"], p["gnt"], f"{p['fnt']}<{p['gnt']}", p["id"]}
        values |= {f"{p['gn']} {p['fn']}"}
    return sorted(v.encode() for v in values)


def test_no_names_or_id_numbers_anywhere_and_purged_digests_leave_the_disk(
    tmp_path: Path, broker: Broker
) -> None:
    now = datetime.now(UTC)
    signer = DccSigner.generate(
        not_before=now - timedelta(days=30), not_after=now + timedelta(days=365)
    )
    trust_path = tmp_path / "trust.json"
    key = signer.trusted_key()
    save_trust_list(TrustList(version=1, issued_at=now, keys={key.kid: key}), trust_path)
    (tmp_path / "site.secret").write_text(os.urandom(32).hex())
    people = synthetic_people(1000)
    payloads = [certificate(signer, person, now) for person in people]

    master, slave = os.openpty()
    port = free_port()
    db = tmp_path / "g.db"
    config = write_config(
        tmp_path / "g.toml", db=db, serial_device=os.ttyname(slave), broker_port=broker.port,
        web_port=port, collector_db=tmp_path / "collector.db", trust_list=trust_path,
        extra=f'[codes]\nsite_secret_file = "{tmp_path / "site.secret"}"\n',
    )  # fmt: skip
    capture = Capture(broker.port, "checkpoint/#")
    gateway = CheckpointProcess("run", config, tmp_path / "gateway.log").start()
    collector = CheckpointProcess("collector", config, tmp_path / "collector.log").start()
    try:
        wait_until_serving(port, gateway)
        for payload in payloads:
            os.write(master, payload + b"\r")
            time.sleep(0.004)
        connection = sqlite3.connect(db)

        def recorded() -> list[tuple[str, str]]:
            return connection.execute("SELECT code_check, subject_label FROM entries").fetchall()

        wait_for(lambda: len(recorded()) == 1000, 120, "1,000 entries")
        assert {check for check, _ in recorded()} == {"valid"}
        assert all(label and "*" in label for _, label in recorded())
        wait_for(
            lambda: connection.execute("SELECT count(*) FROM outbox").fetchone() == (0,),
            60,
            "all entries acknowledged",
        )
        connection.close()
    finally:
        gateway.stop()
        collector.stop()
        capture.close()
        os.close(master)
        os.close(slave)

    files = {
        "database": db.read_bytes(),
        "wal": db.with_name("g.db-wal").read_bytes() if db.with_name("g.db-wal").exists() else b"",
        "gateway log": (tmp_path / "gateway.log").read_bytes(),
        "collector log": (tmp_path / "collector.log").read_bytes(),
        "collector database": (tmp_path / "collector.db").read_bytes(),
        "mqtt": b"\n".join(m.payload for m in capture.messages),
    }
    assert len(capture.messages) > 0
    secrets = secrets_of(people)
    for where, content in files.items():
        leaked = [s.decode() for s in secrets if s in content]
        assert not leaked, f"{where} contains {leaked[:5]}"

    # After the retention period: the purge removes the entries and their digests from disk.
    digests = [hashlib.sha256(p).hexdigest().encode() for p in payloads]
    store = EntryStore.open(db)
    with store.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert any(d in db.read_bytes() for d in digests)
    assert store.purge(now=now + timedelta(days=29), retention_days=28) == 1000
    store.close()
    after = db.read_bytes() + (
        db.with_name("g.db-wal").read_bytes() if db.with_name("g.db-wal").exists() else b""
    )
    assert not [d for d in digests if d in after]
