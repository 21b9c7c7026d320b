"""The data-quality gate: every check fails on a crafted frame, naming column, count and ids.

Great Expectations is imported once per session; each scenario below is one
`validate_client` run shared by the parametrised assertions (module-scoped).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.core.contracts import parse_contract
from pipelines.core.schemas import TABLES
from pipelines.validate.derived import monthly_volume
from pipelines.validate.gate import validate_client
from pipelines.validate.suites import CHECKS, VOLUME_TABLE
from tests.conftest import ACME

NOW = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """A frame with the table's clean schema (absent columns null)."""
    schema = TABLES[table].columns
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def contract(**quality):
    data = json.loads(json.dumps(ACME))
    if quality:
        data["quality"] = quality
    return parse_contract(data)


# ---------------------------------------------------------------- a healthy client


def good_rows() -> dict[str, list[dict]]:
    """Four months x 10 tickets, with a consistent history, surveys, outages, time, devices."""
    tickets, events, surveys, entries = [], [], [], []
    priorities = ["P2", "P3", "P4", "P3", "P2", "P3", "P4", "P3", "P3", "P4"]
    sources = ["email", "phone", "portal", "monitoring"]
    for i in range(40):
        tid = f"T{i + 1:03d}"
        created = ts(f"2026-{6 + i // 10:02d}-{i % 10 + 2:02d}T14:00")
        is_open = i >= 37
        t = {
            "ticket_id": tid, "client_id": "acme", "created_at": created,
            "priority": "P1" if i in (0, 20) else priorities[i % 10], "priority_raw": "x",
            "status": "In Progress" if is_open else "Closed", "source": sources[i % 4],
            "first_response_at": created + 0.5 * H,
            "resolved_at": None if is_open else created + 4 * H,
            "closed_at": None if is_open else created + 24 * H,
            "close_code": None if is_open else "resolved",
            "reopen_count": 0, "reassignment_count": 0, "escalation_level": 1, "provider_touches": 1,
        }
        tickets.append(t)
        if i < 10 or is_open:
            events += [
                {"ticket_id": tid, "client_id": "acme", "at": created, "status": "New"},
                {"ticket_id": tid, "client_id": "acme", "at": created + 0.5 * H, "status": "In Progress"},
            ]
            if not is_open:
                events += [
                    {"ticket_id": tid, "client_id": "acme", "at": t["resolved_at"], "status": "Resolved"},
                    {"ticket_id": tid, "client_id": "acme", "at": t["closed_at"], "status": "Closed"},
                ]
        if i < 8:
            surveys.append({"ticket_id": tid, "client_id": "acme", "responded_at": created + 6 * H,
                            "rating": "5", "score": 5.0, "scale": "5-point", "sentiment": "positive"})
        if i < 10:
            entries.append({"client_id": "acme", "started_at": created + H, "minutes": 45.0,
                            "ticket_id": tid, "engineer": "Ana", "work_type": "remote"})
    entries.append({"client_id": "acme", "started_at": ts("2026-07-15T15:00"), "minutes": 120.0,
                    "engineer": "Ben", "work_type": "onsite"})
    outages = [
        {"client_id": "acme", "service": "email", "started_at": ts("2026-07-03T10:00"),
         "ended_at": ts("2026-07-03T11:00"), "planned": False},
        {"client_id": "acme", "service": "internet", "started_at": ts("2026-08-10T22:00"),
         "ended_at": ts("2026-08-10T23:30"), "planned": True},
    ]
    devices = [
        {"client_id": "acme", "device_id": f"D{n}", "as_of": ts("2026-10-31T00:00"),
         "last_patched_at": ts("2026-10-15T03:00"), "patch_status": "ok"}
        for n in range(1, 6)
    ]
    return {"tickets": tickets, "ticket_events": events, "surveys": surveys, "outages": outages,
            "time_entries": entries, "devices": devices}


def tables_of(rows: dict[str, list[dict]]) -> dict[str, pl.DataFrame]:
    return {name: frame(name, r) for name, r in rows.items()}


def by_check(gate) -> dict[str, dict]:
    return {r["check"]: r for r in gate.results}


