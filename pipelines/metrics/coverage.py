"""Input coverage: which KPIs an export can support, per client and month.

A KPI is only as good as the fields behind it. A measure that needs a field an export may
not carry declares it here; for every client and month the share of the measure's own
rows that carry it is measured. Below the contract's threshold (`quality.min_input_coverage`,
default 90%) the KPI is *not measured*: null in client_kpis, with the reason in the
coverage table, shown as a grey tile and left out of credits and risk. Above it, partial
coverage is stated next to the figure. A KPI whose whole table was not given is not
measured either, for the same kind of reason ("no surveys in this export").
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.core.contracts import Contract
from pipelines.metrics.kpis import MEASURE_BY_NAME, Facts

COVERAGE_COLUMNS = ["client_id", "month", "kpi", "input", "rows", "covered", "coverage_pct",
                    "measured", "reason"]
SCHEMA = {"client_id": pl.String, "month": pl.String, "kpi": pl.String, "input": pl.String,
          "rows": pl.Int64, "covered": pl.Int64, "coverage_pct": pl.Float64, "measured": pl.Boolean,
          "reason": pl.String}


@dataclass(frozen=True)
class Input:
    """A field (or group of fields) a KPI needs: when a row carries it, and what to say when not."""

    name: str
    needs: str  # what the export must carry, in words (methodology)
    missing: str  # the reason shown when it does not ("not in this export: ...")
    carried: pl.Expr  # on a facts row


_REOPEN_KNOWN = pl.col("reopen_count").is_not_null() | pl.col("has_history")
_FCR_PARTS = (pl.col("reassignment_count").is_not_null() & pl.col("escalation_level").is_not_null()
              & pl.col("provider_touches").is_not_null() & _REOPEN_KNOWN)

INPUTS: dict[str, Input] = {i.name: i for i in (
    Input("fcr", "the source system's FCR flag, or reassignment counts, escalation levels, provider "
          "touches and reopens (counts or status history)",
          "no first-contact flag, and no reassignment, escalation or provider-touch data",
          pl.col("fcr").is_not_null() | _FCR_PARTS),
    Input("reopens", "reopen counts or a status history", "no reopen counts or status history",
          _REOPEN_KNOWN),
    Input("escalation", "escalation levels (tier)", "no escalation levels", pl.col("escalation_level").is_not_null()),
    Input("reassignment", "reassignment counts", "no reassignment counts",
          pl.col("reassignment_count").is_not_null()),
    Input("source", "the ticket's source (phone, email, portal, monitoring...)", "no ticket source",
          pl.col("source").is_not_null()),
    Input("category", "a category with a device or a requester", "no category with a device or requester",
          pl.col("category").is_not_null() & (pl.col("asset").is_not_null() | pl.col("requester").is_not_null())),
    Input("history", "a status history (ticket_events)", "no status history", pl.col("has_history")),
)}
# measure name (see pipelines.metrics.kpis.MEASURES) -> the input it needs
MEASURE_INPUTS = {"fcr": "fcr", "reopen": "reopens", "escalation": "escalation",
                  "reassignment": "reassignment", "proactive": "source", "recurring": "category",
                  "avg_in_progress_minutes": "history", "waiting_on_customer_at_end": "history"}
# KPIs computed from a whole optional table (pipelines.metrics.service_kpis): column -> table
TABLE_KPIS = {"uptime_pct": "outages", "planned_maintenance_minutes": "outages",
              "hours_logged": "time_entries", "onsite_visits": "time_entries",
              "patch_compliance_pct": "devices", "patch_compliance_n": "devices"}
TABLE_WORDS = {"ticket_events": "no status history (ticket_events)", "surveys": "no surveys",
               "outages": "no monitoring outages", "time_entries": "no time entries",
               "devices": "no device patch status"}
NO_PAUSES = "no waiting status (a pause status of the contract) anywhere in the status history"
# Which rows a KPI's coverage is measured on, where they differ from the KPI's own rows:
# the time to In Progress on the month's new tickets, waiting on every ticket open at month end.
COVERAGE_ROWS = {"avg_in_progress_minutes": ("created_month", ~pl.col("excluded")),
                 "waiting_on_customer_at_end": ("month", pl.col("client_id").is_not_null())}


def measure_coverage(facts: Facts, contracts: dict[str, Contract], grid: pl.DataFrame,
                     pauses_seen: dict[str, bool]) -> pl.DataFrame:
    """One row per client, month and KPI that needs an input the export may not carry."""
    threshold = pl.col("client_id").replace_strict(
        {c: k.quality.min_input_coverage * 100 for c, k in contracts.items()}, default=90.0,
        return_dtype=pl.Float64)
    parts = []
    for name, input_name in MEASURE_INPUTS.items():
        m = MEASURE_BY_NAME[name]
        frame = getattr(facts, m.source)
        table = m.needs if m.needs in facts.missing else None
        if frame is None or table:
            parts.append(_not_given(grid, m.column, table or m.source))
            continue
        given = INPUTS[input_name]
        month, where = COVERAGE_ROWS.get(name, (m.month, m.where))
        rows = (frame.lazy().filter(pl.col(month).is_not_null() & where.fill_null(False))  # lazy: the
                .group_by("client_id", pl.col(month).alias("month"))                      # columns used
                .agg(pl.len().cast(pl.Int64).alias("rows"),
                     given.carried.fill_null(False).sum().cast(pl.Int64).alias("covered")).collect())
        share = 100 * pl.col("covered") / pl.col("rows")
        measured = pl.col("rows").is_null() | (pl.col("rows") == 0) | (share >= threshold)
        reason = pl.lit(f"not in this export: {given.missing}")
        if name == "waiting_on_customer_at_end":
            pauses = pl.col("client_id").replace_strict(pauses_seen, default=False, return_dtype=pl.Boolean)
            reason = pl.when(pauses).then(reason).otherwise(pl.lit(f"not in this export: {NO_PAUSES}"))
            measured = measured & pauses
        parts.append(
            grid.join(rows, on=["client_id", "month"], how="left", maintain_order="left")
            .with_columns(pl.lit(m.column).alias("kpi"), pl.lit(input_name).alias("input"),
                          pl.col("rows").fill_null(0), pl.col("covered").fill_null(0))
            .with_columns(pl.when(pl.col("rows") > 0).then(share).alias("coverage_pct"),
                          measured.fill_null(True).alias("measured"))
            .with_columns(pl.when(~pl.col("measured")).then(reason).alias("reason"))
            .select(COVERAGE_COLUMNS)
        )
    for column, table in TABLE_KPIS.items():
        if table in facts.missing:
            parts.append(_not_given(grid, column, table))
    for m in MEASURE_BY_NAME.values():
        if m.needs in facts.missing and m.name not in MEASURE_INPUTS:
            parts.append(_not_given(grid, m.column, m.needs))
    return pl.concat(parts).cast(SCHEMA).sort("client_id", "month", "kpi") if parts \
        else pl.DataFrame(schema=SCHEMA)


def _not_given(grid: pl.DataFrame, column: str, table: str) -> pl.DataFrame:
    return grid.select(
        "client_id", "month", pl.lit(column).alias("kpi"), pl.lit(table).alias("input"),
        pl.lit(0, pl.Int64).alias("rows"), pl.lit(0, pl.Int64).alias("covered"),
        pl.lit(None, pl.Float64).alias("coverage_pct"), pl.lit(False).alias("measured"),
        pl.lit(f"not in this export: {TABLE_WORDS.get(table, table)}").alias("reason"),
    )


def not_measured(kpis: pl.DataFrame, coverage: pl.DataFrame) -> pl.DataFrame:
    """client_kpis with every not-measured KPI (and its interval) set to null; counts stay."""
    out = kpis
    for kpi in coverage.filter(~pl.col("measured"))["kpi"].unique().sort().to_list():
        if kpi not in out.columns:
            continue
        stem = kpi.removesuffix("_pct")
        columns = [c for c in (kpi, f"{stem}_ci_low", f"{stem}_ci_high") if c in out.columns]
        off = coverage.filter((pl.col("kpi") == kpi) & ~pl.col("measured")).select(
            "client_id", "month", pl.lit(True).alias("__off"))
        out = (out.join(off, on=["client_id", "month"], how="left", maintain_order="left")
               .with_columns([pl.when(pl.col("__off").fill_null(False)).then(None).otherwise(pl.col(c)).alias(c)
                              for c in columns]).drop("__off"))
    return out


def methodology_rows() -> list[tuple[str, str]]:
    """(KPI column, what it needs from the export) for the methodology page."""
    rows = [(MEASURE_BY_NAME[m].column, INPUTS[i].needs) for m, i in MEASURE_INPUTS.items()]
    rows += [(MEASURE_BY_NAME[m].column, f"the {MEASURE_BY_NAME[m].needs} table")
             for m in ("survey_responses", "survey_response_rate", "csat", "nps")]
    rows += [(c, f"the {t} table") for c, t in TABLE_KPIS.items()]
    return rows
