"""Sections on the client's own record of calls and emails, next to the provider's tickets.

Each function takes the ReportContext and returns a Fragment; a client without a contact
record gets an empty fragment (nothing extra on its pages, not an error). The wording is
neutral: a contact that matches no ticket is "not matched", which may have many reasons (a
question answered on the phone, a call about an existing ticket), not an accusation; a ticket
with no contact in the client's record is normal for anything the provider raised itself.
`reconciliation` is the monthly report's section and `matching_quality` the data-quality
page's; the parts are public so other packs (the contract review) can reuse them.
"""

from __future__ import annotations

import polars as pl

from pipelines.core.periods import period_title
from pipelines.metrics.contacts import month_summary
from pipelines.report import narrative as say
from pipelines.report.context import ReportContext
from pipelines.report.fragments import Fragment, Tile, bullets, esc, join, paragraph, table, tiles

NOTHING = Fragment("", "")
MATCH_WORDS = {
    "ticket_ref": "names the ticket number",
    "requester_and_time": "same person, ticket logged soon after",
    "subject_and_time": "same subject, ticket logged soon after",
    "time_only": "only the time fits (no name or subject to compare)",
    "repeat_contact": "another contact about a request already matched",
    "not_matched": "no ticket found",
    "window_open": "too close to the month end to tell",
}
CHANNEL_WORDS = {"phone": "call", "email": "email", "chat": "chat", "portal": "portal request",
                 "walk-in": "visit"}


def has_log(ctx: ReportContext) -> bool:
    """Whether the client gave its own record of calls and emails."""
    contacts = ctx.tables.get("contacts")
    return contacts is not None and not contacts.is_empty()


def summary(ctx: ReportContext) -> dict:
    """The month's reconciliation figures (pipelines.metrics.contacts.month_summary)."""
    return month_summary(ctx.contact_matches, ctx.ticket_contacts, ctx.period, ctx.contract)


def heading(text: str) -> Fragment:
    return Fragment(f'<h2 class="sr-section">{esc(text)}</h2>', text)


def reconciliation(ctx: ReportContext) -> Fragment:
    """The monthly report's section: the figures, the contacts not matched, the lag and the
    response time from the first contact, and the tickets with no contact."""
    if not has_log(ctx):
        return NOTHING
    s = summary(ctx)
    return join(heading("Your own record of calls and emails"), overview(ctx, s), contact_tiles(ctx, s),
                unmatched_contacts(ctx), first_contact_response(ctx, s), tickets_without_contact(ctx, s))


def overview(ctx: ReportContext, s: dict | None = None) -> Fragment:
    """What the client's record holds this month and how much of it the tickets account for."""
    s = s or summary(ctx)
    month = period_title(ctx.period)
    if not s["contacts"]:
        return paragraph(f"Your record holds no calls or emails to the provider in {month}.")
    b = s["by_match"]
    lines = [f"Your record holds {say.plural(s['contacts'], 'call or email', 'calls and emails')} to the "
             f"provider in {month}; {s['matched']} of them match a ticket in the provider's export."]
    if b["not_matched"]:
        lines.append(f"{b['not_matched']} did not match any ticket (listed below): they may be requests "
                     "that were never logged, or calls answered on the spot or about an existing ticket.")
    if b["window_open"]:
        lines.append(f"{b['window_open']} came in the last hours of the month; their ticket may still have "
                     "been logged after it, so they are not judged here.")
    if s["inbound"]:
        lines.append(f"{say.plural(s['inbound'], 'call or email', 'calls and emails')} from the provider "
                     "to you are in the record too; they are not requests and are not matched.")
    return paragraph(" ".join(lines))


