"""The survey sections: satisfaction, what the comments say and how far that can be trusted.

Each comment's tone comes from the run's tone model (`pipelines.metrics.tone`, trained on the
provider's own rated surveys) or, with too few of them, from a word list; the page says which
and how well it agreed with customers' own ratings. Themes come from the analyst's vocabulary
(`pipelines.report.themes`). Only this client's comments are ever shown.
"""

from __future__ import annotations

import polars as pl

from pipelines.core.periods import period_title, previous_month
from pipelines.core.schemas import SURVEYS
from pipelines.metrics import tone
from pipelines.report import charts
from pipelines.report import narrative as say
from pipelines.report.context import ReportContext
from pipelines.report.fragments import Fragment, bullets, join, note, paragraph, table
from pipelines.report.themes import recurring_themes, uncovered_phrases

NO_SURVEYS = "No survey data was provided, so satisfaction is not shown."
TONE_COLUMNS = {"comment_sentiment": pl.String, "tone_method": pl.String, "mismatch": pl.String}
STATUS_WORDS = {"met": "met", "breached": "missed", "pending": "not yet due", "excluded": "not counted"}


def month_surveys(ctx: ReportContext, months: int = 1) -> pl.DataFrame:
    """Surveys answered in the last `months` months up to the period (the client's local months),
    with each comment's estimated tone: `comment_sentiment`, `tone_method`, `mismatch`."""
    surveys = ctx.tables.get("surveys")
    if surveys is None:
        return pl.DataFrame(schema=SURVEYS.columns | {"month": pl.String} | TONE_COLUMNS)
    wanted = [ctx.period]
    while len(wanted) < months:
        wanted.append(previous_month(wanted[-1]))
    local = surveys.with_columns(
        pl.col("responded_at").dt.convert_time_zone(ctx.zone).dt.strftime("%Y-%m").alias("month"))
    estimated = ctx.tone.select("ticket_id", pl.col("tone").alias("comment_sentiment"),
                                pl.col("method").alias("tone_method"), "mismatch")
    return (local.filter(pl.col("month").is_in(wanted))
            .join(estimated, on="ticket_id", how="left", maintain_order="left"))


def survey_sentences(ctx: ReportContext) -> Fragment:
    """CSAT (and NPS on a 0-10 scale) and the response rate, in words."""
    if ctx.tables.get("surveys") is None:
        return note(NO_SURVEYS, "info")
    k, prev = ctx.month(), ctx.month(previous_month(ctx.period))
    if not k:
        return paragraph("No tickets have been logged for this client yet.")
    t = ctx.contract.targets
    scale = {"3-point": "positive ratings", "5-point": "ratings of 4 or 5", "0-10": "ratings of 9 or 10"}
    lines = [
        f"{k['survey_responses']} survey{'s' if k['survey_responses'] != 1 else ''} answered in "
        f"{period_title(ctx.period)}; response rate "
        f"{say.pct(k['survey_response_rate_pct'], k['survey_response_rate_n'], 'share')} of resolved tickets.",
        say.change(f"CSAT ({scale.get(ctx.contract.survey_scale, 'no survey scale')})", k["csat_pct"], prev.get("csat_pct"),
                   n=k["csat_n"], previous_n=prev.get("csat_n"), target=t.csat_pct, kind="csat"),
    ]
    if ctx.contract.survey_scale == "0-10":
        lines.append(say.change("NPS", k["nps"], prev.get("nps"), n=k["nps_n"], previous_n=prev.get("nps_n"),
                                kind="csat", unit=""))
    if say.thin(k["csat_n"], "csat"):
        lines.append(f"With fewer than {say.MIN_N['csat']} answers a percentage would mislead; "
                     "read the comments below instead.")
    return bullets(lines)


def csat_chart(ctx: ReportContext):
    if ctx.tables.get("surveys") is None:
        return note(NO_SURVEYS, "info")
    return charts.csat_trend(ctx.kpis, ctx.contract.targets.csat_pct, nps=ctx.contract.survey_scale == "0-10")


