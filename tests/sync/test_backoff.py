from __future__ import annotations

import random

import pytest

from sync.backoff import Backoff


def test_nominal_delays_double_to_the_maximum_with_up_to_half_of_each_random() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(7))

    delays = [backoff.next() for _ in range(6)]

    for delay, nominal in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert nominal / 2 <= delay <= nominal
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_clients_cut_off_together_come_back_apart() -> None:
    # A thousand gates losing the broker at once: their first retries spread over the window.
    firsts = sorted(Backoff(2.0, 30.0, rng=random.Random(seed)).next() for seed in range(1000))

    assert firsts[0] >= 1.0 and firsts[-1] <= 2.0
    per_tenth = [sum(1 for d in firsts if 1.0 + i / 10 <= d < 1.1 + i / 10) for i in range(10)]
    assert max(per_tenth) < 150  # about 100 each: no second sees a stampede


def test_a_maximum_below_the_first_delay_is_rejected() -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff(2.0, 1.0)
    with pytest.raises(ValueError, match="first_s"):
        Backoff(0.0, 1.0)
