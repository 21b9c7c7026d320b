"""The sections of a client's notebooks: each takes the ReportContext, returns something to show
(the survey sections are in `pipelines.report.surveys`).

Prose is built from the numbers (never typed by hand); thin months say so; every
list names its ticket ids and every KPI tile can be traced to the tickets behind it (a CSV
download per figure, with the exceptions named on the page).
"""

from __future__ import annotations

import polars as pl

from pipelines.core.io import read_table
from pipelines.core.layout import Layout
from pipelines.core.periods import period_title, previous_month
from pipelines.metrics import methodology
from pipelines.report import charts
from pipelines.report import narrative as say
from pipelines.report.context import ReportContext
from pipelines.report.fragments import (
    Fragment,
    Tile,
    bullets,
    join,
    note,
    paragraph,
    table,
    tiles,
)
from pipelines.report.traces import tickets_behind  # noqa: F401 - a section the notebooks call
from pipelines.validate.health import health_frames, health_note

NO_TICKETS = "No tickets have been logged for this client yet."
CREDIT_METRICS = {"uptime_pct": "Uptime", "response_sla_pct": "Response SLA",
                  "resolution_sla_pct": "Resolution SLA", "csat_pct": "CSAT", "fcr_pct": "First-contact resolution",
                  "patch_compliance_pct": "Patch compliance"}


# ---------------------------------------------------------------- monthly report


def period_notice(ctx: ReportContext) -> Fragment:
    """Where the data ends: a warning on every page of a month it does not cover to its end."""
    k = ctx.month()
    ends = say.date_of(ctx.data_ends, ctx.zone)
    if not k or k.get("month_complete") is not False:
        return note(f"The data covers all of {period_title(ctx.period)} (it runs to {ends}).", "info")
    return note(f"Partial month: the data ends {ends}, so {period_title(ctx.period)} is not complete. "
                "The figures cover the month up to that day only and are not compared with other months.",
                "warn")


def comparable(k: dict, prev: dict) -> bool:
    """Two months can be compared only when both are complete."""
    return bool(k.get("month_complete")) and bool(prev.get("month_complete"))


def headline(ctx: ReportContext) -> Fragment:
    """Two or three sentences: the month's volume and how the SLA went against the contract."""
    k, prev = ctx.month(), ctx.month(previous_month(ctx.period))
    if not k:
        return note(f"No tickets were recorded for {ctx.name} up to {period_title(ctx.period)}.", "info")
    t = ctx.contract.targets
    lines = [
        f"In {period_title(ctx.period)} {say.plural(k['tickets_created'], 'ticket')} "
        f"{'was' if k['tickets_created'] == 1 else 'were'} logged for {ctx.name} and "
        f"{k['tickets_resolved']} resolved; {k['open_at_end']} "
        f"{'was' if k['open_at_end'] == 1 else 'were'} still open at the end of the month.",
        say.change("Response SLA", k["response_sla_pct"], prev.get("response_sla_pct"),
                   n=k["response_sla_n"], previous_n=prev.get("response_sla_n"), target=t.response_sla_pct,
                   compare=comparable(k, prev)),
        say.change("Resolution SLA", k["resolution_sla_pct"], prev.get("resolution_sla_pct"),
                   n=k["resolution_sla_n"], previous_n=prev.get("resolution_sla_n"),
                   target=t.resolution_sla_pct, compare=comparable(k, prev)),
    ]
    return paragraph(" ".join(lines))


