"""Status history: each ticket's status events in order, classified by its client's contract.

Events belong to a ticket by (client_id, ticket_id) (ticket ids are numbered per client) and
are ordered by time, then by `seq` (the event's record number in the export, so same-second
changes keep the order the help-desk tool wrote them in), then by their row order. Row 0 of
each ticket is an implicit running status at created_at; event times before it are clipped
to it. The queries below read the history as it stood at an instant (per ticket).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.core.business_time import NEVER
from pipelines.core.contracts import PRIORITIES, Contract

RUN, PROGRESS, PAUSE, RESOLVED = 0, 1, 2, 3  # status classes; anything unknown runs the clock


def _class_table(clients: list[str], statuses: pl.Series,
                 contracts: dict[str, Contract]) -> np.ndarray:
    """(client position, status code) -> status class; statuses no contract names run the clock."""
    names = {s: i for i, s in enumerate(statuses.to_list())}
    table = np.full((len(clients), len(names) + 1), RUN, np.int8)  # last column: no status
    for row, client in enumerate(clients):
        k = contracts[client].statuses
        for cls, values in ((PROGRESS, k.in_progress), (PAUSE, k.pause), (RESOLVED, k.resolved)):
            for value in values:
                if value in names:
                    table[row, names[value]] = cls
    return table


@dataclass(frozen=True)
class History:
    """Status history as rows sorted by (ticket, at, seq)."""

    ticket: np.ndarray  # ticket position
    at: np.ndarray  # clipped to >= created_at
    cls: np.ndarray
    priority: np.ndarray  # int8 position in PRIORITIES of the priority the event names; -1 = none
    first_row: np.ndarray  # first row of each ticket

    @property
    def count(self) -> int:
        return len(self.first_row)

    def last_before(self, limit: np.ndarray) -> np.ndarray:
        """Per ticket: its last row before limit[ticket] (row 0 when none; times are sorted)."""
        known = self.at < limit[self.ticket]
        return self.first_row + np.bincount(self.ticket[known], minlength=self.count) - 1

    def entries(self) -> np.ndarray:
        """Rows that enter a resolved status (a resolution)."""
        done = self.cls == RESOLVED
        return np.flatnonzero(done & np.append(True, ~done[:-1]))  # row 0 of a ticket runs

    def resolved_at(self, limit: np.ndarray) -> np.ndarray:
        """Per ticket: when it entered the resolved status it was in just before limit
        (NEVER when it was not in one then)."""
        last = self.last_before(limit)
        entries = self.entries()
        start = np.full(len(self.at), -1, np.int64)
        start[entries] = entries
        start = np.maximum.accumulate(start)  # a resolved run never spans two tickets
        return np.where(self.cls[last] == RESOLVED, self.at[np.maximum(start[last], 0)], NEVER)

    def first(self, rows: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Per ticket: the time of the first of `rows` (ascending) before limit[ticket] (NEVER = none)."""
        rows = rows[self.at[rows] < limit[self.ticket[rows]]]
        return self._each(rows, np.append(True, self.ticket[rows][1:] != self.ticket[rows][:-1]))

    def last(self, rows: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """Per ticket: the time of the last of `rows` (ascending) before limit[ticket] (NEVER = none)."""
        rows = rows[self.at[rows] < limit[self.ticket[rows]]]
        return self._each(rows, np.append(self.ticket[rows][1:] != self.ticket[rows][:-1], True))

    def _each(self, rows: np.ndarray, pick: np.ndarray) -> np.ndarray:
        out = np.full(self.count, NEVER, np.int64)
        if len(rows):
            out[self.ticket[rows[pick]]] = self.at[rows[pick]]
        return out

    def priority_at(self, limit: np.ndarray) -> np.ndarray:
        """Per ticket: the priority named by its last event before limit that names one (-1: none)."""
        rows = np.flatnonzero((self.priority >= 0) & (self.at < limit[self.ticket]))
        out = np.full(self.count, -1, np.int64)
        tail = np.append(self.ticket[rows][1:] != self.ticket[rows][:-1], True) if len(rows) else rows
        out[self.ticket[rows[tail]]] = self.priority[rows[tail]]
        return out

    def last_at(self) -> np.ndarray:
        """Per ticket: the time of its last event (created_at when it has none)."""
        return self.at[np.append(self.first_row[1:], len(self.at))[:self.count] - 1]


@dataclass(frozen=True)
class TicketEvents:
    """The status events of a tickets frame, joined to it once (by client_id and ticket_id):
    per ticket row, its events in order (rows `first[i]` .. `first[i] + count[i]`), so that
    histories of any of its tickets, as of any instants, are gathered without joining again."""

    first: np.ndarray  # per ticket row: its first event
    count: np.ndarray  # per ticket row: how many events it has
    at: np.ndarray  # event times (UTC µs, not clipped)
    code: np.ndarray  # status: position in `names`; len(names) = no status
    priority: np.ndarray  # int8 position in PRIORITIES; -1 = none
    names: pl.Series  # the status names events use, sorted

    @classmethod
    def build(cls, tickets: pl.DataFrame, events: pl.DataFrame | None) -> TicketEvents:
        n = tickets.height
        if events is None or events.is_empty():
            none = np.empty(0, np.int64)
            return cls(np.zeros(n, np.int64), np.zeros(n, np.int64), none, none, none.astype(np.int8),
                       pl.Series([], dtype=pl.String))
        keys = tickets.select("client_id", "ticket_id").with_columns(__t=np.arange(n, dtype=np.int64))
        names = events["status"].drop_nulls().unique().sort()
        priority = events["priority"] if "priority" in events.columns else pl.lit(None, pl.String)
        seq = events["seq"] if "seq" in events.columns else pl.lit(None, pl.Int64)
        ev = (
            events.select("client_id", "ticket_id", pl.col("at").dt.epoch("us").alias("__at"),
                          pl.col("status").cast(pl.Enum(names.to_list())).alias("__status"),
                          pl.lit(priority).replace_strict({p: i for i, p in enumerate(PRIORITIES)},
                                                          default=-1, return_dtype=pl.Int64).alias("__p"),
                          pl.lit(seq).alias("__seq"), pl.int_range(pl.len(), dtype=pl.Int64).alias("__e"))
            .join(keys, on=["client_id", "ticket_id"], how="inner", maintain_order="left")
            .select("__t", "__at", "__status", "__p", "__seq", "__e")
        )
        ev = _in_order(ev)
        count = np.bincount(ev["__t"].to_numpy(), minlength=n).astype(np.int64)
        return cls(np.cumsum(count) - count, count, ev["__at"].to_numpy(),
                   ev["__status"].to_physical().cast(pl.Int64).fill_null(len(names)).to_numpy(),
                   ev["__p"].to_numpy().astype(np.int8), names)

    def of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For tickets at these rows (repeats allowed): each event's position in `rows`, and its
        row here, in order (by ticket, then time, seq and export order)."""
        counts = self.count[rows]
        e_t = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        starts = np.cumsum(counts) - counts
        offset = np.arange(len(e_t), dtype=np.int64) - np.repeat(starts, counts)
        return e_t, np.repeat(self.first[rows], counts) + offset


def _in_order(ev: pl.DataFrame) -> pl.DataFrame:
    """Events (in the export's order, __e) sorted by ticket, time, seq (nulls last) and the
    export's order. Exports mostly list a ticket's events in time order already: then a stable
    sort by ticket alone gives that order (checked), else all four keys are sorted."""
    by_ticket = ev.sort("__t", maintain_order=True)
    t, at = by_ticket["__t"].to_numpy(), by_ticket["__at"].to_numpy()
    seq = by_ticket["__seq"].cast(pl.Int64).fill_null(np.iinfo(np.int64).max).to_numpy()
    same = t[1:] == t[:-1]
    if not np.any(same & ((at[1:] < at[:-1]) | ((at[1:] == at[:-1]) & (seq[1:] < seq[:-1])))):
        return by_ticket
    return ev.sort("__t", "__at", "__seq", "__e", nulls_last=True)


def history(tickets: pl.DataFrame, cidx: np.ndarray, created: np.ndarray,
            events: pl.DataFrame | TicketEvents | None, contracts: dict[str, Contract], clients: list[str],
            rows: np.ndarray | None = None) -> History:
    """The status history of the given tickets (their client_id and ticket_id; client
    positions cidx in `clients`), classified by each client's contract. A ticket may appear
    more than once (evaluated as of different instants): each copy gets the events.
    `events` already joined to a tickets frame (`TicketEvents`) needs `rows`: the given
    tickets' rows in that frame."""
    n = len(created)
    if not isinstance(events, TicketEvents):
        events, rows = TicketEvents.build(tickets, events), np.arange(n, dtype=np.int64)
    e_t, picked = events.of(np.asarray(rows, np.int64))
    table = _class_table(clients, events.names, contracts)
    e_cls = table[cidx[e_t], events.code[picked]]
    e_at = np.maximum(events.at[picked], created[e_t])
    e_prio = events.priority[picked]
    counts = np.bincount(e_t, minlength=n) + 1
    first_row = (np.cumsum(counts) - counts).astype(np.int64)
    total = n + len(e_t)
    ticket = np.repeat(np.arange(n, dtype=np.int64), counts)
    at = np.empty(total, np.int64)
    cls = np.empty(total, np.int8)
    prio = np.full(total, -1, np.int8)
    at[first_row], cls[first_row] = created, RUN
    event_rows = np.arange(len(e_t), dtype=np.int64) + e_t + 1  # shifted by the implicit rows
    at[event_rows], cls[event_rows], prio[event_rows] = e_at, e_cls, e_prio
    return History(ticket, at, cls, prio, first_row)