def _no_surveys(ctx: ReportContext, months: int) -> Fragment:
    return note(NO_SURVEYS if ctx.tables.get("surveys") is None
                else f"No surveys were answered in the last {say.plural(months, 'month')}.", "info")


def sentiment_chart(ctx: ReportContext, months: int = 3):
    """Surveys of the last `months` months by rating and by the estimated tone of the comment."""
    surveys = month_surveys(ctx, months)
    if surveys.is_empty():
        return _no_surveys(ctx, months)
    return charts.sentiment_bars(surveys)


def tone_note(ctx: ReportContext) -> Fragment:
    """How comment tone was estimated and how well that agreed with customers' own ratings."""
    fit = ctx.tone_fit
    if ctx.tables.get("surveys") is None:
        return note(NO_SURVEYS, "info")
    if not fit or not fit["labelled_comments"]:
        return note("No rated comments exist yet, so no comment tone is shown.", "info")
    measured = fit["agreement"]
    if fit["method"] == "model":
        how = (f"Comment tone is estimated, not said by the customer: a model learnt it from "
               f"{tone.trained_on(fit['labelled_comments'], fit['model'].get('trained_on'))} rated comments "
               f"of all the provider's clients up to {period_title(fit['period'])}, and no comment's tone "
               "comes from a model that saw it.")
        if measured is None:
            return note(how + " Its agreement with the ratings cannot be measured yet: the rated comments "
                        "span a single month.", "info")
        lexicon = fit["lexicon_agreement"]
        return note(f"{how} Measured agreement with customers' own ratings: {_agreement(measured)}, on "
                    "comments from later months than the model was trained on; a general word list scores "
                    f"{lexicon['macro_f1']:.2f} on the same comments.", "info")
    text = (f"Comment tone comes from a general word list (VADER), not from a model trained on this "
            f"provider's surveys: {fit['reason']}.")
    if measured is not None:
        text += f" Measured agreement of the word list with customers' own ratings: {_agreement(measured)}."
    return note(text, "warn")


def _agreement(measured: dict) -> str:
    recall = ", ".join(f"{c} {v:.2f}" for c, v in measured["recall"].items() if v is not None)
    return (f"{measured['macro_f1']:.2f} macro-F1 on {measured['comments']:,} comments (1 = always the "
            f"customer's own rating; share of each rating found: {recall})")


def mismatches(ctx: ReportContext, months: int = 3) -> Fragment:
    """Comments that read clearly opposite to their rating in the last `months` months, and which
    ratings could not be checked (the tone method finds too few of their comments)."""
    surveys = month_surveys(ctx, months)
    if surveys.is_empty():
        return _no_surveys(ctx, months)
    flagged = ctx.local(surveys.filter(pl.col("mismatch").is_not_null()), "responded_at").sort("responded_at")
    commented = surveys.filter(pl.col("comment_sentiment").is_not_null()).height
    window = f"the last {say.plural(months, 'month')}"
    measured = (ctx.tone_fit or {}).get("agreement")
    unchecked = [r for r in tone.MISMATCH if r not in tone.checked_ratings(measured)]
    caveat = [note(f"Comments under {' and '.join(unchecked)} ratings are not checked: "
                   + (f"on later months the tone found only {_found(measured, unchecked)}, and at least "
                      f"{tone.TRUSTED_RECALL:.0%} is needed before it may contradict a customer."
                      if measured else "its agreement with the ratings could not be measured."), "info")
              ] if unchecked and commented else []
    if flagged.is_empty():
        return join(paragraph(f"None of the {say.plural(commented, 'commented survey')} of {window} has a "
                              "comment that clearly contradicts its rating."), *caveat)
    return join(
        paragraph(f"{flagged.height} of {say.plural(commented, 'commented survey')} of {window} "
                  f"{'has a comment' if flagged.height == 1 else 'have comments'} reading clearly opposite to "
                  "the rating: a complaint behind a good score, or a slip on the scale. Worth a look."),
        table(flagged, {"ticket_id": "Ticket", "responded_at": "Answered", "rating": "Rating",
                        "sentiment": "Rated", "comment": "Comment", "mismatch": "Why it is listed"}),
        *caveat,
    )


