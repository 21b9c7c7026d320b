from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core.contracts import parse_contract
from pipelines.report import portfolio
from pipelines.report.context import PortfolioContext


def _context(contract_data) -> PortfolioContext:
    contracts = {}
    for cid, name, fee in (("a", "Alpha", 1000), ("b", "Beta", 2000), ("c", "Gamma", 500)):
        contracts[cid] = parse_contract(dict(contract_data, client_id=cid, name=name, monthly_fee=fee))
    months = ["2026-07", "2026-08", "2026-09", "2026-10"]
    rows = []
    for cid, resp, res, csat, credit in (
        ("a", [96, 96, 96, 80.0], [95] * 4, [90, 90, 90, 60.0], 5.0),  # misses SLA and drops CSAT
        ("b", [99] * 4, [99] * 4, [95] * 4, 0.0),
        ("c", [99, 99, 99, 50.0], [99] * 4, [95] * 4, 0.0),  # would be worst, but only 3 tickets
    ):
        for i, month in enumerate(months):
            rows.append({"client_id": cid, "month": month, "tickets_created": 30,
                         "response_sla_pct": float(resp[i]), "response_sla_n": 3 if cid == "c" else 30,
                         "resolution_sla_pct": float(res[i]), "resolution_sla_n": 30,
                         "csat_pct": float(csat[i]), "csat_n": 10, "fcr_pct": 70.0, "uptime_pct": 100.0,
                         "service_credit_pct": credit if month == "2026-10" else 0.0})
    return PortfolioContext("2026-10", contracts, pl.DataFrame(rows), {}, Path("."))


def test_ranking_adds_sla_points_csat_drop_and_credit(contract_data):
    ranked = portfolio.ranking(_context(contract_data))
    top = ranked.row(0, named=True)
    assert top["client"] == "Alpha"
    assert top["sla_risk"] == 95 - 80  # response target 95 (resolution met)
    assert top["csat_risk"] == 90 - 60
    assert top["credit_risk"] == 5 and top["credit_owed"] == 50.0
    assert top["risk"] == 15 + 30 + 5


def test_thin_months_do_not_count_as_sla_misses(contract_data):
    ranked = {r["client_id"]: r for r in portfolio.ranking(_context(contract_data)).iter_rows(named=True)}
    assert ranked["c"]["sla_risk"] == 0


def test_summary_totals_credits_and_names_thin_clients(contract_data):
    text = str(portfolio.summary(_context(contract_data)))
    assert "Service credits owed this month: $50.00 in total." in text
    assert "Highest risk: Alpha (score 50.0" in text
    assert "Too few tickets to judge SLA this month: Gamma." in text
