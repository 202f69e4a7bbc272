"""MQTT topic names (DESIGN 4.3): built from validated parts and parsed back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.core.errors import CheckpointError

DEFAULT_PREFIX = "checkpoint/v1"
COLLECTOR_SUBSCRIPTION = "$share/collectors/{prefix}/+/+/entries"
STATE_SUBSCRIPTION = "{prefix}/+/+/state"

_FORBIDDEN = frozenset("+#/")


class TopicError(CheckpointError, ValueError):
    """A topic or one of its parts is not valid."""


class TopicKind(StrEnum):
    ENTRIES = "entries"
    ACK = "ack"
    STATE = "state"
    POLICY = "policy"
    TRUST = "trust"
    STATUS = "status"


_GATE_KINDS = frozenset({TopicKind.ENTRIES, TopicKind.ACK, TopicKind.STATE, TopicKind.POLICY})
_SITE_KINDS = frozenset({TopicKind.TRUST, TopicKind.STATUS})


def _check_segment(what: str, value: str) -> None:
    if not value:
        raise TopicError(f"{what} is empty")
    bad = _FORBIDDEN.intersection(value)
    if bad:
        raise TopicError(f"{what} {value!r} contains {''.join(sorted(bad))!r}")
    if "\x00" in value:
        raise TopicError(f"{what} {value!r} contains a NUL character")


def check_prefix(prefix: str) -> str:
    """The prefix if it is a plain topic path (levels without wildcards); else `TopicError`."""
    if prefix.startswith("$"):
        raise TopicError(f"prefix {prefix!r} starts with '$' (reserved for the broker)")
    for level in prefix.split("/"):
        _check_segment("prefix level", level)
    return prefix


def collector_subscription(prefix: str = DEFAULT_PREFIX) -> str:
    """The shared subscription collectors split the entries of all gates with."""
    return COLLECTOR_SUBSCRIPTION.format(prefix=check_prefix(prefix))


def state_subscription(prefix: str = DEFAULT_PREFIX) -> str:
    """The state topics of all gates of all sites."""
    return STATE_SUBSCRIPTION.format(prefix=check_prefix(prefix))


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one gate; raises `TopicError` on a part that would break the topic tree."""

    prefix: str
    site: str
    gate: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)
        _check_segment("site", self.site)
        _check_segment("gate", self.gate)

    @property
    def entries(self) -> str:
        return self._gate_topic(TopicKind.ENTRIES)

    @property
    def ack(self) -> str:
        return self._gate_topic(TopicKind.ACK)

    @property
    def state(self) -> str:
        return self._gate_topic(TopicKind.STATE)

    @property
    def policy(self) -> str:
        return self._gate_topic(TopicKind.POLICY)

    @property
    def trust(self) -> str:
        return f"{self.prefix}/{self.site}/{TopicKind.TRUST}"

    @property
    def status(self) -> str:
        return f"{self.prefix}/{self.site}/{TopicKind.STATUS}"

    def _gate_topic(self, kind: TopicKind) -> str:
        return f"{self.prefix}/{self.site}/{self.gate}/{kind}"


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """What a topic names: a site, a gate within it (None for site topics) and the kind."""

    site: str
    gate: str | None
    kind: TopicKind


def parse_topic(topic: str, *, prefix: str = DEFAULT_PREFIX) -> TopicAddress:
    """Split a concrete topic under `prefix` into its address; `TopicError` if it is not ours."""
    head = check_prefix(prefix) + "/"
    if not topic.startswith(head):
        raise TopicError(f"topic {topic!r} is not under {prefix!r}")
    levels = topic[len(head) :].split("/")
    try:
        kind = TopicKind(levels[-1])
    except ValueError:
        raise TopicError(f"topic {topic!r} has an unknown kind {levels[-1]!r}") from None
    if len(levels) == 3 and kind in _GATE_KINDS:
        site, gate = levels[0], levels[1]
        _check_segment("site", site)
        _check_segment("gate", gate)
        return TopicAddress(site=site, gate=gate, kind=kind)
    if len(levels) == 2 and kind in _SITE_KINDS:
        _check_segment("site", levels[0])
        return TopicAddress(site=levels[0], gate=None, kind=kind)
    raise TopicError(f"topic {topic!r} does not have the shape of a {kind} topic")
