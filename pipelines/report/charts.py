"""Charts: functions that return `alt.Chart`, and an offline renderer for them.

Builders aggregate in Polars first (Altair refuses > 5,000 rows) and return a
chart; display is the caller's business. The `servicereview` Altair renderer
gives every chart two representations:
- `application/vnd.vegalite.v5+json`: JupyterLab draws it interactively (tooltips,
  the priority selector) with the Vega it ships, no network;
- `image/svg+xml`: a static SVG made offline by vl-convert, with a `<title>` on
  every mark so hovering a point in the published page shows its value, and which
  prints. Quarto and the built-in renderer use this one.
"""

from __future__ import annotations

import re

import altair as alt
import polars as pl
import vl_convert

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
VEGALITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH = 560

_MARK = re.compile(
    r'<(path|rect|circle|line|text|image)\b([^>]*?aria-label="([^"]*)"[^>]*?'
    r'aria-roledescription="(?!line mark|area mark|axis|legend|title)[^"]*"[^>]*?)(/?)>'
)


def _spec(chart: alt.TopLevelMixin | dict) -> dict:
    return dict(chart) if isinstance(chart, dict) else chart.to_dict()


def to_svg(chart: alt.TopLevelMixin | dict) -> str:
    """Static SVG of a chart (offline, vl-convert) with a hover `<title>` on every mark."""
    svg = vl_convert.vegalite_to_svg(_spec(chart))

    def titled(match: re.Match) -> str:
        tag, attrs, label, selfclosing = match.groups()
        if selfclosing:
            return f"<{tag}{attrs}><title>{label}</title></{tag}>"
        return f"<{tag}{attrs}><title>{label}</title>"

    return _MARK.sub(titled, svg)


def mimebundle(chart: alt.TopLevelMixin | dict) -> dict:
    """The display bundle for one chart: interactive Vega-Lite plus static SVG and a text fallback."""
    spec = _spec(chart)
    spec["$schema"] = VEGALITE_SCHEMA
    title = spec.get("title") or spec.get("description") or "chart"
    if isinstance(title, dict):
        title = title.get("text", "chart")
    return {VEGALITE_MIME: spec, "image/svg+xml": to_svg(spec), "text/plain": f"<chart: {title}>"}


def _renderer(spec: dict, **_):
    return mimebundle(spec)


def enable() -> None:
    """Make every Altair chart in this kernel display with `mimebundle` (offline)."""
    alt.renderers.register("servicereview", _renderer)
    alt.renderers.enable("servicereview")
    alt.data_transformers.disable_max_rows()  # builders aggregate first; see module docstring


def _frame(frame: pl.DataFrame) -> pl.DataFrame:
    if frame.height > 5000:
        raise ValueError(f"{frame.height} rows handed to a chart; aggregate in Polars first")
    return frame


# ---------------------------------------------------------------- builders

PRIORITY_CHOICES = ["All", "P1", "P2", "P3", "P4"]


def _priority_param() -> alt.Parameter:
    return alt.param(name="priority", value="All",
                     bind=alt.binding_select(options=PRIORITY_CHOICES, name="Priority "))


def sla_frame(kpis: pl.DataFrame, by_priority: pl.DataFrame) -> pl.DataFrame:
    """Long frame month x priority (All, P1..P4) x target (Response, Resolution) of SLA %."""
    parts = []
    for source, priority in ((kpis, pl.lit("All")), (by_priority, pl.col("priority"))):
        for target in ("response", "resolution"):
            parts.append(source.select(
                "month", priority.alias("priority"), pl.lit(target.title()).alias("target"),
                pl.col(f"{target}_sla_pct").alias("pct"), pl.col(f"{target}_sla_n").alias("n"),
                pl.col(f"{target}_met").alias("met"), pl.col(f"{target}_breached").alias("breached"),
            ))
    return (pl.concat(parts).filter(pl.col("pct").is_not_null())
            .with_columns(pl.format("{} {} SLA ({}): {}% met, {} of {}", "month", "target", "priority",
                                    pl.col("pct").round(1), "met", "n").alias("label"))
            .sort("target", "priority", "month"))