@pytest.fixture(scope="module")
def good():
    return validate_client(tables_of(good_rows()), contract(), now=NOW)


def test_a_healthy_client_passes_every_check_without_warnings(good):
    assert good.publishable
    assert good.counts == {"passed": len(good.results), "warned": 0, "failed": 0}
    checked = {r["check"] for r in good.results}
    assert checked == {c.name for checks in CHECKS.values() for c in checks}
    assert good.tables["ticket_volume"] == {"status": "checked", "rows": 4}
    assert good.tables["schema"]["rows"] == sum(len(spec.columns) for spec in TABLES.values())


def test_result_json_is_plain_json_with_the_documented_fields(good):
    data = json.loads(json.dumps(good.to_json()))  # no default=str needed
    assert set(data) >= {"client_id", "generated_at", "publishable", "counts", "results"}
    assert set(data["results"][0]) >= {
        "table", "expectation", "column", "severity", "success", "observed_value",
        "unexpected_count", "unexpected_percent", "example_ids", "explain"}


# ---------------------------------------------------------------- one broken client


def broken_rows() -> dict[str, list[dict]]:
    """The healthy client plus one faulty row (or pair) per check, each with its own id."""
    rows = good_rows()
    base = rows["tickets"][5]  # a closed P3 ticket from June

    def ticket(tid, **changes):
        rows["tickets"].append({**base, "ticket_id": tid, **changes})

    c = base["created_at"]
    ticket(None)  # required.ticket_id -> "row 41"
    ticket("T-NOCLIENT", client_id=None)
    ticket("T-NOCREATED", created_at=None)
    ticket("T-NOPRIO", priority=None)
    ticket("T-OTHER", client_id="zenith")
    ticket("T-FUTURE-C", created_at=ts("2027-01-01T00:00"), first_response_at=None,
           resolved_at=None, closed_at=None)
    ticket("T-FUTURE-F", first_response_at=ts("2027-01-02T00:00"), resolved_at=None, closed_at=None)
    ticket("T-FUTURE-R", resolved_at=ts("2027-01-03T00:00"), closed_at=None)
    ticket("T-FUTURE-X", closed_at=ts("2027-01-04T00:00"))
    ticket("T-DUP")
    ticket("T-DUP", status="Resolved")
    ticket("T-P7", priority="P7")
    ticket("T-FROZEN", status="Frozen")
    ticket("T-BOOM", close_code="exploded")
    ticket("T-PIGEON", source="carrier pigeon")
    ticket("T-EARLY-F", first_response_at=c - H)
    ticket("T-EARLY-R", first_response_at=c + 2 * H, resolved_at=c + H)
    ticket("T-BACKWARD", first_response_at=None, resolved_at=c - H, closed_at=None)
    ticket("T-EARLY-X", closed_at=c + 2 * H)  # resolved at +4h
    ticket("T-EARLY-XC", resolved_at=None, closed_at=c - H)
    for column in ("reopen_count", "reassignment_count", "escalation_level", "provider_touches"):
        ticket(f"T-NEG-{column}", **{column: -1})

    t2, t3, t4 = rows["tickets"][1], rows["tickets"][2], rows["tickets"][3]
    ev = rows["ticket_events"]
    ev += [
        {"ticket_id": None, "client_id": "acme", "at": t2["created_at"], "status": "New"},
        {"ticket_id": "T005", "client_id": "acme", "at": None, "status": "New"},
        {"ticket_id": "T006", "client_id": "acme", "at": rows["tickets"][5]["created_at"], "status": None},
        {"ticket_id": "T007", "client_id": "zenith", "at": rows["tickets"][6]["created_at"], "status": "New"},
        {"ticket_id": "T038", "client_id": "acme", "at": ts("2027-02-01T00:00"), "status": "In Progress"},
        {"ticket_id": "T008", "client_id": "acme", "at": rows["tickets"][7]["created_at"], "status": "Frozen"},
        {"ticket_id": "T002", "client_id": "acme", "at": t2["created_at"] - H, "status": "New"},
        {"ticket_id": "T003", "client_id": "acme", "at": t3["closed_at"] + 24 * H, "status": "Closed"},
        # resolved first, then back to In Progress although never reopened
        {"ticket_id": "T004", "client_id": "acme", "at": t4["resolved_at"] + H, "status": "In Progress"},
    ]
    sv = rows["surveys"]
    resolved = {t["ticket_id"]: t["resolved_at"] for t in rows["tickets"]}

    def survey(tid, **changes):
        when = resolved.get(tid) or ts("2026-10-01T00:00")
        sv.append({**sv[0], "ticket_id": tid, "responded_at": when + 2 * H, **changes})

    survey(None)
    survey("T009", responded_at=None)
    survey("T010", rating=None)
    survey("T011", client_id="zenith")
    survey("T012", responded_at=ts("2027-01-01T00:00"))
    survey("T002")  # a second answer for T002
    survey("T013", scale="0-10")
    survey("T014", rating="9", score=9.0)
    survey("T015", responded_at=resolved["T015"] - H)
    survey("T039")  # an open ticket
    survey("T-NOTHING")  # no such ticket
    out = rows["outages"]
    first = out[0]
    out += [
        {**first, "client_id": None, "service": "wifi"},
        {**first, "service": None},
        {**first, "service": "phones", "started_at": None},
        {**first, "service": "vpn", "ended_at": None},
        {**first, "service": "crm", "client_id": "zenith"},
        {**first, "service": "erp", "started_at": ts("1999-12-31T00:00")},
        {**first, "service": "voip", "ended_at": ts("2027-01-01T00:00")},
        {**first, "service": "backup", "ended_at": first["started_at"] - H},
        {**first, "service": "fax"},
    ]
    te = rows["time_entries"]
    entry = te[0]
    te += [
        {**entry, "ticket_id": "T016", "client_id": None},
        {**entry, "ticket_id": "T017", "started_at": None},
        {**entry, "ticket_id": "T018", "minutes": None},
        {**entry, "ticket_id": "T019", "client_id": "zenith"},
        {**entry, "ticket_id": "T020", "started_at": ts("2027-03-01T00:00")},
        {**entry, "ticket_id": "T021", "minutes": 800.0},
        {**entry, "ticket_id": "T022", "work_type": "teleport"},
        {**entry, "ticket_id": "T-NOPE"},
    ]
    dv = rows["devices"]
    device = dv[0]
    dv += [
        {**device, "device_id": "D-NOCLIENT", "client_id": None},
        {**device, "device_id": None, "as_of": ts("2026-09-30T00:00"), "last_patched_at": ts("2026-09-15T03:00")},
        {**device, "device_id": "D-OTHER", "client_id": "zenith"},
        {**device, "device_id": "D-FUTURE", "as_of": ts("2027-01-01T00:00")},
        {**device, "device_id": "D-OLD", "last_patched_at": ts("1999-01-01T00:00")},
        {**device, "device_id": "D1", "patch_status": "pending"},  # D1 twice in one snapshot
        {**device, "device_id": "D-LATER", "last_patched_at": device["as_of"] + 24 * H},
    ]
    return rows


