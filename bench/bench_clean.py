"""Benchmark of the clean stage at scale (prints figures; not a test).

    .venv/bin/python bench/bench_clean.py [--tickets 5000000] [--clients 50] [--events 0]
                                          [--format csv] [--raw DIR] [--repeat 1]

Writes a synthetic raw export (tickets in the canonical columns, `--events` status events
per ticket, one survey per ten tickets when events are asked for) with the hostile mix a
real export has: values without an offset (read in the client's zone), about 1% of rows
with a fault for each kind of check (unreadable timestamps and numbers, unknown
priorities, exact and conflicting duplicates). Then runs `clean_folder` in a fresh
subprocess and prints its wall time, CPU seconds (user + system, all threads: steadier than
the wall time on a busy machine), peak RSS (VmHWM) and rows per second.

`--raw DIR` keeps the generated export for the next run (it is reused when its
parameters match). The clean stage is imported from whichever interpreter runs this
file, so the same script measures another checkout:

    cd ../other-checkout && .venv/bin/python /path/to/bench/bench_clean.py --raw /tmp/raw5m
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parents[1]
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Australia/Sydney"]
PRIORITIES = ["Critical", "High", "Medium", "Low"]
STATUSES = ["New", "In Progress", "Waiting on Customer", "Resolved", "Closed"]
START_S = 1_759_276_800  # 2025-10-01T00:00:00Z
SPAN_S = 13 * 30 * 86_400


def contract_yaml(client_id: str, zone: str) -> str:
    hours = "\n".join(f"  {d}: ['08:00', '18:00']" for d in ("mon", "tue", "wed", "thu", "fri"))
    return f"""client_id: {client_id}
name: Client {client_id}
timezone: {zone}
business_hours:
{hours}
sla:
  P1: {{response: 15m, resolution: 4h, calendar: 24x7}}
  P2: {{response: 1h, resolution: 8h, calendar: business}}
  P3: {{response: 4h, resolution: 24h, calendar: business}}
  P4: {{response: 8h, resolution: 72h, calendar: business}}
priority_map: {{Critical: P1, High: P2, Medium: P3, Low: P4}}
statuses:
  pause: [Waiting on Customer]
  in_progress: [In Progress]
  resolved: [Resolved, Closed]
