"""Benchmark of the metrics stage (prints figures; not a test).

    .venv/bin/python bench/bench_metrics.py [--sizes 1000000,3000000,10000000] [--clients 2000]

For each size it builds a clean folder (untimed) with the sample generator
(`pipelines.ingest.sample.generator`) and `clean_folder`: a tenth of the clients and
tickets, generated and cleaned a slice of clients at a time, then copied ten times under
other client ids (see `sample_clean`). `--synthetic`
uses the vectorised synthetic clean-table generator below instead. Then it runs
`metrics_folder` end to end (read clean Parquet in chunks of clients -> write outputs) in a
fresh subprocess and prints wall time, tickets/s, CPU seconds (with its worker processes')
and peak RSS (the most that process and its workers held at once, sampled every 50 ms, and
its own VmHWM), with the machine's load average (the machine is shared). Then it times
the business-time kernel alone (intervals/s) and a plain pandas per-ticket implementation
of the same SLA computation on a subset, checks it agrees with the engine, and prints the
speed ratio. Targets: 1M tickets <= 10 s on a quiet machine; 10M tickets / 2,000 clients
<= 150 s and <= 6 GB; kernel >= 2M intervals/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.core import io
from pipelines.core.business_time import MINUTE, Clock, business_windows
from pipelines.core.contracts import load_contracts

END = "2026-10"
ZONES = [("America/New_York", "US", "NY"), ("Europe/London", "GB", None),
         ("America/Chicago", "US", None), ("America/Los_Angeles", "US", "CA"),
         ("Europe/Berlin", "DE", "BE"), ("Australia/Sydney", "AU", "NSW")]
UTC_TS = pl.Datetime("us", "UTC")


# ---------------------------------------------------------------- synthetic clean folder


def _contract(i: int) -> dict:
    zone, country, subdiv = ZONES[i % len(ZONES)]
    weekday = ["08:00", "18:00"] if i % 3 else [["08:00", "12:00"], ["13:00", "17:30"]]
    hours = {d: json.loads(json.dumps(weekday)) for d in ("mon", "tue", "wed", "thu", "fri")}  # no YAML aliases
    if i % 5 == 0:
        hours["sat"] = ["09:00", "13:00"]
    return {
        "client_id": f"client-{i:03d}", "name": f"Client {i}", "timezone": zone,
        "business_hours": hours,
        "holidays": {"country": country, "subdivision": subdiv, "extra": ["2026-12-24"]},
        "sla": {"P1": {"response": "15m", "resolution": "4h", "calendar": "24x7"},
                "P2": {"response": "1h", "resolution": "8h", "calendar": "business"},
                "P3": {"response": "4h", "resolution": "24h", "calendar": "business"},
                "P4": {"response": "8h", "resolution": "72h", "calendar": "business"}},
        "statuses": {"pause": ["Waiting on Customer", "Waiting on Vendor"],
                     "in_progress": ["In Progress"], "resolved": ["Resolved", "Closed"]},
        "uptime": {"target_pct": 99.9, "services": ["email", "internet"]},
        "monthly_fee": 2000 + 100 * (i % 30),
        "credits": [{"metric": "uptime_pct", "below": 99.9, "credit_pct": 5},
                    {"metric": "resolution_sla_pct", "below": 90, "credit_pct": 5}],
        "survey_scale": ["5-point", "3-point", "0-10"][i % 3],
    }


def _write(frame: pl.DataFrame, out: Path, name: str) -> None:
    """A synthetic table with the canonical dtypes (an all-None column would be of dtype Null),
    by client as `clean_folder` writes it."""
    from pipelines.core.schemas import TABLES

    schema = TABLES[name].columns
    frame = frame.cast({c: schema[c] for c in frame.columns if c in schema}).sort("client_id", maintain_order=True)
    io.write_table(frame, out / f"{name}.parquet")


def synthetic_clean(out: Path, tickets: int, clients: int, months: int = 13, seed: int = 7) -> None:
    """Clean tables + contracts, generated directly (vectorised), ~4 status events a ticket."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "contracts").mkdir(exist_ok=True)
    for i in range(clients):
        c = _contract(i)
        (out / "contracts" / f"{c['client_id']}.yml").write_text(yaml.safe_dump(c, sort_keys=False))
    year, month = (int(p) for p in END.split("-"))
    end = datetime(year, month, 1, tzinfo=UTC) + timedelta(days=32)
    end = end.replace(day=1)
    start = (end - timedelta(days=30.44 * months)).replace(day=1)
    t0, t1 = int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)
    n = tickets
    minute = MINUTE
    client = rng.integers(0, clients, n)
    created = np.sort(rng.integers(t0, t1 - 6 * 3600 * 10**6, n))
    prio = rng.choice(np.array(["P1", "P2", "P3", "P4"]), n, p=[0.05, 0.25, 0.5, 0.2])
    response = created + (rng.exponential(90, n) * minute).astype(np.int64)
    has_response = rng.random(n) < 0.93
    duration = (rng.lognormal(6.3, 1.2, n) * minute).astype(np.int64)  # median ~9 h
    resolved = created + duration
    is_resolved = (rng.random(n) < 0.97) & (resolved < t1)
    progress = created + ((response - created) * rng.uniform(1.0, 1.5, n)).astype(np.int64)
    paused = rng.random(n) < 0.5
    pause_at = progress + ((resolved - progress) * rng.uniform(0.1, 0.5, n)).astype(np.int64)
    resume_at = pause_at + ((resolved - pause_at) * rng.uniform(0.1, 0.6, n)).astype(np.int64)
    close = rng.choice(np.array(["resolved", "merged", "cancelled", "duplicate"]), n,
                       p=[0.95, 0.02, 0.02, 0.01])
    ids = pl.Series("ticket_id", np.arange(n)).cast(pl.String).str.zfill(8)
    ids = pl.select(pl.concat_str(pl.lit("T"), pl.lit(ids))).to_series().alias("ticket_id")
    cids = pl.Series("client_id", [f"client-{i:03d}" for i in range(clients)]).gather(client)
    ts = lambda a, mask=None: pl.Series(a).cast(UTC_TS) if mask is None else pl.select(
        pl.when(pl.lit(pl.Series(mask))).then(pl.lit(pl.Series(a)))).to_series().cast(UTC_TS)
    frame = pl.DataFrame({
        "ticket_id": ids, "client_id": cids, "created_at": ts(created), "priority": prio,
        "priority_raw": prio, "status": np.where(is_resolved, "Closed", "In Progress"),
        "type": "incident", "source": rng.choice(np.array(["email", "phone", "portal", "monitoring"]), n),
        "category": rng.choice(np.array(["email", "network", "printer", "hardware", "access"]), n),
        "subcategory": None, "title": None,
        "asset": pl.Series(rng.integers(0, 400, n)).cast(pl.String),
        "requester": pl.Series(rng.integers(0, 2000, n)).cast(pl.String),
        "assignee": None, "escalation_level": rng.choice(np.array([1, 1, 1, 2, 3], np.int32), n),
        "first_response_at": ts(response, has_response), "resolved_at": ts(resolved, is_resolved),
        "closed_at": ts(resolved, is_resolved), "close_code": pl.select(
            pl.when(pl.lit(pl.Series(is_resolved))).then(pl.lit(pl.Series(close)))).to_series(),
        "parent_ticket_id": None, "reopen_count": rng.choice(np.array([0, 0, 0, 0, 1], np.int32), n),
        "reassignment_count": rng.choice(np.array([0, 0, 1, 2], np.int32), n),
        "provider_touches": rng.integers(1, 4, n).astype(np.int32), "fcr": None,
    })
    from pipelines.core.schemas import TABLES
    frame = frame.select([pl.col(c).cast(d) for c, d in TABLES["tickets"].columns.items()])
    _write(frame, out, "tickets")

    # Status history: New, In Progress, (Waiting on Customer, In Progress), Resolved.
    parts = [(np.arange(n), created, "New"), (np.arange(n), progress, "In Progress")]
    w = np.flatnonzero(paused & is_resolved)
    parts += [(w, pause_at[w], "Waiting on Customer"), (w, resume_at[w], "In Progress")]
    r = np.flatnonzero(is_resolved)
    parts.append((r, resolved[r], "Resolved"))
    ev_t = np.concatenate([p[0] for p in parts])
    ev = pl.DataFrame({
        "__t": ev_t, "at": np.concatenate([p[1] for p in parts]),
        "status": np.concatenate([np.full(len(p[0]), p[2]) for p in parts]),
    }).sort("__t", "at")
    events = ev.select(ids.gather(ev["__t"]).alias("ticket_id"), cids.gather(ev["__t"]).alias("client_id"),
                       pl.col("at").cast(UTC_TS), "status", pl.lit(None, pl.String).alias("actor"),
                       pl.lit(None, pl.String).alias("priority"), pl.int_range(1, pl.len() + 1).alias("seq"))
    _write(events, out, "ticket_events")

    s = r[rng.random(len(r)) < 0.2]
    scale = np.array([_contract(i)["survey_scale"] for i in range(clients)])[client[s]]
    score = np.where(scale == "0-10", rng.integers(0, 11, len(s)),
                     np.where(scale == "3-point", rng.integers(1, 4, len(s)), rng.integers(1, 6, len(s))))
    surveys = pl.DataFrame({
        "ticket_id": ids.gather(s), "client_id": cids.gather(s),
        "responded_at": ts(resolved[s] + (rng.exponential(600, len(s)) * minute).astype(np.int64)),
        "rating": score.astype(str), "score": score.astype(float), "scale": scale,
        "sentiment": None, "comment": None,
    })
    _write(surveys.filter(pl.col("responded_at") < ts(np.array([t1]))[0]), out, "surveys")

    k = clients * months * 3
    o_start = rng.integers(t0, t1, k)
    outages = pl.DataFrame({
        "client_id": pl.Series([f"client-{i:03d}" for i in range(clients)]).gather(rng.integers(0, clients, k)),
        "service": rng.choice(np.array(["email", "internet", "erp"]), k),
        "started_at": ts(o_start), "ended_at": ts(o_start + (rng.exponential(40, k) * minute).astype(np.int64)),
        "planned": rng.random(k) < 0.3, "description": None,
    })
    _write(outages, out, "outages")

    e = rng.integers(0, n, n // 2)
    entries = pl.DataFrame({
        "client_id": cids.gather(e), "started_at": ts(created[e] + 3600 * 10**6),
        "minutes": rng.exponential(45, len(e)), "ticket_id": ids.gather(e), "engineer": None,
        "work_type": rng.choice(np.array(["remote", "remote", "onsite", "project"]), len(e)),
    })
    _write(entries, out, "time_entries")

    dev_rows = []
    for m in range(months):
        snap = start + timedelta(days=30.44 * m + 27)
        snap_us = int(snap.timestamp() * 1e6)
        for_c = np.repeat(np.arange(clients), 40)
        dev_rows.append(pl.DataFrame({
            "client_id": pl.Series([f"client-{i:03d}" for i in range(clients)]).gather(for_c),
            "device_id": pl.Series(np.tile(np.arange(40), clients)).cast(pl.String),
            "as_of": ts(np.full(len(for_c), snap_us)),
            "last_patched_at": ts(snap_us - (rng.exponential(20, len(for_c)) * 86400e6).astype(np.int64)),
            "patch_status": None,
        }))
    _write(pl.concat(dev_rows), out, "devices")
    io.write_json({"missing_tables": []}, out / "clean_summary.json")


def sample_clean(out: Path, tickets: int, clients: int, replicas: int = 10, slice_clients: int = 200) -> None:
    """The sample generator's data set, cleaned: `clients / replicas` clients with `tickets /
    replicas` tickets are generated and cleaned a slice of clients at a time (so that any size
    fits in memory), then copied `replicas` times under other client ids (generating 10M
    tickets outright takes hours on this shared 2-core machine). Each table is then in the order
    `clean_folder` writes it: by client, each client's rows in their order in the copy."""
    from pipelines.clean.stage import clean_folder
    from pipelines.core.schemas import TABLES
    from pipelines.ingest.sample.files import write_contracts, write_frames
    from pipelines.ingest.sample.generator import generate_sample

    work = out.parent / f"{out.name}-work"
    shutil.rmtree(work, ignore_errors=True)
    base, parts = clients // replicas, []
    for start in range(0, base, slice_clients):
        sample = generate_sample(base, 13, 7, END, tickets // replicas,
                                 only=range(start, min(start + slice_clients, base)))
        raw = work / f"raw-{start:05d}"
        write_frames(sample.tables, raw, "parquet")
        write_contracts(sample.contracts, raw / "contracts")
        del sample
        parts.append(work / f"clean-{start:05d}")
        clean_folder(raw, parts[-1])
        shutil.rmtree(raw)
    copies = [(part, f"-{r}" if r else "") for r in range(replicas) for part in parts]
    (out / "contracts").mkdir(parents=True, exist_ok=True)
    for part, suffix in copies:
        for path in (part / "contracts").glob("*.yml"):
            contract = yaml.safe_load(path.read_text())
            contract["client_id"] += suffix
            (out / "contracts" / f"{contract['client_id']}.yml").write_text(yaml.safe_dump(contract, sort_keys=False))
    for name in TABLES:
        ids = [c for c in ("client_id", "ticket_id", "parent_ticket_id") if c in TABLES[name].columns]
        scans = [pl.scan_parquet(part / f"{name}.parquet").with_columns(pl.col(ids) + suffix)
                 for part, suffix in copies]
        pl.concat(scans).sort("client_id", maintain_order=True).sink_parquet(out / f"{name}.parquet")
    io.write_json({"missing_tables": []}, out / "clean_summary.json")
    shutil.rmtree(work, ignore_errors=True)


def build_clean(out: Path, tickets: int, clients: int, synthetic: bool) -> str:
    """A clean folder for the run; returns how it was made."""
    if not synthetic:
        sample_clean(out, tickets, clients)
        return "sample generator + clean_folder, 1/10 of it copied 10 times"
    synthetic_clean(out, tickets, clients)
    return "synthetic clean tables"


# ---------------------------------------------------------------- end-to-end run in a subprocess

_CHILD = """
import json, os, sys, threading, time
from datetime import date
sys.path.insert(0, {root!r})

def tree_rss_kb(pid=os.getpid()):  # this process and its worker processes, resident now
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += next(int(l.split()[1]) for l in open(f"/proc/{{p}}/status") if l.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{{p}}/task"):
                todo += [int(c) for c in open(f"/proc/{{p}}/task/{{task}}/children").read().split()]
        except (OSError, StopIteration):
            pass
    return total

peak = [0]
def sample():
    while True:
        peak[0] = max(peak[0], tree_rss_kb())
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
from pipelines.metrics.stage import metrics_folder
r = metrics_folder({clean!r}, {out!r}, {period!r})
wall = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) forking parent.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
import resource
use, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"wall": wall, "rss_mb": max(hwm, peak[0]) / 1024, "stage_rss_mb": hwm / 1024,
                  "cpu": use.ru_utime + use.ru_stime + kids.ru_utime + kids.ru_stime,
                  "tickets": r.summary["rows"]["ticket_sla"], "timings": r.summary["timings_s"],
                  "cpu_s": r.summary.get("cpu_s")}}))
"""


def run_stage(clean: Path, out: Path, period: str | None = None) -> dict:
    code = _CHILD.format(root=str(ROOT), clean=str(clean), out=str(out), period=period)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- kernel alone


def bench_kernel(clean: Path, intervals: int = 4_000_000) -> float:
    contracts = load_contracts(clean / "contracts")
    first, last = date(2025, 9, 1), date(2026, 12, 31)
    start = int(datetime(2025, 9, 1, tzinfo=UTC).timestamp() * 1e6)
    end = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    calendars = [business_windows(k, first, last) for k in contracts.values()]
    clock = Clock.build(calendars, start, end)
    rng = np.random.default_rng(1)
    lane = rng.integers(0, len(calendars), intervals)
    a = rng.integers(start, end - 30 * 86400 * 10**6, intervals)
    b = a + rng.integers(0, 10 * 86400 * 10**6, intervals)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        clock.elapsed(lane, a, b)
        best = min(best, time.perf_counter() - t)
    return intervals / best


# ---------------------------------------------------------------- the plain pandas way


def pandas_reference(clean: Path, ticket_ids: list[str], period_end: dict[str, datetime]) -> pd.DataFrame:
    """What an analyst would write: per ticket, walk the days, intersect the business windows
    with the running intervals from the status history (df.apply, zoneinfo, holidays)."""
    import holidays as hol

    contracts = load_contracts(clean / "contracts")
    tickets = pd.read_parquet(clean / "tickets.parquet")
    tickets = tickets[tickets["ticket_id"].isin(ticket_ids)]
    events = pd.read_parquet(clean / "ticket_events.parquet")
    events = events[events["ticket_id"].isin(ticket_ids)]
    by_ticket = {k: g.sort_values("at", kind="stable") for k, g in events.groupby("ticket_id")}
    cal = {}

    def windows(client: str, day: date):
        k = contracts[client]
        key = (client, day)
        if key not in cal:
            days = hol.country_holidays(k.holidays.country, subdiv=k.holidays.subdivision,
                                        years=day.year) if k.holidays.country else {}
            out = []
            if day not in days and day not in k.holidays.extra:
                z = k.zone
                for a, b in k.business_hours.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()], []):
                    s = datetime.combine(day, a, z)
                    e = datetime.combine(day + timedelta(days=1), datetime.min.time(), z) \
                        if b == datetime.max.time() else datetime.combine(day, b, z)
                    out.append((s.astimezone(UTC), e.astimezone(UTC)))
            cal[key] = out
        return cal[key]

    def business(client: str, calendar: str, a: datetime, b: datetime) -> float:
        if b <= a:
            return 0.0
        if calendar == "24x7":
            return (b - a).total_seconds()
        z = contracts[client].zone
        total, day = 0.0, a.astimezone(z).date() - timedelta(days=1)
        while day <= b.astimezone(z).date():
            for s, e in windows(client, day):
                total += max(0.0, (min(e, b) - max(s, a)).total_seconds())
            day += timedelta(days=1)
        return total

    def per_ticket(row: pd.Series) -> pd.Series:
        k = contracts[row.client_id]
        target = k.sla[row.priority]
        end = period_end[row.client_id]
        created = row.created_at.to_pydatetime()
        resolved = row.resolved_at.to_pydatetime() if pd.notna(row.resolved_at) else None
        resolved = resolved if resolved and resolved < end else None
        first = row.first_response_at.to_pydatetime() if pd.notna(row.first_response_at) else None
        first = first if first and first < end else resolved
        response = business(row.client_id, target.calendar, created, first) / 60 if first else None
        stop = resolved or end
        running, state, since = 0.0, "run", created
        pauses = {s.casefold() for s in k.statuses.pause} | {s.casefold() for s in k.statuses.resolved}
        for ev in by_ticket.get(row.ticket_id, pd.DataFrame(columns=["at", "status"])).itertuples():
            at = max(ev.at.to_pydatetime(), created)
            if at >= stop:
                break
            if state == "run":
                running += business(row.client_id, target.calendar, since, at)
            state, since = ("pause" if ev.status.casefold() in pauses else "run"), at
        if state == "run":
            running += business(row.client_id, target.calendar, since, stop)
        return pd.Series({"ticket_id": row.ticket_id, "response_minutes": response,
                          "resolution_minutes": running / 60 if resolved else None})

    return tickets.apply(per_ticket, axis=1)