def kpi_tiles(ctx: ReportContext) -> Fragment:
    """The month's KPIs against the contract's targets, each with the count behind it."""
    k, c = ctx.month(), ctx.contract
    t = c.targets
    if not k:
        return note("No figures for this month.", "info")

    def measured(tile: Tile, column: str) -> Tile:
        """A grey "not measured" tile when the export cannot support it; else the share it rests on."""
        reason = ctx.not_measured(column)
        if reason:
            return Tile(tile.label, "not measured", reason, "na")
        row = ctx.coverage_of(column)
        if row and row["coverage_pct"] is not None and row["coverage_pct"] < 100:
            tile.detail += f" · based on the {row['coverage_pct']:.0f}% of tickets that record it"
        return tile

    def share(label, column, target, kind, higher=True):
        stem = column.removesuffix("_pct")
        n = k.get(f"{stem}_n")
        detail = f"target {target:g}% · n={n}" if target is not None else f"n={n}"
        low, high = k.get(f"{stem}_ci_low"), k.get(f"{stem}_ci_high")
        if not (say.is_missing(low) or say.is_missing(high) or say.thin(n, kind)):
            detail += f" · likely {low:.0f}–{high:.0f}%"
        return measured(Tile(label, say.pct(k[column], n, kind, target), detail,
                             say.status(k[column], target, n, kind, higher)), column)

    items = [
        Tile("Open tickets at month end", say.number(k["open_at_end"]), "snapshot at month end", "info"),
        measured(Tile("Waiting on you", say.number(k["waiting_on_customer_at_end"]),
                      "tickets paused for your reply at month end", "info"), "waiting_on_customer_at_end"),
        Tile("Average first response", say.duration(k["avg_response_minutes"]),
             f"working time · n={k['avg_response_n']}", "info"),
        measured(Tile("Average time to 'In Progress'", say.duration(k["avg_in_progress_minutes"]),
                      f"working time · n={k['avg_in_progress_n']}", "info"), "avg_in_progress_minutes"),
        Tile("Average resolution", say.duration(None if k["avg_resolution_hours"] is None
                                                else k["avg_resolution_hours"] * 60),
             f"working time, pauses excluded · n={k['resolution_time_n']}", "info"),
        share("Responses on time", "response_sla_pct", t.response_sla_pct, "sla"),
        share("Resolutions on time", "resolution_sla_pct", t.resolution_sla_pct, "sla"),
        share("Fixed at first contact", "fcr_pct", t.fcr_pct, "fcr"),
        share("Satisfied customers (CSAT)", "csat_pct", t.csat_pct, "csat"),
        share("Proactive tickets", "proactive_pct", t.proactive_pct, "share"),
        measured(Tile("Uptime (worst service)", say.pct(k["uptime_pct"], target=c.uptime.target_pct),
                      f"target {c.uptime.target_pct:g}%", say.status(k["uptime_pct"], c.uptime.target_pct)),
                 "uptime_pct"),
        measured(Tile("On-site visits", say.number(k["onsite_visits"]), f"contract: {t.onsite_visits}",
                      say.status(k["onsite_visits"], t.onsite_visits) if k["onsite_visits"] is not None
                      else "na"), "onsite_visits"),
        share("Devices patched", "patch_compliance_pct", t.patch_compliance_pct, "patch"),
    ]
    if c.survey_scale == "0-10":
        items.insert(9, Tile("Net Promoter Score", say.number(k["nps"]), f"n={k['nps_n']}",
                             "na" if say.thin(k["nps_n"], "csat") or k["nps"] is None else "info"))
    return tiles(items)


def credits(ctx: ReportContext) -> Fragment:
    """Service credits owed for the month under the contract's rules."""
    k, c = ctx.month(), ctx.contract
    if not c.credits:
        return paragraph("Your contract has no service-credit rules.")
    matched = [r for r in c.credits if not say.is_missing(k.get(r.metric)) and k[r.metric] < r.below]
    credit = k.get("service_credit_pct")
    if say.is_missing(credit):
        return note("Service credits cannot be worked out this month: none of the measures they depend on "
                    "could be measured.", "info")
    if not matched:
        return paragraph(f"No service credit is owed for {period_title(ctx.period)}: every measure met "
                         "the levels in your contract's credit rules.")
    amount = c.monthly_fee * credit / 100
    rules = [f"{CREDIT_METRICS[r.metric]} was {say.pct(k[r.metric], target=r.below)}, below {r.below:g}% → "
             f"{r.credit_pct:g}% credit" for r in matched]
    return join(
        note(f"A service credit of {credit:g}% of the monthly fee ({say.money(amount, c.currency)}) is owed "
             f"for {period_title(ctx.period)} (the largest matching rule applies).", "warn"),
        bullets(rules),
    )


