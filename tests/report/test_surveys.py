"""The survey page on the real pipeline's output: the measured agreement of the tone, the
comments that contradict their rating, the uncovered phrases; the word-list fallback says so."""

from __future__ import annotations

import json

import nbformat
import polars as pl
import pytest

from pipelines.core.periods import previous_month
from pipelines.metrics import tone
from pipelines.report import context as report
from pipelines.report import surveys

pytestmark = pytest.mark.slow
PERIOD = "2026-10"
WINDOW = [PERIOD, previous_month(PERIOD), previous_month(previous_month(PERIOD))]


@pytest.fixture(scope="module")
def run(sample_run):
    metrics = sample_run.home / "build" / "metrics"
    return {"fit": json.loads((metrics / tone.FIT_FILE).read_text()),
            "tones": pl.read_parquet(metrics / f"{tone.OUTPUT}.parquet"), "home": sample_run.home,
            "load": lambda client, period=PERIOD: report.load(client, period, build_dir=sample_run.home / "build",
                                                              data_dir=sample_run.data)}


def _page(home, client: str) -> str:
    nb = nbformat.read(home / "reports" / PERIOD / client / "survey_sentiment.ipynb", 4)
    return "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)


def test_the_executed_page_shows_the_measured_agreement_mismatches_and_uncovered_phrases(run):
    fit, tones = run["fit"], run["tones"]
    measured = fit["agreement"]
    flagged = tones.filter(pl.col("mismatch").is_not_null() & pl.col("month").is_in(WINDOW))
    client = flagged["client_id"].value_counts(sort=True)["client_id"][0]  # the client with most to review
    page = _page(run["home"], client)
    assert fit["method"] == "model"
    assert f"{measured['macro_f1']:.2f} macro-F1 on {measured['comments']:,} comments" in page
    assert f"a general word list scores {fit['lexicon_agreement']['macro_f1']:.2f} on the same comments" in page
    assert f"from {fit['labelled_comments']:,} rated comments of all the provider" in page
    mine = flagged.filter(pl.col("client_id") == client)
    assert f"{mine.height} of " in page and "reading clearly opposite to the rating" in page
    for ticket in mine["ticket_id"]:
        assert f">{ticket}<" in page
    assert "that no theme covers" in page and "× " in page
    assert tone.checked_ratings(measured) == ["positive"]  # the sample has few negative comments to learn from
    assert ("Comments under negative ratings are not checked: on later months the tone found only "
            f"{measured['recall']['negative']:.0%} of the comments rated negative") in page


def test_the_context_holds_only_the_clients_own_tones(run):
    ctx = run["load"]("harbor-dental")
    assert ctx.tone.height > 0 and set(ctx.tone["client_id"]) == {"harbor-dental"}
    assert ctx.tone_fit == run["fit"]


def test_the_review_list_adds_good_ratings_whose_comment_reads_negative(run):
    tones = run["tones"].filter((pl.col("month") == PERIOD) & (pl.col("sentiment") == "positive")
                                & pl.col("mismatch").is_not_null())
    checked = 0
    for client in set(run["tones"]["client_id"]):
        ctx = run["load"](client)
        html = surveys.survey_review(ctx).html
        for ticket in tones.filter(pl.col("client_id") == client)["ticket_id"]:
            assert f">{ticket}<" in html and "rated positive, reads negative" in html
            checked += 1
        low = ctx.tables["surveys"].filter(pl.col("sentiment") != "positive")
        assert all(f">{t}<" in html for t in low.filter(pl.col("ticket_id").is_in(
            surveys.month_surveys(ctx)["ticket_id"].implode()))["ticket_id"])
    print(f"{checked} good ratings with a negative comment in the review lists")


def test_an_earlier_month_with_too_few_rated_comments_says_it_used_the_word_list(run):
    ctx = run["load"]("pacific-crest", "2026-03")  # not the run's period: estimated in this process
    fit = ctx.tone_fit
    assert fit["method"] == "lexicon" and fit["labelled_comments"] < tone.MIN_LABELS
    assert set(ctx.tone["method"]) == {"lexicon"} and ctx.tone["month"].max() == "2026-03"
    text = str(surveys.tone_note(ctx))
    assert "Comment tone comes from a general word list (VADER)" in text
    assert f"only {fit['labelled_comments']:,} rated comments up to 2026-03, fewer than the 2,000 needed" in text
    assert f"{fit['agreement']['macro_f1']:.2f} macro-F1 on {fit['labelled_comments']:,} comments" in text
