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


_SCHEMA = {"client_id": pl.String, "month": pl.String, "service": pl.String,
           "unplanned_minutes": pl.Float64, "planned_minutes": pl.Float64, "uptime_pct": pl.Float64}


def _services(outages: pl.DataFrame, contracts: dict[str, Contract], clients: list[str]) -> pl.DataFrame:
    """(client_id, __fold, service, __target) per service of each client, in order: the contract's
    listed ones, then any other in its outages (spelled as first seen). Names compare case-folded;
    an outage counts for `__target`, the listed spelling of its folded name (the last listed)."""
    rows = []
    for client in clients:
        listed = list(dict.fromkeys(contracts[client].uptime.services))
        names = {s.casefold(): s for s in listed}
        rows += [(client, s.casefold(), s, names[s.casefold()] == s) for s in listed]
    schema = {"client_id": pl.String, "__fold": pl.String, "service": pl.String, "__target": pl.Boolean}
    listed = pl.DataFrame(rows, schema=schema, orient="row")
    seen = (outages.select("client_id", "__fold", "service")
            .join(listed.select("client_id", "__fold"), on=["client_id", "__fold"], how="anti")
            .unique(["client_id", "__fold"], keep="first", maintain_order=True)
            .with_columns(__target=pl.lit(True)))
    return pl.concat([listed, seen]).sort("client_id", maintain_order=True)


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
    clients = grid["client_id"].unique(maintain_order=True).to_list()
    folds = {s: s.casefold() for s in outages["service"].unique().to_list()}
    mine = outages.filter(pl.col("client_id").is_in(clients)).with_columns(
        __fold=pl.col("service").replace_strict(folds, return_dtype=pl.String))
    services = _services(mine, contracts, clients).with_columns(__g=pl.int_range(pl.len(), dtype=pl.Int64))
    # every (service, month) of the grid, with the month's bounds
    cells = services.join(grid.select("client_id", "month"), on="client_id", maintain_order="left")
    cidx = scope.client_index(cells["client_id"])
    pos = cells["month"].replace_strict({m: i for i, m in enumerate(months.labels)},
                                        return_dtype=pl.Int64).to_numpy()
    cells = cells.with_columns(__s=pl.Series(months.bounds[cidx, pos]), __e=pl.Series(months.bounds[cidx, pos + 1]))
    # The time in a planned outage, and in an unplanned one but no planned one, between
    # consecutive boundaries (outage starts and ends, month bounds) of each service.
    spans = (mine.join(services.filter("__target").select("client_id", "__fold", "__g"),
                       on=["client_id", "__fold"])
             .select("__g", pl.col("started_at").dt.epoch("us").alias("__a"),
                     pl.col("ended_at").dt.epoch("us").alias("__b"),
                     pl.col("planned").fill_null(False).cast(pl.Int64).alias("__p"))
             .filter(pl.col("__b") > pl.col("__a")))
    edges = pl.concat([
        spans.select("__g", pl.col("__a").alias("__t"), (1 - pl.col("__p")).alias("__du"), pl.col("__p").alias("__dp")),
        spans.select("__g", pl.col("__b").alias("__t"), (pl.col("__p") - 1).alias("__du"), -pl.col("__p").alias("__dp")),
        cells.select("__g", pl.col("__s").alias("__t"), pl.lit(0, pl.Int64).alias("__du"), pl.lit(0, pl.Int64).alias("__dp")),
        cells.select("__g", pl.col("__e").alias("__t"), pl.lit(0, pl.Int64).alias("__du"), pl.lit(0, pl.Int64).alias("__dp")),
    ])
    pieces = (
        edges.group_by("__g", "__t").agg(pl.col("__du", "__dp").sum()).sort("__g", "__t")
        .with_columns(__u=pl.col("__du").cum_sum().over("__g") > 0, __p=pl.col("__dp").cum_sum().over("__g") > 0,
                      __len=pl.col("__t").shift(-1).over("__g") - pl.col("__t"))
        .join_asof(cells.select("__g", "month", "__s", "__e").sort("__s"), left_on="__t", right_on="__s",
                   by="__g", strategy="backward", check_sortedness=False)
        .filter(pl.col("__len").is_not_null() & (pl.col("__t") < pl.col("__e")))
        .group_by("__g", "month")
        .agg(__pl=pl.col("__len").filter(pl.col("__p")).sum(),
             __ul=pl.col("__len").filter(pl.col("__u") & ~pl.col("__p")).sum())
    )
    out = cells.join(pieces, on=["__g", "month"], how="left", maintain_order="left")
    planned, unplanned = (out[c].fill_null(0).to_numpy() for c in ("__pl", "__ul"))
    base = out["__e"].to_numpy() - out["__s"].to_numpy() - planned
    with np.errstate(divide="ignore", invalid="ignore"):  # numpy divides as Python does (exactly rounded)
        uptime = 100 * (1 - unplanned / base)
    return out.select("client_id", "month", "service").with_columns(
        unplanned_minutes=pl.Series(unplanned / MINUTE), planned_minutes=pl.Series(planned / MINUTE),
        uptime_pct=pl.Series(uptime).set(pl.Series(base <= 0), None)).cast(_SCHEMA)


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
