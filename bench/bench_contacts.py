"""Benchmark of matching the clients' own record of calls and emails to the tickets (prints figures).

    .venv/bin/python bench/bench_contacts.py [--clients 20] [--months 13] [--tickets 60000] [--seeds 7 11]

For each seed: generates a sample (the generator knows which ticket each contact became),
cleans it in memory, runs the metrics stage and prints the matching's precision and recall
against that truth, overall and by kind of contact (first contact, logged late, missed call
before the call, follow-up naming its ticket, never a ticket), plus the time the matching took.
Done-when for issue 14: precision and recall both >= 0.95.
"""

from __future__ import annotations

import argparse
import time

import polars as pl

from pipelines.clean.stage import clean_tables
from pipelines.core.io import ROW, SOURCE
from pipelines.ingest.sample.generator import generate_sample, raw_frames
from pipelines.metrics import contacts
from pipelines.metrics.stage import compute_metrics


def run(clients: int, months: int, tickets: int | None, seed: int) -> None:
    started = time.perf_counter()
    sample = generate_sample(clients=clients, months=months, seed=seed, tickets=tickets)
    raw = {name: f.with_columns(pl.all().cast(pl.String)).with_row_index(ROW, offset=1)
           .with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(f"{name}.csv").alias(SOURCE))
           for name, f in raw_frames(sample).items()}
    clean = clean_tables(raw, sample.contracts)
    prepared = time.perf_counter() - started
    result = compute_metrics(clean.tables, sample.contracts, sample.story["period"][-1])
    truth = sample.truth["contacts"]
    score = contacts.agreement(result.contact_matches, truth)
    print(f"seed {seed}: {clients} clients x {months} months, {clean.tables['tickets'].height:,} tickets, "
          f"{clean.tables['contacts'].height:,} contacts (sample + clean {prepared:.1f} s, "
          f"matching {result.summary['timings_s']['contacts']:.2f} s)")
    print(f"  precision {score['precision']:.4f} ({score['right']}/{score['matched']})  "
          f"recall {score['recall']:.4f} ({score['right']}/{score['with_ticket']})  "
          f"never a ticket: {score['contacts'] - score['with_ticket']}")
    joined = result.contact_matches.join(truth, on=["client_id", "contact_id"], suffix="_true")
    by_kind = (joined.group_by("kind").agg(
        pl.len().alias("contacts"),
        (pl.col("ticket_id").eq_missing(pl.col("ticket_id_true"))).sum().alias("right"),
        pl.col("match").value_counts(sort=True).alias("matched_as"))
        .sort("kind"))
    for kind, n, right, how in by_kind.iter_rows():
        shown = ", ".join(f"{h['match']} {h['count']}" for h in how[:4])
        print(f"  {kind:10} {n:6,} contacts, {right / n:7.2%} as in the truth ({shown})")
    ok = score["precision"] >= 0.95 and score["recall"] >= 0.95
    print(f"  done-when (both >= 0.95): {'yes' if ok else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--tickets", type=int, default=60_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    args = parser.parse_args()
    for seed in args.seeds:
        run(args.clients, args.months, args.tickets, seed)


if __name__ == "__main__":
    main()