def uptime_table(ctx: ReportContext) -> Fragment:
    """Per-service uptime for the month against the target."""
    rows = ctx.uptime.filter(pl.col("month") == ctx.period)
    if ctx.tables.get("outages") is None:
        return note("No monitoring outage data was provided, so uptime is not shown.", "info")
    target = ctx.contract.uptime.target_pct
    return table(
        rows.with_columns(pl.col("uptime_pct").map_elements(lambda v: say.pct(v, target=target), return_dtype=pl.String)),
        {"service": "Service", "uptime_pct": "Uptime", "unplanned_minutes": "Unplanned outage (min)",
         "planned_minutes": "Planned maintenance (min)"},
        caption=f"Uptime by service (target {target:g}%)", empty="No services to report.")


def data_health_note(ctx: ReportContext) -> Fragment:
    """One short note on the data behind the report (details on the data-quality page)."""
    if ctx.health is None:
        return note("The data-quality checks have not been run for this report.", "warn")
    kind = "good" if ctx.health["publishable"] and not ctx.health["counts"].get("warned") else (
        "warn" if ctx.health["publishable"] else "bad")
    return note(health_note(ctx.health), kind)


# ---------------------------------------------------------------- SLA trends


def sla_sentences(ctx: ReportContext) -> Fragment:
    """Month-over-month changes in words, for the SLA and the clock times."""
    k, prev = ctx.month(), ctx.month(previous_month(ctx.period))
    if not k:
        return note("No figures for this month.", "info")
    t = ctx.contract.targets

    def hours(row, col):
        return None if say.is_missing(row.get(col)) else row[col]

    same = comparable(k, prev)
    return bullets([
        say.change("Response SLA", k["response_sla_pct"], prev.get("response_sla_pct"), n=k["response_sla_n"],
                   previous_n=prev.get("response_sla_n"), target=t.response_sla_pct, compare=same),
        say.change("Resolution SLA", k["resolution_sla_pct"], prev.get("resolution_sla_pct"),
                   n=k["resolution_sla_n"], previous_n=prev.get("resolution_sla_n"), target=t.resolution_sla_pct,
                   compare=same),
        say.change("Average resolution time", hours(k, "avg_resolution_hours"), hours(prev, "avg_resolution_hours"),
                   n=k["resolution_time_n"], previous_n=prev.get("resolution_time_n"), unit=" h", compare=same),
        say.change("P90 resolution time", hours(k, "p90_resolution_hours"), hours(prev, "p90_resolution_hours"),
                   n=k["resolution_time_n"], previous_n=prev.get("resolution_time_n"), unit=" h", compare=same),
        say.change("Proactive share", k["proactive_pct"], prev.get("proactive_pct"), n=k["proactive_n"],
                   previous_n=prev.get("proactive_n"), target=t.proactive_pct, kind="share", compare=same,
                   not_measured=ctx.not_measured("proactive_pct")),
        say.change("Escalated", k["escalation_pct"], prev.get("escalation_pct"), n=k["escalation_n"],
                   previous_n=prev.get("escalation_n"), kind="share", compare=same,
                   not_measured=ctx.not_measured("escalation_pct")),
        say.change("Reopened", k["reopen_pct"], prev.get("reopen_pct"), n=k["reopen_n"],
                   previous_n=prev.get("reopen_n"), kind="share", compare=same,
                   not_measured=ctx.not_measured("reopen_pct")),
    ])


def sla_chart(ctx: ReportContext):
    return charts.sla_trend(ctx.kpis, ctx.by_priority, ctx.contract.targets.model_dump())


def volume_chart(ctx: ReportContext):
    return charts.volume_trend(ctx.kpis)


def resolution_chart(ctx: ReportContext):
    return charts.resolution_time_trend(ctx.ticket_sla if ctx.ticket_sla.is_empty() else ctx.facts.tickets)


def mix_chart(ctx: ReportContext):
    return charts.mix_trend(ctx.kpis)


