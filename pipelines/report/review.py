"""The contract review pack's sections (each takes the ReviewContext, returns something to show):
the summary of every target over the term, service levels per priority and the worst months,
reactive vs proactive work, what people said, recurring problems, effort and value, security
hygiene. The agenda, the comparisons and the what-if targets are in `pipelines.report.review_agenda`.

Every number comes from the term's metrics (`pipelines.report.term`); thin samples say "too
few to judge", KPIs the export cannot support say "not measured" and why, and every list
names its tickets (all of a figure's tickets are in its CSV download).
"""

from __future__ import annotations

import polars as pl

from pipelines.core import io
from pipelines.core.periods import period_title
from pipelines.report import narrative as say
from pipelines.report import charts, review_charts, term
from pipelines.report.fragments import DOWNLOADS_DIR, Fragment, bullets, esc, join, note, paragraph, table
from pipelines.report.review_context import ReviewContext
from pipelines.report.themes import themes_of

ALERT_WINDOW_DAYS = 7  # a reactive ticket "followed an alert" when logged this soon after one on its device
WORST_MONTHS = 3
LISTED = 40  # tickets named on the page per list; all of them are in the list's CSV
ANCHORS = {"summary": "Summary", "sla": "Service levels over the term", "proactive": "Reactive and proactive work",
           "surveys": "What your people said", "recurring": "Recurring problems", "effort": "Effort and value",
           "security": "Security hygiene", "changes": "Since the last review", "agenda": "Suggested agenda",
           "scenarios": "What-if targets", "comparisons": "Fair comparisons"}
NO_MONTHS = "The data holds no month of this term, so there is nothing to review."


def anchored(anchor: str, fragment: Fragment) -> Fragment:
    """A section's output with an id the agenda's evidence links point at."""
    return Fragment(f'<div class="sr-review" id="rv-{anchor}">{fragment.html}</div>', fragment.text,
                    fragment.files, fragment.data)


def evidence(anchor: str) -> str:
    """'section "Service levels over the term"' (the words the agenda points with)."""
    return f'section "{ANCHORS[anchor]}"'


def csv_file(rctx: ReviewContext, what: str, frame: pl.DataFrame) -> tuple[str, str]:
    """(file name, CSV text) of a list's tickets, published beside the page."""
    name = f"review-{rctx.months[0]}-{rctx.months[-1]}-{what}.csv"
    return name, io.csv_for_people(frame)


def _download(name: str) -> str:
    return f'<p class="sr-csv-line">All of them: <a class="sr-csv" href="{DOWNLOADS_DIR}/{esc(name)}" download>' \
           f"{esc(name)}</a></p>"


# ---------------------------------------------------------------- notice and summary


def notice(rctx: ReviewContext) -> Fragment:
    """Which months the pack covers, why, and what the data does not cover."""
    if not rctx.months:
        return note(NO_MONTHS, "warn")
    ends = say.date_of(rctx.report.data_ends, rctx.zone)
    lines = [f"This review covers {rctx.title} ({say.plural(len(rctx.months), 'month')}); the data runs to {ends}. "
             "Each month is judged as it stood at its end, with the contract's own rules."]
    if rctx.before_data:
        lines.append(f"The data starts in {period_title(rctx.months[0])}: "
                     f"{term.month_list(rctx.before_data)} {'is' if len(rctx.before_data) == 1 else 'are'} "
                     "not in it and not reviewed.")
    partial = [m for m in rctx.months if m not in rctx.complete]
    if partial:
        lines.append(f"{term.month_list(partial)} {'is' if len(partial) == 1 else 'are'} not complete in the data: "
                     "shown, but not judged against targets nor compared.")
    return note(" ".join(lines), "warn" if partial or rctx.before_data else "info")


def degraded(rctx: ReviewContext) -> dict[str, list[tuple[str, float, float]]]:
    """Months clearly worse than the rest of the term (see `term.clearly_worse`)."""
    return term.clearly_worse(rctx.kpis.filter(pl.col("month").is_in(rctx.complete)), rctx.verdicts)


