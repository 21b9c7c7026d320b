"""Per-ticket SLA: response and resolution clocks, due times and met / breached / pending.

Everything is evaluated AS OF the end of the report period (the end of the period
month in each client's zone): anything recorded at or after it is not yet known.

- Response clock: created -> first response (or the resolution when there is no
  first response); it never pauses.
- Resolution clock: created -> final resolution, counting only running time:
  time in a pause status and time in a resolved status before a reopen do not
  count. The status history gives the intervals; no history = one running interval.
- Due time: the instant the clock reaches the target on the priority's calendar,
  given the pauses (after the last known moment the clock is assumed to keep
  running; a ticket paused at period end without reaching its target has none).
- A target belongs to the month it is decided in: the month of the response /
  resolution when met, of the due time when breached; not decided = pending;
  tickets closed with an excluded close code are `excluded`.

`evaluate` is pure: frames and contracts in, the ticket_sla frame out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from pipelines.core.business_time import (
    DAY,
    MINUTE,
    NEVER,
    Clock,
    Months,
    business_windows_many,
    weekly_business_minutes,
)
from pipelines.core.contracts import PRIORITIES, Contract

RUN, PROGRESS, PAUSE, RESOLVED = 0, 1, 2, 3  # status classes; anything unknown runs the clock
STATUSES = ("met", "breached", "pending", "excluded")
UTC_TS = pl.Datetime("us", "UTC")

TICKET_SLA_COLUMNS = [
    "ticket_id", "client_id", "priority", "calendar", "created_at", "first_response_at",
    "in_progress_at", "resolved_at", "close_code", "response_minutes", "response_target_minutes",
    "response_due_at", "response_status", "in_progress_minutes", "resolution_minutes",
    "resolution_target_minutes", "resolution_due_at", "resolution_status", "paused_minutes",
    "calendar_resolution_minutes", "response_month", "resolution_month",
    # beyond the list, for traceability of the monthly counts:
    "created_month", "resolved_month", "in_progress_month", "history_reopens",
]


@dataclass(frozen=True)
class Scope:
    """Which clients, which months and the as-of instant per client (period end, UTC µs)."""

    clients: list[str]
    months: Months
    period: str

    @property
    def as_of(self) -> np.ndarray:
        """Per client (in `clients` order): the end of the period month, UTC µs."""
        return self.months.end(np.arange(len(self.clients)))

    def client_index(self, client_id: pl.Series) -> np.ndarray:
        """Position of each client_id in `clients`; -1 for a client without a contract."""
        lookup = {c: i for i, c in enumerate(self.clients)}
        return client_id.fill_null("").replace_strict(lookup, default=-1,
                                                      return_dtype=pl.Int64).to_numpy()

    def month_of(self, client_id: pl.Series, at: np.ndarray) -> pl.Series:
        """'YYYY-MM' of each instant (UTC µs) in its client's zone; null for an unknown client,
        a missing instant, or one outside the months (so also one at or after the as-of)."""
        cidx = self.client_index(client_id)
        known = cidx >= 0
        pos = np.where(known, self.months.index(np.maximum(cidx, 0), at), -1)
        return _labels(pos, pl.Series(self.months.labels, dtype=pl.String))


def make_scope(contracts: dict[str, Contract], first_month: str, period: str) -> Scope:
    """A scope over every contract's client, months first_month..period."""
    clients = sorted(contracts)
    zones = [contracts[c].timezone for c in clients]
    return Scope(clients, Months.build(zones, first_month, period), period)


