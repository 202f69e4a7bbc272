"""Login rate limiting with a clock the test moves."""

from __future__ import annotations

from gateway.service.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_locks_a_key_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=3, window_s=60, monotonic=clock)
    for step in range(3):
        assert throttle.retry_after(["client:a"]) == 0
        throttle.failed(["client:a", "account:m"])
        clock.now += 10 * (step + 1)  # failures at 1000, 1010, 1030
    assert clock.now == 1060
    assert throttle.retry_after(["client:a"]) == 0  # the first failure just left the window
    throttle.failed(["client:a"])
    assert throttle.retry_after(["client:a"]) == 10  # 1010 + 60 - 1060
    assert throttle.retry_after(["client:b"]) == 0
    assert throttle.retry_after(["client:b", "account:m"]) == 0  # account:m has 2 in window


def test_success_clears_the_keys_it_names() -> None:
    throttle = LoginThrottle(limit=2, window_s=60, monotonic=Clock())
    throttle.failed(["client:a", "account:m"])
    throttle.failed(["client:a", "account:m"])
    assert throttle.retry_after(["account:m"]) > 0
    throttle.succeeded(["client:a", "account:m"])
    assert throttle.retry_after(["client:a", "account:m"]) == 0
