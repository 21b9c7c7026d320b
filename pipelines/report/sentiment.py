"""Survey comments: sentiment (VADER, offline) and the recurring themes in complaints.

VADER scores general English well but misses help-desk complaints that carry no
emotional words ("took three days to get a reply"), so the themes come from a
small IT-support lexicon, counted over the negative and neutral surveys.
"""

from __future__ import annotations

import re
from functools import lru_cache

import polars as pl
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# A comment's compound score at or beyond these is positive / negative (VADER's own convention).
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

# theme -> patterns (regular expressions, matched case-insensitively on word starts)
THEMES: dict[str, tuple[str, ...]] = {
    "Waiting / slow response": (r"wait", r"slow", r"took (?:\w+ )?(?:days|hours|ages|forever|long)",
                                r"days?\b", r"hours?\b", r"still waiting", r"no (?:one|response|reply)",
                                r"delay", r"late\b"),
    "Not fixed / had to come back": (r"again", r"reopen", r"came back", r"still (?:not|broken|happening)",
                                     r"not (?:fixed|resolved|solved)", r"call(?:ed)? back", r"same (?:issue|problem)",
                                     r"recurr", r"keeps?\b"),
    "Communication / updates": (r"update", r"nobody", r"inform", r"communicat", r"kept in the dark",
                                r"follow[- ]?up", r"explain", r"told"),
    "Passed around / escalated": (r"transferr", r"passed (?:around|between)", r"different (?:person|engineer|tech)",
                                  r"escalat", r"reassign", r"bounced"),
    "Closed too early": (r"closed (?:before|without|too)", r"closed it", r"without (?:asking|checking|confirm)"),
    "Attitude / professionalism": (r"rude", r"dismissive", r"unhelpful", r"attitude", r"condescend"),
    "Email / accounts": (r"e-?mail", r"outlook", r"password", r"log ?in", r"account", r"mfa", r"locked out"),
    "Printers / devices": (r"printer", r"scanner", r"laptop", r"monitor", r"device", r"phone"),
    "Network / connectivity": (r"internet", r"wi-?fi", r"network", r"vpn", r"connect"),
}


@lru_cache(maxsize=1)
def _analyzer():
    return SentimentIntensityAnalyzer()


def compound_score(text: str | None) -> float | None:
    """VADER compound score in [-1, 1] for one comment; None for an empty comment."""
    if text is None or not text.strip():
        return None
    return _analyzer().polarity_scores(text)["compound"]


def score_comments(surveys: pl.DataFrame) -> pl.DataFrame:
    """Add `comment_score` (VADER compound) and `comment_sentiment` to a surveys frame."""
    scores = [compound_score(t) for t in surveys["comment"].to_list()]
    score = pl.Series("comment_score", scores, dtype=pl.Float64)
    return surveys.with_columns(score).with_columns(
        pl.when(pl.col("comment_score").is_null()).then(None)
        .when(pl.col("comment_score") >= POSITIVE_AT).then(pl.lit("positive"))
        .when(pl.col("comment_score") <= NEGATIVE_AT).then(pl.lit("negative"))
        .otherwise(pl.lit("neutral"))
        .alias("comment_sentiment")
    )


@lru_cache(maxsize=1)
def _compiled() -> dict[str, re.Pattern]:
    return {
        theme: re.compile(r"\b(?:" + "|".join(patterns) + ")", re.IGNORECASE)
        for theme, patterns in THEMES.items()
    }


def themes_of(text: str | None) -> list[str]:
    """The lexicon themes a comment mentions (in THEMES order)."""
    if not text:
        return []
    return [theme for theme, pattern in _compiled().items() if pattern.search(text)]


def recurring_themes(surveys: pl.DataFrame, sentiments: tuple[str, ...] = ("negative", "neutral")) -> pl.DataFrame:
    """Themes in the comments of surveys rated `sentiments`, most frequent first.

    Columns: theme, comments (how many mention it), share_pct (of those comments,
    1 decimal), ticket_ids (the tickets behind the count).
    """
    rated = surveys.filter(pl.col("sentiment").is_in(sentiments) & pl.col("comment").is_not_null())
    rows = [
        (theme, ticket)
        for ticket, comment in rated.select("ticket_id", "comment").iter_rows()
        for theme in themes_of(comment)
    ]
    schema = {"theme": pl.String, "comments": pl.UInt32, "share_pct": pl.Float64, "ticket_ids": pl.List(pl.String)}
    if not rows:
        return pl.DataFrame(schema=schema)
    total = rated.height
    return (
        pl.DataFrame(rows, schema=["theme", "ticket_id"], orient="row")
        .group_by("theme")
        .agg(pl.len().cast(pl.UInt32).alias("comments"), pl.col("ticket_id").sort().alias("ticket_ids"))
        .with_columns((pl.col("comments") / total * 100).round(1).alias("share_pct"))
        .sort(["comments", "theme"], descending=[True, False])
        .select(list(schema))
    )
