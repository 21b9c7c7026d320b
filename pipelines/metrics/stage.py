"""The metrics stage: clean tables + contracts -> ticket_sla and client KPI tables.

`compute_metrics` is pure (frames in, frames out); `metrics_folder` reads a clean
folder and writes the outputs through `pipelines.core.io`:

- `ticket_sla.parquet`: one row per ticket (pipelines.metrics.sla.TICKET_SLA_COLUMNS)
- `client_kpis.parquet`: one row per client and month (CLIENT_KPI_COLUMNS)
- `client_kpis_by_priority.parquet`: SLA counts and percentages per client, month, priority
- `client_uptime.parquet`: outage minutes and uptime per client, month and service
- `metrics_summary.json`: period, as-of instants, clients, row counts, timings
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from pipelines.core import io
from pipelines.core.contracts import Contract, load_contracts
from pipelines.core.periods import month_index, month_label
from pipelines.metrics import kpis, service_kpis, sla

OPTIONAL_TABLES = ("ticket_events", "surveys", "outages", "time_entries", "devices")
OUTPUTS = ("ticket_sla", "client_kpis", "client_kpis_by_priority", "client_uptime")
SERVICE_COLUMNS = ["uptime_pct", "planned_maintenance_minutes", "hours_logged", "onsite_visits",
                   "cost_per_ticket", "patch_compliance_pct", "patch_compliance_n",
                   "service_credit_pct"]
CLIENT_KPI_COLUMNS = ["client_id", "month",
                      *[c for m in kpis.MEASURES for c in m.columns], *SERVICE_COLUMNS]
BY_PRIORITY_COLUMNS = ["client_id", "month", "priority",
                       *[c for m in kpis.MEASURES if m.by_priority for c in m.columns]]
# Only what the metrics use, so the big tables cost less memory (others: every column).
READ_COLUMNS = {
    "tickets": ["ticket_id", "client_id", "created_at", "priority", "first_response_at",
                "resolved_at", "close_code", "source", "category", "asset", "requester",
                "escalation_level", "reopen_count", "reassignment_count", "provider_touches", "fcr"],
    "ticket_events": ["client_id", "ticket_id", "at", "status"],
    "surveys": ["ticket_id", "client_id", "responded_at", "score"],
}


@dataclass
class MetricsResult:
    """The metrics stage's outputs (see OUTPUTS) and its run summary."""

    ticket_sla: pl.DataFrame
    client_kpis: pl.DataFrame
    client_kpis_by_priority: pl.DataFrame
    client_uptime: pl.DataFrame
    summary: dict = field(default_factory=dict)


def default_period(tickets: pl.DataFrame, today: date | None = None) -> str:
    """The latest complete month in the data: the month of the latest created_at (UTC) if
    today is after its end, else the month before it."""
    if tickets.is_empty():
        raise io.InputError("tickets: no tickets, so there is no period to report on (give --period)")
    latest = tickets["created_at"].max()
    last = latest.year * 12 + latest.month - 1
    today = today or datetime.now(UTC).date()
    return month_label(last if today.year * 12 + today.month - 1 > last else last - 1)


