"""The site's decision rules as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.core.values import Decision


class NoThermal(StrEnum):
    """What to do when no temperature could be taken."""

    REFER = "refer"
    ADMIT = "admit"


@dataclass(frozen=True, slots=True)
class Policy:
    """Decision rules. Validated by the config layer; `decide()` trusts them."""

    fever_threshold_c: float = 37.3
    min_plausible_c: float = 34.0
    max_plausible_c: float = 43.0
    remeasure_before_deny: bool = True
    require_temperature: bool = True
    no_thermal: NoThermal = NoThermal.REFER
    green: Decision = Decision.ADMIT
    yellow: Decision = Decision.REFER
    red: Decision = Decision.DENY
    unknown_colour: Decision = Decision.REFER
    unverifiable: Decision = Decision.REFER
    no_code: Decision = Decision.REFER
    unreadable: Decision = Decision.REFER
    invalid: Decision = Decision.DENY
    unknown_issuer: Decision = Decision.REFER
    pairing_window_s: float = 5.0
    dedupe_window_s: float = 3.0
    list_max_age_h: float = 48.0
    passback_window_s: float = 300.0
