"""Comment tone, learnt from the provider's own rated surveys.

Every survey carries the customer's own rating, turned into negative / neutral / positive
through the client's scale when it was cleaned. Those are labels: per run, a TF-IDF (word
1-2-grams + character 2-5-grams) logistic regression with balanced class weights
(`pipelines.metrics.tone_model`) is fitted on the rated, commented surveys of every client
up to the end of the report month (each client's local month; never on later data) and
estimates the tone of each comment.

- It trains on at most `max_train` comments (MAX_TRAIN, or SERVICEREVIEW_TONE_MAX_TRAIN):
  beyond that its agreement no longer grows (bench/bench_tone.py --max-train), only its cost.
  With more rated comments it trains on a sample of them (`training_sample`: each rating's
  share, evenly spaced in time, so every month is represented; the same sample every run).
- Each comment's tone comes from a model that did not see it: the training comments' from
  3-fold cross-fitting within them, every other comment's from the model fitted on all the
  training comments (the saved model), which never saw it. A comment that contradicts its
  rating thus stands out instead of being learnt. A positive rating with a comment of a few
  words or more that reads negative and makes the positive rating unlikely (probability <=
  UNLIKELY), or the reverse, is a *mismatch* for the review list; a rating is only checked
  when the method, measured on later months, finds at least TRUSTED_RECALL of the comments
  given that rating (else its misreadings would be listed).
- The agreement reported is measured as the model is used: on time-ordered folds of the
  training comments (trained on earlier months, scored on the later ~30%), as macro-F1 and
  per-class recall, and the word list (`lexicon`, VADER) is scored on the same comments. The
  fit report says how many comments trained the model and how many it scored.
- With fewer than `min_labels` labelled comments (default 2,000: about 0.71 macro-F1 on
  real customer-service text) or a single rated class, the word list gives the tone and the
  fit report says why.

`estimate_tone` is pure (frames in, `ToneResult` out); the metrics stage runs it after the
KPIs and `write_tone` writes, through `pipelines.core.io`, to the (internal) metrics folder:
`comment_tone.parquet` (one row per comment, COLUMNS), `tone_fit.json` (the fit report) and
`tone_model.joblib` (the model: it never leaves the internal build).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.core import io
from pipelines.core.contracts import Contract
from pipelines.core.periods import local_months
from pipelines.metrics import lexicon
from pipelines.metrics.tone_model import CLASSES, CLASSIFIER, FEATURES, ToneModel

MIN_LABELS = 2000
MIN_LABELS_ENV = "SERVICEREVIEW_TONE_MIN_LABELS"
MAX_TRAIN = 30_000  # comments the model trains on at most (a sample of them beyond: bench/bench_tone.py)
MAX_TRAIN_ENV = "SERVICEREVIEW_TONE_MAX_TRAIN"
UNLIKELY = 0.1  # a comment read as the opposite tone that gives its own rating at most this chance
MISMATCH_WORDS = 3  # a shorter comment ("done") never clearly contradicts its rating
TRUSTED_RECALL = 0.7  # comments under a rating are checked only if the method finds this share of them
TEST_SHARE = 0.3  # the latest months holding about this share of comments are scored
TIME_FOLDS = 2
CROSS_FOLDS = 3
MISMATCH = {"positive": "rated positive, reads negative", "negative": "rated negative, reads positive"}

COLUMNS = {
    "ticket_id": pl.String,
    "client_id": pl.String,
    "responded_at": pl.Datetime("us", "UTC"),
    "month": pl.String,  # the client's local month of responded_at
    "sentiment": pl.String,  # from the rating
    "tone": pl.String,  # estimated from the comment
    "p_negative": pl.Float64,  # the model's probabilities (null from the word list)
    "p_neutral": pl.Float64,
    "p_positive": pl.Float64,
    "lexicon_score": pl.Float64,  # VADER compound score (null when the model gave the tone)
    "method": pl.String,  # model | lexicon
    "mismatch": pl.String,  # null, or MISMATCH[sentiment]
}
OUTPUT = "comment_tone"
FIT_FILE = "tone_fit.json"
MODEL_FILE = "tone_model.joblib"


@dataclass
class ToneResult:
    """Per-comment tone (COLUMNS), the fit report, and the fitted model (None: word list)."""

    predictions: pl.DataFrame
    fit: dict
    model: ToneModel | None = None


def min_labels_setting() -> int:
    """The minimum number of labelled comments to train on: SERVICEREVIEW_TONE_MIN_LABELS or 2,000."""
    return _whole_number(MIN_LABELS_ENV, MIN_LABELS, "labelled comments")


def max_train_setting() -> int:
    """The most comments the model trains on: SERVICEREVIEW_TONE_MAX_TRAIN or MAX_TRAIN."""
    value = _whole_number(MAX_TRAIN_ENV, MAX_TRAIN, "comments to train on")
    if value < len(CLASSES):
        raise io.InputError(f"{MAX_TRAIN_ENV}={value} is too few: at least {len(CLASSES)} comments, one per rating")
    return value


def _whole_number(name: str, default: int, what: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise io.InputError(f"{name}={raw!r} is not a whole number of {what}")
    return int(raw)


def labelled_comments(surveys: pl.DataFrame | pl.LazyFrame | None, contracts: dict[str, Contract],
                      period: str) -> pl.DataFrame:
    """Rated surveys with a comment, of every client, answered up to the end of `period` in
    the client's local time; with `month`, oldest first. (`surveys` may be a scan of the
    table: only these rows and columns are then read.)"""
    schema = {c: COLUMNS[c] for c in ("ticket_id", "client_id", "responded_at", "month", "sentiment")}
    rated = None if surveys is None else (
        surveys.lazy().select("ticket_id", "client_id", "responded_at", "sentiment", pl.col("comment").str.strip_chars())
        .filter(pl.col("sentiment").is_in(CLASSES) & (pl.col("comment").str.len_chars() > 0)).collect())
    if rated is None or rated.is_empty():
        return pl.DataFrame(schema=schema | {"comment": pl.String})
    month = local_months(rated["client_id"], rated["responded_at"], {c: k.timezone for c, k in contracts.items()})
    return (rated.with_columns(month).filter(pl.col("month") <= period)  # (null: a client without a contract)
            .select(*schema, "comment").sort("responded_at", "client_id", "ticket_id", maintain_order=True))


def estimate_tone(surveys: pl.DataFrame | pl.LazyFrame | None, contracts: dict[str, Contract], period: str,
                  min_labels: int = MIN_LABELS, max_train: int = MAX_TRAIN) -> ToneResult:
    """Tone of every comment up to `period`: the trained model, or the word list when there
    are fewer than `min_labels` labelled comments (see the module docstring)."""
    started = time.perf_counter()
    comments = labelled_comments(surveys, contracts, period)
    labels = comments["sentiment"].to_numpy()
    counts = {c: int((labels == c).sum()) for c in CLASSES}
    fit = {"period": period, "min_labels": min_labels, "labelled_comments": comments.height,
           "labels": counts, "months": [comments["month"].min(), comments["month"].max()]
           if comments.height else []}
    if comments.height < min_labels:
        reason = (f"only {comments.height:,} rated comments up to {period}, fewer than the "
                  f"{min_labels:,} needed to train the tone model")
    elif sum(1 for n in counts.values() if n) < 2:
        reason = "every rated comment has the same rating, so there is nothing to learn from"
    else:
        reason = None
    result = _lexicon(comments, fit, reason) if reason else _model(comments, fit, max_train)
    result.fit["timings_s"]["total"] = round(time.perf_counter() - started, 3)
    return result


# ---------------------------------------------------------------- estimating


def training_sample(labels: np.ndarray, max_train: int) -> np.ndarray:
    """Row numbers (ascending) of at most `max_train` comments to train on: every comment when
    there are no more, else each rating's share of them, evenly spaced over that rating's
    comments (which are in time order), so every month and rating is represented."""
    if max_train < len(CLASSES):
        raise ValueError(f"max_train={max_train}: at least {len(CLASSES)} comments, one per rating")
    if len(labels) <= max_train:
        return np.arange(len(labels))
    rows = [np.flatnonzero(labels == c) for c in CLASSES]
    share = np.array([len(r) for r in rows]) * max_train / len(labels)
    take = np.where(share > 0, np.maximum(np.floor(share), 1), 0).astype(int)  # every rating given
    take[np.argmax(take)] -= max(0, take.sum() - max_train)
    take[np.argsort(take - share, kind="stable")[:max_train - take.sum()]] += 1  # largest remainders
    return np.sort(np.concatenate([r[np.arange(k) * len(r) // k] for r, k in zip(rows, take) if k]))


def _model(comments: pl.DataFrame, fit: dict, max_train: int) -> ToneResult:
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    chosen = training_sample(comments["sentiment"].to_numpy(), max_train)
    sample = comments[chosen]
    texts, labels = sample["comment"].to_list(), sample["sentiment"].to_numpy()
    model = ToneModel(texts)
    lap("features")
    timed = [f for f in time_folds(sample["month"].to_numpy())
             if len(set(labels[f.train])) > 1]  # an early stretch with one rating: nothing to learn yet
    fold_of = np.arange(len(texts)) % CROSS_FOLDS  # interleaved in time: every fold spans every month
    crossed = [(fold_of != k, fold_of == k) for k in range(CROSS_FOLDS) if len(set(labels[fold_of != k])) > 1]
    splits = [(f.train, f.test) for f in timed] + crossed
    scores = [model.fit_predict(labels, train, test) for train, test in splits]
    lap("folds")
    rows = np.concatenate([np.flatnonzero(f.test) for f in timed]) if timed else np.zeros(0, dtype=np.int64)
    predicted = np.array(CLASSES)[np.concatenate([p.argmax(axis=1) for p in scores[:len(timed)]])] \
        if timed else np.zeros(0, dtype=str)
    words = lexicon.tone_of(lexicon.compound_scores([texts[i] for i in rows]))
    lap("lexicon")
    crossfit = np.zeros((len(texts), len(CLASSES)))
    for (_, test), p in zip(crossed, scores[len(timed):]):
        crossfit[test] = p
    model.fit(labels)
    lap("final_fit")
    unscored = np.flatnonzero(~crossfit.any(axis=1))  # a fold whose training rows held one rating
    probabilities = np.zeros((comments.height, len(CLASSES)))
    others = np.ones(comments.height, dtype=bool)
    others[chosen] = False
    probabilities[chosen] = crossfit
    if len(unscored):
        probabilities[chosen[unscored]] = model.predict_proba([texts[i] for i in unscored])
    if others.any():  # comments outside the training sample: the saved model never saw them
        probabilities[others] = model.predict_proba(comments["comment"].filter(pl.Series(others)))
    lap("score_others")
    tone = np.array(CLASSES)[probabilities.argmax(axis=1)]
    measured = agreement(labels[rows], predicted) | {"folds": [f.describe() for f in timed]} if timed else None
    frame = comments.with_columns(
        pl.Series("tone", tone, dtype=pl.String),
        *[pl.Series(f"p_{c}", probabilities[:, j]) for j, c in enumerate(CLASSES)],
        pl.lit(None, pl.Float64).alias("lexicon_score"),
        pl.lit("model").alias("method"),
    ).with_columns(_mismatch((pl.col("tone") == "negative") & (pl.col("p_positive") <= UNLIKELY),
                             (pl.col("tone") == "positive") & (pl.col("p_negative") <= UNLIKELY), measured))
    fit |= {
        "method": "model", "reason": None, "agreement": measured,
        "lexicon_agreement": agreement(labels[rows], words) if timed else None,
        "model": {"features": FEATURES, "classifier": CLASSIFIER, "cross_fit_folds": CROSS_FOLDS,
                  "mismatch_rating_probability_at_most": UNLIKELY, "trained_on": len(texts),
                  "max_train": max_train, "cross_fitted": len(texts) - len(unscored),
                  "scored_by_model": int(others.sum()), "scored_by_model_that_saw_them": len(unscored)},
    }
    return _finish(frame, fit, timings, model)


def _lexicon(comments: pl.DataFrame, fit: dict, reason: str) -> ToneResult:
    clock = time.perf_counter()
    texts, labels = comments["comment"].to_list(), comments["sentiment"].to_numpy()
    scores = lexicon.compound_scores(texts)
    tone = lexicon.tone_of(scores)
    frame = comments.with_columns(
        pl.Series("tone", tone, dtype=pl.String),
        *[pl.lit(None, pl.Float64).alias(f"p_{c}") for c in CLASSES],
        pl.Series("lexicon_score", scores, dtype=pl.Float64),
        pl.lit("lexicon").alias("method"),
    )
    measured = agreement(labels, tone) if len(texts) else None
    frame = frame.with_columns(_mismatch(pl.col("lexicon_score") <= -lexicon.CLEAR_AT,
                                         pl.col("lexicon_score") >= lexicon.CLEAR_AT, measured))
    fit |= {"method": "lexicon", "reason": reason, "agreement": measured, "lexicon_agreement": measured}
    return _finish(frame, fit, {"lexicon": round(time.perf_counter() - clock, 3)}, None)


def checked_ratings(measured: dict | None) -> list[str]:
    """The ratings whose comments may be listed as contradicting them: those the method finds at
    least TRUSTED_RECALL of on later months (none when its agreement could not be measured)."""
    recall = (measured or {}).get("recall", {})
    return [c for c in MISMATCH if (recall.get(c) or 0) >= TRUSTED_RECALL]


def _mismatch(reads_negative: pl.Expr, reads_positive: pl.Expr, measured: dict | None) -> pl.Expr:
    s, checked = pl.col("sentiment"), checked_ratings(measured)
    rated_positive = (s == "positive") & reads_negative & ("positive" in checked)
    rated_negative = (s == "negative") & reads_positive & ("negative" in checked)
    # words counted only where a mismatch is possible: counting every comment's costs seconds
    long = pl.when(rated_positive | rated_negative).then(pl.col("comment")).str.count_matches(r"\w+") >= MISMATCH_WORDS
    return (pl.when(rated_positive & long).then(pl.lit(MISMATCH["positive"]))
            .when(rated_negative & long).then(pl.lit(MISMATCH["negative"]))
            .otherwise(pl.lit(None, pl.String)).alias("mismatch"))


def _finish(frame: pl.DataFrame, fit: dict, timings: dict, model: ToneModel | None) -> ToneResult:
    frame = frame.select([pl.col(c).cast(t) for c, t in COLUMNS.items()])
    fit["mismatches"] = {text: int((frame["mismatch"] == text).sum()) for text in MISMATCH.values()}
    fit["mismatch_checked"] = checked_ratings(fit["agreement"])  # ratings whose comments were checked
    fit["timings_s"] = timings
    return ToneResult(frame, fit, model)


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Fold:
    """One time-ordered fold: train on every month before the test months."""

    train: np.ndarray  # boolean masks over the comments
    test: np.ndarray
    train_months: tuple[str, str]
    test_months: tuple[str, str]

    def describe(self) -> dict:
        return {"train_months": list(self.train_months), "test_months": list(self.test_months),
                "train": int(self.train.sum()), "test": int(self.test.sum())}


def time_folds(months: np.ndarray, folds: int = TIME_FOLDS, test_share: float = TEST_SHARE) -> list[Fold]:
    """Expanding-window folds over whole months: the latest months holding about `test_share`
    of the comments are split into up to `folds` consecutive blocks, each scored by a model
    trained on every earlier month. No folds when the comments span a single month."""
    labels, counts = np.unique(months, return_counts=True)
    if len(labels) < 2:
        return []
    before = np.cumsum(counts) - counts
    first = int(np.clip(np.searchsorted(before, (1 - test_share) * counts.sum()), 1, len(labels) - 1))
    out = []
    for block in np.array_split(labels[first:], min(folds, len(labels) - first)):
        start = int(np.searchsorted(labels, block[0]))
        out.append(Fold(months < block[0], np.isin(months, block), (labels[0], labels[start - 1]),
                        (block[0], block[-1])))
    return out


def agreement(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """How well estimated tones agree with the ratings: macro-F1 over the three classes, accuracy,
    and each class's recall (None for a class no comment was rated)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    recall, f1 = {}, []
    for c in CLASSES:
        hit = int(((truth == c) & (predicted == c)).sum())
        rated, said = int((truth == c).sum()), int((predicted == c).sum())
        recall[c] = round(hit / rated, 3) if rated else None
        f1.append(2 * hit / (rated + said) if rated + said else 0.0)
    return {"comments": int(len(truth)), "macro_f1": round(float(np.mean(f1)), 3) if len(truth) else None,
            "accuracy": round(float((truth == predicted).mean()), 3) if len(truth) else None,
            "recall": recall}