# check -> (status, column, unexpected_count, example ids)
BROKEN = {
    "tickets.required.ticket_id": ("failed", "ticket_id", 1, ["row 41"]),
    "tickets.required.client_id": ("failed", "client_id", 1, ["T-NOCLIENT"]),
    "tickets.required.created_at": ("failed", "created_at", 1, ["T-NOCREATED"]),
    "tickets.required.priority": ("failed", "priority", 1, ["T-NOPRIO"]),
    "tickets.client": ("failed", "client_id", 1, ["T-OTHER"]),
    "tickets.time_range.created_at": ("failed", "created_at", 1, ["T-FUTURE-C"]),
    "tickets.time_range.first_response_at": ("failed", "first_response_at", 1, ["T-FUTURE-F"]),
    "tickets.time_range.resolved_at": ("failed", "resolved_at", 1, ["T-FUTURE-R"]),
    "tickets.time_range.closed_at": ("failed", "closed_at", 1, ["T-FUTURE-X"]),
    "tickets.unique_id": ("failed", "ticket_id", 2, ["T-DUP"]),
    "tickets.priority_in_contract": ("failed", "priority", 1, ["T-P7"]),
    "tickets.status_known": ("warned", "status", 1, ["T-FROZEN"]),
    "tickets.close_code_known": ("failed", "close_code", 1, ["T-BOOM"]),
    "tickets.source_known": ("warned", "source", 1, ["T-PIGEON"]),
    "tickets.first_response_after_created": ("failed", "first_response_at", 1, ["T-EARLY-F"]),
    "tickets.resolved_after_first_response": ("failed", "resolved_at", 1, ["T-EARLY-R"]),
    "tickets.resolved_after_created": ("failed", "resolved_at", 1, ["T-BACKWARD"]),
    "tickets.closed_after_resolved": ("failed", "closed_at", 1, ["T-EARLY-X"]),
    "tickets.closed_after_created": ("failed", "closed_at", 1, ["T-EARLY-XC"]),
    **{f"tickets.not_negative.{c}": ("failed", c, 1, [f"T-NEG-{c}"])
       for c in ("reopen_count", "reassignment_count", "escalation_level", "provider_touches")},
    "ticket_events.required.ticket_id": ("failed", "ticket_id", 1, ["row 47"]),
    "ticket_events.required.at": ("failed", "at", 1, ["T005"]),
    "ticket_events.required.status": ("failed", "status", 1, ["T006"]),
    "ticket_events.client": ("failed", "client_id", 1, ["T007"]),
    "ticket_events.time_range.at": ("failed", "at", 1, ["T038"]),
    "ticket_events.status_known": ("warned", "status", 1, ["T008"]),
    "ticket_history.starts_after_created": ("failed", "at", 1, ["T002"]),
    "ticket_history.ends_before_closed": ("failed", "at", 1, ["T003"]),
    "ticket_history.in_time_order": ("failed", "at", 1, ["T004"]),
    "surveys.required.ticket_id": ("failed", "ticket_id", 1, ["row 9"]),
    "surveys.required.responded_at": ("failed", "responded_at", 1, ["T009"]),
    "surveys.required.rating": ("failed", "rating", 1, ["T010"]),
    "surveys.client": ("failed", "client_id", 1, ["T011"]),
    "surveys.time_range.responded_at": ("failed", "responded_at", 1, ["T012"]),
    "surveys.unique_ticket": ("failed", "ticket_id", 2, ["T002"]),
    "surveys.scale": ("failed", "scale", 1, ["T013"]),
    "surveys.rating_in_scale": ("failed", "rating", 1, ["T014"]),
    "surveys.after_resolution": ("failed", "responded_at", 1, ["T015"]),
    "surveys.ticket_resolved": ("warned", "ticket_id", 3, ["row 9", "T039", "T-NOTHING"]),
    "outages.required.client_id": ("failed", "client_id", 1, ["wifi at 2026-07-03 10:00 UTC"]),
    "outages.required.service": ("failed", "service", 1, ["? at 2026-07-03 10:00 UTC"]),
    "outages.required.started_at": ("failed", "started_at", 1, ["phones at ?"]),
    "outages.required.ended_at": ("failed", "ended_at", 1, ["vpn at 2026-07-03 10:00 UTC"]),
    "outages.client": ("failed", "client_id", 1, ["crm at 2026-07-03 10:00 UTC"]),
    "outages.time_range.started_at": ("failed", "started_at", 1, ["erp at 1999-12-31 00:00 UTC"]),
    "outages.time_range.ended_at": ("failed", "ended_at", 1, ["voip at 2026-07-03 10:00 UTC"]),
    "outages.ended_after_started": ("failed", "ended_at", 1, ["backup at 2026-07-03 10:00 UTC"]),
    "outages.service_in_contract": ("warned", "service", 8, None),
    "time_entries.required.client_id": ("failed", "client_id", 1, ["T016"]),
    "time_entries.required.started_at": ("failed", "started_at", 1, ["T017"]),
    "time_entries.required.minutes": ("failed", "minutes", 1, ["T018"]),
    "time_entries.client": ("failed", "client_id", 1, ["T019"]),
    "time_entries.time_range.started_at": ("failed", "started_at", 1, ["T020"]),
    "time_entries.minutes_plausible": ("warned", "minutes", 1, ["T021"]),
    "time_entries.work_type_known": ("warned", "work_type", 1, ["T022"]),
    "time_entries.ticket_known": ("warned", "ticket_id", 1, ["T-NOPE"]),
    "devices.required.client_id": ("failed", "client_id", 1, ["D-NOCLIENT"]),
    "devices.required.device_id": ("failed", "device_id", 1, ["row 7"]),
    "devices.client": ("failed", "client_id", 1, ["D-OTHER"]),
    "devices.time_range.as_of": ("failed", "as_of", 1, ["D-FUTURE"]),
    "devices.time_range.last_patched_at": ("failed", "last_patched_at", 1, ["D-OLD"]),
    "devices.unique_device": ("failed", "device_id", 2, ["D1"]),
    "devices.patched_before_snapshot": ("failed", "last_patched_at", 1, ["D-LATER"]),
}