def target_rows(rctx: ReviewContext) -> list[dict]:
    """Per contract target: the pooled value over the term, months met / judged / missed, the halves."""
    first, second = term.halves(rctx.complete)
    rows = []
    for t in term.TARGETS:
        v = rctx.verdicts.filter(pl.col("key") == t.key)
        missed = v.filter(pl.col("verdict") == term.MISSED)["month"].to_list()
        judged = v.filter(pl.col("verdict").is_in([term.MET, term.MISSED])).height
        whole = rctx.pooled(t.key, rctx.complete)
        rows.append({"target": t, "goal": t.goal(rctx.contract), "pooled": whole, "missed": missed,
                     "met": judged - len(missed), "judged": judged, "not_measured": rctx.not_measured(t.key),
                     "first": rctx.pooled(t.key, first), "second": rctx.pooled(t.key, second)})
    return rows


def _term_value(row: dict) -> str:
    t, p = row["target"], row["pooled"]
    if row["not_measured"]:
        return f"not measured ({row['not_measured']})"
    if t.key == "onsite_visits":
        return "n/a" if p.value is None else f"{p.value:.0f} visits (included: {p.goal_total:.0f})"
    text = p.text(t.kind or "", t.unit, row["goal"])
    if p.low is not None and not say.thin(p.n, t.kind):
        text += f" (n={p.n}, likely {p.low:.1f}–{p.high:.1f}%)"
    elif t.n and p.n:
        text += f" (n={p.n})"
    return text


def _below(row: dict) -> bool:
    t, p = row["target"], row["pooled"]
    if row["not_measured"] or p.value is None or (t.kind and say.thin(p.n, t.kind)):
        return False
    return p.value < (p.goal_total if t.key == "onsite_visits" else row["goal"])


def summary(rctx: ReviewContext) -> Fragment:
    """The one-page summary: the term in numbers, the months that degraded, each target met in how
    many months and its trend; the pack's figures are kept for the next review to compare with."""
    if not rctx.months:
        return note(NO_MONTHS, "warn")
    k = rctx.kpis
    rows = target_rows(rctx)
    lines = [f"Over {rctx.title}, {say.plural(int(k['tickets_created'].sum()), 'ticket')} were logged for "
             f"{rctx.name} and {int(k['tickets_resolved'].sum())} resolved."]
    worse = degraded(rctx)
    details = [f"{period_title(m)}: " + ", ".join(f"{label} {value:.1f}% (other months {rest:.1f}%)"
                                                 for label, value, rest in found) for m, found in worse.items()]
    if worse:
        labels = list(dict.fromkeys(label for found in worse.values() for label, _, _ in found))
        lines.append(f"The service degraded in {term.month_list(list(worse))}: {term.and_list(labels)} "
                     f"{'was' if len(labels) == 1 else 'were'} clearly worse than in the rest of the term "
                     "(below the target and below the other months beyond the margin of chance).")
    else:
        lines.append("No month was clearly worse than the rest of the term.")
    below = [r for r in rows if _below(r)]
    if below:
        lines.append("Targets missed over the term as a whole: " + "; ".join(
            f"{r['target'].label} {_term_value(r).split(' (')[0]} against {r['goal']:g}"
            f"{r['target'].unit}{' a month' if r['target'].key == 'onsite_visits' else ''}" for r in below) + ".")
    else:
        lines.append("Every measured target was met over the term as a whole.")
    frame = pl.DataFrame([{
        "target": r["target"].label, "goal": f"{r['goal']:g}{r['target'].unit}"
        + (" a month" if r["target"].key == "onsite_visits" else ""),
        "term": _term_value(r),
        "months": "not measured" if r["not_measured"] else f"{r['met']} of {r['judged']}" if r["judged"] else "n/a",
        "missed": ", ".join(period_title(m) for m in r["missed"]) or "—",
        "trend": "—" if r["not_measured"] else term.trend_words(
            "", r["first"], r["second"], r["target"].kind, r["target"].unit).strip().capitalize(),
    } for r in rows])
    body = join(paragraph(" ".join(lines)), bullets(details) if details else Fragment(""), table(frame, {
        "target": "Contract target", "goal": "Target", "term": "Over the term", "months": "Months met",
        "missed": "Months missed", "trend": "First half vs second half"}, caption=f"Every target, {rctx.title}"))
    text = "\n".join([" ".join(lines), *(f"- {d}" for d in details), f"Every target, {rctx.title}:", *(
        f"- {r['target']} (target {r['goal']}): {r['term']} over the term; months met: {r['months']}; missed: "
        f"{r['missed']}. {r['trend'].strip('—')}".rstrip() for r in frame.iter_rows(named=True))])
    return anchored("summary", Fragment(body.html, text, data=figures(rctx, rows)))