survey_scale: 5-point
"""


def _local_text(seconds: np.ndarray, zone_of: np.ndarray, naive: np.ndarray) -> pl.Series:
    """ISO text with the client's UTC offset (or, where `naive`, local time without one)."""
    utc = pl.Series(seconds * 1_000_000).cast(pl.Datetime("us", "UTC"))
    frame = pl.DataFrame({"t": utc, "z": zone_of, "naive": naive})
    out = pl.Series([None] * len(seconds), dtype=pl.String)
    for z, zone in enumerate(ZONES):
        local = pl.col("t").dt.convert_time_zone(zone)
        text = pl.when(pl.col("naive")).then(local.dt.strftime("%Y-%m-%dT%H:%M:%S")).otherwise(
            local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z"))
        part = frame.select(pl.when(pl.col("z") == z).then(text).alias("x"))["x"]
        out = part.fill_null(out) if z else part
    return out


def _spoil(column: pl.Series, rng: np.random.Generator, share: float, value: str) -> pl.Series:
    hit = rng.random(len(column)) < share
    return pl.select(pl.when(pl.Series(hit)).then(pl.lit(value)).otherwise(column)).to_series().alias(column.name)


def make_raw(out: Path, tickets: int, clients: int, events: int, fmt: str, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "contracts").mkdir(exist_ok=True)
    names = [f"client-{i:03d}" for i in range(clients)]
    for i, name in enumerate(names):
        (out / "contracts" / f"{name}.yml").write_text(contract_yaml(name, ZONES[i % len(ZONES)]))
    client = rng.integers(0, clients, tickets)
    zone_of = client % len(ZONES)
    created = START_S + rng.integers(0, SPAN_S, tickets)
    response = created + rng.integers(60, 8 * 3600, tickets)
    resolved = response + rng.integers(600, 5 * 86_400, tickets)
    closed = resolved + 2 * 86_400
    open_ = rng.random(tickets) < 0.05
    naive = rng.random(tickets) < 0.02
    ids = pl.Series(np.arange(tickets)).cast(pl.String).str.zfill(8)
    frame = pl.DataFrame({
        "ticket_id": "T-" + ids,
        "client_id": pl.Series(names).gather(client),
        "created_at": _local_text(created, zone_of, naive),
        "priority": pl.Series(PRIORITIES).gather(rng.choice(4, tickets, p=[0.05, 0.2, 0.5, 0.25])),
        "status": pl.Series(STATUSES).gather(np.where(open_, rng.integers(0, 3, tickets), 4)),
        "type": pl.Series(["incident", "request", "alert"]).gather(rng.integers(0, 3, tickets)),
        "source": pl.Series(["phone", "email", "portal", "monitoring"]).gather(rng.integers(0, 4, tickets)),
        "category": pl.Series(["Email", "Network", "Accounts", "Hardware"]).gather(rng.integers(0, 4, tickets)),
        "subcategory": pl.Series(["Outlook", "WAN link", "Password reset", "Printer"]).gather(
            rng.integers(0, 4, tickets)),
        "title": pl.Series(["Outlook not syncing new emails", "Packet loss on primary internet link",
                            "Password expired, can't log in", "Printer jams on tray 2"]).gather(
            rng.integers(0, 4, tickets)),
        "asset": pl.Series([f"LT-{i:03d}" for i in range(200)]).gather(rng.integers(0, 200, tickets)),
        "requester": pl.Series([f"User {i}" for i in range(500)]).gather(rng.integers(0, 500, tickets)),
        "assignee": pl.Series([f"Engineer {i}" for i in range(40)]).gather(rng.integers(0, 40, tickets)),
        "escalation_level": pl.Series(rng.integers(1, 4, tickets)).cast(pl.String),
        "first_response_at": _local_text(response, zone_of, naive),
        "resolved_at": _local_text(resolved, zone_of, naive),
        "closed_at": _local_text(closed, zone_of, naive),
        "close_code": pl.Series(["resolved", "merged", "cancelled"]).gather(
            rng.choice(3, tickets, p=[0.97, 0.02, 0.01])),
        "parent_ticket_id": pl.Series([None] * tickets, dtype=pl.String),
        "reopen_count": pl.Series(rng.choice(3, tickets, p=[0.9, 0.08, 0.02])).cast(pl.String),
        "reassignment_count": pl.Series(rng.integers(0, 3, tickets)).cast(pl.String),
        "provider_touches": pl.Series(rng.integers(1, 5, tickets)).cast(pl.String),
    })
    frame = frame.with_columns(
        [pl.when(pl.Series(open_)).then(None).otherwise(pl.col(c)).alias(c)
         for c in ("resolved_at", "closed_at", "close_code")])
    frame = frame.with_columns(
        _spoil(frame["created_at"], rng, 0.002, "14/09/2026 09:15"),
        _spoil(frame["priority"], rng, 0.002, "Highest"),
        _spoil(frame["reopen_count"], rng, 0.002, "two"),
    )
    dupes = frame.sample(max(1, tickets // 500), seed=seed)
    conflicts = frame.sample(max(1, tickets // 500), seed=seed + 1).with_columns(pl.lit("Someone Else").alias("assignee"))
    frame = pl.concat([frame, dupes, conflicts])
    tables = {"tickets": frame}
    if events:
        n = tickets * events
        ticket = np.repeat(np.arange(tickets), events)
        at = created[ticket] + np.tile(np.arange(events), tickets) * rng.integers(60, 7200, n)
        tables["ticket_events"] = pl.DataFrame({
            "ticket_id": ("T-" + ids).gather(ticket),
            "at": _local_text(at, zone_of[ticket], naive[ticket]),
            "status": pl.Series(STATUSES).gather(np.tile(np.arange(events) % len(STATUSES), tickets)),
            "actor": pl.Series([f"Engineer {i}" for i in range(40)]).gather(rng.integers(0, 40, n)),
        })
        surveyed = rng.choice(tickets, tickets // 10, replace=False)
        tables["surveys"] = pl.DataFrame({
            "ticket_id": ("T-" + ids).gather(surveyed),
            "responded_at": _local_text(closed[surveyed], zone_of[surveyed], naive[surveyed]),
            "rating": pl.Series(rng.integers(1, 6, len(surveyed))).cast(pl.String),
            "comment": pl.Series(["Great service", "Slow, but fixed", ""]).gather(
                rng.integers(0, 3, len(surveyed))),
        })
    rows = {}
    for name, table in tables.items():
        if fmt == "csv":
            table.write_csv(out / f"{name}.csv")
        else:
            table.write_parquet(out / f"{name}.parquet")
        rows[name] = table.height
    return rows


_CHILD = """
import json, resource, sys, time
t = time.perf_counter()
try:
    from pipelines.clean.stage import clean_folder
except ImportError:  # a checkout from before the stage folders (pipelines/clean.py)
    from pipelines.clean import clean_folder
r = clean_folder({raw!r}, {out!r})
wall = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
import pipelines
print(json.dumps({{"wall": wall, "cpu": use.ru_utime + use.ru_stime, "rss_mb": hwm / 1024,
                  "code": pipelines.__file__,
                  "tables": {{k: [v["rows_in"], v["clean"], v["rejected"]] for k, v in r.summary["tables"].items()}}}}))
"""


def run_clean(raw: Path, out: Path) -> dict:
    code = _CHILD.format(raw=str(raw), out=str(out))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--events", type=int, default=0, help="status events per ticket (0: tickets only)")
    parser.add_argument("--format", dest="fmt", default="csv", choices=["csv", "parquet"])
    parser.add_argument("--raw", type=Path, help="keep the generated export here (reused when it matches)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-clean-"))
    raw = args.raw or tmp / "raw"
    try:
        params = {k: getattr(args, k) for k in ("tickets", "clients", "events", "fmt")}
        stamp = raw / "bench_params.json"
        if not (stamp.exists() and json.loads(stamp.read_text()) == params):
            shutil.rmtree(raw, ignore_errors=True)
            rows = make_raw(raw, args.tickets, args.clients, args.events, args.fmt)
            stamp.write_text(json.dumps(params | {"rows": rows}))
        rows = json.loads(stamp.read_text())["rows"]
        total = sum(rows.values())
        print(f"clean: {args.tickets:,} tickets, {args.clients} clients, {args.events} events/ticket, "
              f"{args.fmt} ({', '.join(f'{k} {v:,}' for k, v in rows.items())} rows)")
        for _ in range(args.repeat):
            r = run_clean(raw, tmp / "clean")
            shutil.rmtree(tmp / "clean", ignore_errors=True)
            print(f"  wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, peak RSS {r['rss_mb']:,.0f} MB, "
                  f"{total / r['wall']:,.0f} rows/s  (code: {Path(r['code']).parent.parent})")
        for name, (rows_in, clean, rejected) in r["tables"].items():
            if rows_in:
                print(f"  {name:<14} {rows_in:>11,} in = {clean:>11,} clean + {rejected:>8,} rejected")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