@pytest.fixture(scope="module")
def broken():
    return validate_client(tables_of(broken_rows()), contract(), now=NOW)


@pytest.mark.parametrize("check", sorted(BROKEN))
def test_each_check_fails_naming_column_count_and_examples(broken, check):
    status, column, count, ids = BROKEN[check]
    r = by_check(broken)[check]
    assert (r["status"], r["column"], r["unexpected_count"]) == (status, column, count)
    assert r["severity"] == ("error" if status == "failed" else "warning")
    assert r["success"] is False
    if ids is not None:
        assert r["example_ids"] == ids
    else:
        assert len(r["example_ids"]) == 5
    assert r["explain"]


def test_a_broken_client_is_not_publishable(broken):
    assert not broken.publishable
    failed = {r["check"] for r in broken.failures}
    assert failed >= {c for c, v in BROKEN.items() if v[0] == "failed"}


# ---------------------------------------------------------------- schema problems


@pytest.fixture(scope="module")
def mistyped():
    """Every column of every table with a type other than its clean type."""
    wrong = {pl.String: pl.lit(1, pl.Int32), pl.Int32: pl.lit(1.5), pl.Int64: pl.lit(1.5), pl.Float64: pl.lit("1"),
             pl.Boolean: pl.lit("yes")}
    tables = {}
    for name, f in tables_of(good_rows()).items():
        tables[name] = f.with_columns(
            (pl.col(c).dt.to_string("%Y-%m-%dT%H:%M") if isinstance(t, pl.Datetime) else wrong[t]).alias(c)
            for c, t in f.schema.items()
        )
    return validate_client(tables, contract(), now=NOW)


