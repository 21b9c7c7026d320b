"""Contract terms (when a review falls due, which months it covers) and what-if overrides."""

from __future__ import annotations

from datetime import time

import pytest

from pipelines.core.contracts import ContractError, contract_to_yaml, parse_contract
from pipelines.core.io import InputError
from pipelines.core.overrides import OverrideError, apply_overrides, parse_assignment, read_scenarios
from pipelines.core.terms import Window, check_window, review_due, review_window


@pytest.fixture
def contract(contract_data):
    return parse_contract(contract_data | {"term": {"start": "2025-10", "review_every_months": 12}}, "acme")


def _span(window: Window) -> tuple[str, str]:
    return window.start, window.end


def test_a_review_falls_due_in_the_last_month_of_each_term(contract):
    assert review_due(contract.term, "2026-09") == "2025-10"
    assert review_due(contract.term, "2027-09") == "2026-10"
    assert [m for m in ("2025-09", "2025-10", "2026-08", "2026-10") if review_due(contract.term, m)] == []


def test_the_default_window_is_the_latest_ended_term_else_the_term_so_far_else_twelve_months(contract,
                                                                                             contract_data):
    assert review_window(contract.term, "2026-10") == Window("2025-10", "2026-09", "the contract's latest term")
    assert review_window(contract.term, "2026-03").start == "2025-10"
    assert "not due yet" in review_window(contract.term, "2026-03").why
    plain = parse_contract(contract_data, "acme")
    assert _span(review_window(plain.term, "2026-10")) == ("2025-11", "2026-10")
    assert _span(review_window(contract.term, "2026-10", end="2026-06")) == ("2025-07", "2026-06")
    assert _span(review_window(contract.term, "2026-03", start="2025-11")) == ("2025-11", "2026-03")


def test_term_fields_are_validated_with_the_field_named(contract_data):
    with pytest.raises(ContractError, match=r"term.start: '2025-13' is not a month like 2025-10"):
        parse_contract(contract_data | {"term": {"start": "2025-13"}}, "acme")
    with pytest.raises(ContractError, match=r"term.review_every_months"):
        parse_contract(contract_data | {"term": {"start": "2025-10", "review_every_months": 0}}, "acme")
    bad = {"start": "2025-10", "scenarios": {"6-hour P2": ["sla.P2.resolution=soon"]}}
    with pytest.raises(ContractError, match=r"term.scenarios: '6-hour P2'.*'soon' is not a duration"):
        parse_contract(contract_data | {"term": bad}, "acme")


def test_windows_outside_the_data_or_backwards_are_refused():
    with pytest.raises(InputError, match="--from 2026-05 --to 2026-02: the review ends before it starts"):
        check_window(Window("2026-05", "2026-02", ""), "2025-10", "2026-10")
    with pytest.raises(InputError, match="--to 2027-01: the data ends in 2026-10"):
        check_window(Window("2026-02", "2027-01", ""), "2025-10", "2026-10")
    with pytest.raises(InputError, match="--to 2025-01: the data starts in 2025-10"):
        check_window(Window("2024-02", "2025-01", ""), "2025-10", "2026-10")
    check_window(Window("2025-10", "2026-09", ""), "2025-10", "2026-10")


def test_overrides_change_only_what_they_name(contract):
    changed = apply_overrides(contract, ["sla.P2.resolution=6h", "business_hours.fri=08:00-18:00",
                                         "business_hours.sat=09:00-12:00,13:00-15:00", "targets.csat_pct=85",
                                         "credits.0.below=99.5"])
    assert changed.sla["P2"].resolution == 360
    assert changed.business_hours["fri"] == [(time(8), time(18))]
    assert changed.business_hours["sat"] == [(time(9), time(12)), (time(13), time(15))]
    assert changed.targets.csat_pct == 85 and changed.credits[0].below == 99.5
    assert changed.sla["P3"] == contract.sla["P3"] and changed.timezone == contract.timezone
    closed = apply_overrides(contract, ["business_hours.fri=closed"])
    assert "fri" not in closed.business_hours
    assert contract_to_yaml(apply_overrides(contract, [])) == contract_to_yaml(contract)


@pytest.mark.parametrize(("override", "message"), [
    ("sla.P2", "'sla.P2' is not an override like sla.P2.resolution=6h"),
    ("client_id=other", "client_id cannot be changed in a what-if"),
    ("sla.P2.resolution=soon", "sla.P2.resolution: 'soon' is not a duration like 90m or 4h"),
    ("sla.P9.resolution=6h", "sla.P9: 'P9' is not allowed"),
    ("credits.7.below=90", "credits is a list of 1; give a position like credits.0"),
    ("monthly_fee.amount=3", "monthly_fee is a single value, it has no field 'amount'"),
    ("targets.csat_pct=[1", "'[1' is not a value"),
])
def test_a_bad_override_names_its_field_and_what_was_expected(contract, override, message):
    with pytest.raises(OverrideError) as info:
        apply_overrides(contract, [override], "scenario 'x'")
    assert message in str(info.value)


def test_parse_assignment_reads_yaml_values_and_working_hours():
    assert parse_assignment("proactive_sources=[monitoring]") == (["proactive_sources"], ["monitoring"])
    assert parse_assignment(" targets.fcr_pct = 65 ") == (["targets", "fcr_pct"], 65)
    assert parse_assignment("business_hours.mon=8:00-12:00") == (["business_hours", "mon"], ["8:00", "12:00"])


def test_scenario_files_are_read_and_checked(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text("scenarios:\n  6-hour P2: [sla.P2.resolution=6h]\n  longer Friday: business_hours.fri=08:00-18:00\n")
    assert read_scenarios(good) == {"6-hour P2": ["sla.P2.resolution=6h"],
                                    "longer Friday": ["business_hours.fri=08:00-18:00"]}
    empty = tmp_path / "empty.yml"
    empty.write_text("other: 1\n")
    with pytest.raises(OverrideError, match="empty.yml: expected a 'scenarios:' block"):
        read_scenarios(empty)
    wrong = tmp_path / "wrong.yml"
    wrong.write_text("scenarios:\n  odd: {a: 1}\n")
    with pytest.raises(OverrideError, match="scenarios.odd: expected a list of overrides"):
        read_scenarios(wrong)
    with pytest.raises(OverrideError, match="missing.yml: file not found"):
        read_scenarios(tmp_path / "missing.yml")
