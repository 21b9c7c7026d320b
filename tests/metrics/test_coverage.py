"""A KPI the export cannot support is "not measured", with the reason: never computed from defaults."""

from __future__ import annotations

import polars as pl

from pipelines.core.contracts import parse_contract
from pipelines.metrics.stage import compute_metrics
from tests import metrics_fixtures as fx
from tests.conftest import ACME


def _october(result) -> dict:
    return result.client_kpis.filter(pl.col("month") == "2026-10").row(0, named=True)


def _coverage(result, kpi: str) -> dict:
    rows = result.client_kpi_coverage.filter((pl.col("month") == "2026-10") & (pl.col("kpi") == kpi))
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_an_export_without_source_reassignment_or_escalation_does_not_measure_fcr_or_proactive():
    tables = fx.tables()
    tables["tickets"] = tables["tickets"].with_columns(
        [pl.lit(None, dtype=tables["tickets"].schema[c]).alias(c)
         for c in ("source", "reassignment_count", "escalation_level", "provider_touches")])
    contracts = {"acme": parse_contract(ACME | {"credits": [{"metric": "fcr_pct", "below": 99, "credit_pct": 7}]})}
    result = compute_metrics(tables, contracts, "2026-10")
    october = _october(result)
    for kpi in ("fcr_pct", "fcr_ci_low", "fcr_ci_high", "proactive_pct", "escalation_pct", "reassignment_pct"):
        assert october[kpi] is None, kpi
    assert october["fcr_n"] == 2  # the count behind it stays: two tickets resolved in October
    fcr = _coverage(result, "fcr_pct")
    assert fcr["measured"] is False and fcr["coverage_pct"] == 0.0 and fcr["rows"] == 2
    assert fcr["reason"] == ("not in this export: no first-contact flag, and no reassignment, "
                             "escalation or provider-touch data")
    assert _coverage(result, "proactive_pct")["reason"] == "not in this export: no ticket source"
    assert october["service_credit_pct"] is None  # a rule on an unmeasured KPI owes nothing and says n/a
    assert october["response_sla_pct"] is not None  # what the export does carry is still measured


def test_the_source_systems_own_fcr_flag_is_enough():
    tables = fx.tables()
    tables["tickets"] = tables["tickets"].with_columns(
        pl.lit(None, dtype=pl.Int32).alias("reassignment_count"), pl.lit(True).alias("fcr"))
    result = compute_metrics(tables, fx.contracts(), "2026-10")
    assert _coverage(result, "fcr_pct")["measured"] is True and _october(result)["fcr_pct"] == 100.0


def test_partial_coverage_above_the_threshold_is_measured_and_stated():
    tables = fx.tables()
    more = pl.concat([tables["tickets"].filter(pl.col("ticket_id") == "B").with_columns(
        pl.lit(f"B{i}").alias("ticket_id")) for i in range(19)])
    tables["tickets"] = pl.concat([tables["tickets"], more.with_columns(
        pl.when(pl.col("ticket_id") == "B0").then(None).otherwise(pl.col("source")).alias("source"))])
    result = compute_metrics(tables, fx.contracts(), "2026-10")
    proactive = _coverage(result, "proactive_pct")
    assert proactive["measured"] is True and proactive["rows"] == 22 and proactive["covered"] == 21
    assert round(proactive["coverage_pct"], 1) == 95.5 and proactive["reason"] is None
    low = compute_metrics(tables, {"acme": parse_contract(ACME | {"quality": {"min_input_coverage": 0.99}})},
                          "2026-10")
    assert _coverage(low, "proactive_pct")["measured"] is False and _october(low)["proactive_pct"] is None


def test_waiting_on_customer_needs_pause_statuses_in_the_history():
    tables = fx.tables()
    tables["ticket_events"] = tables["ticket_events"].with_columns(
        pl.col("status").replace({"Waiting on Customer": "In Progress"}))
    result = compute_metrics(tables, fx.contracts(), "2026-10")
    waiting = _coverage(result, "waiting_on_customer_at_end")
    assert waiting["measured"] is False and "no waiting status" in waiting["reason"]
    assert _october(result)["waiting_on_customer_at_end"] is None
    assert _october(compute_metrics(fx.tables(), fx.contracts(), "2026-10"))["waiting_on_customer_at_end"] == 1


def test_a_table_not_given_makes_its_kpis_not_measured_with_the_reason():
    tables = fx.tables() | {"surveys": None, "outages": None}
    result = compute_metrics(tables, fx.contracts(), "2026-10")
    assert _coverage(result, "csat_pct")["reason"] == "not in this export: no surveys"
    assert _coverage(result, "uptime_pct")["reason"] == "not in this export: no monitoring outages"
