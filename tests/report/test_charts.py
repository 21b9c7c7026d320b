from __future__ import annotations

import polars as pl
import pytest

from pipelines.report import charts

MONTHS = ["2026-08", "2026-09", "2026-10"]


def _kpis(**overrides) -> pl.DataFrame:
    base = {
        "month": MONTHS, "response_sla_pct": [96.0, 90.0, None], "response_sla_n": [25, 20, 0],
        "response_met": [24, 18, 0], "response_breached": [1, 2, 0],
        "resolution_sla_pct": [88.0, 92.0, 95.0], "resolution_sla_n": [25, 25, 20],
        "resolution_met": [22, 23, 19], "resolution_breached": [3, 2, 1],
        "tickets_created": [30, 28, 22], "tickets_resolved": [29, 27, 20], "open_at_end": [3, 4, 6],
        "waiting_on_customer_at_end": [1, 0, 2], "proactive_pct": [20.0, 25.0, 30.0], "fcr_pct": [70.0, 65.0, None],
        "escalation_pct": [10.0, 5.0, 7.0], "reopen_pct": [3.0, 2.0, 0.0], "csat_pct": [90.0, 80.0, None],
        "csat_n": [10, 5, 0], "nps": [40.0, 20.0, None], "nps_n": [10, 5, 0],
    }
    return pl.DataFrame(base | overrides)


def _by_priority() -> pl.DataFrame:
    return pl.DataFrame({
        "month": ["2026-10", "2026-10"], "priority": ["P1", "P3"],
        "response_sla_pct": [100.0, None], "response_sla_n": [2, 0], "response_met": [2, 0],
        "response_breached": [0, 0], "resolution_sla_pct": [50.0, 90.0], "resolution_sla_n": [2, 10],
        "resolution_met": [1, 9], "resolution_breached": [1, 1]})


def test_sla_frame_drops_months_without_a_denominator():
    frame = charts.sla_frame(_kpis(), _by_priority())
    all_response = frame.filter((pl.col("priority") == "All") & (pl.col("target") == "Response"))
    assert all_response["month"].to_list() == ["2026-08", "2026-09"]  # 2026-10 has n=0: no point at 0 or 100
    assert frame.filter(pl.col("priority") == "P3")["target"].to_list() == ["Resolution"]


def test_sla_trend_has_tooltips_targets_and_a_priority_selector():
    spec = charts.sla_trend(_kpis(), _by_priority(), {"response_sla_pct": 95, "resolution_sla_pct": 90}).to_dict()
    lines, rules = spec["layer"]
    param = spec["params"][0]
    assert param["name"] == "priority" and param["bind"]["options"] == charts.PRIORITY_CHOICES
    assert {t["field"] for t in lines["encoding"]["tooltip"]} >= {"month", "pct", "n", "met", "breached"}
    assert lines["transform"] == [{"filter": "(datum.priority === priority)"}]
    assert sorted(d["goal"] for d in spec["datasets"][rules["data"]["name"]]) == [90, 95]


def test_svg_is_offline_and_every_mark_has_a_hover_title():
    svg = charts.to_svg(charts.volume_trend(_kpis()))
    assert svg.startswith("<svg") and "http" not in svg.replace("http://www.w3.org", "")
    assert svg.count("<title>") >= 12  # 4 measures x 3 months of points
    assert "<title>2026-10 Open at month end: 6</title>" in svg


def test_mimebundle_gives_jupyterlab_vega_lite_v5_and_an_svg():
    bundle = charts.mimebundle(charts.csat_trend(_kpis(), 90, nps=True))
    assert set(bundle) == {charts.VEGALITE_MIME, "image/svg+xml", "text/plain"}
    assert bundle[charts.VEGALITE_MIME]["$schema"].endswith("/v5.json")
    assert bundle["text/plain"] == "<chart: Customer satisfaction by month>"


def test_resolution_time_frame_matches_averages_over_resolved_tickets():
    sla = pl.DataFrame({
        "resolution_status": ["met", "breached", "pending", "met", "excluded"],
        "resolution_minutes": [60.0, 180.0, None, None, 30.0],
        "resolved_month": ["2026-10", "2026-10", None, "2026-10", "2026-10"],
        "priority": ["P3", "P3", "P3", "P2", "P3"]})
    frame = charts.resolution_time_frame(sla).filter(pl.col("priority") == "All").row(0, named=True)
    assert frame["average"] == 2.0 and frame["n"] == 2


def test_charts_refuse_unaggregated_data():
    with pytest.raises(ValueError, match="aggregate in Polars first"):
        charts.volume_trend(pl.concat([_kpis()] * 2000))
