"""Per-ticket SLA: response and resolution clocks, due times and met / breached / pending.

Everything is evaluated AS OF an instant: the end of the report period (the end of the period
month in each client's zone), or any earlier month end (`pipelines.metrics.month_ends`).
Anything recorded at or after it is not yet known, and a later change of a ticket's fields
(a reopen, a close code, a new priority) is undone by reading its status history:

- Resolved: the ticket's resolution when it lies before the as-of; else, when the status
  history shows it in a resolved status then, the moment it entered that status (a later
  reopen is not yet known). The first resolution is the first entry into a resolved status.
- Response clock: created -> first response (or the first resolution when there is no first
  response); it never pauses.
- Resolution clock: created -> resolution, counting only running time: time in a pause
  status and time in a resolved status before a reopen do not count. The status history
  gives the intervals; no history = one running interval.
- Priority: the one named by the last event before the as-of that names one, applied from
  creation (a retroactive start); else the ticket's.
- Due time: the instant the clock reaches the target on the priority's calendar,
  given the pauses (after the last known moment the clock is assumed to keep
  running; a ticket paused at period end without reaching its target has none).
- A target belongs to the month it is decided in: the month of the response /
  resolution when met, of the due time when breached; not decided = pending. A ticket
  closed with an excluded close code is `excluded` from the moment of that close (its
  resolution, else its close time; always, when it has neither).

`evaluate` is pure: frames and contracts in, the ticket_sla frame out; `assess` adds what the
monthly KPIs need beyond it (resolution instants, when each ticket last changed).
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
from pipelines.metrics.history import PROGRESS, RESOLVED, RUN, TicketEvents, history

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
    "responded_month", "excluded_month",
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
        return position_labels(pos, pl.Series(self.months.labels, dtype=pl.String))


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


def excluded_codes(contracts: dict[str, Contract]) -> pl.DataFrame:
    """(client_id, close_code) pairs whose tickets are excluded from SLA, per contract."""
    rows = [(c, code) for c, k in contracts.items() for code in k.excluded_close_codes]
    return pl.DataFrame(rows, schema={"client_id": pl.String, "close_code": pl.String}, orient="row")


@dataclass(frozen=True)
class Assessment:
    """ticket_sla and what the monthly KPIs need beyond it, per ticket_sla row."""

    ticket_sla: pl.DataFrame
    rows: np.ndarray  # position of each ticket_sla row in the tickets frame given
    resolved_row: np.ndarray  # each resolution before the as-of (not a close as excluded):
    resolved_time: np.ndarray  # its ticket_sla row and instant (UTC µs)
    changed_at: np.ndarray  # UTC µs of the ticket's last recorded change; NEVER while unresolved


def evaluate(tickets: pl.DataFrame, events: pl.DataFrame | None, contracts: dict[str, Contract],
             scope: Scope, clock: Clock | None = None) -> pl.DataFrame:
    """ticket_sla: one row per ticket created before the period end (columns in TICKET_SLA_COLUMNS)."""
    return assess(tickets, events, contracts, scope, clock).ticket_sla


def assess(tickets: pl.DataFrame, events: pl.DataFrame | TicketEvents | None, contracts: dict[str, Contract],
           scope: Scope, clock: Clock | None = None, as_of: np.ndarray | None = None,
           base_rows: np.ndarray | None = None) -> Assessment:
    """`evaluate` with its extras; `as_of` (UTC µs per ticket row) replaces each client's
    period end (a ticket may then appear more than once, as of different instants).
    `events` joined to a tickets frame already (`TicketEvents`): `base_rows` are the given
    tickets' rows in that frame (default: it is that frame)."""
    cidx_all = scope.client_index(tickets["client_id"])
    if np.any(cidx_all < 0):
        bad = tickets.filter(pl.Series(cidx_all < 0))["client_id"][0]
        raise ValueError(f"tickets: client_id {bad!r} has no contract (expected contracts/{bad}.yml)")
    a_all = scope.as_of[cidx_all] if as_of is None else np.asarray(as_of, np.int64)
    keep = epoch_us(tickets["created_at"]) < a_all
    rows = np.flatnonzero(keep)
    t = tickets.filter(pl.Series(keep))
    cidx, a = cidx_all[keep], a_all[keep]
    n = t.height
    created = epoch_us(t["created_at"])
    h = history(t, cidx, created, events, contracts, scope.clients,
                (np.arange(tickets.height, dtype=np.int64) if base_rows is None else np.asarray(base_rows))[keep])

    # The priority in force at the as-of (the history's, else the ticket's), from creation.
    given = t["priority"].replace_strict({p: i for i, p in enumerate(PRIORITIES)}, default=-1,
                                         return_dtype=pl.Int64).to_numpy()
    named = h.priority_at(a)
    prio = np.where(named >= 0, named, given)
    tab = _target_table(contracts, scope)
    found = (prio >= 0) & (tab[cidx, np.maximum(prio, 0), 5] == 1)
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        row = t.row(i, named=True)
        value = PRIORITIES[prio[i]] if prio[i] >= 0 else row["priority"]
        raise ValueError(f"tickets: ticket {row['ticket_id']}: priority {value!r} has no "
                         f"target in contracts/{row['client_id']}.yml (sla)")
    resp_minutes, res_minutes, kind, resp_days, res_days = (tab[cidx, prio, i] for i in range(5))

    # Closed with an excluded code: from the moment of that close (never known: always).
    final = epoch_us(t["resolved_at"])
    closed = epoch_us(t["closed_at"]) if "closed_at" in t.columns else np.full(n, NEVER, np.int64)
    close_moment = np.where(final != NEVER, final, closed)
    closed_known = (close_moment < a) | (close_moment == NEVER)
    code_excluded = t.join(excluded_codes(contracts).with_columns(pl.lit(True).alias("__x")),
                           on=["client_id", "close_code"], how="left",
                           maintain_order="left")["__x"].fill_null(False).to_numpy()
    excluded = code_excluded & closed_known

    if clock is None:
        clock = build_clock(contracts, scope, int(created.min()) if n else int(scope.as_of.min()))
    for target, days in ((resp_minutes, resp_days), (res_minutes, res_days)):  # `bd` targets, per ticket
        for c in np.unique(cidx[days > 0]):
            sel = np.flatnonzero((cidx == c) & (days > 0))
            target[sel] = business_days_target(days[sel].astype(np.int64), created[sel],
                                                 contracts[scope.clients[c]], _date(clock.start),
                                                 _date(clock.start + clock.width - 1))
    lane = 2 * cidx + kind.astype(np.int64)
    resp_target = np.rint(resp_minutes * MINUTE).astype(np.int64)
    res_target = np.rint(res_minutes * MINUTE).astype(np.int64)
    first_resp = epoch_us(t["first_response_at"])

    # Resolved as of a: the resolution when known by then, else the history's resolved status.
    resolved = np.where(final < a, final, h.resolved_at(a))
    finished = resolved < a
    entries = h.entries()
    entries = entries[h.at[entries] < a[h.ticket[entries]]]
    first_resolution = np.minimum(h.first(entries, a), resolved)

    # For the monthly KPIs: every resolution before the as-of (the history's, and the resolution
    # unless it is the history's last), not the close as excluded; and the ticket's last
    # recorded change (NEVER while unresolved: time alone changes it).
    extra = finished & (h.last(entries, a) != resolved)
    resolved_time = np.concatenate([h.at[entries], resolved[extra]])
    resolved_row = np.concatenate([h.ticket[entries], np.flatnonzero(extra)])
    counts = ~(code_excluded[resolved_row] & (close_moment[resolved_row] <= resolved_time))
    resolved_row, resolved_time = resolved_row[counts], resolved_time[counts]
    latest = np.maximum.reduce([created, h.last_at(), *[np.where(x == NEVER, created, x)
                                                         for x in (first_resp, final, closed)]])
    changed = np.where(finished, latest, NEVER)
    del entries, latest, counts, extra

    # Response: the first response known by the as-of, else the first resolution known by then.
    response_at = np.where(first_resp < a, first_resp, first_resolution)
    responded = response_at < a
    f_created = clock.position(lane, created)
    response_us = np.where(responded, clock.position(lane, np.where(
        responded, np.maximum(response_at, created), created)) - f_created, 0)
    response_due = clock.instant(lane, f_created + resp_target)
    response_status, response_decided = _decide(responded, response_us <= resp_target,
                                                response_due < a, excluded)

    # Resolution: running time over the status history up to the stop (resolution or as-of).
    stop = np.where(finished, resolved, a)
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
    hit = np.flatnonzero(cross)
    resolution_due[h.ticket[hit]] = clock.instant(
        lane[h.ticket[hit]], f_start[hit] + target_rows[hit] - before[hit])
    del total, before, target_rows, cross, f_start, run_us
    # Not reached in the known intervals: the clock keeps running after a resolution or when
    # the ticket runs at the period end; a ticket paused then has no due time yet.
    last_known = h.last_before(stop)
    keeps_running = finished | np.isin(h.cls[last_known], (RUN, PROGRESS))
    extend = (resolution_due == NEVER) & keeps_running
    resolution_due[extend] = clock.instant(lane[extend], f_stop[extend] + res_target[extend]
                                           - run_total[extend])
    resolution_status, resolution_decided = _decide(finished, run_total <= res_target,
                                                    resolution_due < a, excluded)

    # In progress: first entry into an in-progress status before the as-of (even at the
    # instant of the resolution).
    in_progress = h.first(np.flatnonzero(h.cls == PROGRESS), a)
    has_prog = in_progress != NEVER
    in_progress_us = np.where(has_prog, clock.position(lane, np.where(has_prog, in_progress, created))
                              - f_created, 0)
    reopen = (h.cls[:-1] == RESOLVED) & (h.cls[1:] != RESOLVED) & ~last[:-1] & (h.at[1:] < row_stop[1:])
    reopens = np.bincount(h.ticket[1:][reopen], minlength=n)
    del h, row_stop, last, running, reopen

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
        "responded_month": months.index(cidx, np.where(responded, response_at, NEVER)),
        "excluded_month": np.where(excluded, months.index(
            cidx, np.where(close_moment == NEVER, created, close_moment)), -1),
    }
    labels = pl.Series(months.labels, dtype=pl.String)
    status_names = pl.Series(STATUSES)
    out = t.select("ticket_id", "client_id").with_columns(
        priority=pl.Series(PRIORITIES).gather(pl.Series(prio)),
        calendar=pl.Series(["business", "24x7"]).gather(pl.Series(kind.astype(np.int64))),
        created_at=t["created_at"],
        first_response_at=stamp(np.where(first_resp < a, first_resp, NEVER)),
        in_progress_at=stamp(in_progress),
        resolved_at=stamp(np.where(finished, resolved, NEVER)),
        close_code=_where(t["close_code"], closed_known),
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
        **{name: position_labels(pos, labels) for name, pos in month_of.items()},
        history_reopens=pl.Series(reopens, dtype=pl.Int32),
    )

    return Assessment(out.select(TICKET_SLA_COLUMNS), rows, resolved_row, resolved_time, changed)


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


def position_labels(position: np.ndarray, labels: pl.Series) -> pl.Series:
    """Month positions (-1 = none) -> 'YYYY-MM' labels."""
    if not len(labels):
        return pl.Series([None] * len(position), dtype=pl.String)
    gathered = labels.gather(pl.Series(np.maximum(position, 0), dtype=pl.Int64))
    return _where(gathered, position >= 0)
