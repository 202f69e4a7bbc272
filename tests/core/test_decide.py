from datetime import UTC, datetime

import pytest

from gateway.core.decide import decide
from gateway.core.policy import NoThermal, Policy
from gateway.core.values import (
    NO_CODE,
    CodeCheck,
    CodeStatus,
    Credential,
    Decision,
    ReadingQuality,
    ThermalReading,
)

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
POLICY = Policy()


def reading(celsius: float, at_s: float = 0.0) -> ThermalReading:
    return ThermalReading(celsius, "ir", ReadingQuality.GOOD, int(at_s * 1e9), T0)


def pass_(status: CodeStatus, check: CodeCheck = CodeCheck.VALID) -> Credential:
    return Credential(format="cp1", check=check, status=status)


GREEN = pass_(CodeStatus.GREEN)


def test_green_code_normal_temperature_admits() -> None:
    verdict = decide(GREEN, [reading(36.6)], POLICY)
    assert verdict.decision is Decision.ADMIT
    assert verdict.reasons == ()


@pytest.mark.parametrize(
    ("status", "decision", "reason"),
    [
        (CodeStatus.YELLOW, Decision.REFER, "code-yellow"),
        (CodeStatus.RED, Decision.DENY, "code-red"),
    ],
)
def test_colours(status: CodeStatus, decision: Decision, reason: str) -> None:
    verdict = decide(pass_(status), [reading(36.6)], POLICY)
    assert verdict.decision is decision
    assert reason in verdict.reasons


@pytest.mark.parametrize(
    ("check", "decision"),
    [
        (CodeCheck.EXPIRED, Decision.DENY),
        (CodeCheck.NOT_YET_VALID, Decision.DENY),
        (CodeCheck.BAD_SIGNATURE, Decision.DENY),
        (CodeCheck.REVOKED, Decision.DENY),
        (CodeCheck.UNKNOWN_ISSUER, Decision.REFER),
        (CodeCheck.UNREADABLE, Decision.REFER),
        (CodeCheck.UNVERIFIABLE, Decision.REFER),
    ],
)
def test_failed_checks_never_admit(check: CodeCheck, decision: Decision) -> None:
    verdict = decide(pass_(CodeStatus.GREEN, check), [reading(36.5)], POLICY)
    assert verdict.decision is decision


def test_guard_confirmed_green_on_unverifiable_code_admits() -> None:
    confirmed = Credential(
        format="other",
        check=CodeCheck.UNVERIFIABLE,
        status=CodeStatus.GREEN,
        confirmed_by="guard-1",
    )
    assert decide(confirmed, [reading(36.5)], POLICY).decision is Decision.ADMIT


def test_no_code_refers() -> None:
    verdict = decide(NO_CODE, [reading(36.5)], POLICY)
    assert verdict.decision is Decision.REFER
    assert "no-code" in verdict.reasons


def test_fever_asks_for_remeasure_before_deny() -> None:
    first = decide(GREEN, [reading(37.3)], POLICY)
    assert first.decision is Decision.REFER
    assert first.remeasure
    confirmed = decide(GREEN, [reading(37.3), reading(37.9, 2)], POLICY)
    assert confirmed.decision is Decision.DENY
    assert "fever" in confirmed.reasons
    cleared = decide(GREEN, [reading(37.5), reading(36.8, 2)], POLICY)
    assert cleared.decision is Decision.ADMIT
    assert "fever-not-confirmed" in cleared.reasons


def test_fever_denies_at_once_without_remeasure_rule() -> None:
    verdict = decide(GREEN, [reading(38.0)], Policy(remeasure_before_deny=False))
    assert verdict.decision is Decision.DENY


def test_threshold_is_configurable() -> None:
    assert decide(GREEN, [reading(37.3)], Policy(fever_threshold_c=37.5)).decision is Decision.ADMIT


@pytest.mark.parametrize("celsius", [20.0, 33.9, 43.5])
def test_implausible_readings_refer_never_admit(celsius: float) -> None:
    verdict = decide(GREEN, [reading(celsius)], POLICY)
    assert verdict.decision is Decision.REFER
    assert "temperature-implausible" in verdict.reasons


def test_missing_thermal_source_follows_policy() -> None:
    refer = decide(GREEN, [], POLICY, thermal_available=False)
    assert refer.decision is Decision.REFER
    assert "thermal-unavailable" in refer.reasons
    admit = decide(GREEN, [], Policy(no_thermal=NoThermal.ADMIT), thermal_available=False)
    assert admit.decision is Decision.ADMIT


def test_no_reading_with_working_thermal_refers_unless_not_required() -> None:
    assert decide(GREEN, [], POLICY).decision is Decision.REFER
    assert decide(GREEN, [], Policy(require_temperature=False)).decision is Decision.ADMIT


def test_most_severe_rule_wins_and_all_reasons_are_kept() -> None:
    verdict = decide(pass_(CodeStatus.YELLOW), [reading(38.5), reading(38.4, 1)], POLICY)
    assert verdict.decision is Decision.DENY
    assert set(verdict.reasons) == {"code-yellow", "fever"}


def test_outdated_lists_degrade_verified_codes_to_refer() -> None:
    verdict = decide(GREEN, [reading(36.5)], Policy(list_max_age_h=48), lists_age_h=49)
    assert verdict.decision is Decision.REFER
    assert "lists-outdated" in verdict.reasons
    fresh = decide(GREEN, [reading(36.5)], Policy(list_max_age_h=48), lists_age_h=47)
    assert fresh.decision is Decision.ADMIT


def test_pass_back_is_flagged_not_admitted_twice() -> None:
    verdict = decide(GREEN, [reading(36.5)], POLICY, passback=True)
    assert verdict.decision is Decision.REFER
    assert verdict.reasons == ("pass-back",)
