"""The status events joined to their tickets once (TicketEvents), in the documented order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.metrics.history import TicketEvents

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _frames(seed: int, in_time_order: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    tickets = pl.DataFrame({"client_id": ["a", "b", "a", "b", "c"], "ticket_id": ["1", "1", "2", "2", "1"]})
    n = 400
    events = pl.DataFrame({
        "client_id": rng.choice(["a", "b", "c", "d"], n).tolist(),  # d: no such ticket (dropped)
        "ticket_id": rng.choice(["1", "2"], n).tolist(),
        "at": [T0 + timedelta(minutes=int(m)) for m in rng.integers(0, 30, n)],  # many ties
        "status": rng.choice(["New", "In Progress", "Resolved", None], n).tolist(),
        "priority": rng.choice(["P1", "P3", None], n).tolist(),
        "seq": pl.Series(rng.integers(0, 5, n)).set(pl.Series(rng.random(n) < 0.2), None),
    })
    if in_time_order:  # as exports mostly are: the fast path
        events = events.sort("at", "seq", nulls_last=True, maintain_order=True)
    return tickets, events


def _straightforward(tickets: pl.DataFrame, events: pl.DataFrame) -> list[tuple]:
    """Each ticket row's events sorted by time, seq (nulls last), then the export's order."""
    ev = events.with_row_index("e").join(tickets.with_row_index("t"), on=["client_id", "ticket_id"])
    ev = ev.sort("t", "at", "seq", "e", nulls_last=True)
    return list(zip(ev["t"].to_list(), ev["e"].to_list(), strict=True))


@pytest.mark.parametrize("in_time_order", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_events_are_each_tickets_in_time_seq_and_export_order(seed, in_time_order):
    tickets, events = _frames(seed, in_time_order)
    built = TicketEvents.build(tickets, events)
    expected = _straightforward(tickets, events)
    got = [(t, e) for t in range(tickets.height) for e in range(built.first[t], built.first[t] + built.count[t])]
    at = events["at"].dt.epoch("us").to_numpy()
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert built.at.tolist() == [int(at[e]) for _, e in expected]  # the export's rows, in that order
    names = built.names.to_list() + [None]
    assert [names[c] for c in built.code] == [events["status"][e] for _, e in expected]
