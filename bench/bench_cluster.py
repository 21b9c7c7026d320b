"""Benchmark of the Dask fan-out (prints figures; not a test).

    .venv/bin/python bench/bench_cluster.py [--clients 200] [--tickets-per-client 60] [--workers 2]

1. The same batch twice on this machine: `servicereview run --jobs N` (the default local
   pool) and `servicereview run --cluster local:N` (Dask), each in a fresh workspace, on a
   generated sample of `--clients` clients with few tickets each (notebook time hardly
   depends on tickets). Prints each run's wall time and its "validate + notebooks" stage
   (the fan-out) and the ratio; the point is that the same code scales out: within 15%.
2. The per-task overhead: `--tasks` trivial tasks through a LocalCluster(N) (submit, then
   gather) and through the local process pool, in ms per task.
The machine is shared: the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(data: Path, home: Path, *engine: str) -> dict:
    env = dict(os.environ, SERVICEREVIEW_HOME=str(home))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--data", str(data), *engine],
                          env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    summary = json.loads((home / "build" / "run_summary.json").read_text())
    executed = sum(o["status"] == "executed" for o in summary["outcomes"])
    if done.returncode:
        print(done.stderr[-2000:])
    return {"wall": wall, "fan_out": summary["timings_s"]["validate + notebooks"], "executed": executed,
            "exit": done.returncode}


def _nothing(i: int) -> int:
    return i


def overhead(workers: int, tasks: int) -> tuple[float, float]:
    """ms per trivial task: through a LocalCluster, and through the local process pool."""
    from pipelines.run import cluster

    with cluster.connect(f"local:{workers}") as client:
        client.gather([client.submit(_nothing, i, pure=False) for i in range(workers * 4)])  # warm
        started = time.perf_counter()
        client.gather([client.submit(_nothing, i, pure=False) for i in range(tasks)])
        dask_ms = (time.perf_counter() - started) / tasks * 1000
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_nothing, range(workers * 4)))
        started = time.perf_counter()
        [f.result() for f in [pool.submit(_nothing, i) for i in range(tasks)]]
        pool_ms = (time.perf_counter() - started) / tasks * 1000
    return dask_ms, pool_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tickets-per-client", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    print(f"cluster benchmark: {args.clients} clients, {args.workers} workers; {os.cpu_count()}-core machine, "
          f"shared: load average {_load()} at the start")
    dask_ms, pool_ms = overhead(args.workers, args.tasks)
    print(f"per-task overhead ({args.tasks} trivial tasks, submit then gather): Dask LocalCluster "
          f"{dask_ms:.2f} ms/task, local process pool {pool_ms:.2f} ms/task; load average {_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "pipelines.cli", "sample", "--out", str(data), "--clients",
                        str(args.clients), "--tickets", str(args.clients * args.tickets_per_client),
                        "--no-dirty"], check=True, capture_output=True, cwd=ROOT)
        results = {}
        for name, engine in (("local pool", ["--jobs", str(args.workers)]),
                             ("Dask local", ["--cluster", f"local:{args.workers}"])):
            load = _load()
            r = results[name] = run(data, Path(tmp) / name.replace(" ", "-"), *engine)
            print(f"{name:<11} ({' '.join(engine)}): wall {r['wall']:.0f} s, validate + notebooks "
                  f"{r['fan_out']:.0f} s = {r['fan_out'] / max(args.clients, 1):.2f} s/client, "
                  f"{r['executed']} executed, exit {r['exit']}; load average {load} before, {_load()} after")
        ratio = results["Dask local"]["fan_out"] / results["local pool"]["fan_out"]
        print(f"Dask / local pool (validate + notebooks): {ratio:.2f}x (target within 15%: 0.85-1.15)")


if __name__ == "__main__":
    main()