def figures(rctx: ReviewContext, rows: list[dict] | None = None) -> dict:
    """The pack's term figures, kept in the notebook (DATA_MIME) for the next review to compare."""
    rows = rows or target_rows(rctx)
    credits = term.credits_owed(rctx.kpis, rctx.contract)
    return {"client_id": rctx.report.client_id, "start": rctx.months[0], "end": rctx.months[-1],
            "currency": rctx.contract.currency,
            "credits_owed": term.finite(float(credits["amount"].fill_null(0).sum())),
            "tickets_created": int(rctx.kpis["tickets_created"].sum()),
            "targets": {r["target"].key: {"label": r["target"].label, "value": term.finite(r["pooled"].value),
                                          "n": r["pooled"].n, "met": r["met"], "judged": r["judged"],
                                          "measured": not r["not_measured"]} for r in rows}}


def targets_chart(rctx: ReviewContext):
    """Every target, month by month: met, missed, too few to judge, not measured."""
    if not rctx.months:
        return note(NO_MONTHS, "warn")
    return review_charts.target_grid(rctx.verdicts)


# ---------------------------------------------------------------- service levels


def sla_term(rctx: ReviewContext) -> Fragment:
    """SLA compliance over the term per priority: pooled, with its count and a 95% interval."""
    if not rctx.months:
        return note(NO_MONTHS, "warn")
    rows = term.sla_by_priority(rctx.kpis, rctx.by_priority, rctx.contract)
    sla = rctx.contract.sla
    frame = rows.with_columns(
        pl.col("target").str.to_titlecase().alias("what"),
        pl.struct("target", "priority").map_elements(
            lambda r: "—" if r["priority"] == "All" else say.target(sla[r["priority"]], r["target"])
            + (f" ({sla[r['priority']].calendar})" if r["target"] == "resolution" else ""),
            return_dtype=pl.String).alias("allowed"),
        pl.struct("pct", "n").map_elements(lambda r: say.pct(r["pct"], r["n"]), return_dtype=pl.String).alias("on_time"),
        pl.struct("low", "high", "n").map_elements(
            lambda r: "—" if r["low"] is None or say.thin(r["n"], "sla") else f"{r['low']:.1f}–{r['high']:.1f}%",
            return_dtype=pl.String).alias("interval"),
        pl.format("{} of {}", "months_met", "months_judged").alias("months"),
    )
    t = rctx.contract.targets
    intro = paragraph(f"Every response and resolution decided in the term, added up per priority (the contract "
                      f"asks for {t.response_sla_pct:g}% of responses and {t.resolution_sla_pct:g}% of resolutions on "
                      f"time). 'Months met': months with at least {say.MIN_N['sla']} decided targets in which that "
                      "percentage was reached.")
    return anchored("sla", join(intro, table(frame, {
        "what": "Target", "priority": "Priority", "allowed": "Allowed", "met": "On time", "n": "Decided",
        "on_time": "On time %", "interval": "95% interval", "months": "Months met"},
        caption=f"Service levels over the term, {rctx.title}")))


def sla_chart(rctx: ReviewContext):
    if not rctx.months:
        return note(NO_MONTHS, "warn")
    return charts.sla_trend(rctx.kpis, rctx.by_priority, rctx.contract.targets.model_dump())


def breaches(rctx: ReviewContext) -> pl.DataFrame:
    """Every target missed in the term's months: ticket, priority, category, title, target, due, allowed, took."""
    sla = rctx.report.local(rctx.report.ticket_sla, "response_due_at", "resolution_due_at")
    info = rctx.report.tables["tickets"].select("ticket_id", "title", "category")
    parts = [sla.filter((pl.col(f"{t}_status") == "breached") & pl.col(f"{t}_month").is_in(rctx.months))
             .select("ticket_id", "priority", pl.col(f"{t}_month").alias("month"), pl.lit(t).alias("target"),
                     pl.col(f"{t}_due_at").dt.strftime("%Y-%m-%d %H:%M").alias("due"),
                     pl.col(f"{t}_target_minutes").alias("allowed_minutes"), pl.col(f"{t}_minutes").alias("took_minutes"))
             for t in ("response", "resolution")]
    return (pl.concat(parts).join(info, on="ticket_id", how="left")
            .with_columns(pl.col("allowed_minutes").map_elements(say.duration, return_dtype=pl.String).alias("allowed"),
                          pl.col("took_minutes").map_elements(say.duration, return_dtype=pl.String)
                          .fill_null("still open").alias("took"))
            .sort("month", "due"))