# ---------------------------------------------------------------- files


def write_tone(result: ToneResult, out_dir: Path) -> None:
    """comment_tone.parquet, tone_fit.json and (when trained) tone_model.joblib in out_dir."""
    out_dir = Path(out_dir)
    io.write_table(result.predictions, out_dir / f"{OUTPUT}.parquet")
    io.write_json(result.fit, out_dir / FIT_FILE)
    if result.model is not None:
        io.write_model(result.model, out_dir / MODEL_FILE)
    else:
        (out_dir / MODEL_FILE).unlink(missing_ok=True)  # a model from an earlier run is not this run's


def brief(fit: dict) -> dict:
    """The fit in a few fields, for metrics_summary.json and the CLI."""
    measured = fit.get("agreement") or {}
    return {"method": fit["method"], "reason": fit["reason"], "labelled_comments": fit["labelled_comments"],
            "trained_on": (fit.get("model") or {}).get("trained_on"),
            "macro_f1": measured.get("macro_f1"), "scored_comments": measured.get("comments"),
            "lexicon_macro_f1": (fit.get("lexicon_agreement") or {}).get("macro_f1")}


def trained_on(labelled: int, trained: int | None) -> str:
    """How many rated comments trained the model, for a sentence: "2,105", or "a sample of
    30,000 of the 518,540" when it trained on a sample of them."""
    if trained is None or trained >= labelled:
        return f"{labelled:,}"
    return f"a sample of {trained:,} of the {labelled:,}"


def read_fit(metrics_dir: Path) -> dict | None:
    """The run's fit report, or None when tone has not been estimated."""
    path = Path(metrics_dir) / FIT_FILE
    return io.read_json(path) if path.exists() else None


def fingerprint(metrics_dir: Path, client_id: str) -> str:
    """Hash of what a client's pages show of the tone: its comments' tones and the fit's figures."""
    fit = read_fit(metrics_dir) or {}
    rows = io.read_table(metrics_dir, OUTPUT, client_id=client_id)
    shown = {k: v for k, v in fit.items() if k != "timings_s"}
    return io.digest(repr(sorted(shown.items())), f"{rows.hash_rows().sum() if rows.height else 0}:{rows.height}")