def sla_trend(kpis: pl.DataFrame, by_priority: pl.DataFrame, targets: dict[str, float]) -> alt.LayerChart:
    """Response and resolution SLA % per month, with targets; a priority selector in JupyterLab."""
    data = _frame(sla_frame(kpis, by_priority))
    selector = _priority_param()
    goals = [g for g in (targets.get("response_sla_pct"), targets.get("resolution_sla_pct")) if g is not None]
    lowest = min([*data["pct"].to_list(), *goals], default=100)
    floor = min(80, int(lowest // 10) * 10)  # room for the lines, from 0 only when values need it
    color = alt.Color("target:N", title="SLA", scale=alt.Scale(domain=["Response", "Resolution"],
                                                                range=["#1565c0", "#6a1b9a"]))
    base = alt.Chart(data).transform_filter(alt.datum.priority == selector)
    lines = base.mark_line(point=alt.OverlayMarkDef(size=60)).encode(
        x=alt.X("month:O", title="Month"),
        y=alt.Y("pct:Q", title="Targets met (%)", scale=alt.Scale(domain=[floor, 100], clamp=True)),
        color=color,
        description="label:N",
        tooltip=[alt.Tooltip("month:O", title="Month"), alt.Tooltip("target:N", title="SLA"),
                 alt.Tooltip("priority:N", title="Priority"),
                 alt.Tooltip("pct:Q", title="Met %", format=".1f"),
                 alt.Tooltip("met:Q", title="Met"), alt.Tooltip("breached:Q", title="Breached"),
                 alt.Tooltip("n:Q", title="Decided")],
    ).add_params(selector)
    goal = pl.DataFrame({"target": ["Response", "Resolution"],
                         "goal": [targets.get("response_sla_pct"), targets.get("resolution_sla_pct")]})
    goal = goal.with_columns(pl.format("{} target: {}%", "target", "goal").alias("label"))
    rules = alt.Chart(goal).mark_rule(strokeDash=[4, 4]).encode(
        y="goal:Q", color=color, description="label:N", tooltip=[alt.Tooltip("target:N", title="Target for"),
                                          alt.Tooltip("goal:Q", title="Target %")])
    return alt.layer(lines, rules).properties(
        width=WIDTH, height=260, title="SLA compliance by month (dashed: contract target)")


def volume_trend(kpis: pl.DataFrame) -> alt.Chart:
    """Tickets created and resolved per month, and the backlog at each month's end."""
    labels = {"tickets_created": "Created", "tickets_resolved": "Resolved",
              "open_at_end": "Open at month end", "waiting_on_customer_at_end": "Waiting on customer"}
    data = _frame(
        kpis.select("month", *labels).unpivot(index="month", variable_name="measure", value_name="tickets")
        .with_columns(pl.col("measure").replace_strict(labels))
        .with_columns(pl.format("{} {}: {}", "month", "measure", "tickets").alias("label"))
    )
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("month:O", title="Month"),
        y=alt.Y("tickets:Q", title="Tickets"),
        color=alt.Color("measure:N", title=None, sort=list(labels.values())),
        description="label:N",
        tooltip=["month:O", alt.Tooltip("measure:N", title="Measure"), "tickets:Q"],
    ).properties(width=WIDTH, height=220, title="Ticket volume and backlog")


def resolution_time_frame(tickets: pl.DataFrame) -> pl.DataFrame:
    """Average and P90 resolution hours on the SLA clock, per month resolved and priority (+ All),
    over the tickets resolved in the month and not excluded (as the monthly averages count
    them: give the KPI ticket facts, which hold each month as it stood at its end)."""
    resolved = tickets.filter(
        pl.col("resolved_month").is_not_null() & (pl.col("resolution_status") != "excluded")
        & pl.col("resolution_minutes").is_not_null()
    ).with_columns((pl.col("resolution_minutes") / 60).alias("hours"))
    stats = [pl.col("hours").mean().alias("average"), pl.col("hours").quantile(0.9, "linear").alias("p90"),
             pl.len().alias("n")]
    overall = resolved.group_by(pl.col("resolved_month").alias("month")).agg(stats) \
        .with_columns(pl.lit("All").alias("priority"))
    per = resolved.group_by(pl.col("resolved_month").alias("month"), "priority").agg(stats)
    return pl.concat([overall, per.select(overall.columns)]).sort("priority", "month")


def resolution_time_trend(tickets: pl.DataFrame) -> alt.Chart:
    """Average and P90 resolution time (SLA-clock hours) per month; priority selector."""
    data = _frame(resolution_time_frame(tickets).unpivot(
        index=["month", "priority", "n"], on=["average", "p90"], variable_name="statistic",
        value_name="hours").with_columns(pl.col("statistic").replace({"average": "Average", "p90": "P90"}))
        .with_columns(pl.format("{} {} resolution ({}): {} h over {} tickets", "month", "statistic", "priority",
                                pl.col("hours").round(1), "n").alias("label")))
    selector = _priority_param()
    return alt.Chart(data).transform_filter(alt.datum.priority == selector).mark_line(point=True).encode(
        x=alt.X("month:O", title="Month"),
        y=alt.Y("hours:Q", title="Hours on the SLA clock"),
        color=alt.Color("statistic:N", title=None),
        description="label:N",
        tooltip=["month:O", "priority:N", "statistic:N", alt.Tooltip("hours:Q", format=".1f"),
                 alt.Tooltip("n:Q", title="Tickets")],
    ).add_params(selector).properties(width=WIDTH, height=220, title="Resolution time (SLA clock)")


def mix_trend(kpis: pl.DataFrame) -> alt.Chart:
    """Proactive share, first-contact resolution, escalations and reopens per month."""
    labels = {"proactive_pct": "Proactive share", "fcr_pct": "First-contact resolution",
              "escalation_pct": "Escalated", "reopen_pct": "Reopened"}
    data = _frame(
        kpis.select("month", *labels).unpivot(index="month", variable_name="measure", value_name="pct")
        .filter(pl.col("pct").is_not_null()).with_columns(pl.col("measure").replace_strict(labels))
        .with_columns(pl.format("{} {}: {}%", "month", "measure", pl.col("pct").round(1)).alias("label"))
    )
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("month:O", title="Month"),
        y=alt.Y("pct:Q", title="% of tickets", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("measure:N", title=None, sort=list(labels.values())),
        description="label:N",
        tooltip=["month:O", "measure:N", alt.Tooltip("pct:Q", format=".1f", title="%")],
    ).properties(width=WIDTH, height=220, title="How tickets are handled")


def csat_trend(kpis: pl.DataFrame, target: float | None, nps: bool = False) -> alt.LayerChart:
    """CSAT % per month (bars, responses in the tooltip) with the target; NPS line on 0-10 scales."""
    data = _frame(kpis.select("month", "csat_pct", "csat_n", "nps", "nps_n").with_columns(
        pl.format("{} CSAT: {}% of {} responses", "month", pl.col("csat_pct").round(1), "csat_n").alias("label"),
        pl.format("{} NPS: {} from {} responses", "month", pl.col("nps").round(0), "nps_n").alias("nps_label")))
    bars = alt.Chart(data).mark_bar(color="#26a69a").encode(
        x=alt.X("month:O", title="Month"),
        y=alt.Y("csat_pct:Q", title="Satisfied (%)", scale=alt.Scale(domain=[0, 100])),
        description="label:N",
        tooltip=["month:O", alt.Tooltip("csat_pct:Q", title="CSAT %", format=".1f"),
                 alt.Tooltip("csat_n:Q", title="Responses")],
    )
    layers = [bars]
    if target is not None:
        layers.append(alt.Chart(pl.DataFrame({"goal": [target]})).mark_rule(strokeDash=[4, 4]).encode(
            y="goal:Q", tooltip=[alt.Tooltip("goal:Q", title="Target %")]))
    if nps:
        layers.append(alt.Chart(data).mark_line(point=True, color="#6a1b9a").encode(
            x="month:O", y=alt.Y("nps:Q", title="NPS / CSAT"), description="nps_label:N",
            tooltip=["month:O", alt.Tooltip("nps:Q", title="NPS", format=".0f"),
                     alt.Tooltip("nps_n:Q", title="Responses")]))
    return alt.layer(*layers).properties(width=WIDTH, height=220, title="Customer satisfaction by month")


def sentiment_bars(surveys: pl.DataFrame) -> alt.Chart:
    """Surveys by their rating (positive / neutral / negative) and what the comment's words say."""
    data = _frame(
        surveys.with_columns(pl.col("comment_sentiment").fill_null("no comment"))
        .group_by("sentiment", "comment_sentiment").len("surveys")
        .sort("sentiment", "comment_sentiment")  # group_by order varies between runs
        .with_columns(pl.format("Rated {}, comment {}: {} surveys", "sentiment", "comment_sentiment", "surveys")
                      .alias("label"))
    )
    order = ["positive", "neutral", "negative", "no comment"]
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("sentiment:N", title="Rating", sort=order[:3]),
        x=alt.X("surveys:Q", title="Surveys"),
        color=alt.Color("comment_sentiment:N", title="Comment tone", sort=order,
                        scale=alt.Scale(domain=order, range=["#2e7d32", "#9e9e9e", "#c62828", "#e0e0e0"])),
        description="label:N",
        tooltip=["sentiment:N", "comment_sentiment:N", "surveys:Q"],
    ).properties(width=WIDTH, height=140, title="Ratings and the tone of comments")


def risk_bars(ranking: pl.DataFrame) -> alt.Chart:
    """Portfolio: clients by risk score, the parts of the score stacked."""
    parts = {"sla_risk": "SLA misses", "csat_risk": "CSAT drop", "credit_risk": "Credits owed"}
    data = _frame(ranking.select("client", *parts).unpivot(index="client", variable_name="part",
                                                            value_name="points")
                  .with_columns(pl.col("part").replace_strict(parts))
                  .with_columns(pl.format("{} {}: {} points", "client", "part", pl.col("points").round(1))
                                .alias("label")))
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("client:N", sort=ranking["client"].to_list(), title=None),
        x=alt.X("points:Q", title="Risk score", stack=True),
        color=alt.Color("part:N", title=None, sort=list(parts.values())),
        description="label:N",
        tooltip=["client:N", "part:N", alt.Tooltip("points:Q", format=".1f")],
    ).properties(width=WIDTH, height=max(120, 28 * ranking.height), title="Clients ranked by risk")