def worst_months(rctx: ReviewContext) -> Fragment:
    """The months with the most targets missed (share of decided targets), and why: the categories
    and the tickets behind the misses."""
    k = rctx.kpis.filter(pl.col("month").is_in(rctx.complete)).with_columns(
        (pl.col("response_sla_n") + pl.col("resolution_sla_n")).alias("__n"),
        (pl.col("response_breached") + pl.col("resolution_breached")).alias("__missed"))
    k = k.filter((pl.col("__n") >= say.MIN_N["sla"]) & (pl.col("__missed") > 0))
    if k.is_empty():
        return paragraph("No month of the term had enough decided targets to judge, or none was missed.")
    worst = k.sort(pl.col("__missed") / pl.col("__n"), "month", descending=[True, False]).head(WORST_MONTHS)
    missed = breaches(rctx)
    lines = []
    for row in worst.iter_rows(named=True):
        mine = missed.filter(pl.col("month") == row["month"])
        cats = (mine.group_by(pl.col("category").fill_null("no category")).len().sort(["len", "category"],
                descending=[True, False]).head(3))
        why = ", ".join(f"{c} {n}" for c, n in cats.iter_rows())
        lines.append(f"{period_title(row['month'])}: {row['response_breached']} of {row['response_sla_n']} responses "
                     f"and {row['resolution_breached']} of {row['resolution_sla_n']} resolutions late "
                     f"({100 * row['__missed'] / row['__n']:.1f}% of decided targets); most in {why}.")
    listed = missed.filter(pl.col("month").is_in(worst["month"].to_list()))
    name, text = csv_file(rctx, "targets-missed", missed.select(
        "ticket_id", "month", "priority", "category", "title", "target", "due", "allowed", "took"))
    shown = table(listed, {"ticket_id": "Ticket", "month": "Month", "priority": "Priority", "category": "Category",
                           "title": "Title", "target": "Target missed", "due": "Due", "allowed": "Allowed",
                           "took": "Took"}, max_rows=LISTED,
                  caption=f"Targets missed in the worst months (times in {rctx.zone})")
    body = join(bullets(lines), shown)
    return Fragment(body.html + _download(name), body.text, {name: text})


# ---------------------------------------------------------------- reactive and proactive


def alert_followups(rctx: ReviewContext) -> pl.DataFrame:
    """Reactive tickets logged within ALERT_WINDOW_DAYS after a proactive (monitoring) ticket on the
    same device, in the term: ticket_id, asset, created_at, alert_id, alert_at, month."""
    facts = rctx.report.facts.tickets.filter(pl.col("asset").is_not_null() & ~pl.col("excluded"))
    alerts = (facts.filter(pl.col("is_proactive"))
              .select("asset", pl.col("ticket_id").alias("alert_id"), pl.col("created_at").alias("alert_at"))
              .sort("alert_at"))
    reactive = facts.filter(~pl.col("is_proactive") & rctx.ticket_month()).sort("created_at")
    matched = reactive.join_asof(alerts, left_on="created_at", right_on="alert_at", by="asset",
                                 strategy="backward", allow_exact_matches=False, check_sortedness=False)
    window = pl.duration(days=ALERT_WINDOW_DAYS)
    return (matched.filter(pl.col("alert_at").is_not_null() & (pl.col("created_at") - pl.col("alert_at") <= window))
            .select("ticket_id", "asset", "created_at", "alert_id", "alert_at", pl.col("created_month").alias("month"))
            .sort("created_at"))


