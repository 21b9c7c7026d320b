"""Each month as it stood at its end, in every run.

ticket_sla is as of the end of the report period. A KPI row of an earlier month counts each
ticket as it stood at THAT month's end: for a ticket nothing happened to after it (resolved
by then, and no response, resolution, close, status change or survey recorded later), that
is today's view; every other ticket is evaluated again as of that month end
(`month_end_sla`). So a later reopen, merge or late survey never changes a published month,
and a ticket counts at most once per month and measure (from exactly one of the two views).

Also here: the month-end snapshots (open, and waiting on the customer, at each month end).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.core.business_time import NEVER, Clock, Months
from pipelines.core.contracts import Contract
from pipelines.metrics.history import PAUSE, RESOLVED, TicketEvents, history
from pipelines.metrics.sla import Assessment, Scope, assess, epoch_us, position_labels


def settled_at(assessment: Assessment, surveys: pl.DataFrame | None) -> np.ndarray:
    """Per ticket_sla row: the instant after which nothing changes the ticket's figures (its
    last recorded change or survey answer); NEVER for a ticket not resolved by the as-of."""
    settled = assessment.changed_at
    if surveys is None or surveys.is_empty():
        return settled
    last = surveys.group_by("client_id", "ticket_id").agg(pl.col("responded_at").max())
    answered = assessment.ticket_sla.select("client_id", "ticket_id").join(
        last, on=["client_id", "ticket_id"], how="left", maintain_order="left")["responded_at"]
    return np.maximum(settled, np.where(answered.is_null().to_numpy(), 0, epoch_us(answered)))


def month_pairs(first: np.ndarray, span: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, month position) for months first .. first + span - 1 of each row."""
    pair_t = np.repeat(np.arange(len(first)), span)
    pair_m = np.arange(len(pair_t)) - np.repeat(np.cumsum(span) - span, span) + first[pair_t]
    return pair_t, pair_m


def month_end_sla(tickets: pl.DataFrame, events: TicketEvents, contracts: dict[str, Contract],
                  scope: Scope, assessment: Assessment, settled: np.ndarray,
                  clock: Clock | None = None) -> pl.DataFrame:
    """ticket_sla rows as of the end of every month before the period at which the ticket
    was not settled yet, with `as_of_month` (that month) and `row` (the ticket's row in
    assessment.ticket_sla); `events` are joined to `tickets`."""
    months = scope.months
    now = assessment.ticket_sla
    cidx = scope.client_index(now["client_id"])
    first = months.index(cidx, epoch_us(now["created_at"]))
    settles = months.index(cidx, settled)  # -1: never, or after the period
    stop = np.where(settles < 0, months.count - 1, np.minimum(settles, months.count - 1))
    pair_t, pair_m = month_pairs(first, np.maximum(stop - first, 0))
    ends = months.bounds[cidx[pair_t], pair_m + 1]
    rows = assessment.rows[pair_t]
    earlier = assess(tickets[rows], events, contracts, scope, clock, as_of=ends, base_rows=rows)
    return earlier.ticket_sla.with_columns(
        as_of_month=position_labels(pair_m, pl.Series(months.labels, dtype=pl.String)),
        row=pl.Series(pair_t, dtype=pl.Int64))


# ---------------------------------------------------------------- month-end snapshots


def month_end_status(ticket_sla: pl.DataFrame, events: TicketEvents | None,
                     contracts: dict[str, Contract], scope: Scope, rows: np.ndarray) -> pl.DataFrame:
    """Tickets open at the end of each month (ticket_id, client_id, month, waiting, has_history).

    Open = created before the month end and, per the status history, not in a resolved
    status then (and not resolved by then). `waiting` = in a pause status at the month end;
    null when there is no status history (`events` None; else joined to the tickets frame
    ticket_sla's rows come from, at `rows`); has_history: the ticket has a status event.
    """
    months = scope.months
    cidx = scope.client_index(ticket_sla["client_id"])
    created = epoch_us(ticket_sla["created_at"])
    resolved = epoch_us(ticket_sla["resolved_at"])
    first = months.index(cidx, created)
    last = np.where(resolved != NEVER, months.index(cidx, resolved), months.count)
    pair_t, pair_m = month_pairs(first, np.maximum(last - first, 0))
    month_end = months.bounds[cidx[pair_t], pair_m + 1]
    frame = pl.DataFrame({"__t": pair_t, "__m": pair_m})
    if events is None:
        return _snapshot_frame(ticket_sla, frame.with_columns(waiting=pl.lit(None, pl.Boolean),
                                                              has_history=pl.lit(False)), months)
    cand = np.unique(pair_t)
    sub = ticket_sla[cand]
    h = history(sub, cidx[cand], created[cand], events, contracts, scope.clients, rows[cand])
    # Sorted (ticket, second) keys: floor(at) < month end <=> at < month end (ends are whole seconds).
    origin = int(created.min()) // 1_000_000 if len(created) else 0
    key = (h.ticket << 32) + (h.at // 1_000_000 - origin)
    local = np.searchsorted(cand, pair_t)
    row = np.searchsorted(key, (local << 32) + (month_end // 1_000_000 - origin), side="left") - 1
    state = h.cls[row]
    frame = frame.with_columns(
        __open=pl.Series(state != RESOLVED), waiting=pl.Series(state == PAUSE),
        has_history=pl.Series(events.count[rows[pair_t]] > 0),
    ).filter(pl.col("__open")).drop("__open")
    return _snapshot_frame(ticket_sla, frame, months)


def _snapshot_frame(ticket_sla: pl.DataFrame, pairs: pl.DataFrame, months: Months) -> pl.DataFrame:
    ids = ticket_sla.select("ticket_id", "client_id")
    return pairs.select(
        ids["ticket_id"].gather(pairs["__t"]).alias("ticket_id"),
        ids["client_id"].gather(pairs["__t"]).alias("client_id"),
        position_labels(pairs["__m"].to_numpy(), pl.Series(months.labels)).alias("month"),
        pl.col("waiting", "has_history"),
    )
