"""Comment tone from a general word list (VADER, offline): the fallback when too few rated
comments exist to train the tone model, and the yardstick the model is measured against.

VADER scores general English; help-desk complaints without emotional words ("took three
days to get a reply") and sarcasm ("great, broken again") read as neutral or positive to it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# A comment's compound score at or beyond these is positive / negative (VADER's own convention).
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
# "Clearly" positive / negative, for flagging a comment that contradicts its rating.
CLEAR_AT = 0.5


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def compound_score(text: str | None) -> float | None:
    """VADER compound score in [-1, 1] for one comment; None for an empty comment."""
    if text is None or not text.strip():
        return None
    return _analyzer().polarity_scores(text)["compound"]


def compound_scores(texts: list[str]) -> np.ndarray:
    """Compound scores of non-empty comments (each distinct text scored once)."""
    unique = {t: compound_score(t) for t in dict.fromkeys(texts)}
    return np.array([unique[t] for t in texts], dtype=float)


def tone_of(scores: np.ndarray) -> np.ndarray:
    """positive / neutral / negative from compound scores."""
    return np.where(scores >= POSITIVE_AT, "positive", np.where(scores <= NEGATIVE_AT, "negative", "neutral"))
