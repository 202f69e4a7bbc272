"""The pure decision: (credential, readings, policy) → verdict. No I/O, no clock."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.policy import NoThermal, Policy
from gateway.core.values import (
    CodeCheck,
    CodeStatus,
    Credential,
    Decision,
    ThermalReading,
    Verdict,
)

_INVALID_CHECKS = {
    CodeCheck.EXPIRED,
    CodeCheck.NOT_YET_VALID,
    CodeCheck.BAD_SIGNATURE,
    CodeCheck.REVOKED,
}


def decide(
    credential: Credential,
    readings: Sequence[ThermalReading],
    policy: Policy,
    *,
    thermal_available: bool = True,
    lists_age_h: float | None = None,
    passback: bool = False,
) -> Verdict:
    """Decide one passage.

    `readings` are the temperature readings paired with this passage, oldest first.
    `lists_age_h` is the age of the trust/status lists behind a verified code; `passback`
    says the same subject was admitted in the same direction within the policy's window.
    The most severe rule wins; every rule that fired leaves its reason code.
    """
    code_decision, code_reason = _judge_code(credential, policy)
    temp_decision, temp_reasons, remeasure = _judge_temperature(
        readings, policy, thermal_available=thermal_available
    )
    decisions = [code_decision, temp_decision]
    reasons = [code_reason, *temp_reasons]
    if credential.verified and lists_age_h is not None and lists_age_h > policy.list_max_age_h:
        decisions.append(Decision.REFER)
        reasons.append("lists-outdated")
    if passback:
        decisions.append(Decision.REFER)
        reasons.append("pass-back")
    decision = max(decisions, key=lambda d: d.severity)
    return Verdict(decision=decision, reasons=tuple(r for r in reasons if r), remeasure=remeasure)


def _judge_code(credential: Credential, policy: Policy) -> tuple[Decision, str]:
    check = credential.check
    if check is CodeCheck.NO_CODE:
        return policy.no_code, "no-code"
    if check in (CodeCheck.UNREADABLE, CodeCheck.PARTIAL):
        return policy.unreadable, "code-unreadable"
    if check is CodeCheck.UNVERIFIABLE:
        if credential.confirmed_by is None:
            return policy.unverifiable, "code-unverified"
        return _judge_colour(credential.status, policy, unknown=policy.unverifiable)
    if check is CodeCheck.UNKNOWN_ISSUER:
        return policy.unknown_issuer, "code-unknown-issuer"
    if check in _INVALID_CHECKS:
        return policy.invalid, f"code-{check.value}"
    return _judge_colour(credential.status, policy, unknown=policy.unknown_colour)


def _judge_colour(status: CodeStatus, policy: Policy, *, unknown: Decision) -> tuple[Decision, str]:
    if status is CodeStatus.GREEN:
        return policy.green, ""
    if status is CodeStatus.YELLOW:
        return policy.yellow, "code-yellow"
    if status is CodeStatus.RED:
        return policy.red, "code-red"
    return unknown, "code-unverified"


def _judge_temperature(
    readings: Sequence[ThermalReading], policy: Policy, *, thermal_available: bool
) -> tuple[Decision, tuple[str, ...], bool]:
    if not readings:
        if not policy.require_temperature:
            return Decision.ADMIT, (), False
        if not thermal_available:
            fallback = Decision.ADMIT if policy.no_thermal is NoThermal.ADMIT else Decision.REFER
            return fallback, ("thermal-unavailable",), False
        return Decision.REFER, ("no-temperature",), False
    latest = readings[-1].celsius
    if not policy.min_plausible_c <= latest <= policy.max_plausible_c:
        return Decision.REFER, ("temperature-implausible",), False
    if latest < policy.fever_threshold_c:
        earlier_fever = any(r.celsius >= policy.fever_threshold_c for r in readings[:-1])
        return Decision.ADMIT, (("fever-not-confirmed",) if earlier_fever else ()), False
    if policy.remeasure_before_deny and len(readings) < 2:
        return Decision.REFER, ("fever-remeasure",), True
    return Decision.DENY, ("fever",), False
