"""Data for the as-of invariant: a generated sample as clean tables, the export as it stood
at a cut-off, and later events (reopens, close codes, priority changes) appended after it.

`exported_at(tables, contracts, cut)` is what the help-desk export would have held at `cut`:
rows created before it, status events before it, and on each ticket the fields as they were
then (a later resolution, close or reopen undone by reading the status history). The close
code given at an earlier closure is not in a later export (the tool overwrites it), so a
ticket that was resolved at the cut and closed again later has no close code there.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from pipelines.clean.stage import clean_tables
from pipelines.core.io import ROW, SOURCE
from pipelines.ingest.sample.generator import generate_sample, raw_frames


def sample_tables(seed: int, end: str = "2026-11", tickets: int = 450):
    """A small generated sample (3 clients, Sep..end), cleaned in memory: (tables, contracts)."""
    sample = generate_sample(clients=3, months=3, seed=seed, end=end, tickets=tickets)
    raw = {name: frame.select(pl.all().cast(pl.String)).with_row_index(ROW, offset=1)
           .with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(f"{name}.csv").alias(SOURCE))
           for name, frame in raw_frames(sample).items()}
    return clean_tables(raw, sample.contracts).tables, sample.contracts


def month_end(contracts, month: str) -> dict[str, datetime]:
    """Each client's end of `month` (local midnight after its last day) in UTC."""
    year, mon = map(int, month.split("-"))
    nxt = datetime(year + mon // 12, mon % 12 + 1, 1)
    return {c: nxt.replace(tzinfo=ZoneInfo(k.timezone)).astimezone(UTC) for c, k in contracts.items()}


def _ordered(events: pl.DataFrame) -> pl.DataFrame:
    keys = ["client_id", "ticket_id", "at", *(["seq"] if "seq" in events.columns else [])]
    return events.sort(keys, maintain_order=True)


def _histories(events: pl.DataFrame) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for row in _ordered(events).iter_rows(named=True):
        out.setdefault((row["client_id"], row["ticket_id"]), []).append(row)
    return out


def _state_at(history: list[dict], created: datetime, resolved: set[str]):
    """(status at the end, start of the trailing resolved run or None, reopens) of a history."""
    reopens, run_start, previous = 0, None, None
    for event in history:
        done = event["status"] in resolved
        if previous is not None and previous in resolved and not done:
            reopens += 1
        if done and (previous is None or previous not in resolved):
            run_start = max(event["at"], created)
        previous = event["status"]
    return previous, (run_start if previous in resolved else None), reopens


def exported_at(tables: dict, contracts: dict, cut: dict[str, datetime]) -> dict:
    """The tables as the export held them at `cut` (per client, UTC)."""
    def before(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        limit = pl.col("client_id").replace_strict(cut, return_dtype=pl.Datetime("us", "UTC"))
        return frame.filter(pl.col(column).is_null() | (pl.col(column) < limit))

    events = before(tables["ticket_events"], "at")
    histories = _histories(events)
    rows = []
    for t in before(tables["tickets"], "created_at").iter_rows(named=True):
        end, done = cut[t["client_id"]], set(contracts[t["client_id"]].statuses.resolved)
        history = histories.get((t["client_id"], t["ticket_id"]), [])
        named = [e["priority"] for e in history if e.get("priority")]
        if named:  # the priority in force at the cut
            t["priority"] = named[-1]
        if t["first_response_at"] is not None and t["first_response_at"] >= end:
            t["first_response_at"] = None
        if t["resolved_at"] is not None and t["resolved_at"] < end:
            if t["closed_at"] is not None and t["closed_at"] >= end:
                t["closed_at"] = None
        else:
            status, resolved_at, reopens = _state_at(history, t["created_at"], done)
            closes = [e["at"] for e in history if resolved_at and e["at"] >= resolved_at
                      and e["status"] == "Closed"]
            t.update(resolved_at=resolved_at, closed_at=closes[0] if closes else None,
                     close_code=None, reopen_count=reopens, status=status or t["status"])
        rows.append(t)
    out = dict(tables)
    out["tickets"] = pl.DataFrame(rows, schema=tables["tickets"].schema)
    out["ticket_events"] = events
    for name, column in (("surveys", "responded_at"), ("outages", "started_at"),
                         ("time_entries", "started_at"), ("devices", "as_of")):
        out[name] = before(tables[name], column)
    return out


def append_later(tables: dict, contracts: dict, cut: dict[str, datetime], seed: int,
                 per_kind: int = 6) -> tuple[dict, dict[str, list[tuple[str, str]]]]:
    """Events after the cut added to the tables, as the next month's export brings them:
    reopens of tickets resolved shortly before the cut, tickets open at the cut closed as
    merged, and priority changes (the history then carries the priority). Returns the tables
    and the (client_id, ticket_id) keys changed per kind."""
    rng = random.Random(seed)
    tickets, events = tables["tickets"], tables["ticket_events"]
    histories = _histories(events)

    def state(t):
        history = [e for e in histories.get((t["client_id"], t["ticket_id"]), [])
                   if e["at"] < cut[t["client_id"]]]
        return _state_at(history, t["created_at"], set(contracts[t["client_id"]].statuses.resolved))

    rows = {(t["client_id"], t["ticket_id"]): t for t in tickets.iter_rows(named=True)}
    early = [k for k, t in rows.items() if t["created_at"] < cut[k[0]] - timedelta(days=3)]
    resolved = [k for k in early if rows[k]["resolved_at"] is not None
                and cut[k[0]] - timedelta(days=10) < rows[k]["resolved_at"] < cut[k[0]]]
    logged = [k for k, t in rows.items() if t["created_at"] < cut[k[0]]]
    still_open = [k for k in logged if state(rows[k])[1] is None
                  and (rows[k]["resolved_at"] is None or rows[k]["resolved_at"] >= cut[k[0]])]
    changed = {"reopened": rng.sample(resolved, min(per_kind, len(resolved))),
               "merged": rng.sample(still_open, min(per_kind, len(still_open)))}
    taken = set(changed["reopened"]) | set(changed["merged"])
    changed["priority"] = rng.sample([k for k in logged if k not in taken], per_kind)

    added = []
    for key in changed["reopened"]:
        t, end = rows[key], cut[key[0]]
        reopen, again = end + timedelta(days=2, hours=1), end + timedelta(days=3, hours=2)
        added += [(key, reopen, "In Progress", None), (key, again, "Resolved", None),
                  (key, again + timedelta(days=2), "Closed", None)]
        t.update(resolved_at=again, closed_at=again + timedelta(days=2), close_code="resolved",
                 reopen_count=(t["reopen_count"] or 0) + 1, status="Closed")
    for key in changed["merged"]:
        t, at = rows[key], cut[key[0]] + timedelta(days=1, hours=3)
        added.append((key, at, "Closed", None))
        t.update(resolved_at=at, closed_at=at, close_code="merged", status="Closed")
    levels = ["P1", "P2", "P3", "P4"]
    first_priority = {}
    for key in changed["priority"]:
        t = rows[key]
        first_priority[key] = t["priority"]
        new = rng.choice([p for p in levels if p != t["priority"] and p in contracts[key[0]].sla])
        status = state(t)[0] or "New"
        added.append((key, cut[key[0]] + timedelta(hours=5), status, new))
        t["priority"] = new

    limit = pl.col("client_id").replace_strict(cut, return_dtype=pl.Datetime("us", "UTC"))
    marks = pl.DataFrame(
        [(c, i, first_priority.get((c, i)), (c, i) in taken) for c, i in taken | set(first_priority)],
        schema={"client_id": pl.String, "ticket_id": pl.String, "__first": pl.String,
                "__drop": pl.Boolean}, orient="row")
    kept = (events.with_row_index("__i")
            .join(marks, on=["client_id", "ticket_id"], how="left", maintain_order="left")
            .filter(~pl.col("__drop").fill_null(False) | (pl.col("at") < limit)))
    if "priority" in kept.columns:  # the history names the priority the ticket was logged with
        first = pl.col("__i") == pl.col("__i").min().over("client_id", "ticket_id")
        kept = kept.with_columns(pl.when(first).then(pl.coalesce("__first", "priority"))
                                 .otherwise(pl.col("priority")).alias("priority"))
    kept = kept.drop("__i", "__first", "__drop")
    new_rows = pl.DataFrame(
        [{"client_id": c, "ticket_id": i, "at": at, "status": s, "priority": p}
         for (c, i), at, s, p in added],
        schema={"client_id": pl.String, "ticket_id": pl.String, "at": pl.Datetime("us", "UTC"),
                "status": pl.String, "priority": pl.String})
    if "seq" in kept.columns:  # appended at the end of the file
        new_rows = new_rows.with_columns(seq=pl.int_range(pl.len()) + kept["seq"].max() + 1)
    new_rows = new_rows.select([pl.col(c) if c in new_rows.columns else pl.lit(None, dtype).alias(c)
                                for c, dtype in kept.schema.items()])
    out = dict(tables)
    out["ticket_events"] = pl.concat([kept, new_rows])
    out["tickets"] = pl.DataFrame(list(rows.values()), schema=tickets.schema)
    return out, changed