# ---------------------------------------------------------------- main


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--pandas-subset", type=int, default=2000)
    parser.add_argument("--synthetic", action="store_true", help="Synthetic clean tables instead of the sample generator.")
    parser.add_argument("--keep", type=Path, help="Keep the generated folders here.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"metrics benchmark: {args.clients} clients, 13 months; {os.cpu_count()}-core machine, shared: "
          f"load average {_load()} at the start")
    results = {}
    for n in sizes:
        clean = work / f"clean-{n}"
        t = time.perf_counter()
        if (clean / "tickets.parquet").exists():  # reuse a kept folder (--keep)
            how = "reused clean folder"
        else:
            how = build_clean(clean, n, args.clients, args.synthetic)
        gen = time.perf_counter() - t
        events = pl.scan_parquet(clean / "ticket_events.parquet").select(pl.len()).collect().item()
        load = _load()
        r = run_stage(clean, work / f"metrics-{n}")
        results[n] = r
        print(f"{n:>10,} tickets ({events:,} events; {how}, built in {gen:.0f} s untimed): "
              f"metrics {r['wall']:.1f} s = {r['tickets'] / r['wall']:,.0f} tickets/s "
              f"(CPU {r['cpu']:.0f} s: the time it needs, on a loaded machine too), "
              f"peak RSS {r['rss_mb']:,.0f} MB (with its workers; the stage's own {r['stage_rss_mb']:,.0f} MB), "
              f"{r['timings']['chunks']} chunks, {r['timings'].get('workers', 1)} workers; "
              f"load average {load} before, {_load()} after\n            stages {r['timings']}"
              f"\n            stages' CPU s {r['cpu_s']}")
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        ratio = results[big]["wall"] / results[small]["wall"]
        print(f"scaling: {big // small}x tickets -> {ratio:.2f}x time")

    biggest = work / f"clean-{sizes[-1]}"
    rate = bench_kernel(biggest)
    print(f"kernel (Clock.elapsed, {args.clients} calendars, 4M random intervals): "
          f"{rate / 1e6:,.1f} M intervals/s (target >= 2 M/s)")

    sla = pl.read_parquet(work / f"metrics-{sizes[0]}" / "ticket_sla.parquet")
    sample_ids = sla["ticket_id"].sample(min(args.pandas_subset, sla.height), seed=3).to_list()
    summary = json.loads((work / f"metrics-{sizes[0]}" / "metrics_summary.json").read_text())
    ends = {c: datetime.fromisoformat(v) for c, v in summary["as_of"].items()}
    t = time.perf_counter()
    ref = pandas_reference(work / f"clean-{sizes[0]}", sample_ids, ends)
    pandas_s = time.perf_counter() - t
    mine = sla.filter(pl.col("ticket_id").is_in(sample_ids)).select(
        "ticket_id", "response_minutes", "resolution_minutes").to_pandas()
    both = mine.merge(ref, on="ticket_id", suffixes=("", "_pandas"))
    bad = 0
    for col in ("response_minutes", "resolution_minutes"):
        a, b = both[col], both[f"{col}_pandas"].astype(float)
        bad += int(((a - b).abs() > 1e-6).sum() + (a.isna() != b.isna()).sum())
    pandas_rate = len(ref) / pandas_s
    engine_rate = results[sizes[-1]]["tickets"] / results[sizes[-1]]["wall"]
    print(f"plain pandas per-ticket (df.apply + zoneinfo day walk) on {len(ref):,} tickets: "
          f"{pandas_s:.1f} s = {pandas_rate:,.0f} tickets/s; disagreements with the engine: {bad}")
    print(f"speed ratio engine / pandas (tickets/s, end to end incl. I/O vs SLA minutes only): "
          f"{engine_rate / pandas_rate:,.0f}x")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
