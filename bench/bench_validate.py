"""Benchmark of the data-quality gate (prints figures; not a test).

    .venv/bin/python bench/bench_validate.py [--tickets 40000] [--clients 5] [--runs 3]

Cleans a data set (untimed: data/sample, or with --tickets a generated sample of
that size), then runs `validate_folder` in a fresh subprocess per run, so every
run pays the Great Expectations import like a real `servicereview validate`.
Prints the import, suite set-up, load, per-client and total seconds (medians
over the runs) with each client's ticket count: the cost per client is mostly a fixed
GX overhead per expectation, so it grows slowly with the data.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from pipelines.validate.gate import validate_folder
results = validate_folder(Path(sys.argv[1]), Path(sys.argv[2]))
summary = json.loads((Path(sys.argv[2]) / "summary.json").read_text())
summary["timings"]["process_seconds"] = time.perf_counter() - started
print(json.dumps(summary["timings"]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=None,
                        help="generate a sample of about this size")
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from pipelines.clean.stage import clean_folder
    from pipelines.core.config import SAMPLE_DATA

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = SAMPLE_DATA
        if args.tickets or not (SAMPLE_DATA / "tickets.csv").exists():
            from pipelines.ingest.sample.write import write_sample

            raw = tmp / "raw"
            write_sample(raw, clients=args.clients, tickets=args.tickets, dirty=False)
        result = clean_folder(raw, tmp / "clean")
        tickets = result.tables["tickets"].height
        sizes = dict(result.tables["tickets"].group_by("client_id").len().iter_rows())
        events = result.tables["ticket_events"].height
        print(f"data: {raw} -> {tickets:,} tickets, {events:,} status changes, "
              f"{len(result.summary['by_client'])} clients")

        runs = []
        for n in range(args.runs):
            command = [sys.executable, "-c", CHILD, str(tmp / "clean"), str(tmp / f"v{n}")]
            out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(key: str) -> float:
        return median(r[key] for r in runs)

    clients = runs[0]["per_client_seconds"]
    per_client = {c: median(r["per_client_seconds"][c] for r in runs) for c in clients}
    print(f"runs: {args.runs} (medians)")
    print(f"  import great_expectations  {med('gx_import_seconds'):6.2f} s")
    print(f"  suites + context set-up    {med('gx_setup_seconds'):6.2f} s")
    print(f"  load clean tables          {med('load_seconds'):6.2f} s")
    for client, seconds in per_client.items():
        print(f"  validate {client:<22} {seconds:6.2f} s  ({sizes.get(client, 0):,} tickets)")
    print(f"  all clients                {sum(per_client.values()):6.2f} s")
    print(f"  validate_folder total      {med('total_seconds'):6.2f} s")
    print(f"  whole process              {med('process_seconds'):6.2f} s")


if __name__ == "__main__":
    main()
