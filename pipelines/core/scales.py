"""Survey scales: a rating as given -> a score on the client's scale -> a sentiment.

3-point (negative / neutral / positive), 5-point (1-5, CSAT: 4-5 positive) and 0-10
(NPS: 9-10 promoters). `clean` gives every survey its sentiment here; the tone model
(`pipelines.metrics.tone`) learns from those labels.
"""

from __future__ import annotations

import polars as pl

_WORDS = {"negative": 1.0, "neutral": 2.0, "positive": 3.0}  # 3-point ratings and their scores
SCALE_WORDS = {"3-point": "positive, neutral or negative", "5-point": "1 to 5", "0-10": "0 to 10"}


def number(column: str) -> pl.Expr:
    """A finite number from text, or null."""
    value = pl.col(column).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def survey_score() -> pl.Expr:
    """A survey's `rating` as a number on its `scale` column's scale, or null when off the scale
    (3-point: negative=1, neutral=2, positive=3; 5-point: whole 1-5; 0-10: whole 0-10)."""
    rating = pl.col("rating").str.to_lowercase()
    value = number("rating")
    whole = value.is_not_null() & (value == value.floor())
    three = rating.replace_strict(_WORDS, default=None, return_dtype=pl.Float64)
    five = pl.when(whole & value.is_between(1, 5)).then(value)
    ten = pl.when(whole & value.is_between(0, 10)).then(value)
    return (
        pl.when(pl.col("scale") == "3-point").then(three)
        .when(pl.col("scale") == "5-point").then(five)
        .when(pl.col("scale") == "0-10").then(ten)
    )


def survey_sentiment() -> pl.Expr:
    """positive / neutral / negative from `score` and `scale` (CSAT 4-5 positive; NPS 9-10 promoter)."""
    s = pl.col("score")
    return (
        pl.when(pl.col("scale") == "3-point")
        .then(pl.when(s == 3).then(pl.lit("positive")).when(s == 2).then(pl.lit("neutral")).otherwise(pl.lit("negative")))
        .when(pl.col("scale") == "5-point")
        .then(pl.when(s >= 4).then(pl.lit("positive")).when(s == 3).then(pl.lit("neutral")).otherwise(pl.lit("negative")))
        .otherwise(pl.when(s >= 9).then(pl.lit("positive")).when(s >= 7).then(pl.lit("neutral")).otherwise(pl.lit("negative")))
    )


def infer_scale(ratings: pl.Series) -> tuple[str | None, str]:
    """The scale survey ratings are on, and why: words only: 3-point; whole numbers 0-10 with a
    0 or one above 5: 0-10; whole numbers 1-5 only: 5-point (a 0-10 survey whose every answer
    is 1-5 is not seen in practice). None when no rating is on any scale (other values are
    rejected as rating_out_of_scale whatever the scale). Words and numbers mixed do not tell
    the scale: ValueError saying so."""
    text = ratings.drop_nulls().str.strip_chars().str.to_lowercase()
    frame = pl.DataFrame({"rating": text}).select(
        word=pl.col("rating").is_in(list(_WORDS)), value=number("rating"))
    whole = frame.filter(pl.col("value").is_not_null() & (pl.col("value") == pl.col("value").floor())
                         & pl.col("value").is_between(0, 10))["value"]
    words = int(frame["word"].sum())
    if words and whole.len():
        raise ValueError(f"{words} are words like 'positive' and {whole.len()} are numbers like "
                         f"'{whole[0]:g}'")
    if words:
        return "3-point", f"{words} ratings are positive / neutral / negative"
    if whole.len():
        if ((whole == 0) | (whole > 5)).any():
            return "0-10", f"{whole.len()} ratings are whole numbers from 0 to 10, some 0 or above 5"
        return "5-point", f"{whole.len()} ratings are whole numbers from 1 to 5"
    return None, "no rating is on any scale"
