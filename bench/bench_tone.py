"""Benchmark of the comment-tone stage (prints figures; not a test).

    .venv/bin/python bench/bench_tone.py [--comments 20000] [--runs 3] [--max-train 10000,30000]

Generates and cleans a sample with about that many rated comments (untimed), then times
`estimate_tone` as the batch runs it: features, the time-ordered folds, the word list on the
same comments, the cross-fitted tone of every comment and the final model. Prints the wall
time (median over the runs; target: <= 5 s for 20,000 comments), the macro-F1 of the model
and of the word list (VADER) on the later months, and comments per second for both: the
whole stage, the saved model scoring new text, and the word list scoring every comment.
The machine's load and the CPU time are printed too: on a shared machine the wall time grows
with the load, the CPU time much less. `--max-train` prints, for each cap on the comments the
model trains on, the time of `estimate_tone` and the macro-F1 on one fixed test (every comment
of the latest months), to choose `tone.MAX_TRAIN` where it stops growing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from statistics import median

TICKETS_PER_COMMENT = 1.95  # in the generated sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-train", default="",
                        help="Comma-separated caps on the training sample: macro-F1 and time for each.")
    args = parser.parse_args()

    import polars as pl

    from pipelines.clean.stage import clean_folder
    from pipelines.core.contracts import load_contracts
    from pipelines.ingest.sample.write import write_sample
    from pipelines.metrics import lexicon, tone

    with tempfile.TemporaryDirectory() as tmp:
        raw, clean = Path(tmp) / "raw", Path(tmp) / "clean"
        write_sample(raw, tickets=int(args.comments * TICKETS_PER_COMMENT * 1.1), dirty=False)
        surveys = clean_folder(raw, clean).tables["surveys"]
        contracts = load_contracts(clean / "contracts")
    period = surveys["responded_at"].max().strftime("%Y-%m")
    commented = surveys.filter(pl.col("comment").is_not_null()).sort("responded_at").head(args.comments)
    print(f"data: {commented.height:,} rated comments of {len(contracts)} clients, "
          f"{commented['sentiment'].value_counts().sort('sentiment').rows()}")

    started = time.perf_counter()
    import sklearn.linear_model  # noqa: F401  (paid once per batch; reported apart)

    print(f"scikit-learn import: {time.perf_counter() - started:.2f} s")
    seconds, cpu, result = [], [], None
    for _ in range(args.runs):
        started, used = time.perf_counter(), time.process_time()
        result = tone.estimate_tone(commented, contracts, period)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    fit = result.fit
    assert fit["method"] == "model", fit["reason"]
    wall = median(seconds)
    print(f"estimate_tone (train + score {fit['labelled_comments']:,} comments): median {wall:.2f} s wall, "
          f"{median(cpu):.2f} s CPU over {args.runs} runs (target <= 5 s); steps {fit['timings_s']}")

    texts = commented["comment"].to_list()
    started = time.perf_counter()
    result.model.predict_proba(texts)
    model_rate = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    words = lexicon.tone_of(lexicon.compound_scores(texts))
    lexicon_rate = len(texts) / (time.perf_counter() - started)
    everyone = tone.agreement(commented["sentiment"].to_numpy(), words)

    model, later = fit["agreement"], fit["lexicon_agreement"]
    print(f"model:     macro-F1 {model['macro_f1']:.3f} on {model['comments']:,} later comments "
          f"(recall {model['recall']}); {fit['labelled_comments'] / wall:,.0f} comments/s for the whole "
          f"stage, {model_rate:,.0f} comments/s scoring new text with the saved model")
    print(f"word list: macro-F1 {later['macro_f1']:.3f} on the same comments (recall {later['recall']}), "
          f"{everyone['macro_f1']:.3f} on all {len(texts):,}; {lexicon_rate:,.0f} comments/s")
    if args.max_train:
        learning_curve(commented, contracts, period, [int(c) for c in args.max_train.split(",")])
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


def learning_curve(commented, contracts, period: str, caps: list[int]) -> None:
    """For each cap: estimate_tone's time and measured agreement (its time folds inside the
    sample), and the macro-F1 on one fixed test for every cap (every comment of the latest
    months, about TEST_SHARE, by a model trained on a capped sample of the earlier months)."""
    import numpy as np

    from pipelines.metrics import tone
    from pipelines.metrics.tone_model import ToneModel

    comments = tone.labelled_comments(commented, contracts, period)
    labels = comments["sentiment"].to_numpy()
    last = tone.time_folds(comments["month"].to_numpy(), folds=1)[0]
    earlier, later = np.flatnonzero(last.train), np.flatnonzero(last.test)
    print(f"learning curve: fixed test = {len(later):,} comments of {last.test_months}, trained on a sample of "
          f"the {len(earlier):,} comments of {last.train_months}")
    for cap in caps:
        started, used = time.perf_counter(), time.process_time()
        fit = tone.estimate_tone(commented, contracts, period, max_train=cap).fit
        wall, cpu = time.perf_counter() - started, time.process_time() - used
        rows = np.concatenate([earlier[tone.training_sample(labels[earlier], cap)], later])
        model = ToneModel(comments["comment"].gather(rows).to_list())
        train = np.zeros(len(rows), dtype=bool)
        train[: len(rows) - len(later)] = True
        p = model.fit_predict(labels[rows], train, ~train)
        fixed = tone.agreement(labels[later], np.array(tone.CLASSES)[p.argmax(axis=1)])
        own = fit["agreement"]
        print(f"  max_train {cap:>7,}: trained on {fit['model']['trained_on']:,}, estimate_tone {wall:.2f} s wall "
              f"{cpu:.2f} s CPU; macro-F1 {own['macro_f1']:.3f} on its own {own['comments']:,} later comments, "
              f"{fixed['macro_f1']:.3f} on the fixed test (recall {fixed['recall']})")


if __name__ == "__main__":
    main()