def compute_metrics(tables: dict[str, pl.DataFrame | None], contracts: dict[str, Contract],
                    period: str | None = None, *, today: date | None = None) -> MetricsResult:
    """Every metrics output from clean tables (None = table not given) and contracts."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    tickets = tables["tickets"]
    period = period or default_period(tickets, today)
    month_index(period)  # validates the spelling
    first_month = _first_month(tickets, contracts, period)
    scope = sla.make_scope(contracts, first_month, period)
    ticket_sla = sla.evaluate(tickets, tables.get("ticket_events"), contracts, scope)
    lap("ticket_sla")
    facts = kpis.build_facts(ticket_sla, tables, contracts, scope)
    lap("facts")
    grid = kpis.month_grid(ticket_sla, scope)
    client = kpis.client_kpis(facts, grid)
    priority = kpis.by_priority(facts, kpis.month_grid(ticket_sla, scope, contracts))
    lap("ticket_kpis")
    uptime = service_kpis.service_uptime(tables.get("outages"), contracts, scope, grid)
    client = _attach(client, service_kpis.client_uptime(uptime, contracts),
                     {"uptime_pct": pl.Float64, "planned_maintenance_minutes": pl.Float64})
    client = _attach(client, service_kpis.effort(tables.get("time_entries"), scope),
                     {"hours_logged": pl.Float64, "onsite_visits": pl.Int64},
                     zero=("hours_logged", "onsite_visits"))
    client = _attach(client, service_kpis.patch_compliance(tables.get("devices"), contracts, scope),
                     {"patch_compliance_pct": pl.Float64, "patch_compliance_n": pl.Int64},
                     zero=("patch_compliance_n",))
    client = client.with_columns(cost_per_ticket=service_kpis.cost_per_ticket(contracts))
    client = service_kpis.service_credit(client, contracts)
    lap("service_kpis")
    if uptime is None:
        uptime = pl.DataFrame(schema={c: pl.Float64 if c not in ("client_id", "month", "service")
                                      else pl.String for c in service_kpis.UPTIME_COLUMNS})
    summary = {
        "period": period,
        "first_month": first_month,
        "as_of": {c: sla.stamp(scope.as_of[i:i + 1])[0].isoformat()
                  for i, c in enumerate(scope.clients)},
        "clients": sorted(ticket_sla["client_id"].unique().to_list()),
        "clients_without_tickets": sorted(set(contracts) - set(ticket_sla["client_id"].to_list())),
        "missing_tables": [t for t in OPTIONAL_TABLES if tables.get(t) is None],
        "tickets_in": tickets.height,
        "tickets_after_period": tickets.height - ticket_sla.height,
        "timings_s": timings,
    }
    result = MetricsResult(
        ticket_sla=ticket_sla,
        client_kpis=client.select(CLIENT_KPI_COLUMNS).sort("client_id", "month"),
        client_kpis_by_priority=priority.select(BY_PRIORITY_COLUMNS),
        client_uptime=uptime.select(service_kpis.UPTIME_COLUMNS).sort("client_id", "month", "service"),
        summary=summary,
    )
    summary["rows"] = {name: getattr(result, name).height for name in OUTPUTS}
    return result


def _first_month(tickets: pl.DataFrame, contracts: dict[str, Contract], period: str) -> str:
    """The earliest local month of any client's first ticket (at most the period)."""
    firsts = tickets.group_by("client_id").agg(pl.col("created_at").min())
    best = month_index(period)
    for client, created in firsts.iter_rows():
        if client in contracts:
            local = created.astimezone(contracts[client].zone)
            best = min(best, local.year * 12 + local.month - 1)
    return month_label(best)


def _attach(client: pl.DataFrame, frame: pl.DataFrame | None, columns: dict[str, pl.DataType],
            zero: tuple[str, ...] = ()) -> pl.DataFrame:
    """Left-join a (client_id, month) frame's columns with a fixed dtype (whether or not the
    table was given); a month without a row gets 0 in `zero`; None (table not given) -> null."""
    if frame is None:
        return client.with_columns([pl.lit(None, dtype).alias(c) for c, dtype in columns.items()])
    out = client.join(frame.select("client_id", "month", *columns), on=["client_id", "month"],
                      how="left", maintain_order="left")
    return out.with_columns([pl.col(c).cast(dtype).fill_null(0) if c in zero else pl.col(c).cast(dtype)
                             for c, dtype in columns.items()])


def metrics_folder(clean_dir: Path, out_dir: Path, period: str | None = None, *,
                   today: date | None = None) -> MetricsResult:
    """Read a clean folder (tables + contracts/), compute, write the outputs to out_dir."""
    started = time.perf_counter()
    clean_dir, out_dir = Path(clean_dir), Path(out_dir)
    tables = io.read_clean(clean_dir, columns=READ_COLUMNS)
    contracts = load_contracts(clean_dir / "contracts")
    read_s = time.perf_counter() - started
    result = compute_metrics(tables, contracts, period, today=today)
    written = time.perf_counter()
    for name in OUTPUTS:
        io.write_table(getattr(result, name), out_dir / f"{name}.parquet")
    result.summary["timings_s"] = {"read": round(read_s, 3), **result.summary["timings_s"],
                                   "write": round(time.perf_counter() - written, 3),
                                   "total": round(time.perf_counter() - started, 3)}
    io.write_json(result.summary, out_dir / "metrics_summary.json")
    return result
