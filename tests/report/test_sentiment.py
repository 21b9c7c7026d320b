from __future__ import annotations

import polars as pl

from pipelines.report.sentiment import compound_score, recurring_themes, score_comments, themes_of


def _surveys(rows):
    return pl.DataFrame(rows, schema=["ticket_id", "sentiment", "comment"], orient="row")


def test_comment_sentiment_follows_vader():
    frame = score_comments(_surveys([
        ("T1", "positive", "Fixed quickly, thank you so much!"),
        ("T2", "negative", "Terrible, rude and useless service."),
        ("T3", "neutral", "It was done."),
        ("T4", "neutral", None),
    ]))
    assert frame["comment_sentiment"].to_list() == ["positive", "negative", "neutral", None]
    assert frame["comment_score"][0] > 0.05 > frame["comment_score"][2] > -0.05 > frame["comment_score"][1]


def test_empty_comment_has_no_score():
    assert compound_score("   ") is None
    assert compound_score(None) is None


def test_themes_match_help_desk_complaints_without_emotional_words():
    assert themes_of("Took three days to get a reply") == ["Waiting / slow response"]
    assert "Not fixed / had to come back" in themes_of("Had to call back twice, still not fixed")
    assert themes_of("Outlook password reset") == ["Email / accounts"]
    assert themes_of("") == []


def test_recurring_themes_count_only_negative_and_neutral_comments_with_their_tickets():
    frame = recurring_themes(_surveys([
        ("T1", "negative", "Waited two days for an update"),
        ("T2", "neutral", "Slow, but fixed"),
        ("T3", "positive", "No waiting at all, great"),
        ("T4", "negative", "Printer broke again, same issue"),
        ("T5", "negative", None),
    ]))
    top = frame.row(0, named=True)
    assert top["theme"] == "Waiting / slow response"
    assert top["comments"] == 2
    assert top["ticket_ids"] == ["T1", "T2"]
    assert top["share_pct"] == round(2 / 3 * 100, 1)  # 3 rated comments with text
    assert "T3" not in sum(frame["ticket_ids"].to_list(), [])


def test_no_comments_gives_an_empty_table_with_columns():
    frame = recurring_themes(_surveys([("T1", "positive", "great")]))
    assert frame.is_empty()
    assert frame.columns == ["theme", "comments", "share_pct", "ticket_ids"]
