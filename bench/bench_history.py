"""Benchmark of `servicereview import --history` (prints figures; not a test).

    .venv/bin/python bench/bench_history.py [--tickets 20000] [--runs 3]

Writes a synthetic Zendesk ticket CSV and its ticket audits (JSON pages of 1,000
audits, 7 audits and 11 events per ticket: create, assignment, open, a comment,
pending, open again, solved) and imports them with and without the history, each in
this process; prints the median wall time, the rows read and the events written.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

import polars as pl

from pipelines.ingest.importers import import_files

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def write_export(folder: Path, tickets: int) -> tuple[Path, Path]:
    created = [START + timedelta(minutes=7 * i) for i in range(tickets)]
    export = folder / "tickets.csv"
    pl.DataFrame({
        "Id": [str(100 + i) for i in range(tickets)], "Created at": [c.strftime("%Y-%m-%d %H:%M:%S") for c in created],
        "Priority": ["Normal"] * tickets, "Status": ["Solved"] * tickets,
        "Solved at": [(c + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S") for c in created],
    }).write_csv(export)
    audits = []
    for i, at in enumerate(created):
        steps = [(0, [("Create", "status", "new")]), (10, [("Change", "assignee_id", "9001"), ("Change", "status", "open")]),
                 (40, []), (60, [("Change", "status", "pending")]), (300, [("Change", "status", "open")]),
                 (320, [("Change", "group_id", "360")]), (540, [("Change", "status", "solved")])]
        for n, (minutes, changes) in enumerate(steps):
            events = [{"id": n * 10 + k, "type": t, "field_name": f, "value": v} for k, (t, f, v) in enumerate(changes)]
            events = events or [{"id": n * 10, "type": "Comment", "body": "reply", "public": True}]
            audits.append({"id": i * 10 + n, "ticket_id": 100 + i, "author_id": 9001,
                           "created_at": (at + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "via": {"channel": "web"}, "events": events})
    pages = [{"audits": audits[k:k + 1000], "after_cursor": None} for k in range(0, len(audits), 1000)]
    history = folder / "audits.json"
    history.write_text(json.dumps(pages))
    return export, history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export, history = write_export(Path(tmp), args.tickets)
        print(f"{args.tickets:,} tickets; audits file {history.stat().st_size / 1e6:.1f} MB")
        for label, files in (("without history", []), ("with history", [history])):
            times = []
            for run in range(args.runs):
                started = time.perf_counter()
                result = import_files([export], "zendesk", "acme", Path(tmp) / f"out-{run}", history_files=files)
                times.append(time.perf_counter() - started)
            h = result.report.get("history", {})
            print(f"{label:16} median {median(times):5.2f} s of {args.runs}; {result.report['ticket_events']:,} events"
                  + (f"; history rows {h['rows_read']:,} ({h['change_rows']:,} changes)" if h else ""))


if __name__ == "__main__":
    main()
