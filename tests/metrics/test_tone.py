"""Comment tone learnt from the provider's own rated surveys: beats the word list on later
months, never trains on data after the report month, falls back and says so, flags mismatches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.clean.stage import clean_folder
from pipelines.core import config, io
from pipelines.core.contracts import load_contracts
from pipelines.metrics import tone
from pipelines.metrics.tone_model import Ngrams, ToneModel

PERIOD = "2026-10"
CAP = 900  # far fewer than the sample's rated comments, so the model trains on a sample of them


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """data/sample cleaned: every client's surveys and contracts."""
    clean = tmp_path_factory.mktemp("tone") / "clean"
    result = clean_folder(config.SAMPLE_DATA, clean)
    return result.tables["surveys"], load_contracts(clean / "contracts"), clean


@pytest.fixture(scope="module")
def fitted(sample):
    surveys, contracts, _ = sample
    return tone.estimate_tone(surveys, contracts, PERIOD)


def test_on_later_months_of_the_sample_the_model_beats_the_word_list(fitted):
    fit = fitted.fit
    assert fit["method"] == "model" and fit["labelled_comments"] >= tone.MIN_LABELS
    model, words = fit["agreement"], fit["lexicon_agreement"]
    print(f"model {model['macro_f1']} vs word list {words['macro_f1']} on {model['comments']} comments")
    assert model["comments"] == words["comments"] > 0.2 * fit["labelled_comments"]
    assert model["macro_f1"] >= words["macro_f1"] + 0.15
    assert model["recall"]["negative"] > words["recall"]["negative"]
    for fold in model["folds"]:  # time-ordered: trained on earlier months only
        assert fold["train_months"][1] < fold["test_months"][0]
    assert [f["test_months"][1] for f in model["folds"]][-1] == PERIOD


def test_every_comment_up_to_the_period_gets_a_tone_and_nothing_later(sample, fitted):
    surveys, contracts, _ = sample
    early = tone.estimate_tone(surveys, contracts, "2026-09")
    assert early.predictions["month"].max() == "2026-09"
    assert early.fit["labelled_comments"] < fitted.fit["labelled_comments"]
    commented = surveys.filter(pl.col("comment").is_not_null())
    assert fitted.predictions.height == commented.height  # the sample ends with the period
    assert fitted.predictions.columns == list(tone.COLUMNS)
    assert set(fitted.predictions["tone"]) == set(tone.CLASSES)
    probabilities = fitted.predictions.select("p_negative", "p_neutral", "p_positive").to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1)


def test_later_data_changes_nothing_about_a_month(sample):
    """Trained 'up to the report month' means a survey from a later month cannot matter."""
    surveys, contracts, _ = sample
    period = "2026-08"
    kept = tone.labelled_comments(surveys, contracts, period)["ticket_id"]
    later = surveys.filter(~pl.col("ticket_id").is_in(kept.implode()))
    assert later.height > 300
    with_later = tone.estimate_tone(surveys, contracts, period)
    without = tone.estimate_tone(surveys.filter(pl.col("ticket_id").is_in(kept.implode())), contracts, period)
    assert with_later.predictions.equals(without.predictions)
    drop = ("timings_s",)
    assert {k: v for k, v in with_later.fit.items() if k not in drop} == \
           {k: v for k, v in without.fit.items() if k not in drop}


def test_a_month_is_the_clients_local_month(sample):
    _, contracts, _ = sample
    # 2026-10-31 23:30 in New York is already November in UTC.
    at = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)
    surveys = pl.DataFrame({"ticket_id": ["A", "B"], "client_id": ["harbor-dental", "thameside-architects"],
                            "responded_at": [at, at], "sentiment": ["positive", "negative"],
                            "comment": ["Great", "  Slow  "]})
    picked = tone.labelled_comments(surveys, contracts, PERIOD)
    assert picked.select("ticket_id", "month", "comment").rows() == [("A", "2026-10", "Great")]