def proactive(rctx: ReviewContext) -> Fragment:
    """The proactive share per month and its trend, and the reactive tickets that followed an alert."""
    reason = rctx.not_measured("proactive_pct")
    if reason:
        return anchored("proactive", note(f"Proactive share: not measured ({reason}).", "info"))
    first, second = term.halves(rctx.complete)
    t = rctx.contract.targets.proactive_pct
    whole = rctx.pooled("proactive_pct", rctx.complete)
    lines = [f"Proactive share over the term: {whole.text('share')} of {whole.n} tickets (target {t:g}%).",
             term.trend_words("The proactive share", rctx.pooled("proactive_pct", first),
                              rctx.pooled("proactive_pct", second), "share")]
    follow = alert_followups(rctx)
    reactive = rctx.report.facts.tickets.filter(~pl.col("is_proactive") & rctx.ticket_month()).height
    lines.append(f"{say.plural(follow.height, 'reactive ticket')} of {reactive} followed a monitoring alert on the "
                 f"same device within {ALERT_WINDOW_DAYS} days: problems the alert had already seen, "
                 "which the people then had to report.")
    frame = follow.with_columns(pl.col("created_at").dt.convert_time_zone(rctx.zone).dt.strftime("%Y-%m-%d %H:%M"),
                                pl.col("alert_at").dt.convert_time_zone(rctx.zone).dt.strftime("%Y-%m-%d %H:%M"))
    columns = {"ticket_id": "Reactive ticket", "created_at": "Logged", "asset": "Device", "alert_id": "After alert",
               "alert_at": "Alert logged"}
    name, text = csv_file(rctx, "after-alerts", frame.select(list(columns)).rename(columns))
    body = join(bullets(lines), table(frame, columns, max_rows=LISTED, empty="No reactive ticket followed an alert.",
                                      caption="Reactive tickets that followed an alert on the same device"))
    return anchored("proactive", Fragment(body.html + (_download(name) if follow.height else ""), body.text,
                                          {name: text} if follow.height else None))


def proactive_chart(rctx: ReviewContext):
    if rctx.not_measured("proactive_pct") or not rctx.months:
        return note("Proactive share: not measured.", "info")
    return review_charts.share_by_month(rctx.kpis, "proactive_pct", "proactive_n", "Proactive share",
                                        rctx.contract.targets.proactive_pct, term.halves(rctx.complete))


# ---------------------------------------------------------------- surveys


def term_surveys(rctx: ReviewContext) -> pl.DataFrame:
    """The client's surveys answered in the term (local months), with the ticket's SLA outcome."""
    surveys = rctx.report.tables.get("surveys")
    if surveys is None:
        return pl.DataFrame()
    outcome = (pl.when((pl.col("response_status") == "breached") | (pl.col("resolution_status") == "breached"))
               .then(pl.lit("missed a target"))
               .when((pl.col("response_status") == "met") & (pl.col("resolution_status") == "met"))
               .then(pl.lit("met their targets")))
    return (surveys.with_columns(pl.col("responded_at").dt.convert_time_zone(rctx.zone).dt.strftime("%Y-%m")
                                 .alias("month"))
            .filter(pl.col("month").is_in(rctx.months))
            .join(rctx.report.ticket_sla.select("ticket_id", "response_status", "resolution_status"),
                  on="ticket_id", how="left")
            .with_columns(outcome.alias("outcome")).sort("responded_at"))


def negative_comments(rctx: ReviewContext) -> pl.DataFrame:
    """Every negative survey comment of the term with its themes (one row per comment and theme;
    'Other' for a comment no theme covers)."""
    surveys = term_surveys(rctx)
    if surveys.is_empty():
        return pl.DataFrame(schema={"theme": pl.String, "ticket_id": pl.String, "month": pl.String,
                                    "rating": pl.String, "comment": pl.String})
    negative = surveys.filter((pl.col("sentiment") == "negative") & pl.col("comment").is_not_null())
    rows = [(theme, t, m, r, c) for t, m, r, c in negative.select("ticket_id", "month", "rating", "comment").iter_rows()
            for theme in (themes_of(c) or ["Other"])]
    return pl.DataFrame(rows, schema=["theme", "ticket_id", "month", "rating", "comment"], orient="row")


