"""Benchmark of `servicereview sample` at benchmark scale (prints figures; not a test).

    .venv/bin/python bench/bench_sample.py [--clients 200] [--tickets 1000000] [--format parquet]

Runs the generator in a fresh subprocess (the CLI, without the dirty set) and prints
its wall time, peak RSS and the rows written per table. Target: 1M tickets across
200 clients well under 2 minutes.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--format", dest="fmt", default="parquet", choices=["csv", "parquet"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "pipelines.cli", "sample", "--out", tmp, "--clients",
            str(args.clients), "--tickets", str(args.tickets), "--format", args.fmt, "--no-dirty",
        ]
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"sample --clients {args.clients} --tickets {args.tickets} --format {args.fmt}")
        print(f"  wall {seconds:.1f} s, peak RSS {peak_mb:,.0f} MB")
        for path in sorted(Path(tmp).glob(f"*.{args.fmt}")):
            frame = pl.read_parquet(path) if args.fmt == "parquet" else pl.read_csv(path, infer_schema=False)
            size = path.stat().st_size / 1e6
            print(f"  {path.stem:<14} {frame.height:>10,} rows {size:>8.1f} MB")


if __name__ == "__main__":
    main()
