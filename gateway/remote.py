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
        on_policy_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._trust = trust
        self._trust_path = trust_path
        self._status = status
        self._status_path = status_path
        self._policy = policy
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

    async def apply_trust(self, payload: bytes) -> bool:
        """Take a trust list if it is valid and newer than the one in force; keep it on disk."""
        try:
            trust_list = parse_trust_list(payload, source=self._topics.trust)
        except TrustListError as exc:
            log.warning("trust list rejected: %s", exc)
            return False
        if not self._trust.replace_if_newer(trust_list):
            return False
        await asyncio.to_thread(save_trust_list, trust_list, self._trust_path)
        return True

    async def apply_status(self, payload: bytes) -> bool:
        """Take a status list if it is valid and newer than the one in force; keep it on disk."""
        try:
            status = parse_status_list(payload, source=self._topics.status)
        except StatusListError as exc:
            log.warning("status list rejected: %s", exc)
            return False
        if not self._status.replace_if_newer(status):
            return False
        await asyncio.to_thread(save_status_list, status, self._status_path)
        return True

    def apply_policy(self, payload: bytes) -> bool:
        """Put a valid policy in force as a whole; an invalid one changes nothing."""
        if not payload.strip():
            log.info("remote policy withdrawn: the config file's policy is in force")
            self._policy.revert()
            self._on_policy_change()
            return True
        try:
            document = json.loads(payload)
            policy = validate_remote_policy(
                document, settings=self._settings, source=self._topics.policy
            )
        except (ValueError, ConfigError) as exc:
            problem = "; ".join(str(exc).splitlines()) or "not valid JSON"
            log.warning("remote policy rejected, the previous one stays in force: %s", problem)
            self._policy.reject(problem)
            self._on_policy_change()
            return False
        self._policy.apply(policy, source=self._topics.policy)
        log.info("remote policy in force: %s", policy)
        self._on_policy_change()
        return True
