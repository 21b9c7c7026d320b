"""`servicereview metrics` end to end: outputs, columns, ranges and reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.config import SAMPLE_DATA
from pipelines.metrics.sla import TICKET_SLA_COLUMNS
from pipelines.metrics.stage import BY_PRIORITY_COLUMNS, CLIENT_KPI_COLUMNS, compute_metrics, default_period
from tests import metrics_fixtures as fx

ISSUE_KPI_COLUMNS = ["client_id", "month", "tickets_created", "tickets_resolved", "tickets_excluded", "open_at_end", "waiting_on_customer_at_end", "response_met", "response_breached", "response_sla_pct", "resolution_met", "resolution_breached", "resolution_sla_pct", "avg_response_minutes", "avg_in_progress_minutes", "avg_resolution_hours", "median_resolution_hours", "p90_resolution_hours", "fcr_pct", "reopen_pct", "escalation_pct", "reassignment_pct", "recurring_pct", "proactive_pct", "survey_responses", "survey_response_rate_pct", "csat_pct", "nps", "uptime_pct", "planned_maintenance_minutes", "hours_logged", "onsite_visits", "cost_per_ticket", "patch_compliance_pct", "service_credit_pct"]
ISSUE_SLA_COLUMNS = ["ticket_id", "client_id", "priority", "calendar", "created_at", "first_response_at", "in_progress_at", "resolved_at", "close_code", "response_minutes", "response_target_minutes", "response_due_at", "response_status", "in_progress_minutes", "resolution_minutes", "resolution_target_minutes", "resolution_due_at", "resolution_status", "paused_minutes", "calendar_resolution_minutes", "response_month", "resolution_month"]


def invoke(*args: str):
    return CliRunner().invoke(app, ["metrics", *args])


def check_outputs(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The checks the issue asks for, on any metrics output folder."""
    sla = pl.read_parquet(out / "ticket_sla.parquet")
    kpi = pl.read_parquet(out / "client_kpis.parquet")
    prio = pl.read_parquet(out / "client_kpis_by_priority.parquet")
    assert set(ISSUE_SLA_COLUMNS) <= set(sla.columns) and sla.columns == TICKET_SLA_COLUMNS
    assert set(ISSUE_KPI_COLUMNS) <= set(kpi.columns) and kpi.columns == CLIENT_KPI_COLUMNS
    assert prio.columns == BY_PRIORITY_COLUMNS
    assert sla["ticket_id"].is_unique().all()
    for frame in (kpi, prio):
        for column in [c for c in frame.columns if c.endswith("_pct") or "_ci_" in c]:
            values = frame[column].drop_nulls()
            assert values.is_empty() or (values.min() >= 0 and values.max() <= 100), column
    for target in ("response", "resolution"):
        status = sla[f"{target}_status"]
        assert status.is_in(["met", "breached", "pending", "excluded"]).all()  # exactly one each
        per_client = sla.group_by("client_id").agg(
            *[(pl.col(f"{target}_status") == s).sum().alias(s)
              for s in ("met", "breached", "pending", "excluded")], pl.len()
        )
        assert per_client.filter(
            pl.col("met") + pl.col("breached") + pl.col("pending") + pl.col("excluded") != pl.col("len")
        ).is_empty()
        # The report month's counts are ticket_sla's (earlier months are each as of their own
        # end: tests/metrics/test_as_of.py).
        period = kpi["month"].max()
        in_period = {"met": pl.col(f"{target}_month") == period,
                     "breached": pl.col(f"{target}_month") == period,
                     "pending": pl.lit(True), "excluded": pl.col("excluded_month") == period}
        for s, month in in_period.items():
            from_sla = sla.filter((pl.col(f"{target}_status") == s) & month).group_by("client_id").len()
            joined = kpi.filter(pl.col("month") == period).join(from_sla, on="client_id", how="full",
                                                                 coalesce=True)
            assert (joined[f"{target}_{s}"].fill_null(0) == joined["len"].fill_null(0)).all(), (target, s)
    return sla, kpi


