"""`checkpoint demo`: a whole gate on one computer, with simulated devices.

A private Mosquitto on a free port (when installed), a collector on SQLite, a community key
directory with a realistic mix of passes, and the gateway serving the live guard screen.

The same people come round again and again: one round they go in, the next they go out,
and the pass-back window is one round long. So every round shows each verdict it promises
(admit, refer and deny), rather than referring everyone as pass-back after the first.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devices.simulated import Passage, SimulatedGate
from gateway.codes.community_pass import issue_pass
from gateway.codes.cose import Algorithm
from gateway.codes.keys import KeyDirectory, generate_private_key, read_secret
from gateway.codes.pseudonym import pseudonym
from gateway.config import Settings, validate_settings
from gateway.core.masking import mask_name
from gateway.core.values import CodeStatus, Direction
from gateway.operations.doctor import page_checks
from gateway.operations.private_broker import mosquitto_binary, private_mosquitto
from gateway.storage.records import database_url
from gateway.wiring.devices import Devices
from gateway.wiring.gateway import Gateway, install_signal_handlers
from sync.collector import Collector, collector_client
from sync.mqtt import MqttSettings

log = logging.getLogger(__name__)

SITE = "xiaojiang"
GATE = "north-1"


def demo_rounds(people: list[Passage]) -> Iterator[Passage]:
    """Round after round of the gate's morning, in, then out, then in again."""
    for direction in itertools.cycle((Direction.IN, Direction.OUT)):
        for person in people:
            yield Passage(person.payload, person.temperatures, direction)


def demo_passages(keys: KeyDirectory, now: datetime) -> list[Passage]:
    """One round of the gate's morning: every kind of code and temperature a guard meets."""
    signer = keys.signing_key()
    secret = read_secret(keys.secret_path)
    stranger_key = generate_private_key(Algorithm.EDDSA)

    def card(
        person: str,
        name: str,
        unit: str,
        colour: CodeStatus,
        *,
        key: object = None,
        issued: datetime = now - timedelta(days=1),
        days: int = 30,
    ) -> bytes:
        text = issue_pass(
            signing_key=key or signer.private_key,  # type: ignore[arg-type]
            kid=signer.kid,
            issuer=signer.issuer,
            subject=pseudonym(secret, person),
            label=mask_name(name),
            unit=unit,
            colour=colour,
            issued_at=issued,
            expires_at=issued + timedelta(days=days),
        )
        return text.encode()

    green = CodeStatus.GREEN
    long_ago = now - timedelta(days=40)
    return [
        Passage(card("110101199001011234", "张小华", "3-2-501", green), [36.6]),
        Passage(card("110101198502023456", "李明", "5-1-302", green), [36.4]),
        Passage(card("110101197003035678", "王建国", "2-3-101", CodeStatus.YELLOW), [36.7]),
        Passage(card("110101196004047890", "赵丽", "7-2-702", CodeStatus.RED), [36.5]),
        Passage(card("110101199505051111", "孙伟", "1-1-201", green, key=stranger_key), [36.6]),
        Passage(card("110101198806062222", "周芳", "4-2-402", green, issued=long_ago), [36.8]),
        Passage(card("110101199207073333", "吴强", "6-1-601", green), [38.3, 38.5]),
        Passage(card("110101200108084444", "郑洁", "8-3-803", green), [37.6, 36.9]),
        Passage(None, [36.5]),
        Passage(b"https://health.example.gov.cn/hc?c=8f3a2b91d0", [36.7]),
    ]  # fmt: skip


@contextmanager
def private_broker(workdir: Path) -> Iterator[int | None]:
    """A Mosquitto on a free loopback port for the demo, or None when it is not installed."""
    binary = mosquitto_binary()
    if binary is None:
        print("mosquitto is not installed: the demo runs offline (entries stay in the backlog)")
        yield None
        return
    with private_mosquitto(binary, workdir) as port:
        yield port


def demo_settings(
    workdir: Path, *, web_port: int, broker_port: int | None, passback_window_s: float
) -> Settings:
    return validate_settings(
        {
            "gate": {"id": GATE, "site": SITE, "name": "北门 (demo)"},
            "storage": {
                "path": str(workdir / "gateway.db"),
                "trust_list": str(workdir / "keys" / "trust.json"),
            },
            "thermal": {"kind": "simulated"},
            "policy": {
                "remeasure_wait_s": 3.0,
                "pairing_window_s": 1.5,
                "passback_window_s": passback_window_s,
            },
            "mqtt": {"host": "127.0.0.1" if broker_port else "", "port": broker_port or 1883},
            "web": {"listen": f"127.0.0.1:{web_port}"},
            "collector": {"database": f"sqlite:///{workdir / 'collector.db'}"},
        },
        source="demo",
    )


async def run_demo(*, port: int, interval_s: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="checkpoint-demo-"))
    now = datetime.now(UTC)
    keys = KeyDirectory.create(
        workdir / "keys", issuer=f"{SITE}-community", site=SITE, alg=Algorithm.EDDSA, now=now
    )
    people = demo_passages(keys, now)
    gate = SimulatedGate(
        demo_rounds(people),
        interval_s,
        lane="1",
        direction=Direction.IN,
    )
    with private_broker(workdir) as broker_port:
        settings = demo_settings(
            workdir,
            web_port=port,
            broker_port=broker_port,
            # One round long: a person's next passage the same way is two rounds later.
            passback_window_s=len(people) * interval_s,
        )
        collector = None
        if broker_port is not None:
            collector = Collector(
                database_url(settings.collector.database),
                collector_client(
                    MqttSettings(host="127.0.0.1", port=broker_port), client_id="demo-collector"
                ),
                prefix=settings.mqtt.topic_prefix,
            )
            collector.start()
        print(f"guard screen: http://127.0.0.1:{port}   (Ctrl-C to stop)")
        print(f"demo data in {workdir}")
        print(f"export it with: checkpoint export --database {workdir}/collector.db")
        devices = Devices(scanners=[gate.scanner], thermals=[gate.thermal])
        gateway = Gateway(settings, devices, doctor=page_checks)
        install_signal_handlers(gateway)
        try:
            await gateway.run()
        finally:
            if collector is not None:
                collector.stop()
