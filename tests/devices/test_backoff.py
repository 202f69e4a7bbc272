from __future__ import annotations

import pytest

from devices.backoff import Backoff


def test_delays_double_up_to_the_maximum_and_reset() -> None:
    backoff = Backoff(0.2, 1.0)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next() == 0.2


def test_a_maximum_below_the_first_delay_is_rejected() -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff(1.0, 0.5)
