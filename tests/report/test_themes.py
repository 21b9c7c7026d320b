"""Themes of comments: lemmatised whole-word phrase matching from an editable vocabulary,
measured on hand-labelled comments; and the phrases no theme covers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipelines.report import themes

LABELS = Path(__file__).parent / "fixtures" / "theme_labels.yml"


def _labelled() -> list[dict]:
    return yaml.safe_load(LABELS.read_text())


def test_precision_is_at_least_0_9_for_every_theme_on_the_hand_labelled_comments():
    rows = _labelled()
    names = [t.name for t in themes.load_vocabulary().themes]
    assert len(rows) >= 200
    assert {t for r in rows for t in r["themes"]} == set(names)  # every label is a theme, every theme labelled
    hits, said, labelled = Counter(), Counter(), Counter()
    for row in rows:
        found, wanted = set(themes.themes_of(row["comment"])), set(row["themes"])
        hits.update(found & wanted)
        said.update(found)
        labelled.update(wanted)
    precision = {t: hits[t] / said[t] for t in names if said[t]}
    recall = {t: hits[t] / labelled[t] for t in names}
    print({t: (round(precision.get(t, 0), 3), round(recall[t], 2)) for t in names})
    assert set(precision) == set(names)  # every theme is found at least once
    assert {t: p for t, p in precision.items() if p < 0.9} == {}
    assert {t: r for t, r in recall.items() if r < 0.6} == {}  # and finds most of what it should


@pytest.mark.parametrize(("comment", "expected"), [
    ("Took three days to get a reply", ["Waiting / slow response"]),
    ("I was on hold for 40 minutes, then stuck in the queue", ["Waiting / slow response"]),
    ("Called them on the phone and it was sorted", []),  # the phone as the channel, not a device
    ("There's no accountability here", []),  # not "account"
    ("Monitoring spotted it first", []),  # not "monitor"
    ("Thanks again, works great", []),  # not "again"
    ("Against my advice they rebooted", []),  # not "again"
    ("The day I called was busy", []),  # a day is no wait
    ("No waiting at all", []),  # a vetoed match
    ("Desk phone has no dial tone", ["Printers / devices"]),
    ("didn't fix it, same issue again a day later", ["Not fixed / had to come back"]),
    ("Outlook keeps asking for my password", ["Email / accounts"]),
    ("", []),
])
def test_words_not_substrings(comment, expected):
    assert themes.themes_of(comment) == expected


def test_lemmas_meet_their_inflections_and_numbers_are_numbers():
    assert themes.lemmas("waited waiting waits wait") == ["wait"] * 4
    assert themes.lemmas("closed closing closes close") == ["clos"] * 4
    assert themes.lemmas("Took 3 days, took three days") == ["tak", "{num}", "day", "tak", "{num}", "day"]
    assert themes.lemmas("didn't can't won't") == ["do", "not", "can", "not", "will", "not"]
    assert themes.lemmas("E-mail wi-fi meetings meeting") == ["email", "wifi", "meet", "meet"]
    assert themes.lemmas("monitoring accountability accounting") == ["monitoring", "accountability", "accounting"]


def test_an_analyst_extends_the_vocabulary_with_a_file(tmp_path):
    path = tmp_path / "themes.yml"
    path.write_text(yaml.safe_dump({
        "themes": [{"name": "Portal", "match": ["portal", "ticket status"], "unless": ["portal holiday"]},
                   {"name": "Out of hours", "match": ["out of hours", "after hours|5pm", "weekend"]}],
        "uncovered": {"edge": "the a", "ignore": "happy"},
    }))
    vocabulary = themes.load_vocabulary(path)
    assert themes.themes_of("The portal never shows the ticket status", vocabulary) == ["Portal"]
    assert themes.themes_of("Nobody answers out of hours or at weekends", vocabulary) == ["Out of hours"]
    assert themes.themes_of("Booked a portal holiday", vocabulary) == []


@pytest.mark.parametrize(("content", "message"), [
    ("themes: []\n", "expected a 'themes:' list"),
    ("themes: [{name: Slow}]\n", r"themes\[0\]: each theme needs a 'name' and a 'match' list"),
    ("themes: [{name: Slow, match: [slow], colour: red}]\n", r"\(Slow\): unknown field colour"),
    ("themes: [{name: Slow, match: slow}]\n", "theme 'Slow' match: expected a list of phrases"),
    ("themes: [{name: Slow, match: [slow]}, {name: Slow, match: [late]}]\n", "theme 'Slow' is defined twice"),
    ("themes: [{name: Slow, match: ['!!']}]\n", "'!!' has no word in it"),
    ("themes: [{name: Slow, match: [slow]}]\nuncovered: {edge: [a, on]}\n",
     "uncovered.edge: expected words separated by spaces"),
    ("themes: [\n", "not valid YAML"),
])
def test_a_bad_vocabulary_names_the_file_and_entry(tmp_path, content, message):
    path = tmp_path / "themes.yml"
    path.write_text(content)
    with pytest.raises(themes.VocabularyError, match=message) as error:
        themes.load_vocabulary(path)
    assert str(path) in str(error.value)


def _surveys(rows):
    return pl.DataFrame(rows, schema=["ticket_id", "sentiment", "comment"], orient="row")


def test_recurring_themes_count_only_negative_and_neutral_comments_with_their_tickets():
    frame = themes.recurring_themes(_surveys([
        ("T1", "negative", "Waited two days for an update"),
        ("T2", "neutral", "Slow, but fixed"),
        ("T3", "positive", "No waiting at all, great"),
        ("T4", "negative", "Printer broke again, same issue"),
        ("T5", "negative", None),
    ]))
    top = frame.row(0, named=True)
    assert top["theme"] == "Waiting / slow response"
    assert top["comments"] == 2 and top["ticket_ids"] == ["T1", "T2"]
    assert top["share_pct"] == round(2 / 3 * 100, 1)  # 3 rated comments with text
    assert "T3" not in sum(frame["ticket_ids"].to_list(), [])
    empty = themes.recurring_themes(_surveys([("T1", "positive", "great")]))
    assert empty.is_empty() and empty.columns == ["theme", "comments", "share_pct", "ticket_ids"]


def test_uncovered_phrases_recur_outside_every_theme():
    comments = pl.DataFrame({
        "ticket_id": ["T1", "T2", "T3", "T4", "T5"],
        "comment": ["My VPN token expired, took two days", "vpn tokens expired again!",
                    "The VPN token expired overnight", "Took two days, poor service", "poor service"],
    })
    found = themes.uncovered_phrases(comments)
    rows = {r["phrase"]: (r["comments"], r["ticket_ids"]) for r in found.iter_rows(named=True)}
    # "vpn" is covered (network), "took two days" is covered (waiting), "poor service" is only a feeling
    assert rows == {"token expired": (3, ["T1", "T2", "T3"])}
    assert themes.uncovered_phrases(comments, min_comments=4).is_empty()