def _found(measured: dict, ratings: list[str]) -> str:
    return " and ".join(f"{measured['recall'][r] or 0:.0%} of the comments rated {r}" for r in ratings)


def themes(ctx: ReportContext, months: int = 3) -> Fragment:
    """Recurring themes in the negative and neutral comments of the last `months` months."""
    found = recurring_themes(month_surveys(ctx, months))
    return table(found, {"theme": "Theme", "comments": "Comments", "share_pct": "% of those comments",
                         "ticket_ids": "Tickets"},
                 caption=f"Themes in neutral and negative comments, last {say.plural(months, 'month')}",
                 empty="No neutral or negative comments in this window.")


def uncovered(ctx: ReportContext, months: int = 12) -> Fragment:
    """Phrases that recur in negative comments (rated or reading negative) outside every theme."""
    if ctx.tables.get("surveys") is None:
        return note(NO_SURVEYS, "info")
    surveys = month_surveys(ctx, months)
    negative = surveys.filter(pl.col("comment").is_not_null()
                              & ((pl.col("sentiment") == "negative") | (pl.col("comment_sentiment") == "negative")))
    found = uncovered_phrases(negative)
    window = f"last {say.plural(months, 'month')}"
    if negative.is_empty():
        return paragraph(f"No negative comments in the {window}.")
    return table(found.with_columns(pl.format("'{}' × {}", "phrase", "comments").alias("label")),
                 {"label": "Uncovered phrase", "ticket_ids": "Tickets"},
                 caption=f"Phrases recurring in {say.plural(negative.height, 'negative comment')} that no theme "
                         f"covers, {window} (candidates for the theme vocabulary)",
                 empty=f"Every phrase recurring in the {say.plural(negative.height, 'negative comment')} of the "
                       f"{window} is covered by a theme.")


def survey_review(ctx: ReportContext) -> Fragment:
    """Every neutral or negative survey of the month, and every positive one whose comment reads
    clearly negative, with the comment's tone and the ticket's SLA outcome."""
    surveys = month_surveys(ctx)
    if surveys.is_empty():
        return note(NO_SURVEYS if ctx.tables.get("surveys") is None else "No surveys were answered this month.",
                    "info")
    listed = pl.col("sentiment").is_in(["neutral", "negative"]) | pl.col("mismatch").is_not_null()
    review = (surveys.filter(listed)
              .join(ctx.ticket_sla.select("ticket_id", "priority", "response_status", "resolution_status"),
                    on="ticket_id", how="left")
              .join(ctx.tables["tickets"].select("ticket_id", "title", "reopen_count"), on="ticket_id", how="left")
              .with_columns(
                  pl.col("response_status").replace_strict(STATUS_WORDS, default="—").alias("response"),
                  pl.col("resolution_status").replace_strict(STATUS_WORDS, default="—").alias("resolution"),
                  pl.col("comment").fill_null("(no comment)"),
                  pl.col("mismatch").fill_null(""))
              .sort(["sentiment", "responded_at"]))
    if review.is_empty():
        return paragraph(f"None of the {say.plural(surveys.height, 'survey')} answered in "
                         f"{period_title(ctx.period)} was neutral or negative.")
    low = review.filter(pl.col("sentiment") != "positive").height
    flagged = review.height - low
    intro = (f"{low} of {say.plural(surveys.height, 'survey')} answered in {period_title(ctx.period)} "
             f"{'was' if low == 1 else 'were'} neutral or negative")
    if flagged:
        intro += f", and {flagged} rated positive {'has a comment' if flagged == 1 else 'have comments'} that reads negative"
    return join(paragraph(intro + "; each is listed for the review meeting (comment tone is estimated)."),
                table(review, {
                    "ticket_id": "Ticket", "title": "Title", "priority": "Priority", "rating": "Rating",
                    "sentiment": "Rated", "comment": "Comment", "comment_sentiment": "Comment tone",
                    "mismatch": "Check", "response": "Response SLA", "resolution": "Resolution SLA",
                    "reopen_count": "Reopens",
                }, empty="No neutral or negative surveys this month."))