def test_too_few_labels_fall_back_to_the_word_list_and_say_why(sample):
    surveys, contracts, _ = sample
    result = tone.estimate_tone(surveys, contracts, PERIOD, min_labels=100_000)
    fit = result.fit
    assert fit["method"] == "lexicon" and result.model is None
    assert fit["reason"] == (f"only {fit['labelled_comments']:,} rated comments up to {PERIOD}, fewer than "
                             "the 100,000 needed to train the tone model")
    assert fit["agreement"] == fit["lexicon_agreement"]
    assert fit["agreement"]["comments"] == fit["labelled_comments"]
    assert result.predictions["lexicon_score"].null_count() == 0
    assert result.predictions["p_negative"].null_count() == result.predictions.height
    assert set(result.predictions["method"]) == {"lexicon"}


def test_one_rating_only_is_nothing_to_learn_from(sample):
    surveys, contracts, _ = sample
    positive = surveys.filter(pl.col("sentiment") == "positive")
    fit = tone.estimate_tone(positive, contracts, PERIOD, min_labels=10).fit
    assert fit["method"] == "lexicon"
    assert fit["reason"] == "every rated comment has the same rating, so there is nothing to learn from"
    assert tone.estimate_tone(None, contracts, PERIOD).fit["labelled_comments"] == 0


