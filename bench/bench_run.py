"""Benchmark of the whole monthly batch (prints figures; not a test).

    .venv/bin/python bench/bench_run.py [--clients 50] [--jobs 2] [--keep]

Generates a 13-month data set for N clients (cached under bench/out/), then times
`servicereview run --jobs J` end to end in a fresh workspace (SERVICEREVIEW_HOME,
so the project's own build/, reports/ and _site/ are untouched), and a second,
unchanged run. Prints wall time, the stage times, per-client notebook time and the
peak memory of the whole process tree. Targets on a 2-core machine (50 clients,
--jobs 2): <= 150 s for the full run, <= 5 s for the unchanged re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CLI = [sys.executable, "-m", "pipelines.cli"]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0").strip())
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    family, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current and p not in family]
        family.update(children)
        frontier.extend(children)
    return sum(rss.get(p, 0) for p in family) / 1024


def timed_run(args: list[str], env: dict) -> tuple[float, float, int]:
    """Run a command; return (seconds, peak tree RSS in MB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if proc.returncode:
        print(err[-3000:])
    return seconds, peak, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the workspace afterwards")
    opts = parser.parse_args()

    data = OUT / f"data-{opts.clients}"
    if not (data / "tickets.csv").exists():
        start = time.perf_counter()
        subprocess.run([*CLI, "sample", "--clients", str(opts.clients), "--out", str(data), "--no-dirty"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"generated {opts.clients} clients x 13 months in {time.perf_counter() - start:.1f} s")
    tickets = sum(1 for _ in (data / "tickets.csv").open()) - 1
    home = OUT / f"home-{opts.clients}"
    shutil.rmtree(home, ignore_errors=True)
    env = dict(os.environ, SERVICEREVIEW_HOME=str(home))
    run = [*CLI, "run", "--data", str(data), "--jobs", str(opts.jobs)]

    seconds, peak, code = timed_run(run, env)
    summary = json.loads((home / "build" / "run_summary.json").read_text())
    per_client = [o["seconds"] for o in summary["outcomes"] if o["client_id"] not in ("portfolio", "site")]
    print(f"\nfull run: {opts.clients} clients, {tickets:,} tickets, --jobs {opts.jobs}")
    print(f"  wall time        {seconds:7.1f} s   (target <= 150 s for 50 clients)   exit {code}")
    print(f"  peak memory      {peak:7.0f} MB (whole process tree)")
    print("  stages           " + ", ".join(f"{k} {v:.1f} s" for k, v in summary["timings_s"].items()))
    if per_client:
        print(f"  per client       median {statistics.median(per_client):.1f} s, "
              f"max {max(per_client):.1f} s (4 notebooks in a warm kernel)")

    seconds, peak, code = timed_run(run, env)
    print(f"unchanged re-run   {seconds:7.1f} s   (target <= 5 s)   peak {peak:.0f} MB   exit {code}")
    if not opts.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
