"""Every code format a gate verifies offline, built over one trust store."""

from __future__ import annotations

from gateway.codes.community_pass import CommunityPassFormat
from gateway.codes.dcc import DccFormat
from gateway.codes.health import ColourRule
from gateway.codes.shc import ShcFormat
from gateway.codes.trust import TrustStore
from gateway.core.codes import CodeFormat


def code_formats(
    trust: TrustStore,
    *,
    secret: bytes | None = None,
    colours: ColourRule = ColourRule(),  # noqa: B008 - a frozen value
) -> list[CodeFormat]:
    """Community pass, EU DCC and SMART Health Card, in that order.

    `secret` is the site secret for the pseudonyms of health-code holders (a community
    pass carries its pseudonym already); `colours` gives valid health codes their colour.
    """
    return [
        CommunityPassFormat(trust),
        DccFormat(trust, secret=secret, colours=colours),
        ShcFormat(trust, secret=secret, colours=colours),
    ]
