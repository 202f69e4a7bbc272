from __future__ import annotations

import pytest

from sync.topics import (
    TopicAddress,
    TopicError,
    TopicKind,
    Topics,
    collector_subscription,
    parse_topic,
    state_subscription,
)


def test_gate_and_site_topics_follow_the_contract() -> None:
    topics = Topics(prefix="checkpoint/v1", site="xiaojiang", gate="north-1")

    assert topics.entries == "checkpoint/v1/xiaojiang/north-1/entries"
    assert topics.ack == "checkpoint/v1/xiaojiang/north-1/ack"
    assert topics.state == "checkpoint/v1/xiaojiang/north-1/state"
    assert topics.policy == "checkpoint/v1/xiaojiang/north-1/policy"
    assert topics.trust == "checkpoint/v1/xiaojiang/trust"
    assert topics.status == "checkpoint/v1/xiaojiang/status"


def test_collector_subscriptions_are_built_from_the_prefix() -> None:
    assert collector_subscription() == "$share/collectors/checkpoint/v1/+/+/entries"
    assert collector_subscription("acme/v2") == "$share/collectors/acme/v2/+/+/entries"
    assert state_subscription("acme/v2") == "acme/v2/+/+/state"


@pytest.mark.parametrize(
    ("site", "gate"),
    [("a+b", "g"), ("s", "g#"), ("s/x", "g"), ("s", "a/b"), ("", "g"), ("s", "")],
)
def test_segments_that_would_break_the_topic_tree_are_refused(site: str, gate: str) -> None:
    with pytest.raises(TopicError):
        Topics(prefix="checkpoint/v1", site=site, gate=gate)


@pytest.mark.parametrize("prefix", ["", "a//b", "a/+", "#", "$SYS/x", "a/"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(TopicError):
        Topics(prefix=prefix, site="s", gate="g")
    with pytest.raises(TopicError):
        collector_subscription(prefix)


def test_topics_parse_back_into_their_address() -> None:
    topics = Topics(prefix="checkpoint/v1", site="xiaojiang", gate="north-1")

    for kind in (TopicKind.ENTRIES, TopicKind.ACK, TopicKind.STATE, TopicKind.POLICY):
        topic = getattr(topics, kind.value)
        assert parse_topic(topic) == TopicAddress("xiaojiang", "north-1", kind)
    assert parse_topic(topics.trust) == TopicAddress("xiaojiang", None, TopicKind.TRUST)
    assert parse_topic(topics.status) == TopicAddress("xiaojiang", None, TopicKind.STATUS)
    assert parse_topic("acme/v2/s/g/entries", prefix="acme/v2") == TopicAddress(
        "s", "g", TopicKind.ENTRIES
    )


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/s/g/entries",
        "checkpoint/v1/s/g/unknown",
        "checkpoint/v1/s/entries",
        "checkpoint/v1/s/g/trust",
        "checkpoint/v1/s/g/x/entries",
        "checkpoint/v1//g/entries",
        "checkpoint/v1",
    ],
)
def test_foreign_or_malformed_topics_do_not_parse(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)