def priority_table(ctx: ReportContext) -> Fragment:
    """The month's SLA results per priority, with the contract's targets."""
    rows = ctx.by_priority.filter(pl.col("month") == ctx.period).sort("priority")
    sla = ctx.contract.sla
    rows = rows.with_columns(
        pl.col("priority").replace_strict({p: say.target(s, "response") for p, s in sla.items()},
                                          default="—").alias("response_target"),
        pl.col("priority").replace_strict({p: f"{say.target(s, 'resolution')} ({s.calendar})"
                                           for p, s in sla.items()}, default="—").alias("resolution_target"),
        pl.struct("response_sla_pct", "response_sla_n").map_elements(
            lambda r: say.pct(r["response_sla_pct"], r["response_sla_n"]), return_dtype=pl.String).alias("resp"),
        pl.struct("resolution_sla_pct", "resolution_sla_n").map_elements(
            lambda r: say.pct(r["resolution_sla_pct"], r["resolution_sla_n"]), return_dtype=pl.String).alias("res"),
    )
    return table(rows, {
        "priority": "Priority", "response_target": "Response target", "response_met": "Met",
        "response_breached": "Missed", "resp": "On time", "resolution_target": "Resolution target",
        "resolution_met": "Met", "resolution_breached": "Missed", "res": "On time",
    }, caption=f"By priority, {period_title(ctx.period)}", empty="No tickets this month.")


def breaches(ctx: ReportContext) -> Fragment:
    """Every target missed in the month, with its ticket id and due time (your local time)."""
    sla = ctx.local(ctx.ticket_sla, "created_at", "response_due_at", "resolution_due_at", "resolved_at")
    titles = ctx.tables["tickets"].select("ticket_id", "title")
    parts = []
    for target in ("response", "resolution"):
        parts.append(sla.filter((pl.col(f"{target}_status") == "breached") & (pl.col(f"{target}_month") == ctx.period))
                     .select("ticket_id", "priority", pl.lit(target).alias("target"),
                             pl.col(f"{target}_due_at").alias("due_at"),
                             pl.col(f"{target}_minutes").alias("clock_minutes"),
                             pl.col(f"{target}_target_minutes").alias("target_minutes"), "resolved_at"))
    rows = pl.concat(parts).join(titles, on="ticket_id", how="left").sort("due_at")
    rows = rows.with_columns(
        pl.col("clock_minutes").map_elements(say.duration, return_dtype=pl.String).alias("took"),
        pl.col("target_minutes").map_elements(say.duration, return_dtype=pl.String).alias("allowed"),
        pl.col("resolved_at").dt.strftime("%Y-%m-%d %H:%M").fill_null("still open").alias("resolved"),
    )
    summary = paragraph(f"{rows.height} target{'s' if rows.height != 1 else ''} missed in "
                        f"{period_title(ctx.period)} (times in {ctx.zone}).")
    return join(summary, table(rows, {
        "ticket_id": "Ticket", "priority": "Priority", "title": "Title", "target": "Target missed",
        "due_at": "Due", "allowed": "Allowed", "took": "Clock time so far / taken", "resolved": "Resolved",
    }, empty="No targets were missed this month."))


def recurring(ctx: ReportContext) -> Fragment:
    """Recurring problems in the month: tickets repeating an earlier resolved one (same category and asset)."""
    if ctx.ticket_sla.is_empty():
        return paragraph(NO_TICKETS)
    ids = ctx.ids("recurring_pct")["numerator"]
    tickets = ctx.tables["tickets"].filter(pl.col("ticket_id").is_in(ids))
    if tickets.is_empty():
        return paragraph(f"No recurring problems in {period_title(ctx.period)}.")
    top = (tickets.with_columns(pl.coalesce("asset", "requester").alias("on"))
           .group_by("category", "on").agg(pl.len().alias("tickets"), pl.col("ticket_id").sort().alias("ids"))
           .sort(["tickets", "category", "on"], descending=[True, False, False]))
    window = ctx.contract.recurrence_days
    return join(
        paragraph(f"{len(ids)} ticket{'s' if len(ids) != 1 else ''} repeated a problem resolved in the "
                  f"{window} days before (same category and device, or same person when no device)."),
        table(top, {"category": "Category", "on": "Device / person", "tickets": "Tickets", "ids": "Ticket ids"}),
    )


