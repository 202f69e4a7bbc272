"""Decoder acceptance: degraded synthetic frames of our pass formats, for both backends."""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from pyzbar import pyzbar

from devices.qr_decode import DECODERS, Decoder, GrayFrame, decode_pyzbar, decode_zxing, decoder
from devices.qr_scenes import CATEGORIES, code_frame, empty_frame
from tests.devices.support import qr_modules

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
SIZES = ((640, 480), (1280, 720))
FRAMES_PER_CATEGORY_AND_SIZE = 16  # 10 categories x 2 sizes x 16 = 320 frames
EMPTY_FRAMES = 50
DISTINCT_PAYLOADS = 64


@dataclass(frozen=True)
class Sample:
    category: str
    size: tuple[int, int]
    payload: bytes
    frame: GrayFrame


def payloads(rnd: random.Random) -> list[str]:
    """Community passes (CP1: + Base45 of realistic length) and one in five a health-code URL."""
    made = []
    for n in range(DISTINCT_PAYLOADS):
        if n % 5 == 4:
            token = "".join(
                rnd.choices(string.ascii_letters + string.digits, k=rnd.randint(20, 60))
            )
            made.append(f"https://jkm.example.gov.cn/v?c={token}&t=1")
        else:
            made.append("CP1:" + "".join(rnd.choices(BASE45, k=rnd.randint(200, 400))))
    return made


@pytest.fixture(scope="session")
def degraded() -> list[Sample]:
    rnd = random.Random(20240611)
    rng = np.random.default_rng(20240611)
    texts = payloads(rnd)
    modules = [qr_modules(text) for text in texts]
    samples = []
    for size in SIZES:
        for category in CATEGORIES:
            for _ in range(FRAMES_PER_CATEGORY_AND_SIZE):
                k = int(rng.integers(len(texts)))
                frame = code_frame(modules[k], category, size, rng)
                samples.append(Sample(category, size, texts[k].encode(), frame))
    return samples


@pytest.fixture(scope="session")
def empty() -> list[GrayFrame]:
    rng = np.random.default_rng(7)
    return [empty_frame(SIZES[n % 2], rng) for n in range(EMPTY_FRAMES)]


@dataclass
class Outcome:
    read: Counter[str]
    total: Counter[str]
    wrong: list[bytes]

    @property
    def rate(self) -> float:
        return sum(self.read.values()) / sum(self.total.values())


def run(decode: Decoder, samples: list[Sample]) -> Outcome:
    outcome = Outcome(Counter(), Counter(), [])
    for sample in samples:
        found = [d.payload for d in decode(sample.frame)]
        outcome.total[sample.category] += 1
        outcome.read[sample.category] += sample.payload in found
        outcome.wrong += [p for p in found if p != sample.payload]
    return outcome


def report(name: str, outcome: Outcome, capsys: pytest.CaptureFixture[str]) -> None:
    """Print the rates per category, also when output is captured."""
    rates = "  ".join(
        f"{c} {outcome.read[c]}/{outcome.total[c]}" for c in CATEGORIES if outcome.total[c]
    )
    with capsys.disabled():
        print(f"\n{name}: {outcome.rate:.1%} read, {len(outcome.wrong)} wrong  |  {rates}")


def test_the_set_is_large_and_covers_every_category_and_size(degraded: list[Sample]) -> None:
    assert len(degraded) >= 300
    assert {(s.category, s.size) for s in degraded} == {(c, z) for c in CATEGORIES for z in SIZES}
    assert {s.frame.shape for s in degraded} == {(480, 640), (720, 1280)}
    assert any(s.payload.startswith(b"https://") for s in degraded)


def test_zxing_reads_at_least_97_percent_with_no_wrong_payload(
    degraded: list[Sample], empty: list[GrayFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run(decode_zxing, degraded)
    report("zxing", outcome, capsys)
    assert outcome.wrong == []
    assert outcome.rate >= 0.97
    assert [decode_zxing(frame) for frame in empty] == [[]] * len(empty)


def test_pyzbar_rates_are_reported_and_it_never_reads_a_wrong_payload(
    degraded: list[Sample], empty: list[GrayFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run(decode_pyzbar, degraded)
    report("pyzbar", outcome, capsys)
    assert outcome.wrong == []
    assert [decode_pyzbar(frame) for frame in empty] == [[]] * len(empty)


def test_pyzbar_reads_dark_mode_codes_only_through_the_inverted_retry() -> None:
    frame = code_frame(
        qr_modules("CP1:DARK MODE"), "inverted", (640, 480), np.random.default_rng(2)
    )
    assert pyzbar.decode(frame, symbols=[pyzbar.ZBarSymbol.QRCODE]) == []
    assert [d.payload for d in decode_pyzbar(frame)] == [b"CP1:DARK MODE"]


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_both_backends_give_payload_and_corner_polygon(name: str) -> None:
    modules = qr_modules("CP1:POLYGON")
    frame = np.full((480, 640), 255, dtype=np.uint8)
    scale = 6
    code = np.kron(np.where(modules, 0, 255).astype(np.uint8), np.ones((scale, scale), np.uint8))
    top, left = 100, 200
    frame[top : top + code.shape[0], left : left + code.shape[1]] = code
    [found] = decoder(name)(frame)  # type: ignore[arg-type]
    assert found.payload == b"CP1:POLYGON"
    assert len(found.polygon) == 4
    xs = [x for x, _ in found.polygon]
    ys = [y for _, y in found.polygon]
    side = code.shape[0]
    assert min(xs) == pytest.approx(left, abs=4) and max(xs) == pytest.approx(left + side, abs=4)
    assert min(ys) == pytest.approx(top, abs=4) and max(ys) == pytest.approx(top + side, abs=4)


def test_an_unknown_decoder_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="zxing"):
        decoder("opencv")  # type: ignore[arg-type]