def contact_tiles(ctx: ReportContext, s: dict | None = None) -> Fragment:
    """The month's reconciliation at a glance, each figure with its count."""
    s = s or summary(ctx)
    judged = s["contacts"] - s["by_match"]["window_open"]
    target = ctx.contract.targets.response_sla_pct
    lag = s["lag_median_minutes"]
    provider, mine = s["provider"], s["from_contact"]
    return tiles([
        Tile("Calls and emails in your record", say.number(s["contacts"]), f"to the provider in "
             f"{period_title(ctx.period)}", "info"),
        Tile("Matched to a ticket", say.pct(100 * s["matched"] / judged if judged else None, judged, "share"),
             f"n={judged}", "info"),
        Tile("Not matched", say.number(s["by_match"]["not_matched"]), "listed below", "info"),
        Tile("Time from your first contact to the ticket (median)",
             f"too few to judge (n={s['lag_n']})" if say.thin(s["lag_n"], "share") else say.duration(lag),
             f"working time · n={s['lag_n']}", "info"),
        Tile("Responses on time: the provider's record", say.pct(provider["pct"], provider["n"]),
             f"target {target:g}% · n={provider['n']}", say.status(provider["pct"], target, provider["n"])),
        Tile("Responses on time: from your first contact", say.pct(mine["pct"], mine["n"]),
             f"target {target:g}% · n={mine['n']}", say.status(mine["pct"], target, mine["n"])),
    ])


def unmatched_contacts(ctx: ReportContext) -> Fragment:
    """Every call or email of the month that matched no ticket (times in the client's zone)."""
    rows = (ctx.local(ctx.contact_matches, "at")
            .filter((pl.col("month") == ctx.period) & (pl.col("match") == "not_matched"))
            .sort("at", "contact_id")
            .with_columns(pl.col("channel").replace_strict(CHANNEL_WORDS, default=pl.col("channel"))))
    return table(rows, {"at": "When", "channel": "How", "requester": "Who", "subject": "Subject",
                        "contact_id": "Your reference", "why": "Why not matched"},
                 caption=f"Calls and emails with no matching ticket, {period_title(ctx.period)} "
                         f"(times in {ctx.zone})",
                 empty="Every call and email of the month matched a ticket.")


def first_contact_response(ctx: ReportContext, s: dict | None = None) -> Fragment:
    """The lag from the client's first contact to the ticket, and the response SLA measured from
    the ticket's creation (the provider's figure) and from the first contact, on the same tickets."""
    s = s or summary(ctx)
    n = s["with_contact"]
    if not n:
        return paragraph(f"No ticket logged in {period_title(ctx.period)} started with a call or email "
                         "in your record, so there is nothing to compare.")
    month = period_title(ctx.period)
    late = s["logged_over_hour"]
    lag = (f"too few to judge (n={s['lag_n']})" if say.thin(s["lag_n"], "share") else
           f"{say.duration(s['lag_median_minutes'])} (median; 9 in 10 within "
           f"{say.duration(s['lag_p90_minutes'])})")
    intro = paragraph(
        f"{say.plural(n, 'ticket')} logged in {month} started with a call or email in your record. "
        f"From your first contact to the ticket being logged took {lag} of working time; "
        f"{len(late)} {'was' if len(late) == 1 else 'were'} logged more than an hour after it. "
        "The provider's response clock starts when a ticket is logged; measured from your first "
        "contact instead, on the same tickets and against the same targets:")
    frame = pl.DataFrame([
        {"measured": "From the ticket being logged (the provider's figure)", **s["provider"]},
        {"measured": "From your first call or email", **s["from_contact"]},
    ]).with_columns(pl.struct("pct", "n").map_elements(lambda r: say.pct(r["pct"], r["n"]),
                                                       return_dtype=pl.String).alias("on_time"))
    compare = table(frame, {"measured": "Response time measured", "met": "Met", "breached": "Missed",
                            "pending": "Not yet due", "on_time": "On time"},
                    caption=f"Response SLA, the {say.plural(n, 'ticket')} with a contact, {month}")
    differ = (ctx.local(ctx.ticket_contacts, "first_contact_at", "created_at")
              .filter(pl.col("ticket_id").is_in(s["differ_ids"]))
              .with_columns(*[pl.col(c).map_elements(say.duration, return_dtype=pl.String)
                              for c in ("logged_after_minutes", "response_minutes",
                                        "response_from_contact_minutes", "response_target_minutes")])
              .sort("created_at", "ticket_id"))
    listed = table(differ, {"ticket_id": "Ticket", "priority": "Priority", "first_contact_at": "Your first contact",
                            "created_at": "Logged", "logged_after_minutes": "Logged after",
                            "response_target_minutes": "Target", "response_minutes": "Response (provider)",
                            "response_status": "Verdict (provider)",
                            "response_from_contact_minutes": "Response (from your contact)",
                            "response_from_contact_status": "Verdict (from your contact)"},
                   caption="Tickets whose verdict differs when measured from your first contact",
                   empty="Measured from your first contact, every verdict is the same as the provider's.")
    return join(intro, compare, listed)