def build_clock(contracts: dict[str, Contract], scope: Scope, earliest: int) -> Clock:
    """Two lanes per client (2k: business calendar, 2k+1: 24x7), covering earliest .. as-of
    plus enough margin for the longest target to fall due."""
    margin_days = 31
    for contract in contracts.values():  # contracts bound targets: due within 365 days
        weekly = weekly_business_minutes(contract)
        for t in contract.sla.values():
            longest = _longest_minutes(t, weekly)
            days = longest / 1440 if t.calendar == "24x7" else longest / weekly * 7 * 1.5
            margin_days = max(margin_days, int(np.ceil(days)) + 31)
    start = (earliest // DAY - 2) * DAY
    end = (int(scope.as_of.max()) // DAY + margin_days) * DAY
    first = _date(start) - timedelta(days=1)
    last = _date(end) + timedelta(days=1)
    calendars = []
    for windows in business_windows_many([contracts[c] for c in scope.clients], first, last):
        calendars += [windows, Clock.always(start, end)]
    return Clock.build(calendars, start, end)


def _longest_minutes(target, weekly: float) -> float:
    """A target's length in clock minutes; business days at the longest a day can be (a week's)."""
    return max(target.minutes(t) if target.minutes(t) is not None else target.business_days(t) * weekly
               for t in ("response", "resolution"))


def _date(us: int) -> date:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).date()


def epoch_us(series: pl.Series) -> np.ndarray:
    """Timestamps -> int64 µs since the epoch; null -> NEVER."""
    return series.dt.epoch("us").fill_null(NEVER).to_numpy().astype(np.int64)


def _target_table(contracts: dict[str, Contract], scope: Scope) -> np.ndarray:
    """(client, priority, [response minutes, resolution minutes, 24x7?, response business days,
    resolution business days, has a target]); minutes NaN where the target is in business days."""
    tab = np.full((len(scope.clients), len(PRIORITIES), 6), np.nan)
    for c, client in enumerate(scope.clients):
        for p, target in contracts[client].sla.items():
            tab[c, PRIORITIES.index(p)] = (
                *(np.nan if target.minutes(t) is None else target.minutes(t) for t in ("response", "resolution")),
                float(target.calendar == "24x7"),
                *(target.business_days(t) or 0 for t in ("response", "resolution")), 1.0)
    return tab


def business_day_minutes(contract: Contract, first: date, last: date) -> tuple[np.ndarray, np.ndarray]:
    """The contract's business days first..last (local dates as days since 1970-01-01, ascending)
    and the business minutes before each (cumulative, one more entry than days)."""
    starts, ends = business_windows_many([contract], first, last)[0]
    days = (pl.Series(starts, dtype=pl.Int64).cast(UTC_TS).dt.convert_time_zone(contract.timezone)
            .dt.date().cast(pl.Int64).to_numpy())
    unique, inverse = np.unique(days, return_inverse=True)
    minutes = np.bincount(inverse, weights=(ends - starts) / MINUTE, minlength=len(unique))
    return unique, np.concatenate([[0.0], np.cumsum(minutes)])


def business_days_target(days: np.ndarray, created: np.ndarray, contract: Contract,
                         first: date, last: date) -> np.ndarray:
    """Minutes of an `Nbd` target per ticket: the working time of the N business days that follow
    the local day each ticket was logged (so 3bd for a Monday ticket is Tuesday to Thursday's)."""
    dates, before = business_day_minutes(contract, first, last)
    logged = (pl.Series(created, dtype=pl.Int64).cast(UTC_TS).dt.convert_time_zone(contract.timezone)
              .dt.date().cast(pl.Int64).to_numpy())
    nxt = np.searchsorted(dates, logged, side="right")  # the first business day after the logged day
    stop = np.minimum(nxt + days, len(dates))
    if np.any(nxt + days > len(dates)):  # cannot happen: the clock is built with margin for them
        raise ValueError(f"contracts/{contract.client_id}.yml: business days beyond the calendar's range")
    return before[stop] - before[nxt]


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


def excluded_codes(contracts: dict[str, Contract]) -> pl.DataFrame:
    """(client_id, close_code) pairs whose tickets are excluded from SLA, per contract."""
    rows = [(c, code) for c, k in contracts.items() for code in k.excluded_close_codes]
    return pl.DataFrame(rows, schema={"client_id": pl.String, "close_code": pl.String}, orient="row")


@dataclass(frozen=True)
class History:
    """Status history as rows sorted by (ticket, at); row 0 of each ticket is an implicit
    running status at created_at."""

    ticket: np.ndarray  # ticket position
    at: np.ndarray  # clipped to >= created_at
    cls: np.ndarray
    first_row: np.ndarray  # first row of each ticket


def history(tickets: pl.DataFrame, cidx: np.ndarray, created: np.ndarray,
            events: pl.DataFrame | None, contracts: dict[str, Contract], scope: Scope) -> History:
    """The status history of the given tickets (their client_id and ticket_id; client
    positions cidx in scope.clients), classified by each client's contract. Events belong to
    a ticket by (client_id, ticket_id): ticket ids are numbered per client."""
    n = len(created)
    if events is None or events.is_empty():
        e_t = np.empty(0, np.int64)
        e_at = np.empty(0, np.int64)
        e_cls = np.empty(0, np.int8)
    else:
        keys = tickets.select("client_id", "ticket_id").with_columns(__t=np.arange(n, dtype=np.int64))
        names = events["status"].drop_nulls().unique().sort()
        ev = (
            events.select("client_id", "ticket_id", pl.col("at").dt.epoch("us").alias("__at"),
                          pl.col("status").cast(pl.Enum(names.to_list())).alias("__status"))
            .join(keys, on=["client_id", "ticket_id"], how="inner", maintain_order="left")
            .select("__t", "__at", "__status")
            .sort("__t", "__at", maintain_order=True)
        )
        e_t = ev["__t"].to_numpy()
        table = _class_table(scope.clients, names, contracts)
        code = ev["__status"].to_physical().cast(pl.Int64).fill_null(len(names)).to_numpy()
        e_cls = table[cidx[e_t], code]
        e_at = np.maximum(ev["__at"].to_numpy(), created[e_t])
    counts = np.bincount(e_t, minlength=n) + 1
    first_row = (np.cumsum(counts) - counts).astype(np.int64)
    total = n + len(e_t)
    ticket = np.repeat(np.arange(n, dtype=np.int64), counts)
    at = np.empty(total, np.int64)
    cls = np.empty(total, np.int8)
    at[first_row], cls[first_row] = created, RUN
    event_rows = np.arange(len(e_t), dtype=np.int64) + e_t + 1  # shifted by the implicit rows
    at[event_rows], cls[event_rows] = e_at, e_cls
    return History(ticket, at, cls, first_row)


def evaluate(tickets: pl.DataFrame, events: pl.DataFrame | None, contracts: dict[str, Contract],
             scope: Scope, clock: Clock | None = None) -> pl.DataFrame:
    """ticket_sla: one row per ticket created before the period end (columns in TICKET_SLA_COLUMNS)."""
    cidx_all = scope.client_index(tickets["client_id"])
    if np.any(cidx_all < 0):
        bad = tickets.filter(pl.Series(cidx_all < 0))["client_id"][0]
        raise ValueError(f"tickets: client_id {bad!r} has no contract (expected contracts/{bad}.yml)")
    as_of = scope.as_of
    keep = epoch_us(tickets["created_at"]) < as_of[cidx_all]
    t = tickets.filter(pl.Series(keep))
    cidx = cidx_all[keep]
    prio = t["priority"].replace_strict({p: i for i, p in enumerate(PRIORITIES)}, default=-1,
                                        return_dtype=pl.Int64).to_numpy()
    tab = _target_table(contracts, scope)
    found = (prio >= 0) & (tab[cidx, np.maximum(prio, 0), 5] == 1)
    if not found.all():
        row = t.row(int(np.flatnonzero(~found)[0]), named=True)
        raise ValueError(f"tickets: ticket {row['ticket_id']}: priority {row['priority']!r} has no "
                         f"target in contracts/{row['client_id']}.yml (sla)")
    resp_minutes, res_minutes, kind, resp_days, res_days = (tab[cidx, prio, i] for i in range(5))
    excluded = t.join(excluded_codes(contracts).with_columns(pl.lit(True).alias("__x")),
                      on=["client_id", "close_code"], how="left",
                      maintain_order="left")["__x"].fill_null(False).to_numpy()
    n = t.height
    a = as_of[cidx]
    created = epoch_us(t["created_at"])
    if clock is None:
        clock = build_clock(contracts, scope, int(created.min()) if n else int(scope.as_of.min()))
    for target, days in ((resp_minutes, resp_days), (res_minutes, res_days)):  # `bd` targets, per ticket
        for c in np.unique(cidx[days > 0]):
            rows = np.flatnonzero((cidx == c) & (days > 0))
            target[rows] = business_days_target(days[rows].astype(np.int64), created[rows],
                                                 contracts[scope.clients[c]], _date(clock.start),
                                                 _date(clock.start + clock.width - 1))
    lane = 2 * cidx + kind.astype(np.int64)
    resp_target = np.rint(resp_minutes * MINUTE).astype(np.int64)
    res_target = np.rint(res_minutes * MINUTE).astype(np.int64)
    first_resp, resolved = epoch_us(t["first_response_at"]), epoch_us(t["resolved_at"])

    # Response: the first response known by the period end, else a resolution known by then.
    finished = resolved < a
    response_at = np.where(first_resp < a, first_resp, np.where(finished, resolved, NEVER))
    responded = response_at < a
    f_created = clock.position(lane, created)
    response_us = np.where(responded, clock.position(lane, np.where(
        responded, np.maximum(response_at, created), created)) - f_created, 0)
    response_due = clock.instant(lane, f_created + resp_target)
    response_status, response_decided = _decide(responded, response_us <= resp_target,
                                                response_due < a, excluded)

    # Resolution: running time over the status history up to the stop (resolution or period end).
    stop = np.where(finished, resolved, a)
    h = history(t, cidx, created, events, contracts, scope)
    row_stop = stop[h.ticket]
    seg_start = np.minimum(h.at, row_stop)
    f_start = clock.position(lane[h.ticket], seg_start)
    f_stop = clock.position(lane, stop)
    last = np.append(h.ticket[1:] != h.ticket[:-1], True)
    f_next = np.where(last, f_stop[h.ticket], np.append(f_start[1:], 0))
    running = (h.cls == RUN) | (h.cls == PROGRESS)
    run_us = np.where(running, f_next - f_start, 0)
    del f_next, seg_start  # the per-event arrays are large: free them as soon as possible
    total = np.cumsum(run_us)
    base = total[h.first_row] - run_us[h.first_row]
    before = total - run_us - base[h.ticket]
    run_total = total[h.first_row + np.diff(np.append(h.first_row, len(h.ticket))) - 1] - base
    target_rows = res_target[h.ticket]
    cross = running & (before < target_rows) & (before + run_us >= target_rows)
    resolution_due = np.full(n, NEVER, np.int64)
    rows = np.flatnonzero(cross)
    resolution_due[h.ticket[rows]] = clock.instant(
        lane[h.ticket[rows]], f_start[rows] + target_rows[rows] - before[rows])
    del total, before, target_rows, cross, f_start, run_us
    # Not reached in the known intervals: the clock keeps running after a resolution or when
    # the ticket runs at the period end; a ticket paused then has no due time yet.
    known = h.at < row_stop
    last_known = h.first_row + np.bincount(h.ticket[known], minlength=n) - 1
    keeps_running = finished | np.isin(h.cls[last_known], (RUN, PROGRESS))
    extend = (resolution_due == NEVER) & keeps_running
    resolution_due[extend] = clock.instant(lane[extend], f_stop[extend] + res_target[extend]
                                           - run_total[extend])
    resolution_status, resolution_decided = _decide(finished, run_total <= res_target,
                                                    resolution_due < a, excluded)

    # In progress: first entry into an in-progress status before the period end.
    prog = np.flatnonzero((h.cls == PROGRESS) & (h.at < row_stop))
    first_prog = prog[np.append(True, h.ticket[prog][1:] != h.ticket[prog][:-1])] if len(prog) else prog
    in_progress = np.full(n, NEVER, np.int64)
    in_progress[h.ticket[first_prog]] = h.at[first_prog]
    has_prog = in_progress != NEVER
    in_progress_us = np.where(has_prog, clock.position(lane, np.where(has_prog, in_progress, created))
                              - f_created, 0)
    reopen = (h.cls[:-1] == RESOLVED) & (h.cls[1:] != RESOLVED) & ~last[:-1] & (h.at[1:] < row_stop[1:])
    reopens = np.bincount(h.ticket[1:][reopen], minlength=n)
    del h, row_stop, known, last, running, reopen

    months = scope.months
    decided_at = {
        "response_month": np.where(response_status == 0, response_at, response_due),
        "resolution_month": np.where(resolution_status == 0, resolved, resolution_due),
    }
    month_of = {
        "created_month": months.index(cidx, created),
        "resolved_month": months.index(cidx, np.where(finished, resolved, NEVER)),
        "in_progress_month": months.index(cidx, in_progress),
        "response_month": np.where(response_decided, months.index(cidx, decided_at["response_month"]), -1),
        "resolution_month": np.where(resolution_decided,
                                     months.index(cidx, decided_at["resolution_month"]), -1),
    }
    labels = pl.Series(months.labels, dtype=pl.String)
    status_names = pl.Series(STATUSES)
    out = t.select("ticket_id", "client_id", "priority").with_columns(
        calendar=pl.Series(["business", "24x7"]).gather(pl.Series(kind.astype(np.int64))),
        created_at=t["created_at"],
        first_response_at=stamp(np.where(first_resp < a, first_resp, NEVER)),
        in_progress_at=stamp(in_progress),
        resolved_at=stamp(np.where(finished, resolved, NEVER)),
        close_code=t["close_code"],
        response_minutes=minutes(response_us, responded),
        response_target_minutes=pl.Series(resp_minutes),
        response_due_at=stamp(response_due),
        response_status=status_names.gather(pl.Series(response_status)),
        in_progress_minutes=minutes(in_progress_us, has_prog),
        resolution_minutes=minutes(run_total, finished),
        resolution_target_minutes=pl.Series(res_minutes),
        resolution_due_at=stamp(resolution_due),
        resolution_status=status_names.gather(pl.Series(resolution_status)),
        paused_minutes=minutes(f_stop - f_created - run_total, np.ones(n, bool)),
        calendar_resolution_minutes=minutes(resolved - created, finished),
        **{name: _labels(pos, labels) for name, pos in month_of.items()},
        history_reopens=pl.Series(reopens, dtype=pl.Int32),
    )
    return out.select(TICKET_SLA_COLUMNS)


def _decide(done: np.ndarray, in_time: np.ndarray, overdue: np.ndarray,
            excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Status codes (positions in STATUSES) per ticket, and whether it is decided (met or breached)."""
    met = done & in_time
    breached = (done & ~in_time) | (~done & overdue)
    status = np.full(len(done), 2, np.int64)  # pending
    status[breached] = 1
    status[met] = 0
    status[excluded] = 3
    return status, (met | breached) & ~excluded


def _where(values: pl.Series, ok: np.ndarray) -> pl.Series:
    """values where ok, else null."""
    return pl.select(pl.when(pl.lit(pl.Series(ok, dtype=pl.Boolean))).then(pl.lit(values))).to_series()


def minutes(us: np.ndarray, ok: np.ndarray) -> pl.Series:
    """Microseconds -> float minutes (not rounded), null where not ok."""
    return _where(pl.Series(us / MINUTE, dtype=pl.Float64), ok)


def stamp(us: np.ndarray) -> pl.Series:
    """int64 µs (NEVER = none) -> UTC timestamps."""
    return _where(pl.Series(us, dtype=pl.Int64), us != NEVER).cast(UTC_TS)


def _labels(position: np.ndarray, labels: pl.Series) -> pl.Series:
    """Month positions (-1 = none) -> 'YYYY-MM' labels."""
    if not len(labels):
        return pl.Series([None] * len(position), dtype=pl.String)
    gathered = labels.gather(pl.Series(np.maximum(position, 0), dtype=pl.Int64))
    return _where(gathered, position >= 0)


# ---------------------------------------------------------------- month-end snapshots


def month_end_status(ticket_sla: pl.DataFrame, events: pl.DataFrame | None,
                     contracts: dict[str, Contract], scope: Scope) -> pl.DataFrame:
    """Tickets open at the end of each month (ticket_id, client_id, month, waiting).

    Open = created before the month end and, per the status history, not in a resolved
    status then (and not finally resolved by then). `waiting` = in a pause status at the
    month end; null when there is no status history.
    """
    months = scope.months
    cidx = scope.client_index(ticket_sla["client_id"])
    created = epoch_us(ticket_sla["created_at"])
    resolved = epoch_us(ticket_sla["resolved_at"])
    first = months.index(cidx, created)
    last = np.where(resolved != NEVER, months.index(cidx, resolved), months.count)
    span = np.maximum(last - first, 0)
    pair_t = np.repeat(np.arange(len(created)), span)
    pair_m = np.arange(len(pair_t)) - np.repeat(np.cumsum(span) - span, span) + first[pair_t]
    month_end = months.bounds[cidx[pair_t], pair_m + 1]
    frame = pl.DataFrame({"__t": pair_t, "__m": pair_m})
    if events is None:
        return _snapshot_frame(ticket_sla, frame.with_columns(waiting=pl.lit(None, pl.Boolean)), months)
    cand = np.unique(pair_t)
    sub = ticket_sla[cand]
    h = history(sub, cidx[cand], created[cand], events, contracts, scope)
    # Sorted (ticket, second) keys: floor(at) < month end <=> at < month end (ends are whole seconds).
    origin = int(created.min()) // 1_000_000 if len(created) else 0
    key = (h.ticket << 32) + (h.at // 1_000_000 - origin)
    local = np.searchsorted(cand, pair_t)
    row = np.searchsorted(key, (local << 32) + (month_end // 1_000_000 - origin), side="left") - 1
    state = h.cls[row]
    frame = frame.with_columns(
        __open=pl.Series(state != RESOLVED), waiting=pl.Series(state == PAUSE)
    ).filter(pl.col("__open")).drop("__open")
    return _snapshot_frame(ticket_sla, frame, months)


def _snapshot_frame(ticket_sla: pl.DataFrame, pairs: pl.DataFrame, months: Months) -> pl.DataFrame:
    ids = ticket_sla.select("ticket_id", "client_id")
    return pairs.select(
        ids["ticket_id"].gather(pairs["__t"]).alias("ticket_id"),
        ids["client_id"].gather(pairs["__t"]).alias("client_id"),
        _labels(pairs["__m"].to_numpy(), pl.Series(months.labels)).alias("month"),
        pl.col("waiting"),
    )
