"""A month as it stood at its end: later events never change it (issue 12).

Crafted cases on one New York client (ACME: P2 1 h / 8 h, P3 4 h / 24 h, 08:00-18:00 Mon-Thu,
08:00-17:00 Fri), then the invariant as a property over generated samples.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.core.contracts import parse_contract
from pipelines.core.schemas import TABLES
from pipelines.metrics import methodology
from pipelines.metrics.stage import compute_metrics
from tests import as_of_fixtures as asof
from tests.conftest import ACME
from tests.metrics_fixtures import ny

CONTRACTS = {"acme": parse_contract(ACME)}


def _frame(rows: list[dict], table: str) -> pl.DataFrame:
    schema = dict(TABLES[table].columns)
    for row in rows:  # columns beyond the canonical ones (e.g. a priority on events)
        schema.update({k: pl.String for k in row if k not in schema})
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def run(tickets: list[dict], events: list[tuple], period: str, **extra) -> object:
    """compute_metrics for acme on crafted tickets and (ticket, at, status[, priority]) events."""
    base = {"client_id": "acme", "requester": "r1", "category": "printer", "reopen_count": 0,
            "reassignment_count": 0, "escalation_level": 1, "provider_touches": 1}
    rows = [{"client_id": "acme", "ticket_id": e[0], "at": e[1], "status": e[2],
             **({"priority": e[3]} if len(e) > 3 else {})} for e in events]
    tables = {"tickets": _frame([base | t for t in tickets], "tickets"),
              "ticket_events": _frame(rows, "ticket_events") if rows else None, **extra}
    return compute_metrics(tables, CONTRACTS, period)


def sla_row(result, ticket_id: str) -> dict:
    return result.ticket_sla.filter(pl.col("ticket_id") == ticket_id).row(0, named=True)


def month(result, label: str) -> dict:
    return result.client_kpis.filter(pl.col("month") == label).row(0, named=True)


# ---------------------------------------------------------------- 1. later close codes

MERGED = {"ticket_id": "M", "created_at": ny(2026, 10, 20, 10), "priority": "P2",
          "resolved_at": ny(2026, 11, 5, 9), "closed_at": ny(2026, 11, 5, 9), "close_code": "merged"}


def test_a_merge_after_the_month_does_not_erase_its_breaches():
    # Created Tue 20 Oct 10:00, never answered, merged 5 Nov: on 31 Oct it was open, its 1 h
    # response (due 11:00) and 8 h resolution (due 18:00) both breached.
    october = run([MERGED], [], "2026-10")
    row = sla_row(october, "M")
    assert (row["response_status"], row["resolution_status"]) == ("breached", "breached")
    assert row["close_code"] is None and row["resolved_at"] is None  # not known on 31 Oct
    oct_ = month(october, "2026-10")
    assert (oct_["response_breached"], oct_["resolution_breached"], oct_["tickets_excluded"]) == (1, 1, 0)
    assert oct_["resolution_sla_pct"] == 0.0


def test_after_the_merge_the_ticket_is_excluded_but_october_keeps_its_breach():
    november = run([MERGED], [], "2026-11")
    nov, oct_ = month(november, "2026-11"), month(november, "2026-10")
    assert (oct_["response_breached"], oct_["resolution_breached"], oct_["tickets_excluded"]) == (1, 1, 0)
    assert (nov["tickets_excluded"], nov["response_excluded"], nov["resolution_breached"]) == (1, 1, 0)
    row = sla_row(november, "M")
    assert (row["response_status"], row["resolution_status"]) == ("excluded", "excluded")
    assert row["excluded_month"] == "2026-11"


# ---------------------------------------------------------------- 2. later reopens

REOPENED = {"ticket_id": "R", "created_at": ny(2026, 10, 28, 9), "priority": "P2",
            "first_response_at": ny(2026, 10, 28, 9, 10), "resolved_at": ny(2026, 11, 4, 10),
            "close_code": "resolved", "reopen_count": 1}
REOPENED_HISTORY = [("R", ny(2026, 10, 28, 9), "New"), ("R", ny(2026, 10, 28, 9, 10), "In Progress"),
                    ("R", ny(2026, 10, 28, 10), "Resolved"), ("R", ny(2026, 11, 4, 9), "In Progress"),
                    ("R", ny(2026, 11, 4, 10), "Resolved")]  # 3 Nov is Election Day, a NY holiday


def test_a_reopen_after_the_month_does_not_undo_its_resolution():
    october = run([REOPENED], REOPENED_HISTORY, "2026-10")
    row = sla_row(october, "R")
    assert row["resolved_at"] == ny(2026, 10, 28, 10)
    assert (row["resolution_status"], row["resolution_minutes"]) == ("met", 60.0)
    assert (row["resolution_month"], row["resolved_month"], row["history_reopens"]) == ("2026-10", "2026-10", 0)
    oct_ = month(october, "2026-10")
    assert (oct_["tickets_resolved"], oct_["resolution_met"], oct_["open_at_end"]) == (1, 1, 0)
    assert (oct_["reopen_pct"], oct_["fcr_pct"]) == (0.0, 100.0)  # not reopened as of 31 Oct


def test_the_next_month_counts_the_final_resolution_once_more_with_the_reopen():
    november = run([REOPENED], REOPENED_HISTORY, "2026-11")
    row = sla_row(november, "R")
    assert (row["resolution_status"], row["resolution_minutes"]) == ("met", 120.0)
    assert (row["resolution_month"], row["resolved_month"]) == ("2026-11", "2026-11")
    nov, oct_ = month(november, "2026-11"), month(november, "2026-10")
    assert (nov["tickets_resolved"], nov["resolution_met"], nov["reopen_pct"]) == (1, 1, 100.0)
    assert (oct_["tickets_resolved"], oct_["resolution_met"], oct_["reopen_pct"]) == (1, 1, 0.0)
    assert oct_["avg_resolution_hours"] == 1.0 and nov["avg_resolution_hours"] == 2.0


def test_a_reopen_and_resolution_inside_one_month_count_once():
    ticket = REOPENED | {"created_at": ny(2026, 10, 5, 9), "first_response_at": ny(2026, 10, 5, 9, 10),
                         "resolved_at": ny(2026, 10, 7, 10)}
    events = [("R", ny(2026, 10, 5, 9), "New"), ("R", ny(2026, 10, 5, 10), "Resolved"),
              ("R", ny(2026, 10, 7, 9), "In Progress"), ("R", ny(2026, 10, 7, 10), "Resolved")]
    oct_ = month(run([ticket], events, "2026-10"), "2026-10")
    assert (oct_["tickets_resolved"], oct_["resolution_met"], oct_["reopen_pct"]) == (1, 1, 100.0)


# ---------------------------------------------------------------- 4. response at the first resolution


def test_without_a_first_response_the_response_ends_at_the_first_resolution():
    # Resolved after 20 min, reopened the next day, resolved again: responded in 20 min.
    ticket = {"ticket_id": "F", "created_at": ny(2026, 10, 14, 9), "priority": "P2",
              "resolved_at": ny(2026, 10, 15, 10), "close_code": "resolved", "reopen_count": 1}
    events = [("F", ny(2026, 10, 14, 9), "New"), ("F", ny(2026, 10, 14, 9, 20), "Resolved"),
              ("F", ny(2026, 10, 15, 9), "In Progress"), ("F", ny(2026, 10, 15, 10), "Resolved")]
    row = sla_row(run([ticket], events, "2026-10"), "F")
    assert (row["response_minutes"], row["response_status"]) == (20.0, "met")
    assert row["responded_month"] == "2026-10"


# ---------------------------------------------------------------- 5. work started at the resolution


def test_work_started_at_the_instant_of_resolution_counts_as_zero_minutes():
    at = ny(2026, 10, 14, 9)
    ticket = {"ticket_id": "Z", "created_at": at, "priority": "P2", "first_response_at": at,
              "resolved_at": at, "close_code": "resolved"}
    events = [("Z", at, "New"), ("Z", at, "In Progress"), ("Z", at, "Resolved")]
    result = run([ticket], events, "2026-10")
    row = sla_row(result, "Z")
    assert (row["in_progress_at"], row["in_progress_minutes"], row["in_progress_month"]) == (at, 0.0, "2026-10")
    oct_ = month(result, "2026-10")
    assert (oct_["avg_in_progress_minutes"], oct_["avg_in_progress_n"]) == (0.0, 1)


# ---------------------------------------------------------------- 6. the ambiguous rules


def test_a_ticket_without_an_asset_recurs_against_any_earlier_ticket_of_its_requester():
    earlier = {"ticket_id": "A", "created_at": ny(2026, 10, 1, 9), "priority": "P3", "asset": "PC1",
               "first_response_at": ny(2026, 10, 1, 9, 5), "resolved_at": ny(2026, 10, 1, 11),
               "close_code": "resolved"}
    later = {"ticket_id": "B", "created_at": ny(2026, 10, 5, 9), "priority": "P3"}  # no asset
    other = {"ticket_id": "C", "created_at": ny(2026, 10, 6, 9), "priority": "P3", "requester": "r2"}
    device = {"ticket_id": "D", "created_at": ny(2026, 10, 7, 9), "priority": "P3", "asset": "PC7"}
    facts = run([earlier, later, other, device], [], "2026-10").client_kpis
    oct_ = facts.row(0, named=True)
    # B repeats A (same requester and category); C is someone else; D is matched on its own device.
    assert (oct_["recurring_pct"], oct_["recurring_n"]) == (25.0, 4)


def test_a_priority_change_applies_from_creation_as_it_stood_at_the_month_end():
    # Logged Medium (P3: 4 h response), raised to High (P2: 1 h) at 11:00; answered 10:30.
    ticket = {"ticket_id": "P", "created_at": ny(2026, 10, 14, 9), "priority": "P2",
              "first_response_at": ny(2026, 10, 14, 10, 30), "resolved_at": ny(2026, 10, 15, 12),
              "close_code": "resolved"}
    events = [("P", ny(2026, 10, 14, 9), "New", "P3"), ("P", ny(2026, 10, 14, 11), "In Progress", "P2"),
              ("P", ny(2026, 10, 15, 12), "Resolved")]
    row = sla_row(run([ticket], events, "2026-10"), "P")
    assert (row["priority"], row["response_target_minutes"], row["response_status"]) == ("P2", 60.0, "breached")
    # Raised only on 3 Nov: October judges it as the P3 it was (met in 90 of 240 minutes).
    later = [events[0], ("P", ny(2026, 10, 15, 12), "Resolved"), ("P", ny(2026, 11, 3, 9), "Resolved", "P2")]
    row = sla_row(run([ticket], later, "2026-10"), "P")
    assert (row["priority"], row["response_target_minutes"], row["response_status"]) == ("P3", 240.0, "met")


@pytest.mark.parametrize("day, closing, minutes", [
    ((2026, 11, 1), "01:30", 90.0),  # clocks back 02:00 -> 01:00: the first 01:30
    ((2026, 3, 8), "02:30", 120.0),  # clocks forward 02:00 -> 03:00: 02:30 is the jump
], ids=["repeated-hour", "skipped-hour"])
def test_a_closing_time_inside_a_dst_change(day, closing, minutes):
    contract = parse_contract(ACME | {"business_hours": {"sun": ["00:00", closing]},
                                      "holidays": {"country": None, "extra": []}})
    ticket = {"ticket_id": "N", "client_id": "acme", "created_at": ny(*day, 0), "priority": "P3",
              "first_response_at": ny(*day, 0), "resolved_at": ny(*day, 6), "close_code": "resolved"}
    period = f"{day[0]}-{day[1]:02d}"
    out = compute_metrics({"tickets": _frame([ticket], "tickets")}, {"acme": contract}, period)
    assert sla_row(out, "N")["resolution_minutes"] == minutes


def test_the_methodology_states_each_rule_with_worked_examples():
    text = " ".join(methodology.render().split())
    for phrase in ("closing time", "retroactive", "file order", "first resolution",
                   "with or without a device", "at the instant it was resolved",
                   "Worked example (merge)", "Worked example (reopen)"):
        assert phrase in text, phrase


# ---------------------------------------------------------------- the invariant


@pytest.fixture(scope="module", params=[1, 2, 3], ids=lambda s: f"seed{s}")
def later(request):
    """A generated sample (Sep-Nov 2026) with November reopens, merges and priority changes
    appended, and the export as it stood at the end of each earlier month."""
    tables, contracts = asof.sample_tables(request.param)
    cut = asof.month_end(contracts, "2026-10")
    full, changed = asof.append_later(tables, contracts, cut, request.param)
    assert all(changed.values()), changed  # every kind of later event is present
    views = {m: asof.exported_at(full, contracts, asof.month_end(contracts, m))
             for m in ("2026-09", "2026-10")}
    return full, views, contracts, changed


def test_october_is_unchanged_by_novembers_events_and_close_codes(later):
    full, views, contracts, _ = later
    published = compute_metrics(views["2026-10"], contracts, "2026-10")
    again = compute_metrics(full, contracts, "2026-10")
    for name in ("ticket_sla", "client_kpis", "client_kpis_by_priority", "client_uptime"):
        assert_frame_equal(getattr(again, name), getattr(published, name))


def test_a_published_month_reads_the_same_in_every_later_run(later):
    full, views, contracts, changed = later
    november = compute_metrics(full, contracts, "2026-11")
    for label, view in views.items():
        published = compute_metrics(view, contracts, label)
        for name in ("client_kpis", "client_kpis_by_priority"):
            want = getattr(published, name).filter(pl.col("month") == label)
            assert_frame_equal(getattr(november, name).filter(pl.col("month") == label), want)
    merged = november.ticket_sla.join(pl.DataFrame(changed["merged"], schema=["client_id", "ticket_id"],
                                                   orient="row"), on=["client_id", "ticket_id"])
    assert (merged["response_status"] == "excluded").all()  # and November knows they were merged
