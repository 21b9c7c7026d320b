"""The tickets behind the figures: per headline figure of a month, a CSV of its tickets
(the client's own only) and, on the page, the exceptions (targets missed, unsatisfied surveys,
why a figure is not measured), so a figure is traceable without pages of ticket ids."""

from __future__ import annotations

import polars as pl

from pipelines.core import io
from pipelines.report.context import ReportContext
from pipelines.report.fragments import DOWNLOADS_DIR, Fragment, esc, paragraph

NO_TICKETS = "No tickets have been logged for this client yet."

TRACED = {
    "tickets_created": "Tickets logged", "tickets_resolved": "Tickets resolved",
    "open_at_end": "Open at month end", "waiting_on_customer_at_end": "Waiting on you at month end",
    "response_sla_pct": "Responses on time", "resolution_sla_pct": "Resolutions on time",
    "fcr_pct": "Fixed at first contact", "csat_pct": "Satisfied customers", "proactive_pct": "Proactive tickets",
    "reopen_pct": "Reopened", "escalation_pct": "Escalated",
}
# a count's tickets are all "counted" with this word; a percentage's get one of two words
COUNTED = {"tickets_created": "logged", "tickets_resolved": "resolved", "open_at_end": "open at month end",
           "waiting_on_customer_at_end": "waiting on you"}
VERDICTS = {"response_sla_pct": ("met", "missed"), "resolution_sla_pct": ("met", "missed"),
            "fcr_pct": ("fixed at first contact", "not fixed at first contact"),
            "csat_pct": ("satisfied", "not satisfied"), "proactive_pct": ("proactive", "reactive"),
            "reopen_pct": ("reopened", "not reopened"), "escalation_pct": ("escalated", "not escalated")}
EXCEPTIONS = ("response_sla_pct", "resolution_sla_pct", "csat_pct")  # listed on the page: the misses
INLINE_IDS = 25  # exceptions named on the page; the rest are in the figure's CSV
TRACE_COLUMNS = {"ticket_id": "Ticket", "title": "Title", "priority": "Priority", "verdict": "Verdict",
                 "created": "Logged", "first_response": "First response", "resolved": "Resolved",
                 "response_minutes": "Response (working min)",
                 "response_target_minutes": "Response target (min)",
                 "resolution_minutes": "Resolution (working min)",
                 "resolution_target_minutes": "Resolution target (min)"}


def trace_table(ctx: ReportContext, ids: list[str], hits: list[str] | None, words: tuple[str, str]) -> pl.DataFrame:
    """The tickets behind a figure for its CSV: id, title, priority, the figure's verdict on each
    (words[0] for a counted ticket, words[1] otherwise) and its times (the client's local time)."""
    stamp = "%Y-%m-%d %H:%M"
    rows = (ctx.local(ctx.ticket_sla.filter(pl.col("ticket_id").is_in(ids)), "created_at", "first_response_at",
                      "resolved_at")
            .join(ctx.tables["tickets"].select("ticket_id", "title"), on="ticket_id", how="left"))
    counted = pl.lit(True) if hits is None else pl.col("ticket_id").is_in(hits)
    return rows.select(
        "ticket_id", "title", "priority",
        pl.when(counted).then(pl.lit(words[0])).otherwise(pl.lit(words[1])).alias("verdict"),
        pl.col("created_at").dt.strftime(stamp).alias("created"),
        pl.col("first_response_at").dt.strftime(stamp).alias("first_response"),
        pl.col("resolved_at").dt.strftime(stamp).alias("resolved"),
        *(pl.col(c).round(1) for c in ("response_minutes", "response_target_minutes", "resolution_minutes",
                                       "resolution_target_minutes")),
    ).sort("ticket_id").rename(TRACE_COLUMNS)


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def tickets_behind(ctx: ReportContext) -> Fragment:
    """For each headline figure, the tickets it is computed from: a CSV download per figure
    (id, title, priority, the figure's verdict and times) and, on the page, only the exceptions:
    the targets missed, the unsatisfied surveys, and why a figure is not measured."""
    if ctx.ticket_sla.is_empty():
        return paragraph(NO_TICKETS)
    blocks, files, lines = [], {}, []
    for kpi, label in TRACED.items():
        reason = ctx.not_measured(kpi)
        try:
            ids = None if reason else ctx.ids(kpi)
        except KeyError:  # the KPI's table was not provided: nothing to trace
            reason = "not in this export: its data was not provided"
        if reason:
            blocks.append(f'<div class="sr-trace"><p><b>{esc(label)}</b>: Not measured ({esc(reason)}).</p></div>')
            lines.append(f"{label}: not measured ({reason})")
            continue
        tickets = ids.get("denominator", ids.get("tickets", []))
        hits = ids.get("numerator")
        words = VERDICTS.get(kpi, (COUNTED.get(kpi, "counted"), ""))
        name = f"{ctx.period}-{_slug(label)}.csv"
        files[name] = io.csv_for_people(trace_table(ctx, tickets, hits, words))
        link = f'<a class="sr-csv" href="{DOWNLOADS_DIR}/{esc(name)}" download>{esc(name)}</a>'
        counts = (f"{len(tickets)} tickets" if hits is None
                  else f"{len(hits)} of {len(tickets)} {words[0]}")
        body = f"<p><b>{esc(label)}</b>: {esc(counts)} · all of them, with times: {link}</p>"
        if kpi in EXCEPTIONS and hits is not None:
            misses = sorted(set(tickets) - set(hits))
            shown = ", ".join(misses[:INLINE_IDS])
            more = f" … and {len(misses) - INLINE_IDS} more in the CSV" if len(misses) > INLINE_IDS else ""
            if misses:
                body += f'<p class="sr-exceptions">{esc(words[1].capitalize())} ({len(misses)}): {esc(shown + more)}</p>'
        blocks.append(f'<div class="sr-trace">{body}</div>')
        lines.append(f"{label}: {counts} ({DOWNLOADS_DIR}/{name})")
    return Fragment('<div class="sr-traces">' + "".join(blocks) + "</div>", "\n".join(lines), files)
