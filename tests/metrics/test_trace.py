"""Traceability: the ticket ids behind each KPI reproduce the number in client_kpis."""

from __future__ import annotations

import pytest

from pipelines.metrics import kpis, trace
from pipelines.metrics.stage import compute_metrics
from tests import metrics_fixtures as fx


@pytest.fixture(scope="module")
def run():
    tables, contracts = fx.tables(), fx.contracts()
    result = compute_metrics(tables, contracts, "2026-10")
    facts = trace.client_facts("acme", ticket_sla=result.ticket_sla, tables=tables,
                               contracts=contracts, period="2026-10")
    return result, tables, contracts, facts


def ids(run, month, kpi):
    result, tables, contracts, facts = run
    return trace.ticket_ids("acme", month, kpi, ticket_sla=result.ticket_sla, tables=tables,
                            contracts=contracts, period="2026-10", facts=facts)


@pytest.mark.parametrize("measure", [m for m in kpis.MEASURES if m.kind == "count"], ids=lambda m: m.name)
def test_count_ids_reproduce_every_month(run, measure):
    for row in run[0].client_kpis.iter_rows(named=True):
        assert len(ids(run, row["month"], measure.column)["tickets"]) == row[measure.column]


@pytest.mark.parametrize("measure", [m for m in kpis.MEASURES if m.kind == "pct"], ids=lambda m: m.name)
def test_percentage_ids_reproduce_value_and_n(run, measure):
    for row in run[0].client_kpis.iter_rows(named=True):
        got = ids(run, row["month"], measure.column)
        assert len(got["denominator"]) == row[f"{measure.name}_n"]
        assert set(got["numerator"]) <= set(got["denominator"])
        if got["denominator"]:
            assert 100 * len(got["numerator"]) / len(got["denominator"]) == pytest.approx(row[measure.column])
        else:
            assert row[measure.column] is None


def test_the_ids_are_the_right_tickets(run):
    assert ids(run, "2026-10", "response_breached") == {"tickets": ["B"]}
    assert ids(run, "2026-09", "response_breached") == {"tickets": ["E"]}  # breached while open
    assert ids(run, "2026-10", "recurring_pct") == {"numerator": ["B"], "denominator": ["B", "D"]}
    assert ids(run, "2026-10", "fcr_n") == {"numerator": [], "denominator": ["B", "E"]}
    assert ids(run, "2026-10", "avg_resolution_hours") == {"tickets": ["B", "E"]}
    assert ids(run, "2026-10", "waiting_on_customer_at_end") == {"tickets": ["D"]}


def test_works_without_precomputed_facts(run):
    result, tables, contracts, _ = run
    got = trace.ticket_ids("acme", "2026-10", "tickets_created", ticket_sla=result.ticket_sla,
                           tables=tables, contracts=contracts, period="2026-10")
    assert got == {"tickets": ["B", "C", "D"]}


def test_unknown_or_untraceable_kpis_are_refused_by_name(run):
    with pytest.raises(KeyError, match="'uptime_pct' is not a ticket-based KPI"):
        ids(run, "2026-10", "uptime_pct")
    result, tables, contracts, _ = run
    with pytest.raises(KeyError, match="client 'nobody' has no contract"):
        trace.ticket_ids("nobody", "2026-10", "tickets_created", ticket_sla=result.ticket_sla,
                         tables=tables, contracts=contracts, period="2026-10")
