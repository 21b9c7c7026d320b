"""Run the metrics stage of another checkout and of this one on the same clean folder and
compare every output (prints figures and differences; not a test).

    .venv/bin/python bench/compare_metrics.py CLEAN OUT --base /work/main [--period P] [--chunk N]

`--base` is the other checkout (its own .venv runs its code). Parquet outputs are compared
with polars `equals` (values and dtypes, not file bytes), metrics_summary.json and
tone_fit.json without their timings. Exit status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json
from pipelines.metrics.stage import metrics_folder
kw = {{}} if {chunk} is None else {{"chunk_tickets": {chunk}}}
print(json.dumps(metrics_folder({clean!r}, {out!r}, {period!r}, **kw).summary["timings_s"]))
"""
TIMINGS = ("timings_s", "cpu_s")


def run(checkout: Path, clean: Path, out: Path, period: str | None, chunk: int | None) -> dict:
    code = CHILD.format(clean=str(clean), out=str(out), period=period, chunk=chunk)
    done = subprocess.run([str(checkout / ".venv/bin/python"), "-c", code], cwd=checkout,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{checkout}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(base: Path, mine: Path) -> int:
    bad = 0
    for name in sorted({f.name for f in base.glob("*.parquet")} | {f.name for f in mine.glob("*.parquet")}):
        x, y = pl.read_parquet(base / name), pl.read_parquet(mine / name)
        same = x.schema == y.schema and x.equals(y)
        bad += not same
        print(f"{'same' if same else 'DIFFERS'} {name}: {x.shape} vs {y.shape}")
        if not same and x.schema == y.schema and x.shape == y.shape:
            for column in x.columns:
                if not x[column].equals(y[column]):
                    print(f"    {column}: {x[column].ne_missing(y[column]).sum()} rows differ")
    for name in ("metrics_summary.json", "tone_fit.json"):
        x, y = (json.loads((d / name).read_text()) for d in (base, mine))
        for d in (x, y):
            for key in TIMINGS:
                d.pop(key, None)
        bad += x != y
        print(f"{'same' if x == y else 'DIFFERS'} {name}")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--base", type=Path, required=True, help="The other checkout (with its .venv).")
    parser.add_argument("--period")
    parser.add_argument("--chunk", type=int, help="chunk_tickets for both runs")
    args = parser.parse_args()
    for name, checkout in (("base", args.base), ("this", ROOT)):
        print(name, run(checkout, args.clean, args.out / name, args.period, args.chunk))
    bad = compare(args.out / "base", args.out / "this")
    print("every output equal" if not bad else f"{bad} outputs differ")
    sys.exit(bool(bad))


if __name__ == "__main__":
    main()
