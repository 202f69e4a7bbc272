"""The policy in force: the config file's, replaced at run time by a valid remote policy."""

from __future__ import annotations

import threading

from gateway.core.policy import Policy


class PolicyHolder:
    """Swaps the whole policy at once, so a decision never sees half of an update."""

    def __init__(self, local: Policy) -> None:
        self._lock = threading.Lock()
        self._local = local
        self._current = local
        self.source = "config"
        self.problem = ""

    def __call__(self) -> Policy:
        return self._current

    def apply(self, policy: Policy, *, source: str) -> None:
        with self._lock:
            self._current = policy
            self.source = source
            self.problem = ""

    def reject(self, problem: str) -> None:
        """Keep the policy in force and remember why the new one was refused."""
        with self._lock:
            self.problem = problem

    def revert(self) -> None:
        """Back to the config file's policy (the remote policy was withdrawn)."""
        self.apply(self._local, source="config")
