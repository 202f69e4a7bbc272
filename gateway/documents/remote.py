"""Documents the community server keeps retained for this gate: trust list, status list, policy.

paho's network thread only queues the raw messages; they are parsed, checked and stored here
on the asyncio loop (file writes in a worker thread).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from gateway.codes.files import write_atomic
from gateway.codes.status_list import (
    StatusListError,
    StatusStore,
    parse_status_list,
    save_status_list,
)
from gateway.codes.trust import TrustListError, TrustStore, parse_trust_list, save_trust_list
from gateway.config import Settings, validate_remote_policy
from gateway.core.errors import ConfigError
from gateway.service.policy_holder import PolicyHolder
from sync.mqtt import Message, MqttClient
from sync.topics import Topics

log = logging.getLogger(__name__)


class RemoteDocuments:
    """Applies retained lists (valid, newer versions only) and policies (valid ones only)."""

    def __init__(
        self,
        *,
        settings: Settings,
        topics: Topics,
        trust: TrustStore,
        trust_path: Path,
        status: StatusStore,
        status_path: Path,
        policy: PolicyHolder,
        policy_path: Path | None = None,
        on_policy_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._trust = trust
        self._trust_path = trust_path
        self._status = status
        self._status_path = status_path
        self._policy = policy
        self._policy_path = policy_path
        self._on_policy_change = on_policy_change
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()

    def subscribe(self, client: MqttClient, loop: asyncio.AbstractEventLoop) -> None:
        def hand_over(message: Message) -> None:
            loop.call_soon_threadsafe(self._inbox.put_nowait, message)

        client.subscribe(self._topics.trust, hand_over)
        client.subscribe(self._topics.status, hand_over)
        client.subscribe(self._topics.policy, hand_over)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(self._inbox.get(), timeout=1.0)
            except TimeoutError:
                continue
            if message.topic == self._topics.trust:
                await self.apply_trust(message.payload)
            elif message.topic == self._topics.status:
                await self.apply_status(message.payload)
            elif message.topic == self._topics.policy:
                self.apply_policy(message.payload)

    async def apply_trust(self, payload: bytes) -> str:
        """Take a trust list if it is valid and newer than the one in force; keep it on disk.
        Returns what became of it, in a line."""
        try:
            trust_list = parse_trust_list(payload, source=self._topics.trust)
        except TrustListError as exc:
            log.warning("trust list rejected: %s", exc)
            return f"refused: {exc}"
        in_force = self._trust.current.version
        if not self._trust.replace_if_newer(trust_list):
            return f"kept version {in_force}: version {trust_list.version} is not newer"
        await asyncio.to_thread(save_trust_list, trust_list, self._trust_path)
        return f"version {trust_list.version} in force"

    async def apply_status(self, payload: bytes) -> str:
        """Take a status list if it is valid and newer than the one in force; keep it on disk.
        Returns what became of it, in a line."""
        try:
            status = parse_status_list(payload, source=self._topics.status)
        except StatusListError as exc:
            log.warning("status list rejected: %s", exc)
            return f"refused: {exc}"
        in_force = self._status.current.version
        if not self._status.replace_if_newer(status):
            return f"kept version {in_force}: version {status.version} is not newer"
        await asyncio.to_thread(save_status_list, status, self._status_path)
        return f"version {status.version} in force"

    def apply_policy(self, payload: bytes, *, source: str | None = None) -> str:
        """Put a valid policy in force as a whole and keep it on disk; an invalid one changes
        nothing. An empty payload withdraws the remote policy. Returns what happened, in a
        line."""
        source = source or self._topics.policy
        if not payload.strip():
            log.info("remote policy withdrawn: the config file's policy is in force")
            self._policy.revert()
            if self._policy_path is not None:
                self._policy_path.unlink(missing_ok=True)
            self._on_policy_change()
            return "withdrawn: the config file's policy is in force"
        try:
            document = json.loads(payload)
            policy = validate_remote_policy(document, settings=self._settings, source=source)
        except (ValueError, ConfigError) as exc:
            problem = "; ".join(str(exc).splitlines()) or "not valid JSON"
            log.warning("remote policy rejected, the previous one stays in force: %s", problem)
            self._policy.reject(problem)
            self._on_policy_change()
            return f"refused, the previous one stays in force: {problem}"
        self._policy.apply(policy, source=source)
        if self._policy_path is not None and source != str(self._policy_path):
            write_atomic(self._policy_path, payload, mode=0o644)
        log.info("remote policy in force: %s", policy)
        self._on_policy_change()
        return "in force"

    def load_saved_policy(self) -> None:
        """Put the remote policy kept on disk back in force (a gate restarted offline)."""
        if self._policy_path is None:
            return
        try:
            payload = self._policy_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read the saved remote policy %s: %s", self._policy_path, exc)
            return
        self.apply_policy(payload, source=str(self._policy_path))
