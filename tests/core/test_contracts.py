from __future__ import annotations

from datetime import time

import pytest
import yaml

from pipelines.core.contracts import (
    ContractError,
    contract_to_yaml,
    load_contract,
    load_contracts,
    parse_contract,
    parse_duration,
)
from tests.conftest import write_contract


def _error(tmp_path, data) -> str:
    path = write_contract(tmp_path, data)
    with pytest.raises(ContractError) as info:
        load_contract(path)
    return str(info.value)


def test_documented_contract_loads_into_typed_values(tmp_path, contract_data):
    contract = load_contract(write_contract(tmp_path, contract_data))
    assert contract.client_id == "acme"
    assert contract.sla["P1"].response == 15.0
    assert contract.sla["P3"].resolution == 24 * 60
    assert contract.sla["P1"].calendar == "24x7"
    assert contract.business_hours["fri"] == [(time(8), time(17))]
    assert contract.priority_of(" high ") == "P2"
    assert contract.priority_of("p4") == "P4"
    assert contract.priority_of("Urgent") is None
    assert contract.status_lookup()["waiting on customer"] == "Waiting on Customer"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90m", 90), ("4h", 240), ("1h30m", 90), ("2d", 2880), ("0.5h", 30), (45, 45)],
)
def test_durations(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4 hours", "'4 hours' is not a duration like 90m or 4h"),
     (float("inf"), "inf is not a positive duration like 90m or 4h"),
     (0, "0 is not a positive duration like 90m or 4h")],
)
def test_bad_durations_are_refused(value, expected):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == expected


def test_bad_duration_names_file_field_and_expectation(tmp_path, contract_data):
    contract_data["sla"]["P2"]["response"] = "4 hours"
    message = _error(tmp_path, contract_data)
    assert message.endswith("contracts/acme.yml: sla.P2.response: '4 hours' is not a duration like 90m or 4h")


def test_unknown_time_zone(tmp_path, contract_data):
    contract_data["timezone"] = "Mars/Olympus"
    assert "timezone: 'Mars/Olympus' is not an IANA time zone" in _error(tmp_path, contract_data)


def test_reversed_business_hours(tmp_path, contract_data):
    contract_data["business_hours"]["mon"] = ["18:00", "08:00"]
    assert "business_hours.mon: window 18:00-08:00 ends before it starts" in _error(tmp_path, contract_data)


def test_overlapping_business_hours(tmp_path, contract_data):
    contract_data["business_hours"]["tue"] = [["08:00", "12:30"], ["12:00", "17:00"]]
    assert "business_hours.tue: windows overlap at 12:00" in _error(tmp_path, contract_data)


def test_split_day_and_end_of_day_windows(tmp_path, contract_data):
    contract_data["business_hours"]["sat"] = [["13:00", "24:00"], ["08:00", "12:00"]]
    contract = load_contract(write_contract(tmp_path, contract_data))
    assert contract.business_hours["sat"] == [(time(8), time(12)), (time(13), time.max)]


def test_unquoted_yaml_times_read_as_times(tmp_path, contract_data):
    # YAML 1.1 turns an unquoted 18:00 into the number 1080; 08:00 stays text.
    path = write_contract(tmp_path, contract_data)
    text = path.read_text()
    path.write_text(text.replace("thu:\n  - 08:00\n  - '18:00'", "thu: [08:00, 18:00]"))
    assert "thu: [08:00, 18:00]" in path.read_text()
    assert load_contract(path).business_hours["thu"] == [(time(8), time(18))]
    contract_data["business_hours"]["mon"] = [8, 18]
    assert "business_hours.mon: 8 is not a time of day like 08:00" in _error(tmp_path, contract_data)


def test_priority_without_target(tmp_path, contract_data):
    del contract_data["sla"]["P4"]
    message = _error(tmp_path, contract_data)
    assert "priority_map.Low maps to P4, which has no target in sla" in message


def test_unknown_priority_key_and_calendar(tmp_path, contract_data):
    contract_data["sla"]["P5"] = {"response": "1h", "resolution": "2h"}
    contract_data["sla"]["P1"]["calendar"] = "always"
    message = _error(tmp_path, contract_data)
    assert "sla.P5" in message
    assert "sla.P1.calendar: 'always' is not allowed" in message


def test_misspelt_field_is_reported(tmp_path, contract_data):
    contract_data["monthly_fees"] = 10
    assert "monthly_fees: unknown field" in _error(tmp_path, contract_data)


def test_missing_required_field(tmp_path, contract_data):
    del contract_data["timezone"]
    assert "contracts/acme.yml: timezone: required field is missing" in _error(tmp_path, contract_data)


def test_unsafe_client_id_is_refused(contract_data):
    contract_data["client_id"] = "../x"
    with pytest.raises(ContractError, match=r"client_id: '\.\./x' is not a safe id"):
        parse_contract(contract_data, "x.yml")


def test_file_name_must_match_client_id(tmp_path, contract_data):
    path = write_contract(tmp_path, contract_data)
    moved = path.with_name("other.yml")
    path.rename(moved)
    with pytest.raises(ContractError, match="client_id: 'acme' does not match the file name"):
        load_contract(moved)