def surveys(rctx: ReviewContext) -> Fragment:
    """CSAT (and NPS) over the term, the response rate, and how often a survey was negative when
    its ticket missed a target compared with when it met them."""
    if rctx.report.tables.get("surveys") is None:
        return anchored("surveys", note("No survey data was provided, so satisfaction is not shown.", "info"))
    c = rctx.contract
    csat = rctx.pooled("csat_pct", rctx.complete)
    first, second = term.halves(rctx.complete)
    k = rctx.kpis
    rate = term.pooled(k, term.Target("survey_response_rate_pct", "Response rate", "share", "survey_response_rate_n"))
    lines = [f"CSAT over the term: {csat.text('csat')}"
             + (f" of {csat.n} answers (likely {csat.low:.1f}–{csat.high:.1f}%)" if csat.low is not None else "")
             + f"; target {c.targets.csat_pct:g}%.",
             term.trend_words("CSAT", rctx.pooled("csat_pct", first), rctx.pooled("csat_pct", second), "csat"),
             f"Response rate: {rate.text('share')} of {rate.n} resolved tickets had a survey answered."]
    if c.survey_scale == "0-10":
        nps = k.filter(pl.col("nps").is_not_null())
        n = int(nps["nps_n"].sum() or 0)
        value = float((nps["nps"] * nps["nps_n"]).sum() / n) if n else None
        shown = say.number(value) if n and not say.thin(n, "csat") else say.pct(None, n, "csat")
        lines.append(f"NPS over the term: {shown} (n={n}).")
    answered = term_surveys(rctx).filter(pl.col("outcome").is_not_null())
    for outcome in ("missed a target", "met their targets"):
        mine = answered.filter(pl.col("outcome") == outcome)
        bad = mine.filter(pl.col("sentiment") == "negative").height
        negative = say.pct(100 * bad / mine.height if mine.height else None, mine.height, "csat")
        lines.append(f"Surveys on tickets that {outcome}: {negative} negative ({bad} of {mine.height}).")
    return anchored("surveys", bullets(lines))


def survey_chart(rctx: ReviewContext):
    if rctx.report.tables.get("surveys") is None or not rctx.months:
        return note("No survey data was provided, so satisfaction is not shown.", "info")
    return charts.csat_trend(rctx.kpis, rctx.contract.targets.csat_pct, nps=rctx.contract.survey_scale == "0-10")


def comments_by_theme(rctx: ReviewContext) -> Fragment:
    """Every negative comment of the term, grouped by theme, with its ticket."""
    found = negative_comments(rctx)
    if found.is_empty():
        return paragraph("No negative survey comment in the term.")
    counts = found.group_by("theme").agg(pl.col("ticket_id").n_unique().alias("n"))
    order = dict(counts.iter_rows())
    found = found.with_columns(pl.col("theme").replace_strict(order, return_dtype=pl.Int64).alias("__n")) \
        .sort(["__n", "theme", "month", "ticket_id"], descending=[True, False, False, False])
    intro = paragraph(f"{found['ticket_id'].n_unique()} negative surveys carried a comment; each is listed under "
                      "every theme it mentions (themes from the comment's words).")
    return join(intro, table(found, {"theme": "Theme", "ticket_id": "Ticket", "month": "Month", "rating": "Rating",
                                     "comment": "Comment"}, caption="Negative comments by theme"))


# ---------------------------------------------------------------- recurring problems


def repeat_assets(rctx: ReviewContext) -> pl.DataFrame:
    """Devices (or people, for tickets without one) by repeat tickets over the term: tickets logged,
    repeats (same category within `recurrence_days` of an earlier resolved ticket), their ids."""
    facts = rctx.report.facts.tickets.filter(rctx.ticket_month() & ~pl.col("excluded"))
    on = pl.coalesce(pl.col("asset"), pl.format("{} (person)", pl.col("requester")))
    return (facts.filter(on.is_not_null()).with_columns(on.alias("on"))
            .group_by("on").agg(pl.len().alias("tickets"), pl.col("is_recurring").sum().cast(pl.Int64).alias("repeats"),
                                pl.col("category").filter(pl.col("is_recurring")).unique().sort().alias("categories"),
                                pl.col("ticket_id").filter(pl.col("is_recurring")).sort().alias("repeat_ids"),
                                pl.col("asset").is_not_null().any().alias("device"))
            .filter(pl.col("repeats") > 0).sort(["repeats", "tickets", "on"], descending=[True, True, False]))


def recurring(rctx: ReviewContext, top: int = 10) -> Fragment:
    """The devices and categories with the most repeat tickets over the term, with the tickets."""
    reason = rctx.not_measured("recurring_pct")
    if reason:
        return anchored("recurring", note(f"Recurring problems: not measured ({reason}).", "info"))
    found = repeat_assets(rctx)
    if found.is_empty():
        return anchored("recurring", paragraph("No problem repeated within the term."))
    cats = (rctx.report.facts.tickets.filter(rctx.ticket_month() & pl.col("is_recurring"))
            .group_by(pl.col("category").fill_null("no category")).len("repeats")
            .sort(["repeats", "category"], descending=[True, False]).head(top))
    days = rctx.contract.recurrence_days
    intro = paragraph(f"{int(found['repeats'].sum())} tickets in the term repeated a problem resolved in the {days} days "
                      f"before (same category and device, or same person without one), on {found.height} devices or "
                      "people.")
    return anchored("recurring", join(
        intro,
        table(found.head(top), {"on": "Device / person", "categories": "Categories", "tickets": "Tickets in the term",
                                "repeats": "Repeats", "repeat_ids": "Repeat tickets"},
              caption=f"Top {min(top, found.height)} by repeat tickets"),
        table(cats, {"category": "Category", "repeats": "Repeat tickets"}, caption="Repeat tickets by category")))


