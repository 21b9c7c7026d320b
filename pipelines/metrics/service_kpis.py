"""Client x month KPIs that do not come from tickets: uptime, effort, patching, cost, credits.

Each function takes a clean table (None when the table was not given: its KPIs are
then null, "n/a", never 0) and returns a frame keyed by client_id and month.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.core.business_time import DAY, MINUTE
from pipelines.core.contracts import Contract
from pipelines.metrics.sla import NEVER, Scope, epoch_us

UPTIME_COLUMNS = ["client_id", "month", "service", "unplanned_minutes", "planned_minutes",
                  "uptime_pct"]


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def _minus(intervals: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for start, end in intervals:
        pieces = [(start, end)]
        for h0, h1 in holes:
            pieces = [p for a, b in pieces for p in ((a, min(b, h0)), (max(a, h1), b)) if p[1] > p[0]]
        out += pieces
    return out


def _overlap(intervals: list[tuple[int, int]], start: int, end: int) -> int:
    return sum(max(0, min(b, end) - max(a, start)) for a, b in intervals)


def service_uptime(outages: pl.DataFrame | None, contracts: dict[str, Contract], scope: Scope,
                   grid: pl.DataFrame) -> pl.DataFrame | None:
    """client_uptime: per client, month and service, unplanned and planned outage minutes
    clipped to the month and uptime_pct = 100 * (1 - unplanned / (month - planned)).

    Overlapping outages of a service are merged first (a minute is down once); unplanned
    time inside planned maintenance counts as planned. Services are the contract's listed
    ones plus any other service in the outages table for that client.
    """
    if outages is None:
        return None
    months = scope.months
    by_client = {c: g for (c,), g in outages.partition_by("client_id", as_dict=True).items()} \
        if outages.height else {}
    rows = []
    for client, months_frame in grid.group_by("client_id", maintain_order=True):
        client = client[0]
        cidx = scope.clients.index(client)
        positions = [months.labels.index(m) for m in months_frame["month"]]
        frame = by_client.get(client)
        listed = list(contracts[client].uptime.services)
        names = {s.casefold(): s for s in listed}
        records: dict[str, dict[bool, list]] = {s: {True: [], False: []} for s in listed}
        if frame is not None:
            for service, start, end, planned in frame.select(
                "service", pl.col("started_at").dt.epoch("us"), pl.col("ended_at").dt.epoch("us"),
                pl.col("planned").fill_null(False),
            ).iter_rows():
                name = names.setdefault(service.casefold(), service)
                records.setdefault(name, {True: [], False: []})[planned].append((start, end))
        for service, parts in records.items():
            planned = _union(parts[True])
            unplanned = _minus(_union(parts[False]), planned)
            for pos in positions:
                start, end = int(months.bounds[cidx, pos]), int(months.bounds[cidx, pos + 1])
                p, u = _overlap(planned, start, end), _overlap(unplanned, start, end)
                base = end - start - p
                rows.append((client, months.label(pos), service, u / MINUTE, p / MINUTE,
                             100 * (1 - u / base) if base > 0 else None))
    schema = {"client_id": pl.String, "month": pl.String, "service": pl.String,
              "unplanned_minutes": pl.Float64, "planned_minutes": pl.Float64,
              "uptime_pct": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def client_uptime(uptime: pl.DataFrame | None, contracts: dict[str, Contract]) -> pl.DataFrame | None:
    """uptime_pct = the worst of the contract's listed services (all measured services when
    none are listed); planned_maintenance_minutes = their planned minutes summed."""
    if uptime is None:
        return None
    listed = pl.DataFrame([(c, s) for c, k in contracts.items() for s in k.uptime.services],
                          schema={"client_id": pl.String, "service": pl.String}, orient="row")
    has_list = listed.select("client_id").unique().with_columns(pl.lit(True).alias("__listed"))
    counted = (
        uptime.join(has_list, on="client_id", how="left")
        .join(listed.with_columns(pl.lit(True).alias("__in")), on=["client_id", "service"], how="left")
        .filter(pl.col("__in").fill_null(False) | pl.col("__listed").is_null())
    )
    return counted.group_by("client_id", "month").agg(
        pl.col("uptime_pct").min(), pl.col("planned_minutes").sum().alias("planned_maintenance_minutes")
    )


def effort(time_entries: pl.DataFrame | None, scope: Scope) -> pl.DataFrame | None:
    """hours_logged (all time entries started in the month) and onsite_visits (onsite entries)."""
    if time_entries is None:
        return None
    month = scope.month_of(time_entries["client_id"], epoch_us(time_entries["started_at"]))
    return (
        time_entries.with_columns(month=month).filter(pl.col("month").is_not_null())
        .group_by("client_id", "month")
        .agg(
            (pl.col("minutes").sum() / 60).alias("hours_logged"),
            (pl.col("work_type") == "onsite").sum().cast(pl.Int64).alias("onsite_visits"),
        )
    )


def patch_compliance(devices: pl.DataFrame | None, contracts: dict[str, Contract],
                     scope: Scope) -> pl.DataFrame | None:
    """Per month, each device's latest snapshot in it (a snapshot without as_of is taken as
    of the period end): patched within the contract's patch_window_days before as_of."""
    if devices is None:
        return None
    cidx = scope.client_index(devices["client_id"])
    ok = cidx >= 0
    d = devices.filter(pl.Series(ok))
    cidx = cidx[ok]
    as_of = epoch_us(d["as_of"])
    as_of = np.where(as_of == NEVER, scope.as_of[cidx] - 1, as_of)
    month = scope.month_of(d["client_id"], as_of)
    window = pl.DataFrame([(c, k.patch_window_days) for c, k in contracts.items()],
                          schema={"client_id": pl.String, "__days": pl.Int64}, orient="row")
    latest = (
        d.with_columns(month=month, __as_of=pl.Series(as_of))
        .filter(pl.col("month").is_not_null())
        .sort("__as_of")
        .group_by("client_id", "device_id", "month").last()
        .join(window, on="client_id", how="left")
        .with_columns(
            __ok=pl.col("last_patched_at").dt.epoch("us") >= pl.col("__as_of") - pl.col("__days") * DAY
        )
    )
    return latest.group_by("client_id", "month").agg(
        pl.col("__ok").fill_null(False).sum().alias("__hits"), pl.len().alias("patch_compliance_n")
    ).select(
        "client_id", "month",
        pl.when(pl.col("patch_compliance_n") > 0)
        .then(100 * pl.col("__hits") / pl.col("patch_compliance_n")).alias("patch_compliance_pct"),
        pl.col("patch_compliance_n").cast(pl.Int64),
    )