def test_wrong_types_fail_naming_each_column_and_the_count(mistyped):
    r = by_check(mistyped)["schema.types"]
    n_columns = sum(len(spec.columns) for spec in TABLES.values())
    assert (r["status"], r["table"], r["unexpected_count"]) == ("failed", "schema", n_columns)
    assert r["example_ids"] == ["tickets.ticket_id", "tickets.client_id", "tickets.created_at",
                                "tickets.priority", "tickets.priority_raw"]
    assert r["observed_value"][:3] == ["Int32 / String", "String / Datetime(time_unit='us', time_zone='UTC')",
                                       "Float64 / Int32"]
    assert not mistyped.publishable


def test_a_naive_timestamp_is_a_wrong_type():
    tables = tables_of(good_rows())
    tables["outages"] = tables["outages"].with_columns(pl.col("ended_at").dt.replace_time_zone(None))
    r = by_check(validate_client(tables, contract(), now=NOW))["schema.types"]
    assert (r["status"], r["unexpected_count"], r["example_ids"]) == ("failed", 1, ["outages.ended_at"])


@pytest.fixture(scope="module")
def missing_columns():
    dropped = {"tickets": "status", "ticket_events": "actor", "surveys": "comment",
               "outages": "planned", "time_entries": "engineer", "devices": "patch_status"}
    tables = {n: f.drop(dropped[n]) for n, f in tables_of(good_rows()).items()}
    return validate_client(tables, contract(), now=NOW)


def test_missing_columns_fail_naming_each_column(missing_columns):
    r = by_check(missing_columns)["schema.columns"]
    assert (r["status"], r["unexpected_count"]) == ("failed", 6)
    assert r["example_ids"] == ["tickets.status", "ticket_events.actor", "surveys.comment",
                                "outages.planned", "time_entries.engineer"]
    assert by_check(missing_columns)["schema.types"]["status"] == "passed"  # absent is not mistyped


