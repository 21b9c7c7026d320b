"""Benchmark of `servicereview import` on the real ServiceNow log (prints figures; not a test).

    .venv/bin/python bench/bench_import.py [--log PATH] [--runs 3]

Each run imports the 141,712-row event log (read .csv.gz -> map -> collapse into
tickets and status events -> write the canonical CSVs) in a fresh subprocess and
prints its wall time and that process's peak RSS, next to the RSS of a process
that only imports the package (the interpreter + polars baseline). Then it prints
the counts (tickets, events, rejects by reason). Target: seconds, not minutes.
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
DEFAULT_LOG = ROOT.parent / "shared/data/servicenow-incident-log/incident_event_log.csv.gz"

CHILD = """
import json, resource, sys, time
from pathlib import Path
from pipelines.ingest.importers import import_files
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[1] != "--baseline":
    started = time.perf_counter()
    result = import_files([Path(sys.argv[1])], "servicenow", "servicenow-demo", Path(sys.argv[2]))
    seconds = time.perf_counter() - started
    report = result.report
else:
    seconds, report = 0.0, {}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kb": peak, "baseline_kb": baseline, "report": report}))
"""


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.log.exists():
        sys.exit(f"{args.log}: not found (pass --log)")

    idle = _child("--baseline")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(_child(str(args.log), str(Path(tmp) / f"run{i}")))
    times = [r["seconds"] for r in runs]
    peaks = [r["peak_kb"] / 1024 for r in runs]
    report = runs[-1]["report"]
    print(f"import of {args.log.name}: {report['rows_read']:,} rows, {args.runs} runs (fresh process each)")
    print(f"  wall time: median {median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})")
    print(f"  peak RSS:  {max(peaks):.0f} MB (interpreter + polars + package alone: "
          f"{idle['peak_kb'] / 1024:.0f} MB)")
    print(f"  rows/s:    {report['rows_read'] / median(times):,.0f}")
    print(f"  tickets {report['tickets']:,}, status events {report['ticket_events']:,}, "
          f"rows rejected {report['rows_rejected']} {report['rejected_by_reason']}")
    print(f"  derived from history: {report['notes']['filled_from_history']}")


if __name__ == "__main__":
    main()