def cost_per_ticket(contracts: dict[str, Contract]) -> pl.Expr:
    """monthly_fee / tickets_resolved (null without resolved tickets or without a fee)."""
    fees = {c: k.monthly_fee for c, k in contracts.items() if k.monthly_fee > 0}
    fee = pl.col("client_id").replace_strict(fees, default=None, return_dtype=pl.Float64)
    return pl.when(pl.col("tickets_resolved") > 0).then(fee / pl.col("tickets_resolved"))


def service_credit(kpis: pl.DataFrame, contracts: dict[str, Contract]) -> pl.DataFrame:
    """kpis + service_credit_pct: the largest credit_pct among the contract's rules whose
    metric is measured and below the threshold; 0 when none applies; null when no rule's
    metric was measured (or there are no rules)."""
    rules = pl.DataFrame(
        [(c, r.metric, r.below, r.credit_pct) for c, k in contracts.items() for r in k.credits],
        schema={"client_id": pl.String, "metric": pl.String, "below": pl.Float64,
                "credit_pct": pl.Float64}, orient="row",
    )
    metrics = sorted(set(rules["metric"]))
    if not metrics:
        return kpis.with_columns(service_credit_pct=pl.lit(None, pl.Float64))
    value = pl.col("value")
    credit = (
        kpis.select("client_id", "month", *[pl.col(m).cast(pl.Float64) for m in metrics])
        .unpivot(index=["client_id", "month"], variable_name="metric", value_name="value")
        .join(rules, on=["client_id", "metric"], how="inner")
        .group_by("client_id", "month")
        .agg(
            pl.when(value.is_not_null().any())
            .then(pl.when(value < pl.col("below")).then(pl.col("credit_pct")).otherwise(0.0).max())
            .alias("service_credit_pct")
        )
    )
    return kpis.join(credit, on=["client_id", "month"], how="left", maintain_order="left")