def _synthetic(n: int = 3000) -> pl.DataFrame:
    """Rated comments whose words say their rating plainly, spread over 12 months."""
    rng = np.random.default_rng(3)
    words = {"negative": ["took days", "still broken", "nobody called back", "awful wait"],
             "neutral": ["fixed in the end", "ok I suppose", "fine eventually", "it works now"],
             "positive": ["great quick fix", "thanks so much", "brilliant service", "sorted in minutes"]}
    rating = rng.choice(tone.CLASSES, n, p=[0.2, 0.2, 0.6])
    text = [f"{words[r][rng.integers(4)]}, {words[r][rng.integers(4)]}" for r in rating]
    at = [datetime(2026, 1 + i * 12 // n, 1 + i % 27, 12, tzinfo=UTC) for i in range(n)]
    return pl.DataFrame({"ticket_id": [f"T{i}" for i in range(n)], "client_id": "harbor-dental",
                         "responded_at": at, "sentiment": rating, "comment": text})


def test_a_comment_contradicting_its_rating_is_a_mismatch(sample):
    _, contracts, _ = sample
    surveys = _synthetic()
    complaint, praise = "took days, still broken, awful wait", "great quick fix, thanks so much"
    edited = surveys.with_columns(
        pl.when(pl.col("ticket_id") == "T2990").then(pl.lit("positive"))
        .when(pl.col("ticket_id") == "T2991").then(pl.lit("negative")).otherwise(pl.col("sentiment"))
        .alias("sentiment"),
        pl.when(pl.col("ticket_id") == "T2990").then(pl.lit(complaint))
        .when(pl.col("ticket_id") == "T2991").then(pl.lit(praise)).otherwise(pl.col("comment")).alias("comment"))
    result = tone.estimate_tone(edited, contracts, "2026-12")
    assert tone.checked_ratings(result.fit["agreement"]) == ["positive", "negative"]
    flagged = dict(result.predictions.filter(pl.col("mismatch").is_not_null())
                   .select("ticket_id", "mismatch").iter_rows())
    assert flagged == {"T2990": "rated positive, reads negative", "T2991": "rated negative, reads positive"}
    assert result.fit["mismatches"] == {"rated positive, reads negative": 1, "rated negative, reads positive": 1}
    short = edited.with_columns(pl.when(pl.col("ticket_id") == "T2990").then(pl.lit("awful wait"))
                                .otherwise(pl.col("comment")).alias("comment"))
    rows = tone.estimate_tone(short, contracts, "2026-12").predictions
    assert rows.filter(pl.col("ticket_id") == "T2990")["mismatch"].item() is None  # too short to be clear


def test_only_ratings_the_method_reads_well_are_checked(sample, fitted):
    """On the sample the model finds most positive ratings but about half the negative ones: a
    negative rating whose comment it reads as positive is more likely its own mistake."""
    recall = fitted.fit["agreement"]["recall"]
    assert recall["positive"] >= tone.TRUSTED_RECALL > recall["negative"]
    assert tone.checked_ratings(fitted.fit["agreement"]) == fitted.fit["mismatch_checked"] == ["positive"]
    flagged = fitted.predictions.filter(pl.col("mismatch").is_not_null())
    assert flagged.height > 0 and set(flagged["sentiment"]) == {"positive"}
    surveys, contracts, _ = sample
    words = tone.estimate_tone(surveys, contracts, PERIOD, min_labels=100_000)
    assert tone.checked_ratings(words.fit["agreement"]) == []  # the word list reads neither well enough
    assert words.predictions["mismatch"].null_count() == words.predictions.height
    assert tone.checked_ratings(None) == []


def test_time_folds_train_on_earlier_months_only():
    months = np.array(["2026-01"] * 50 + ["2026-02"] * 30 + ["2026-03"] * 10 + ["2026-04"] * 10)
    folds = tone.time_folds(months)
    assert [f.describe() for f in folds] == [
        {"train_months": ["2026-01", "2026-02"], "test_months": ["2026-03", "2026-03"], "train": 80, "test": 10},
        {"train_months": ["2026-01", "2026-03"], "test_months": ["2026-04", "2026-04"], "train": 90, "test": 10},
    ]
    assert tone.time_folds(np.array(["2026-01"] * 9)) == []


def test_agreement_is_macro_f1_accuracy_and_recall():
    truth = np.array(["negative", "negative", "neutral", "positive", "positive", "positive"])
    said = np.array(["negative", "positive", "positive", "positive", "positive", "neutral"])
    measured = tone.agreement(truth, said)
    # F1 = 2 hits / (rated + said): negative 2/3, neutral 0/2, positive 4/7
    assert measured == {"comments": 6, "macro_f1": 0.413, "accuracy": 0.5,
                        "recall": {"negative": 0.5, "neutral": 0.0, "positive": 0.667}}


def test_the_stage_writes_the_internal_model_and_the_cli_says_how_tone_was_estimated(sample, tmp_path):
    _, _, clean = sample
    runner = CliRunner()
    done = runner.invoke(app, ["metrics", "--data", str(clean), "--out", str(tmp_path / "m")])
    assert done.exit_code == 0, done.output
    fit = json.loads((tmp_path / "m" / "tone_fit.json").read_text())
    output = " ".join(done.output.split())
    assert (f"comment tone: model trained on {fit['labelled_comments']:,} rated comments (macro-F1 "
            f"{fit['agreement']['macro_f1']:.2f} on {fit['agreement']['comments']:,} later comments") in output
    summary = json.loads((tmp_path / "m" / "metrics_summary.json").read_text())
    assert summary["tone"]["macro_f1"] == fit["agreement"]["macro_f1"] and "tone" in summary["timings_s"]
    rows = pl.read_parquet(tmp_path / "m" / "comment_tone.parquet")
    model = io.read_model(tmp_path / "m" / "tone_model.joblib")
    words = model.predict_proba(["Took a week and nobody called back", "Brilliant, fixed in minutes"])
    assert words.shape == (2, 3) and words[0].argmax() == 0 and words[1].argmax() == 2
    assert rows.height == fit["labelled_comments"]

    few = runner.invoke(app, ["metrics", "--data", str(clean), "--out", str(tmp_path / "m"),
                              "--tone-min-labels", "100000"])
    assert few.exit_code == 0, few.output
    assert "comment tone: word list (only" in " ".join(few.output.split())
    assert not (tmp_path / "m" / "tone_model.joblib").exists()  # no stale model from the run before


@pytest.mark.parametrize("name, expected", [
    (tone.MIN_LABELS_ENV, "SERVICEREVIEW_TONE_MIN_LABELS='lots' is not a whole number of labelled comments"),
    (tone.MAX_TRAIN_ENV, "SERVICEREVIEW_TONE_MAX_TRAIN='lots' is not a whole number of comments to train on")])
def test_a_bad_number_in_the_environment_is_a_clear_error(sample, tmp_path, monkeypatch, name, expected):
    _, _, clean = sample
    monkeypatch.setenv(name, "lots")
    done = CliRunner().invoke(app, ["metrics", "--data", str(clean), "--out", str(tmp_path / "m")])
    assert done.exit_code == 2
    assert expected in " ".join(done.output.split())


def test_the_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(tone.MIN_LABELS_ENV, "50000")
    monkeypatch.setenv(tone.MAX_TRAIN_ENV, "20000")
    assert (tone.min_labels_setting(), tone.max_train_setting()) == (50_000, 20_000)
    monkeypatch.setenv(tone.MAX_TRAIN_ENV, "2")
    with pytest.raises(io.InputError, match="SERVICEREVIEW_TONE_MAX_TRAIN=2 is too few: at least 3 comments, one per"):
        tone.max_train_setting()


def test_the_stage_trains_on_a_sample_when_the_environment_caps_it_and_says_so(sample, tmp_path, monkeypatch):
    _, _, clean = sample
    monkeypatch.setenv(tone.MAX_TRAIN_ENV, str(CAP))
    done = CliRunner().invoke(app, ["metrics", "--data", str(clean), "--out", str(tmp_path / "m")])
    assert done.exit_code == 0, done.output
    fit = json.loads((tmp_path / "m" / "tone_fit.json").read_text())
    assert fit["model"]["trained_on"] == CAP and fit["model"]["scored_by_model"] == fit["labelled_comments"] - CAP
    assert pl.read_parquet(tmp_path / "m" / "comment_tone.parquet").height == fit["labelled_comments"]
    assert (f"comment tone: model trained on a sample of {CAP} of the {fit['labelled_comments']:,} rated "
            "comments (macro-F1") in " ".join(done.output.split())


def test_a_capped_fit_trains_on_a_sample_and_no_comment_is_scored_by_a_model_that_saw_it(sample):
    surveys, contracts, _ = sample
    capped = tone.estimate_tone(surveys, contracts, PERIOD, max_train=CAP)
    comments = tone.labelled_comments(surveys, contracts, PERIOD)
    chosen = tone.training_sample(comments["sentiment"].to_numpy(), CAP)
    trained = comments[chosen]
    assert capped.predictions.height == comments.height and capped.predictions["tone"].null_count() == 0
    assert capped.fit["model"] | {} == capped.fit["model"] | {
        "max_train": CAP, "trained_on": CAP, "cross_fitted": CAP, "scored_by_model": comments.height - CAP,
        "scored_by_model_that_saw_them": 0}
    # each rating's share of the sample, spread over every month
    for c in tone.CLASSES:
        share = (comments["sentiment"] == c).mean()
        assert abs((trained["sentiment"] == c).sum() - CAP * share) <= 1
    assert set(trained["month"]) == set(comments["month"])

    # the sample's tones are cross-fitted within it, exactly as a fit on the sample alone
    alone = tone.estimate_tone(surveys.filter(pl.col("ticket_id").is_in(trained["ticket_id"].implode())),
                               contracts, PERIOD, min_labels=100)
    assert alone.fit["model"]["trained_on"] == alone.fit["model"]["cross_fitted"] == CAP
    assert capped.predictions[chosen].equals(alone.predictions)
    assert capped.fit["agreement"] == alone.fit["agreement"]
    columns = ["p_negative", "p_neutral", "p_positive"]
    seen = alone.model.predict_proba(trained["comment"])
    assert not np.allclose(seen, alone.predictions.select(columns).to_numpy())  # not the model that saw them
    # every other comment: scored by the model fitted on the sample, which never saw it
    other = ~comments["ticket_id"].is_in(trained["ticket_id"].implode())
    scored, texts = capped.predictions.filter(other).select(columns).to_numpy(), comments.filter(other)["comment"]
    assert len(scored) == comments.height - CAP
    assert np.array_equal(scored, alone.model.predict_proba(texts))
    assert np.array_equal(scored, capped.model.predict_proba(texts))

    uncapped = tone.estimate_tone(surveys, contracts, PERIOD, max_train=comments.height)
    assert uncapped.fit["model"]["trained_on"] == comments.height
    assert uncapped.predictions.equals(tone.estimate_tone(surveys, contracts, PERIOD).predictions)


def test_the_training_sample_keeps_each_ratings_share_and_every_rating():
    labels = np.array(["positive"] * 950 + ["negative"] * 30 + ["neutral"] * 20)
    picked = tone.training_sample(labels, 100)
    assert len(picked) == len(set(picked)) == 100 and list(picked) == sorted(picked)
    assert {c: int((labels[picked] == c).sum()) for c in tone.CLASSES} == {"negative": 3, "neutral": 2,
                                                                          "positive": 95}
    assert list(tone.training_sample(labels, 1000)) == list(range(1000))
    rare = tone.training_sample(labels, 10)  # a rating too rare for its share still gets a place
    assert {c: int((labels[rare] == c).sum()) for c in tone.CLASSES} == {"negative": 1, "neutral": 1,
                                                                         "positive": 8}
    with pytest.raises(ValueError, match="max_train=2: at least 3 comments, one per rating"):
        tone.training_sample(labels, 2)


def test_ngrams_are_counted_as_scikit_learns_vectorisers_count_them(sample):
    """Word 1-2-grams (\\w+ words) and char_wb 2-5-grams, as CountVectorizer counts them."""
    from sklearn.feature_extraction.text import CountVectorizer

    surveys, _, _ = sample
    texts = surveys["comment"].drop_nulls().to_list()[:400] + [
        "Café déjà vu — naïve!", "fixed,fixed  FIXED\tagain", "10/10 x_y", "", "a"]
    ngrams = Ngrams()
    counts = ngrams.fit_transform(texts).toarray()
    for part, names, analyzer in [
        (counts[:, :ngrams.words], ngrams.word_grams,
         CountVectorizer(ngram_range=(1, 2), token_pattern=r"\w+")),
        (counts[:, ngrams.words:], ngrams.char_grams, CountVectorizer(analyzer="char_wb", ngram_range=(2, 5)))]:
        expected = analyzer.fit_transform(texts).toarray()
        assert sorted(names) == sorted(analyzer.vocabulary_)
        assert np.array_equal(part, expected[:, [analyzer.vocabulary_[g] for g in names]])
    words, chars = (part.toarray() for part in ngrams.counts(["fixed again zzzz", "жжж"]))
    assert words[1].sum() == chars[1].sum() == 0 and words[0, ngrams.word_grams.to_list().index("fixed again")] == 1
    assert chars.shape[1] == len(ngrams.char_grams)


def test_the_saved_model_scores_text_as_the_fitted_rows_are_scored(sample):
    """predict_proba (counts dotted with the coefficients, a chunk at a time) gives what the
    classifier gives on the TF-IDF rows of the same texts."""
    surveys, _, _ = sample
    rated = surveys.filter(pl.col("comment").is_not_null() & pl.col("sentiment").is_in(tone.CLASSES))
    texts, labels = rated["comment"].to_list(), rated["sentiment"].to_numpy()
    model = ToneModel(texts).fit(labels)
    every = np.ones(len(texts), dtype=bool)
    assert np.allclose(model.predict_proba(rated["comment"]), model.fit_predict(labels, every, every),
                       rtol=0, atol=1e-12)
    two = np.where(labels == "neutral", "positive", labels)  # trained on two ratings: neutral is 0
    binary = ToneModel(texts).fit(two)
    assert np.allclose(binary.predict_proba(texts), binary.fit_predict(two, every, every), rtol=0, atol=1e-12)
    assert (binary.predict_proba(texts)[:, 1] == 0).all()
