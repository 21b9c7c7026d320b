"""Benchmark of `publish` with both renderers (prints figures; not a test).

    .venv/bin/python bench/bench_publish.py [--reports DIR --build DIR] [--engines builtin,quarto]
    .venv/bin/python bench/bench_publish.py --synthetic --clients 50 --periods 3 [--pdf]

Default: the executed reports of a real run (reports/ and build/ of this workspace, e.g. after
`make run`), copied to a temporary folder. For each renderer it times:
1. publish from scratch (no staging, no earlier output);
2. publish again with nothing changed;
3. publish after one client's latest month changed (its notebooks re-executed: here, a
   markdown cell of each edited, so every one of its pages must be rendered again);
and, for Quarto, first a publish from scratch with an empty user cache folder (XDG_CACHE_HOME:
Quarto's compiled Sass and the project cache publish keeps, SERVICEREVIEW_CACHE), as on a new machine;
and prints the wall time, the CPU seconds of the process and its children (Quarto, pandoc)
and the machine's load average next to each, since the machines are shared. With
`--run-summary build/run_summary.json` it also prints the publish stage's share of that run.
Targets (Quarto, the sample): <= 30 s from scratch, <= 5 s with one client changed.
--synthetic builds --clients x --periods months of the tests' synthetic notebooks instead;
--pdf also prints each client's latest monthly report with Chromium (builtin only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.core import config
from pipelines.site.publish import publish
from pipelines.site.quarto import find_quarto
from tests.publish_fixtures import NOTEBOOKS, executed_notebook, portfolio_notebook, write_notebook


def size_of(folder: Path) -> str:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB in {count} files"


def synthetic(reports: Path, clients: int, periods: int) -> None:
    months = [f"2026-{m:02d}" for m in range(10 - periods + 1, 11)]
    for period in months:
        for i in range(clients):
            client_id, name = f"client-{i:03d}", f"Client {i:03d} Ltd"
            tickets = [f"T{i:03d}-{n}" for n in range(40)]
            for notebook in NOTEBOOKS:
                write_notebook(reports / period / client_id / f"{notebook}.ipynb",
                               executed_notebook(client_id, name, period, notebook, tickets))
        write_notebook(reports / period / "portfolio" / "portfolio.ipynb", portfolio_notebook(period))


def change_one_client(reports: Path) -> str:
    """Edit a markdown cell of each notebook of one client's latest month (as a re-run would)."""
    latest = max(p for p in reports.iterdir() if p.name[:1].isdigit())
    client = sorted(p for p in latest.iterdir() if p.is_dir() and p.name not in ("portfolio",)
                    and not p.name.startswith((".", "_")))[0]
    for path in client.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        cell["source"] = ["".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"],
                          f"\n\n(re-run {time.time():.0f})"]
        path.write_text(json.dumps(nb))
    return f"{latest.name}/{client.name}"


def timed(label: str, **kwargs) -> float:
    load = os.getloadavg()[0]
    cpu0, start = os.times(), time.perf_counter()
    result = publish(**kwargs)
    wall, cpu1 = time.perf_counter() - start, os.times()
    cpu = sum(cpu1[:4]) - sum(cpu0[:4])
    print(f"  {label:<34} {wall:7.1f} s wall  {cpu:7.1f} CPU-s  load {load:5.1f}  "
          f"{result.pages} pages, {result.pdfs_printed} PDFs printed", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=Path, default=config.REPORTS)
    parser.add_argument("--build", type=Path, default=config.BUILD)
    parser.add_argument("--engines", default="builtin,quarto")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--pdf", action="store_true")
    parser.add_argument("--run-summary", type=Path, default=None)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        tmp = Path(tmp)
        source = tmp / "source"
        if args.synthetic:
            synthetic(source / "reports", args.clients, args.periods)
            print(f"{args.clients} clients x {args.periods} months of synthetic notebooks")
        else:
            if not any(args.reports.glob("20*-*")):
                sys.exit(f"{args.reports}: no executed reports (run `make run` first, or use --synthetic)")
            shutil.copytree(args.reports, source / "reports")
            for sub in ("clean", "validation"):
                if (args.build / sub).exists():
                    shutil.copytree(args.build / sub, source / "build" / sub)
            months = sorted(p.name for p in (source / "reports").glob("20*-*"))
            print(f"reports of {args.reports} ({', '.join(months)}): {size_of(source / 'reports')}")
        if not (tmp / "source" / "build").exists():
            (tmp / "source" / "build").mkdir(parents=True)
        if not args.pdf:
            os.environ["SERVICEREVIEW_CHROMIUM"] = str(tmp / "no-chromium")
        for engine in args.engines.split(","):
            if engine == "quarto" and find_quarto() is None:
                print("quarto: not found (QUARTO_PATH, PATH); skipped")
                continue
            work = tmp / engine
            shutil.copytree(source, work)
            paths = {"reports": work / "reports", "build": work / "build", "site": work / "_site",
                     "site_clients": work / "_site_clients"}
            print(f"{engine}:")
            if engine == "quarto":  # the first publish on a machine: no cache of Quarto's or ours yet
                cold, empty = tmp / "cold", tmp / "empty-user-cache"
                shutil.copytree(source, cold)
                with mock.patch.dict(os.environ, XDG_CACHE_HOME=str(empty), SERVICEREVIEW_CACHE=str(empty / "sr")):
                    timed("0. from scratch, empty user cache", engine=engine, reports=cold / "reports",
                          build=cold / "build", site=cold / "_site", site_clients=cold / "_site_clients")
            timed("1. from scratch", **paths, engine=engine)
            timed("2. nothing changed", **paths, engine=engine)
            changed = change_one_client(paths["reports"])
            timed(f"3. one client changed ({changed})", **paths, engine=engine)
            print(f"  _site: {size_of(paths['site'])}; bundles: {size_of(paths['site_clients'])}")
    if args.run_summary and args.run_summary.exists():
        summary = json.loads(args.run_summary.read_text())
        timings = summary["timings_s"]
        total = sum(timings.values())
        print(f"publish in the run of {args.run_summary} ({', '.join(summary.get('periods') or [summary['period']])}):"
              f" {timings.get('publish', 0):.1f} s of {total:.1f} s = {100 * timings.get('publish', 0) / total:.0f} %"
              f" (stages: {timings})")


if __name__ == "__main__":
    main()