def test_unknown_holiday_country_and_subdivision(tmp_path, contract_data):
    contract_data["holidays"] = {"country": "XX"}
    assert "'XX' is not a country code" in _error(tmp_path, contract_data)
    contract_data["holidays"] = {"country": "US", "subdivision": "ZZ"}
    assert "'ZZ' is not a subdivision of US" in _error(tmp_path, contract_data)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "contracts" / "acme.yml"
    path.parent.mkdir()
    path.write_text("client_id: [unclosed\n")
    with pytest.raises(ContractError, match="acme.yml: not valid YAML"):
        load_contract(path)


def test_load_contracts_reports_every_bad_file(tmp_path, contract_data):
    write_contract(tmp_path, contract_data)
    bad = dict(contract_data, client_id="beta", timezone="Nowhere/Land")
    worse = dict(contract_data, client_id="gamma", monthly_fee=-1)
    write_contract(tmp_path, bad)
    write_contract(tmp_path, worse)
    with pytest.raises(ContractError) as info:
        load_contracts(tmp_path / "contracts")
    message = str(info.value)
    assert "beta.yml: timezone" in message and "gamma.yml: monthly_fee" in message


def test_one_client_in_two_files_is_an_error(tmp_path, contract_data):
    path = write_contract(tmp_path, contract_data)
    path.with_suffix(".yaml").write_text(path.read_text())
    with pytest.raises(ContractError) as info:
        load_contracts(tmp_path / "contracts")
    assert "acme.yml: client_id: 'acme' is also defined in" in str(info.value)
    assert "acme.yaml" in str(info.value)


def test_empty_contract_folder(tmp_path):
    (tmp_path / "contracts").mkdir()
    with pytest.raises(ContractError, match="no contract files"):
        load_contracts(tmp_path / "contracts")


def test_yaml_round_trip(tmp_path, contract_data):
    contract = load_contract(write_contract(tmp_path, contract_data))
    again = tmp_path / "again" / "acme.yml"
    again.parent.mkdir()
    again.write_text(contract_to_yaml(contract))
    assert load_contract(again) == contract


def test_yaml_round_trip_of_odd_durations(contract_data):
    contract_data["sla"]["P4"] = {"response": 500_001, "resolution": 90.25, "calendar": "24x7"}
    contract = parse_contract(contract_data)
    text = contract_to_yaml(contract)
    assert "response: 500001m" in text and "resolution: 90.25m" in text
    assert parse_contract(yaml.safe_load(text)) == contract


# ---------------------------------------------------------------- hostile contracts

BILLION_LAUGHS = """client_id: acme
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
name: *h
"""


def test_yaml_aliases_are_refused_before_anything_expands(tmp_path):
    path = tmp_path / "contracts" / "acme.yml"
    path.parent.mkdir()
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(ContractError) as info:
        load_contract(path)
    message = str(info.value)
    assert "acme.yml: not valid YAML (line 3: an alias (*a) repeats another part of the file; " \
           "aliases are not allowed, write the value out)" in message
    assert len(message) < 400


def test_every_echoed_value_is_capped(tmp_path, contract_data):
    contract_data["timezone"] = "Europe/" + "x" * 100_000
    contract_data["business_hours"]["mon"] = ["y" * 100_000, "18:00"]
    contract_data["credits"] = [{"metric": "z" * 1000 + str(i), "below": 1, "credit_pct": 1} for i in range(300)]
    message = _error(tmp_path, contract_data)
    assert "timezone: 'Europe/xxx" in message and "is not an IANA time zone" in message
    assert "… and " in message and "more problems" in message
    assert len(message) < 12_000  # 20 problems at most, each value cut to ~200 characters
    assert max(len(line) for line in message.splitlines()) < 600


@pytest.mark.parametrize("value", [1e12, "400d", 525_601])
def test_targets_are_at_most_365_days(tmp_path, contract_data, value):
    contract_data["sla"]["P1"]["resolution"] = value
    assert "sla.P1.resolution: " in _error(tmp_path, contract_data)
    assert "is longer than 365 days, the longest target allowed" in _error(tmp_path, contract_data)


def test_a_business_hours_target_must_fall_due_within_a_year(tmp_path, contract_data):
    contract_data["business_hours"] = {"mon": ["08:00", "08:30"]}
    contract_data["sla"]["P4"]["resolution"] = "72h"
    assert ("sla.P4.resolution: 72h of business hours takes 1,008 days to fall due with 30m of business "
            "hours a week; a target must fall due within 365 days") in _error(tmp_path, contract_data)


@pytest.mark.parametrize("zone", ["right/UTC", "posix/Europe/London", "localtime", "Factory"])
def test_zones_polars_cannot_use_are_refused_at_load(tmp_path, contract_data, zone):
    contract_data["timezone"] = zone
    assert f"timezone: '{zone}' is not an IANA time zone like Europe/London" in _error(tmp_path, contract_data)


@pytest.mark.parametrize("client_id", ["portfolio", "Portfolio", "site", "assets"])
def test_reserved_client_ids_are_refused(tmp_path, contract_data, client_id):
    contract_data["client_id"] = client_id
    assert f"client_id: Value error, '{client_id}' is reserved" not in _error(tmp_path, contract_data)
    assert f"client_id: '{client_id}' is reserved" in _error(tmp_path, contract_data)


def test_survey_scale_may_be_left_to_the_data(tmp_path, contract_data):
    del contract_data["survey_scale"]
    assert load_contract(write_contract(tmp_path, contract_data)).survey_scale is None
