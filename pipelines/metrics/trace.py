"""Traceability: the ticket ids behind any ticket-based KPI of a client and month.

It evaluates the same `Measure` declarations as `pipelines.metrics.kpis` on the same facts,
so the ids always reproduce the number in client_kpis: a count's ids number the
count; a percentage's numerator / denominator ids give its value and its `_n`.
"""

from __future__ import annotations

import polars as pl

from pipelines.core.contracts import Contract
from pipelines.metrics import kpis, sla


def traceable() -> list[str]:
    """The client_kpis columns that `ticket_ids` can explain."""
    return sorted(kpis.MEASURE_BY_COLUMN)


def _measure(kpi: str) -> kpis.Measure:
    if kpi in kpis.MEASURE_BY_COLUMN:
        return kpis.MEASURE_BY_COLUMN[kpi]
    for suffix in ("_n", "_ci_low", "_ci_high"):
        if kpi.endswith(suffix) and kpi.removesuffix(suffix) in kpis.MEASURE_BY_NAME:
            return kpis.MEASURE_BY_NAME[kpi.removesuffix(suffix)]
    for m in kpis.MEASURES:
        if m.n_name == kpi:
            return m
    raise KeyError(f"{kpi!r} is not a ticket-based KPI; traceable ones: {', '.join(traceable())}")


def client_facts(client_id: str, *, ticket_sla: pl.DataFrame, tables: dict[str, pl.DataFrame | None],
                 contracts: dict[str, Contract], period: str) -> kpis.Facts:
    """The facts of one client (as in the metrics run for `period`)."""
    if client_id not in contracts:
        raise KeyError(f"client {client_id!r} has no contract (expected contracts/{client_id}.yml)")
    mine = ticket_sla.filter(pl.col("client_id") == client_id)
    if mine.is_empty():
        raise KeyError(f"client {client_id!r} has no tickets in ticket_sla")
    own = {name: None if frame is None else frame.filter(pl.col("client_id") == client_id)
           for name, frame in tables.items()}
    scope = sla.make_scope({client_id: contracts[client_id]}, mine["created_month"].min(), period)
    return kpis.build_facts(None, own, {client_id: contracts[client_id]}, scope)


def ticket_ids(client_id: str, month: str, kpi: str, *, ticket_sla: pl.DataFrame,
               tables: dict[str, pl.DataFrame | None], contracts: dict[str, Contract],
               period: str, facts: kpis.Facts | None = None) -> dict[str, list[str]]:
    """The ticket ids behind `kpi` for a client and month.

    A count or an average -> {"tickets": [...]}; a percentage (or its `_n` / interval
    columns) -> {"numerator": [...], "denominator": [...]}. Survey KPIs list the surveyed
    tickets; `open_at_end` / `waiting_on_customer_at_end` the tickets in that state.
    Pass `facts` (from `client_facts`) to trace many KPIs without rebuilding them.
    """
    m = _measure(kpi)
    facts = facts or client_facts(client_id, ticket_sla=ticket_sla, tables=tables,
                                  contracts=contracts, period=period)
    frame = getattr(facts, m.source)
    if frame is None or m.needs in facts.missing:
        raise KeyError(f"{kpi!r} is n/a: its table ({m.needs or m.source}) was not given")
    rows = frame.filter((pl.col("client_id") == client_id) & (pl.col(m.month) == month)
                        & m.where.fill_null(False))
    if m.kind in ("mean", "median", "p90"):
        rows = rows.filter(m.value.is_not_null())
    if m.kind == "pct":
        return {"numerator": _ids(rows.filter(m.hit.fill_null(False))), "denominator": _ids(rows)}
    return {"tickets": _ids(rows)}


def _ids(rows: pl.DataFrame) -> list[str]:
    return sorted(rows["ticket_id"].to_list())