def test_metrics_on_a_crafted_clean_folder(tmp_path):
    clean = fx.write_clean(tmp_path / "clean")
    result = invoke("--data", str(clean), "--out", str(tmp_path / "m"), "--period", "2026-10")
    assert result.exit_code == 0, result.output
    assert "metrics for 2026-10" in result.output
    sla, kpi = check_outputs(tmp_path / "m")
    assert sla.height == 5 and kpi.height == 2
    summary = json.loads((tmp_path / "m" / "metrics_summary.json").read_text())
    assert summary["period"] == "2026-10" and summary["clients"] == ["acme"]
    assert summary["as_of"]["acme"] == "2026-11-01T04:00:00+00:00"
    assert summary["rows"]["ticket_sla"] == 5 and summary["tickets_after_period"] == 1
    uptime = pl.read_parquet(tmp_path / "m" / "client_uptime.parquet")
    assert uptime.columns == ["client_id", "month", "service", "unplanned_minutes", "planned_minutes",
                              "uptime_pct"]


def test_tables_not_given_are_reported_and_their_kpis_are_null(tmp_path):
    clean = fx.write_clean(tmp_path / "clean", skip=("surveys", "outages"))
    result = invoke("--data", str(clean), "--out", str(tmp_path / "m"), "--period", "2026-10")
    assert result.exit_code == 0, result.output
    assert "not given (their KPIs are n/a): surveys, outages" in result.output
    kpi = pl.read_parquet(tmp_path / "m" / "client_kpis.parquet")
    assert kpi["csat_pct"].is_null().all() and kpi["uptime_pct"].is_null().all()


def test_bad_period_and_missing_folder_fail_with_a_message(tmp_path):
    result = invoke("--data", str(tmp_path), "--out", str(tmp_path / "m"), "--period", "2026-13")
    assert result.exit_code == 2 and "--period: period '2026-13' is not a month like 2026-09" in result.output
    result = invoke("--data", str(tmp_path), "--out", str(tmp_path / "m"))
    assert result.exit_code == 2 and "no tickets.parquet (run `servicereview clean` first)" in result.output


def test_a_period_that_has_not_begun_is_refused_at_once(tmp_path):
    # the calendars would otherwise be built out to year 2999 (the command ran for minutes)
    clean = fx.write_clean(tmp_path / "clean")
    result = invoke("--data", str(clean), "--out", str(tmp_path / "m"), "--period", "2999-01")
    assert result.exit_code == 2
    assert "--period 2999-01 has not begun yet (today is " in result.output


def test_default_period_is_the_latest_month_the_data_covers_to_its_last_day():
    tables = fx.tables()  # latest activity: 2 Nov 2026, so November is partial
    contracts = fx.contracts()
    result = compute_metrics(tables, contracts)
    assert result.summary["period"] == "2026-10" and result.summary["period_complete"]
    partial = compute_metrics(tables, contracts, "2026-11")
    assert not partial.summary["period_complete"]
    months = dict(partial.client_kpis.select("month", "month_complete").iter_rows())
    assert months["2026-11"] is False and months["2026-10"] is True
    assert default_period(datetime(2026, 11, 30, 5, tzinfo=UTC), contracts) == "2026-11"  # 30 Nov in NY
    assert default_period(datetime(2026, 11, 30, 3, tzinfo=UTC), contracts) == "2026-10"  # still 29 Nov
    stated = compute_metrics(tables, contracts, extracted_at=datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert stated.summary["period"] == "2026-11" and stated.summary["period_complete"]


def test_metrics_on_the_sample_data(tmp_path):
    from pipelines.clean.stage import clean_folder

    if (SAMPLE_DATA / "contracts").exists():
        raw = SAMPLE_DATA
    else:
        sample = pytest.importorskip("pipelines.ingest.sample.generator")
        raw = tmp_path / "raw"
        sample.write_sample(raw, clients=3, months=4, seed=7, end="2026-10", fmt="parquet", dirty=False)
    clean_folder(raw, tmp_path / "clean")
    result = invoke("--data", str(tmp_path / "clean"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    sla, kpi = check_outputs(tmp_path / "m")
    assert sla.height > 100 and kpi["tickets_created"].sum() == sla.height


def test_a_ticket_without_a_target_fails_naming_the_ticket_and_contract(tmp_path):
    from pipelines.core import io

    clean = fx.write_clean(tmp_path / "clean")
    tickets = io.read_table(clean, "tickets")
    tickets = tickets.with_columns(pl.when(pl.col("ticket_id") == "C").then(pl.lit("P9"))
                                   .otherwise(pl.col("priority")).alias("priority"))
    io.write_table(tickets, clean / "tickets.parquet")
    result = invoke("--data", str(clean), "--out", str(tmp_path / "m"), "--period", "2026-10")
    assert result.exit_code == 2
    assert "ticket C: priority 'P9' has no target in contracts/acme.yml (sla)" in result.output
