"""The review pack's charts (returned `alt.Chart`s; display is the caller's business): every
target month by month, a share per month against its target with the two halves of the term,
and the what-if scenarios side by side with the actual contract."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipelines.report.charts import WIDTH, _frame
from pipelines.report.term import MET, MISSED, NA, NOT_MEASURED, PARTIAL, THIN

VERDICT_COLORS = {MET: "#2e7d32", MISSED: "#c62828", THIN: "#bdbdbd", NOT_MEASURED: "#eeeeee", NA: "#f5f5f5",
                  PARTIAL: "#ffe082"}


def target_grid(verdicts: pl.DataFrame) -> alt.Chart:
    """Target x month, coloured by the verdict (met, missed, too few to judge, not measured)."""
    order = verdicts["label"].unique(maintain_order=True).to_list()
    data = _frame(verdicts.with_columns(
        pl.when(pl.col("value").is_null()).then(pl.lit("—")).otherwise(pl.col("value").round(1).cast(pl.String))
        .alias("shown"))
        .with_columns(pl.format("{} {}: {} ({}; target {})", "month", "label", "shown", "verdict", "goal")
                      .alias("description")))
    return alt.Chart(data).mark_rect(stroke="#ffffff", strokeWidth=2).encode(
        x=alt.X("month:O", title="Month"),
        y=alt.Y("label:N", title=None, sort=order),
        color=alt.Color("verdict:N", title="Target", scale=alt.Scale(domain=list(VERDICT_COLORS),
                                                                      range=list(VERDICT_COLORS.values()))),
        description="description:N",
        tooltip=[alt.Tooltip("month:O", title="Month"), alt.Tooltip("label:N", title="Target"),
                 alt.Tooltip("shown:N", title="Value"), alt.Tooltip("n:Q", title="n"),
                 alt.Tooltip("goal:Q", title="Target"), alt.Tooltip("verdict:N", title="Verdict")],
    ).properties(width=WIDTH, height=24 * len(order), title="Each target, month by month")


def share_by_month(kpis: pl.DataFrame, column: str, n_column: str, label: str, target: float | None,
                   halves: tuple[list[str], list[str]]) -> alt.LayerChart:
    """A share per month (bars, n in the tooltip), the contract's target (dashed) and the average of
    each half of the term (solid, over its months)."""
    data = _frame(kpis.select("month", pl.col(column).alias("pct"), pl.col(n_column).alias("n"))
                  .filter(pl.col("pct").is_not_null())
                  .with_columns(pl.format("{} {}: {}% of {}", "month", pl.lit(label), pl.col("pct").round(1), "n")
                                .alias("description")))
    bars = alt.Chart(data).mark_bar(color="#5c6bc0").encode(
        x=alt.X("month:O", title="Month"), y=alt.Y("pct:Q", title=f"{label} (%)", scale=alt.Scale(domain=[0, 100])),
        description="description:N",
        tooltip=["month:O", alt.Tooltip("pct:Q", title="%", format=".1f"), alt.Tooltip("n:Q", title="Tickets")])
    layers = [bars]
    if target is not None:
        layers.append(alt.Chart(pl.DataFrame({"goal": [target], "description": [f"target {target:g}%"]}))
                      .mark_rule(strokeDash=[4, 4], color="#424242")
                      .encode(y="goal:Q", description="description:N", tooltip=[alt.Tooltip("goal:Q", title="Target")]))
    rows = []
    for name, months in zip(("first half", "second half"), halves, strict=True):
        part = data.filter(pl.col("month").is_in(months))
        if part.height and part["n"].sum():
            value = float((part["pct"] * part["n"]).sum() / part["n"].sum())
            rows += [(m, value, f"{name}: {value:.1f}%") for m in part["month"]]
    if rows:
        halves_data = pl.DataFrame(rows, schema=["month", "pct", "description"], orient="row")
        layers.append(alt.Chart(halves_data).mark_line(color="#ef6c00", strokeWidth=3).encode(
            x="month:O", y="pct:Q", detail="description:N", description="description:N",
            tooltip=[alt.Tooltip("description:N", title="Half of the term")]))
    return alt.layer(*layers).properties(width=WIDTH, height=200,
                                         title=f"{label} by month (dashed: target; orange: each half of the term)")


def scenario_bars(rows: pl.DataFrame) -> alt.Chart:
    """SLA on time per priority and target under each contract (rows: contract, target, priority, pct, n)."""
    data = _frame(rows.filter(pl.col("pct").is_not_null()).with_columns(
        pl.format("{} {} SLA ({}): {}% of {}", "contract", "target", "priority", pl.col("pct").round(1), "n")
        .alias("description")))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("priority:N", title="Priority"), xOffset="contract:N",
        y=alt.Y("pct:Q", title="On time (%)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("contract:N", title="Contract"),
        row=alt.Row("target:N", title=None),
        description="description:N",
        tooltip=["contract:N", "target:N", "priority:N", alt.Tooltip("pct:Q", format=".1f"), "n:Q"],
    ).properties(width=WIDTH - 60, height=150, title="SLA on time over the term, actual contract and what-if")