# ---------------------------------------------------------------- data quality


def coverage_matrix(ctx: ReportContext, months: int = 6) -> Fragment:
    """Measure x month: the share of each measure's tickets that carry what it needs, or why
    it is not measured (the last `months` months up to the period)."""
    recent = sorted(set(ctx.coverage["month"].to_list()) & set(ctx.kpis["month"].to_list()))
    recent = [m for m in recent if m <= ctx.period][-months:]
    if ctx.coverage.is_empty() or not recent:
        return note("Every measure's inputs are in this export.", "info")
    labels = {c: e["label"] for c, e in methodology.load()["client_kpis"].items()}
    cell = (pl.when(~pl.col("measured")).then(pl.lit("not measured"))
            .when(pl.col("coverage_pct").is_null()).then(pl.lit("–"))
            .otherwise(pl.format("{}%", pl.col("coverage_pct").round(0).cast(pl.Int64))))
    wide = (ctx.coverage.filter(pl.col("month").is_in(recent))
            .with_columns(cell.alias("cell"), pl.col("kpi").replace_strict(labels, default=pl.col("kpi"))
                          .alias("measure"))
            .pivot(on="month", index="measure", values="cell", sort_columns=True).sort("measure"))
    reasons = (ctx.coverage.filter((pl.col("month") == ctx.period) & ~pl.col("measured"))
               .select(pl.col("kpi").replace_strict(labels, default=pl.col("kpi")), "reason")
               .unique().sort("kpi"))
    notes = [f"{kpi}: {reason}" for kpi, reason in reasons.iter_rows()]
    return join(table(wide, {"measure": "Measure", **{m: m for m in recent if m in wide.columns}},
                      caption="Share of each measure's tickets that carry what it needs"),
                bullets(notes) if notes else paragraph("Every measure is supported this month."))


def intake(ctx: ReportContext) -> Fragment:
    """Rows received, kept and set aside per table (this client's rows only)."""
    if ctx.health is None:
        return note("The data-quality checks have not been run.", "warn")
    frames = health_frames(ctx.health)
    return table(frames["tables"].with_columns(pl.col("without").fill_null("")), {
        "label": "Data", "provided": "Provided", "rows_in": "Rows in", "clean": "Used",
        "rejected": "Set aside", "without": "If missing"})


def rejected_reasons(ctx: ReportContext) -> Fragment:
    if ctx.health is None:
        return note("The data-quality checks have not been run.", "warn")
    return table(health_frames(ctx.health)["rejected"],
                 {"label": "Data", "reason": "Reason", "count": "Rows", "meaning": "What it means"},
                 empty="No rows were set aside.")


def rejected_rows(ctx: ReportContext, limit: int = 200) -> Fragment:
    """The client's rejected rows: file, row number, reason and detail (to correct at the source)."""
    rejects = read_table(Layout(ctx.build_dir).clean, "rejects", client_id=ctx.client_id)
    if rejects.is_empty():
        return Fragment("", "")  # rejected_reasons already says so
    return table(rejects.sort("table", "row"), {"source": "File", "row": "Row", "reason": "Reason",
                                                "detail": "Detail"}, max_rows=limit,
                 caption="Each row set aside, to correct in the help-desk tool")


def gate_findings(ctx: ReportContext) -> Fragment:
    """What the data-quality checks found, in plain words, with example ticket ids."""
    if ctx.health is None:
        return note("The data-quality checks have not been run.", "warn")
    verdict = note(ctx.health["verdict"], "good" if ctx.health["publishable"] else "bad")
    found = health_frames(ctx.health)["findings"]
    if found.is_empty():
        return verdict
    return join(verdict, table(found, {"status": "Result", "label": "Check", "count": "Rows",
                                       "text": "What it means", "examples": "Examples"}))
