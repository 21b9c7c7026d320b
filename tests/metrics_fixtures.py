"""A tiny crafted clean data set for the metrics tests (one New York client, Sep-Oct 2026).

Tickets (New York time; targets P2 1 h / 8 h, P3 4 h / 24 h on 08:00-18:00 Mon-Thu,
08:00-17:00 Fri):
- A  Mon 21 Sep 10:00 P2, answered 10:30, resolved 13:00: both met in September; first contact.
- E  Wed 30 Sep 17:00 P2, answered Thu 1 Oct 08:30 (due 30 Sep 18:00: breached, September),
     resolved 1 Oct 10:00 (3 h: met, October); escalated to level 2.
- B  Thu 1 Oct 09:00 P2 from monitoring, answered 11:00 (breached, due 10:00), resolved Fri 2 Oct
     12:00 (13 h: breached, due 1 Oct 17:00); reopened once; same category and asset as A,
     10 days after A was resolved: recurring.
- C  Mon 5 Oct 09:00 P3, closed as duplicate: excluded.
- D  Fri 30 Oct 16:00 P3, no answer, waiting on the customer from 16:30: both pending.
- F  Mon 2 Nov: after the period, left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import yaml

from pipelines.core import io
from pipelines.core.contracts import parse_contract
from pipelines.core.schemas import TABLES
from tests.conftest import ACME

NY = ZoneInfo("America/New_York")


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


def _frame(rows: list[dict], table: str) -> pl.DataFrame:
    schema = TABLES[table].columns
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def _ticket(tid, created, priority, *, first=None, resolved=None, close="resolved", source="email",
            category="printer", asset=None, **extra):
    return {"ticket_id": tid, "client_id": "acme", "created_at": created, "priority": priority,
            "first_response_at": first, "resolved_at": resolved,
            "close_code": close if resolved else None, "source": source, "category": category,
            "asset": asset, "requester": "r1", "reopen_count": 0, "reassignment_count": 0,
            "escalation_level": 1, "provider_touches": 1, **extra}


def tables() -> dict[str, pl.DataFrame]:
    tickets = [
        _ticket("A", ny(2026, 9, 21, 10), "P2", first=ny(2026, 9, 21, 10, 30),
                resolved=ny(2026, 9, 21, 13), asset="PC1"),
        _ticket("E", ny(2026, 9, 30, 17), "P2", first=ny(2026, 10, 1, 8, 30),
                resolved=ny(2026, 10, 1, 10), category="email", escalation_level=2),
        _ticket("B", ny(2026, 10, 1, 9), "P2", first=ny(2026, 10, 1, 11), resolved=ny(2026, 10, 2, 12),
                source="monitoring", asset="PC1", reopen_count=1),
        _ticket("C", ny(2026, 10, 5, 9), "P3", resolved=ny(2026, 10, 5, 10), close="duplicate",
                source="phone"),
        _ticket("D", ny(2026, 10, 30, 16), "P3", category="network", asset="PC9"),
        _ticket("F", ny(2026, 11, 2, 9), "P3"),
    ]
    events = [
        ("A", ny(2026, 9, 21, 10), "New"), ("A", ny(2026, 9, 21, 10, 30), "In Progress"),
        ("A", ny(2026, 9, 21, 13), "Resolved"),
        ("E", ny(2026, 9, 30, 17), "New"), ("E", ny(2026, 10, 1, 8, 30), "In Progress"),
        ("E", ny(2026, 10, 1, 10), "Resolved"),
        ("B", ny(2026, 10, 1, 9), "New"), ("B", ny(2026, 10, 1, 11), "In Progress"),
        ("B", ny(2026, 10, 2, 12), "Resolved"),
        ("D", ny(2026, 10, 30, 16), "New"), ("D", ny(2026, 10, 30, 16, 30), "Waiting on Customer"),
    ]
    surveys = [("A", ny(2026, 9, 22, 9), 5.0), ("B", ny(2026, 10, 3, 9), 2.0),
               ("E", ny(2026, 10, 2, 9), 4.0)]
    outages = [
        ("email", ny(2026, 10, 10, 10), ny(2026, 10, 10, 11), False),
        ("email", ny(2026, 10, 10, 10, 10), ny(2026, 10, 10, 10, 20), False),  # overlaps: once
        ("internet", ny(2026, 10, 11, 2), ny(2026, 10, 11, 4), True),
    ]
    entries = [(ny(2026, 10, 1, 9), 90.0, "onsite", "B"), (ny(2026, 10, 2, 9), 30.0, "remote", "B")]
    devices = [("d1", ny(2026, 10, 5), ny(2026, 9, 1)), ("d1", ny(2026, 10, 28), ny(2026, 10, 20)),
               ("d2", ny(2026, 10, 28), ny(2026, 8, 1))]
    return {
        "tickets": _frame(tickets, "tickets"),
        "ticket_events": _frame([{"ticket_id": t, "client_id": "acme", "at": at, "status": s}
                                 for t, at, s in events], "ticket_events"),
        "surveys": _frame([{"ticket_id": t, "client_id": "acme", "responded_at": at, "rating": str(int(r)),
                            "score": r, "scale": "5-point"} for t, at, r in surveys], "surveys"),
        "outages": _frame([{"client_id": "acme", "service": s, "started_at": a, "ended_at": b,
                            "planned": p} for s, a, b, p in outages], "outages"),
        "time_entries": _frame([{"client_id": "acme", "started_at": at, "minutes": m, "work_type": w,
                                 "ticket_id": t} for at, m, w, t in entries], "time_entries"),
        "devices": _frame([{"client_id": "acme", "device_id": d, "as_of": a, "last_patched_at": p}
                           for d, a, p in devices], "devices"),
    }


def contracts() -> dict:
    return {"acme": parse_contract(ACME)}


def write_clean(folder: Path, skip: tuple[str, ...] = ()) -> Path:
    """The crafted tables as a clean folder (tables + contracts/ + clean_summary.json)."""
    for name, frame in tables().items():
        if name not in skip:
            io.write_table(frame, folder / f"{name}.parquet")
    (folder / "contracts").mkdir(parents=True, exist_ok=True)
    (folder / "contracts" / "acme.yml").write_text(yaml.safe_dump(ACME, sort_keys=False))
    io.write_json({"missing_tables": list(skip)}, folder / "clean_summary.json")
    return folder