# ---------------------------------------------------------------- effort, value and security


def effort(rctx: ReviewContext) -> Fragment:
    """Hours and on-site visits against the contract, cost per ticket against the fee, service
    credits owed over the term, uptime per service."""
    c, k = rctx.contract, rctx.kpis
    fee, months = c.monthly_fee, k.height
    resolved = int(k["tickets_resolved"].sum())
    lines = []
    if rctx.not_measured("hours_logged"):
        lines.append(f"Hours and on-site visits: not measured ({rctx.not_measured('hours_logged')}).")
    else:
        visits = rctx.pooled("onsite_visits")
        lines.append(f"{say.number(k['hours_logged'].sum(), 1)} hours logged over {say.plural(months, 'month')} "
                     f"({say.number(k['hours_logged'].mean(), 1)} a month on average); {say.number(visits.value)} "
                     f"on-site visits against {c.targets.onsite_visits} a month in the contract "
                     f"({say.number(visits.goal_total)} over the term).")
    if fee:
        lines.append(f"Fees over the term: {say.money(fee * months, c.currency)} ({say.money(fee, c.currency)} a month) "
                     f"for {resolved} resolved tickets: {say.money(fee * months / resolved if resolved else None, c.currency)} "
                     "a resolved ticket.")
    owed = term.credits_owed(k, c).filter(pl.col("credit_pct") > 0)
    if not c.credits:
        lines.append("The contract has no service-credit rules.")
    else:
        total = float(owed["amount"].sum()) if owed.height else 0.0
        lines.append(f"Service credits owed over the term: {say.money(total, c.currency)}"
                     + (f", in {term.month_list(owed['month'].to_list())}." if owed.height else " (none)."))
    parts = [bullets(lines)]
    if rctx.report.tables.get("outages") is None:
        parts.append(note("No monitoring outage data was provided, so uptime is not shown.", "info"))
    else:
        services = term.uptime_by_service(rctx.uptime, rctx.zone, c.uptime.target_pct).with_columns(
            pl.col("uptime_pct").map_elements(lambda v: "n/a" if v is None else f"{v:.2f}%", return_dtype=pl.String),
            pl.format("{} of {}", "months_below", "months").alias("below"))
        parts.append(table(services, {"service": "Service", "uptime_pct": "Uptime over the term",
                                      "unplanned_minutes": "Unplanned outage (min)",
                                      "planned_minutes": "Planned maintenance (min)", "below": "Months below target"},
                           caption=f"Uptime by service (target {c.uptime.target_pct:g}%)"))
    return anchored("effort", join(*parts))


def patching(rctx: ReviewContext) -> Fragment:
    """Patch compliance per month against the contract's target."""
    reason = rctx.not_measured("patch_compliance_pct")
    if reason:
        return anchored("security", note(f"Patch compliance: not measured ({reason}).", "info"))
    goal = rctx.contract.targets.patch_compliance_pct
    rows = rctx.verdicts.filter(pl.col("key") == "patch_compliance_pct").with_columns(
        pl.struct("value", "n").map_elements(lambda r: say.pct(r["value"], r["n"], "patch"), return_dtype=pl.String)
        .alias("shown"), pl.col("month").map_elements(period_title, return_dtype=pl.String).alias("title"))
    missed = rows.filter(pl.col("verdict") == term.MISSED)["month"].to_list()
    text = (f"Devices patched within {rctx.contract.patch_window_days} days: the {goal:g}% target was missed in "
            f"{say.plural(len(missed), 'month')}" + (f" ({term.month_list(missed)})." if missed else "."))
    return anchored("security", join(paragraph(text), table(rows, {
        "title": "Month", "shown": "Devices patched", "n": "Devices", "verdict": "Against the target"},
        caption=f"Patch compliance by month (target {goal:g}%)")))