def tickets_without_contact(ctx: ReportContext, s: dict | None = None) -> Fragment:
    """Tickets of the month with no call or email in the client's record, by how they came in."""
    s = s or summary(ctx)
    if not s["tickets"]:
        return paragraph(f"No tickets were logged in {period_title(ctx.period)}.")
    if not s["without_contact"]:
        return paragraph("Every ticket logged this month matches a call or email in your record.")
    text = (f"{s['without_contact']} of the {say.plural(s['tickets'], 'ticket')} logged in "
            f"{period_title(ctx.period)} have no call or email in your record. That is expected for "
            f"tickets the provider raised itself ({s['without_proactive']} from monitoring or scheduled "
            "maintenance) and for requests made in ways your record does not keep (the portal, chat).")
    rows = pl.DataFrame([{"source": src, "tickets": len(ids), "ids": ids}
                         for src, ids in s["without_by_source"].items()],
                        schema={"source": pl.String, "tickets": pl.Int64, "ids": pl.List(pl.String)})
    return join(paragraph(text), table(rows.sort(["tickets", "source"], descending=[True, False]),
                                       {"source": "Came in by", "tickets": "Tickets", "ids": "Ticket ids"}))


def matching_quality(ctx: ReportContext) -> Fragment:
    """For the data-quality page: how the month's calls and emails were matched, the rules used,
    contacts naming a ticket that is not in the export, and the weakest matches to check."""
    if not has_log(ctx):
        return NOTHING
    s = summary(ctx)
    rules = ctx.contract.contact_matching
    counts = pl.DataFrame([{"match": m, "contacts": n, "meaning": MATCH_WORDS[m]}
                           for m, n in s["by_match"].items() if n])
    mine = ctx.local(ctx.contact_matches, "at").filter(pl.col("month") == ctx.period)
    unknown = mine.filter(pl.col("ticket_ref").is_not_null() & (pl.col("match") != "ticket_ref")
                          & (pl.col("direction") == "outbound"))
    weak = mine.filter(pl.col("match").is_in(["time_only", "subject_and_time"])
                       | (pl.col("score") < 0.7)).sort("score", "at")
    return join(
        heading("Matching your record of calls and emails"),
        bullets([f"A ticket logged within {say.duration(rules.window)} of working time after a call or "
                 f"email (or up to {say.duration(rules.early)} before it) can be its ticket; the same "
                 "person, a similar subject and a short gap make the match; each ticket takes one "
                 f"contact (repeated contacts aside) and matches scoring under {rules.min_score:g} are "
                 "not made.", "A contact naming a ticket number belongs to that ticket."]),
        table(counts, {"match": "How", "contacts": "Calls and emails", "meaning": "What it means"},
              caption=f"How the calls and emails of {period_title(ctx.period)} were matched",
              empty="No calls or emails this month."),
        table(unknown, {"at": "When", "contact_id": "Your reference", "ticket_ref": "Ticket named",
                        "match": "Matched instead"},
              caption="Calls and emails naming a ticket number that is not in the provider's export",
              empty="Every ticket number named in your record is in the provider's export."),
        table(weak, {"at": "When", "contact_id": "Your reference", "ticket_id": "Ticket", "score": "Score",
                     "why": "Evidence"}, caption="The weakest matches, to check", max_rows=50,
              empty="No weak matches this month."),
    )

