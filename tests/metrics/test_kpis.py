"""Client x month KPIs on the crafted data set (tests/metrics_fixtures.py), worked by hand."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.core.contracts import parse_contract
from pipelines.metrics.kpis import wilson
from pipelines.metrics.stage import CLIENT_KPI_COLUMNS, compute_metrics
from tests import metrics_fixtures as fx
from tests.conftest import ACME


@pytest.fixture(scope="module")
def result():
    return compute_metrics(fx.tables(), fx.contracts(), "2026-10")


def month(result, label: str) -> dict:
    return result.client_kpis.filter(pl.col("month") == label).row(0, named=True)


def test_one_row_per_month_from_the_first_ticket_to_the_period(result):
    assert result.client_kpis.select("client_id", "month").rows() == [("acme", "2026-09"), ("acme", "2026-10")]
    assert "F" not in result.ticket_sla["ticket_id"].to_list()


def test_volumes(result):
    sep, oct_ = month(result, "2026-09"), month(result, "2026-10")
    assert (sep["tickets_created"], sep["tickets_resolved"], sep["tickets_excluded"]) == (2, 1, 0)
    assert (oct_["tickets_created"], oct_["tickets_resolved"], oct_["tickets_excluded"]) == (3, 2, 1)
    assert (sep["open_at_end"], sep["waiting_on_customer_at_end"]) == (1, 0)  # E, open overnight
    assert (oct_["open_at_end"], oct_["waiting_on_customer_at_end"]) == (1, 1)  # D, waiting


def test_sla_counts_and_percentages(result):
    sep, oct_ = month(result, "2026-09"), month(result, "2026-10")
    assert [sep[f"response_{s}"] for s in ("met", "breached", "pending", "excluded")] == [1, 1, 0, 0]
    assert [oct_[f"response_{s}"] for s in ("met", "breached", "pending", "excluded")] == [0, 1, 1, 1]
    assert [oct_[f"resolution_{s}"] for s in ("met", "breached", "pending", "excluded")] == [1, 1, 1, 1]
    assert (sep["response_sla_pct"], sep["response_sla_n"]) == (50.0, 2)
    assert (oct_["response_sla_pct"], oct_["response_sla_n"]) == (0.0, 1)
    assert (oct_["resolution_sla_pct"], oct_["resolution_sla_n"]) == (50.0, 2)
    low, high = (e.alias(n) for e, n in zip(wilson(pl.lit(1), pl.lit(2)), ("l", "h")))
    low, high = pl.select(low, high).row(0)
    assert (oct_["resolution_sla_ci_low"], oct_["resolution_sla_ci_high"]) == pytest.approx((low, high))
    assert 9.4 < low < 9.5 and 90.5 < high < 90.6  # Wilson 95% for 1 of 2


def test_time_averages_use_the_sla_clock(result):
    oct_ = month(result, "2026-10")
    assert oct_["avg_resolution_hours"] == pytest.approx(8.0)  # E 3 h and B 13 h
    assert oct_["median_resolution_hours"] == pytest.approx(8.0)
    assert oct_["p90_resolution_hours"] == pytest.approx(12.0)
    assert oct_["resolution_time_n"] == 2
    assert oct_["avg_in_progress_minutes"] == pytest.approx(105.0)  # B 120, E 60 + 30
    sep = month(result, "2026-09")
    assert (sep["avg_response_minutes"], sep["avg_response_n"]) == (30.0, 1)  # A; E answered in October
    # E 60 + 30 (answered Thu 1 Oct 08:30, its breach counts in September) and B 120.
    assert (oct_["avg_response_minutes"], oct_["avg_response_n"]) == (105.0, 2)


def test_rates_over_resolved_and_created_tickets(result):
    sep, oct_ = month(result, "2026-09"), month(result, "2026-10")
    assert (sep["fcr_pct"], sep["fcr_n"]) == (100.0, 1)
    assert (oct_["fcr_pct"], oct_["fcr_n"]) == (0.0, 2)  # B reopened, E escalated
    assert (oct_["reopen_pct"], oct_["escalation_pct"], oct_["reassignment_pct"]) == (50.0, 50.0, 0.0)
    assert (oct_["recurring_pct"], oct_["recurring_n"]) == (50.0, 2)  # B repeats A; C excluded
    assert oct_["proactive_pct"] == pytest.approx(100 / 3) and oct_["proactive_n"] == 3


def test_surveys(result):
    sep, oct_ = month(result, "2026-09"), month(result, "2026-10")
    assert (sep["survey_responses"], sep["csat_pct"]) == (1, 100.0)
    assert (oct_["survey_responses"], oct_["csat_pct"], oct_["csat_n"]) == (2, 50.0, 2)
    assert (oct_["survey_response_rate_pct"], oct_["survey_response_rate_n"]) == (100.0, 2)
    assert oct_["nps"] is None and oct_["nps_n"] == 0  # 5-point scale: no NPS


def test_uptime_effort_patching_cost_and_credit(result):
    sep, oct_ = month(result, "2026-09"), month(result, "2026-10")
    october_minutes = 31 * 24 * 60
    assert oct_["uptime_pct"] == pytest.approx(100 * (1 - 60 / october_minutes))
    assert oct_["planned_maintenance_minutes"] == 120
    assert sep["uptime_pct"] == 100.0
    assert (oct_["hours_logged"], oct_["onsite_visits"]) == (2.0, 1)
    assert (sep["hours_logged"], sep["onsite_visits"]) == (0.0, 0)
    assert (oct_["patch_compliance_pct"], oct_["patch_compliance_n"]) == (50.0, 2)
    assert sep["patch_compliance_pct"] is None
    assert (oct_["cost_per_ticket"], sep["cost_per_ticket"]) == (2100.0, 4200.0)
    assert (oct_["service_credit_pct"], sep["service_credit_pct"]) == (5.0, 0.0)
    email = result.client_uptime.filter((pl.col("month") == "2026-10") & (pl.col("service") == "email"))
    assert email.select("unplanned_minutes", "planned_minutes").row(0) == (60.0, 0.0)


def test_missing_optional_tables_give_null_not_zero(result):
    tables = fx.tables()
    for name in ("surveys", "outages", "time_entries", "devices", "ticket_events"):
        tables[name] = None
    without = compute_metrics(tables, fx.contracts(), "2026-10")
    assert without.client_kpis.schema == result.client_kpis.schema  # same column types either way
    oct_ = month(without, "2026-10")
    for column in ("survey_responses", "survey_response_rate_pct", "csat_pct", "nps", "uptime_pct",
                   "planned_maintenance_minutes", "hours_logged", "onsite_visits",
                   "patch_compliance_pct", "waiting_on_customer_at_end", "avg_in_progress_minutes",
                   "service_credit_pct"):
        assert oct_[column] is None, column
    assert oct_["open_at_end"] == 1  # still known from resolved_at


def test_by_priority_sums_to_the_client_counts(result):
    summed = result.client_kpis_by_priority.group_by("client_id", "month").agg(
        pl.col("response_met", "response_breached", "resolution_met", "resolution_breached").sum()
    ).sort("month")
    totals = result.client_kpis.select("client_id", "month", "response_met", "response_breached",
                                       "resolution_met", "resolution_breached")
    assert summed.rows() == totals.rows()
    assert set(result.client_kpis_by_priority["priority"]) == {"P1", "P2", "P3", "P4"}


@pytest.mark.parametrize("scale, scores, csat, nps", [
    # October's responses are E's and B's. 0-10: CSAT counts 9-10; NPS = % 9-10 - % 0-6.
    ("0-10", {"E": 9, "B": 7}, 50.0, 50.0),  # a promoter and a passive
    ("0-10", {"E": 10, "B": 6}, 50.0, 0.0),  # a promoter and a detractor
    ("3-point", {"E": 3, "B": 2}, 50.0, None),  # positive and neutral; NPS only on 0-10
])
def test_csat_and_nps_follow_the_contract_scale(scale, scores, csat, nps):
    tables = fx.tables()
    tables["surveys"] = tables["surveys"].with_columns(
        score=pl.col("ticket_id").replace_strict(scores | {"A": 1}, return_dtype=pl.Float64),
        scale=pl.lit(scale))
    contracts = {"acme": parse_contract(ACME | {"survey_scale": scale})}
    oct_ = month(compute_metrics(tables, contracts, "2026-10"), "2026-10")
    assert (oct_["csat_pct"], oct_["csat_n"]) == (csat, 2)
    assert (oct_["nps"], oct_["nps_n"]) == (nps, 2 if scale == "0-10" else 0)


@pytest.mark.parametrize("period, tickets", [("2026-08", None), ("2026-10", 0)],
                         ids=["period-before-every-ticket", "no-tickets-at-all"])
def test_no_tickets_in_scope_gives_empty_tables_not_a_crash(period, tickets):
    tables = fx.tables()
    if tickets == 0:  # e.g. a report run filtered to a client that has no tickets
        tables["tickets"] = tables["tickets"].clear()
    got = compute_metrics(tables, fx.contracts(), period)
    assert got.ticket_sla.is_empty() and got.client_kpis.is_empty()
    assert got.client_kpis.columns == CLIENT_KPI_COLUMNS
    assert got.summary["tickets_after_period"] == tables["tickets"].height