# ---------------------------------------------------------------- plausibility and tolerance


@pytest.fixture(scope="module")
def implausible():
    """Half the tickets without a response, a third P1, August four times the usual volume,
    and one response before creation on a 5% tolerance."""
    rows = good_rows()
    for t in rows["tickets"][:20]:
        t["first_response_at"] = None
    for t in rows["tickets"][1:14]:
        t["priority"] = "P1"
    for n in range(30):
        rows["tickets"].append({**rows["tickets"][25], "ticket_id": f"V{n:02d}"})
    rows["tickets"][30]["first_response_at"] = rows["tickets"][30]["created_at"] - H
    return validate_client(tables_of(rows), contract(error_tolerance=0.05), now=NOW)


def test_a_high_share_of_tickets_without_first_response_is_a_warning(implausible):
    r = by_check(implausible)["tickets.no_response_share"]
    assert (r["status"], r["column"], r["unexpected_count"], r["tolerated_percent"]) == (
        "warned", "first_response_at", 20, 25.0)
    assert r["example_ids"] == ["T001", "T002", "T003", "T004", "T005"]


def test_a_high_share_of_p1_tickets_is_a_warning(implausible):
    r = by_check(implausible)["tickets.p1_share"]
    assert (r["status"], r["column"], r["unexpected_count"]) == ("warned", "priority", 15)
    assert r["example_ids"] == ["T001", "T002", "T003", "T004", "T005"]


def test_a_month_far_from_the_clients_median_is_a_warning(implausible):
    r = by_check(implausible)["tickets.monthly_volume"]
    assert (r["status"], r["table"], r["unexpected_count"]) == ("warned", VOLUME_TABLE, 1)
    assert r["example_ids"] == ["2026-08"]
    assert r["observed_value"] == [4.0]


def test_an_impossible_ordering_within_tolerance_is_only_a_warning(implausible):
    r = by_check(implausible)["tickets.first_response_after_created"]
    assert (r["status"], r["success"], r["unexpected_count"], r["example_ids"]) == (
        "warned", True, 1, ["T031"])
    assert implausible.publishable


# ---------------------------------------------------------------- missing and empty tables


@pytest.fixture(scope="module")
def only_empty_tickets():
    return validate_client({"tickets": frame("tickets", [])}, contract(), now=NOW)


def test_optional_tables_not_provided_are_reported_not_failed(only_empty_tickets):
    gate = only_empty_tickets
    assert gate.tables["surveys"] == {"status": "not provided", "rows": None}
    assert not any(r["table"] == "surveys" for r in gate.results)
    assert gate.publishable


def test_no_tickets_at_all_is_a_warning(only_empty_tickets):
    r = by_check(only_empty_tickets)["tickets.has_rows"]
    assert (r["status"], r["observed_value"]) == ("warned", 0)


def test_tickets_are_required():
    with pytest.raises(ValueError, match="tickets table is required"):
        validate_client({"tickets": None}, contract(), now=NOW)


def test_every_check_is_covered_by_a_failing_case():
    named = set(BROKEN) | {"schema.columns", "schema.types"} | {
        "tickets.no_response_share", "tickets.p1_share", "tickets.monthly_volume", "tickets.has_rows"}
    assert {c.name for checks in CHECKS.values() for c in checks} == named


# ---------------------------------------------------------------- monthly volume (pure)


def test_monthly_volume_counts_empty_months_and_leaves_out_the_current_month():
    created = [ts("2026-05-10T12:00")] * 4 + [ts("2026-07-10T12:00")] * 2 + [ts("2026-08-10T12:00")] * 4 \
        + [ts("2026-11-02T12:00")] * 9
    tickets = frame("tickets", [{"ticket_id": str(i), "created_at": c} for i, c in enumerate(created)])
    volume = monthly_volume(tickets, "America/New_York", NOW + 24 * H)
    assert volume["month"].to_list() == ["2026-05", "2026-06", "2026-07", "2026-08"]
    assert volume["tickets"].to_list() == [4, 0, 2, 4]
    assert volume["ratio_to_median"].to_list() == [4 / 3, 0.0, 2 / 3, 4 / 3]


