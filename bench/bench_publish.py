"""Benchmark of `publish` (prints figures; not a test).

    .venv/bin/python bench/bench_publish.py [--clients 50] [--periods 3] [--source reports/2026-10/acme]

Builds a reports/ tree in a temporary folder: --clients clients x --periods months of
the four client notebooks plus the portfolio. With --source, every client gets a copy
of that real executed client folder (front matter rewritten to its own id and name);
otherwise the synthetic notebooks of the tests. Then it times:
1. publish without PDFs (pages only: the built-in renderer, site + bundles);
2. publish with PDFs (Chromium prints each client's latest monthly report);
3. publish again with nothing changed (every PDF kept, none printed).
and prints the sizes of _site/ and of one bundle. Target: the whole 50-client run has
150 s; pages should take seconds, PDFs about a second each with 2 Chromium processes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.site.pdf import find_chromium
from pipelines.site.publish import publish
from tests.publish_fixtures import (
    NOTEBOOKS,
    executed_notebook,
    portfolio_notebook,
    write_notebook,
)


def size_of(folder: Path) -> str:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    return f"{total / 1e6:.1f} MB in {count} files"


def clone(source: Path, target: Path, client_id: str, name: str, period: str) -> None:
    for path in sorted(source.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "raw":
                text = "".join(cell["source"])
                lines = [ln for ln in text.splitlines() if not ln.startswith(("client_id:", "client_name:",
                                                                              "period:", "title:"))]
                extra = [f"client_id: {client_id}", f"client_name: {name}", f"period: '{period}'",
                         f"title: {name} — {period}"]
                cell["source"] = "\n".join(lines[:-1] + extra + lines[-1:])
                break
        write_notebook(target / path.name, nb)


def build_reports(reports: Path, clients: int, periods: int, source: Path | None) -> None:
    months = [f"2026-{m:02d}" for m in range(10 - periods + 1, 11)]
    for period in months:
        for i in range(clients):
            client_id, name = f"client-{i:03d}", f"Client {i:03d} Ltd"
            folder = reports / period / client_id
            if source:
                clone(source, folder, client_id, name, period)
                continue
            tickets = [f"T{i:03d}-{n}" for n in range(40)]
            for notebook in NOTEBOOKS:
                write_notebook(folder / f"{notebook}.ipynb",
                               executed_notebook(client_id, name, period, notebook, tickets))
        write_notebook(reports / period / "portfolio" / "portfolio.ipynb", portfolio_notebook(period))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--source", type=Path, help="a real executed client folder to copy per client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        tmp = Path(tmp)
        paths = {"reports": tmp / "reports", "build": tmp / "build", "site": tmp / "_site",
                 "site_clients": tmp / "_site_clients"}
        build_reports(paths["reports"], args.clients, args.periods, args.source)
        print(f"{args.clients} clients x {args.periods} months "
              f"({'copies of ' + str(args.source) if args.source else 'synthetic notebooks'}); "
              f"reports: {size_of(paths['reports'])}")

        os.environ["SERVICEREVIEW_CHROMIUM"] = str(tmp / "no-chromium")
        start = time.perf_counter()
        result = publish(**paths, engine="builtin")
        print(f"1. pages only: {result.pages} pages in {time.perf_counter() - start:.2f}s "
              f"(stages {result.seconds})")
        del os.environ["SERVICEREVIEW_CHROMIUM"]

        chromium, why = find_chromium()
        if chromium is None:
            print(f"2./3. {why}")
        else:
            start = time.perf_counter()
            result = publish(**paths, engine="builtin")
            seconds = time.perf_counter() - start
            print(f"2. with PDFs: {result.pdfs_printed} printed in {seconds:.2f}s "
                  f"({result.seconds['pdf'] / max(result.pdfs_printed, 1):.2f}s per PDF, stages {result.seconds})")
            start = time.perf_counter()
            result = publish(**paths, engine="builtin")
            print(f"3. unchanged: {result.pdfs_printed} printed, {result.pdfs_reused} kept in "
                  f"{time.perf_counter() - start:.2f}s")
        print(f"_site: {size_of(paths['site'])}; one bundle: {size_of(paths['site_clients'] / 'client-000')}")
        pdfs = sorted(paths["site_clients"].glob("*/*/monthly_report.pdf"))
        if pdfs:
            print(f"PDF size: {pdfs[0].stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