def test_monthly_volume_needs_three_months():
    tickets = frame("tickets", [{"ticket_id": "1", "created_at": ts("2026-09-10T12:00")},
                                {"ticket_id": "2", "created_at": ts("2026-10-10T12:00")}])
    assert monthly_volume(tickets, "UTC", NOW).is_empty()


def test_status_history_is_judged_per_ticket(broken):
    """Tolerance is a share of tickets: one broken history spoils one ticket's figures."""
    r = by_check(broken)["ticket_history.starts_after_created"]
    assert r["element_count"] == 13  # tickets with status changes, not the 55 changes
    assert broken.tables["ticket_history"] == {"status": "checked", "rows": 13}


def test_a_suite_that_cannot_run_fails_its_checks_and_the_rest_still_run(monkeypatch):
    from pipelines.validate import gate as validate

    gate = validate._gate()
    real = gate.run

    def run(table, frame, params, client_id):
        if table == "surveys":
            raise RuntimeError("disk on fire")
        return real(table, frame, params, client_id)

    monkeypatch.setattr(gate, "run", run)
    result = validate_client(tables_of(good_rows()), contract(), now=NOW)
    surveys = [r for r in result.results if r["table"] == "surveys"]
    assert surveys and all(r["observed_value"] == "could not be checked: RuntimeError: disk on fire"
                           for r in surveys)
    assert all(r["status"] == ("failed" if r["severity"] == "error" else "warned") for r in surveys)
    assert {r["expectation"] for r in surveys} >= {"expect_column_values_to_be_unique"}  # GX's names
    assert by_check(result)["outages.ended_after_started"]["status"] == "passed"
    assert not result.publishable


def test_shares_are_of_the_rows_a_check_judged(broken):
    r = by_check(broken)["tickets.closed_after_resolved"]
    closed_and_resolved = sum(1 for t in broken_rows()["tickets"]
                              if t.get("closed_at") and t.get("resolved_at"))
    assert r["rows_checked"] == closed_and_resolved < r["element_count"]
    assert r["unexpected_percent"] == round(100 / closed_and_resolved, 4)


def test_expectation_names_are_the_gx_types(good):
    from pipelines.validate import gate as validate

    suites = validate._gate().context.suites
    types = {e.meta["check"]: e.expectation_type
             for table in CHECKS for e in suites.get(f"servicereview.{table}").expectations}
    assert {r["check"]: r["expectation"] for r in good.results} == types


def test_an_ordering_finding_names_both_sides(broken):
    sides = {r["check"]: (r["column"], r["compared_to"]) for r in broken.results}
    assert sides["tickets.closed_after_resolved"] == ("closed_at", "resolved_at")
    assert sides["ticket_history.starts_after_created"] == ("at", "ticket_created_at")
    assert sides["ticket_history.ends_before_closed"] == ("at", "ticket_closed_at")
    assert sides["devices.patched_before_snapshot"] == ("last_patched_at", "as_of")


def test_the_gx_import_is_counted_once_and_not_in_a_clients_time(monkeypatch, tmp_path):
    """A worker's first client pays for setting up GX; that goes to gx_seconds, not seconds."""
    from pipelines.validate import gate as validate

    monkeypatch.setattr(validate, "_GATE", None)  # a fresh worker process
    first = validate_client(tables_of(good_rows()), contract(), now=NOW)
    second = validate_client(tables_of(good_rows()), contract(), now=NOW)
    assert first.gx_seconds > 0 and second.gx_seconds == 0
    again = validate.GateResult.from_json(json.loads(json.dumps(first.to_json())))
    assert (again.gx_seconds, again.seconds) == (round(first.gx_seconds, 3), round(first.seconds, 3))
    validate.write_summary(tmp_path, {"a": first, "b": second}, NOW, not_provided=[], clean_dir=tmp_path)
    timings = json.loads((tmp_path / "summary.json").read_text())["timings"]
    assert timings["gx_import_seconds"] == round(first.gx_seconds, 3)
