"""An independent, slow reference for the SLA clock: plain Python, day by day, zoneinfo.

It shares no code with pipelines.core.business_time / pipelines.metrics.sla: business time is
the sum, over each local day, of the overlap of [a, b) with that day's windows,
each boundary turned into an instant by zoneinfo (a wall time skipped by a DST
change moves forward minute by minute to the first one that exists; a repeated
one takes its first occurrence).

A ticket is read as it stood at `as_of` by walking its events in time order (ties keep
their given order): the resolution, the first resolution, the priority in force and whether
its close code applied yet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_pkg

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    while True:
        aware = wall.replace(tzinfo=zone, fold=0)
        back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back == wall:
            return aware.astimezone(UTC)
        wall += timedelta(minutes=1)


def day_windows(contract, day: date) -> list[tuple[datetime, datetime]]:
    h = contract.holidays
    off = set(h.extra)
    if h.country:
        off |= set(holidays_pkg.country_holidays(h.country, subdiv=h.subdivision, years=day.year))
    if day in off:
        return []
    zone = ZoneInfo(contract.timezone)
    out = []
    for begin, end in contract.business_hours.get(DAYS[day.weekday()], []):
        start = wall_to_utc(datetime.combine(day, begin), zone)
        stop = wall_to_utc(datetime.combine(day + timedelta(days=1), time()), zone) if end == time.max \
            else wall_to_utc(datetime.combine(day, end), zone)
        if stop > start:
            out.append((start, stop))
    return out


def business_seconds(contract, calendar: str, a: datetime, b: datetime) -> float:
    if b <= a:
        return 0.0
    if calendar == "24x7":
        return (b - a).total_seconds()
    zone = ZoneInfo(contract.timezone)
    total = 0.0
    day = a.astimezone(zone).date() - timedelta(days=1)
    while day <= b.astimezone(zone).date() + timedelta(days=1):
        for s, e in day_windows(contract, day):
            total += max(0.0, (min(e, b) - max(s, a)).total_seconds())
        day += timedelta(days=1)
    return total


def add_business(contract, calendar: str, a: datetime, seconds: float) -> datetime:
    """The instant at which `seconds` (> 0) of business time after a have passed."""
    if calendar == "24x7":
        return a + timedelta(seconds=seconds)
    zone = ZoneInfo(contract.timezone)
    left = seconds
    day = a.astimezone(zone).date() - timedelta(days=1)
    while True:
        for s, e in day_windows(contract, day):
            s = max(s, a)
            if e <= s:
                continue
            span = (e - s).total_seconds()
            if span >= left:
                return s + timedelta(seconds=left)
            left -= span
        day += timedelta(days=1)


def target_minutes(contract, target, name: str, created: datetime) -> float:
    """A target in minutes; `Nbd`: the business time of the N business days after the logged day."""
    if target.minutes(name) is not None:
        return target.minutes(name)
    day, found, total = created.astimezone(ZoneInfo(contract.timezone)).date(), 0, 0.0
    while found < target.business_days(name):
        day += timedelta(days=1)
        windows = day_windows(contract, day)
        if windows:
            found += 1
            total += sum((e - s).total_seconds() for s, e in windows)
    return total / 60


def month_of(t: datetime, zone: str) -> str:
    return t.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def as_it_stood(contract, row: dict, events: list[tuple], as_of: datetime) -> dict:
    """The ticket's state at as_of: priority, excluded, resolved, first resolution, in progress."""
    created = row["created_at"]
    done = set(contract.statuses.resolved)
    known = [(max(e[0], created), e[1], e[2] if len(e) > 2 else None)
             for e in sorted(events, key=lambda e: e[0]) if e[0] < as_of]  # stable: ties keep order
    named = [p for _, _, p in known if p]
    moment = row.get("resolved_at") or row.get("closed_at")
    entries = [at for i, (at, s, _) in enumerate(known) if s in done and (i == 0 or known[i - 1][1] not in done)]
    resolved = row.get("resolved_at")
    if resolved is None or resolved >= as_of:
        resolved = entries[-1] if known and known[-1][1] in done else None
    firsts = [t for t in (entries[0] if entries else None, resolved) if t is not None]
    started = [at for at, s, _ in known if s in contract.statuses.in_progress]
    return {
        "priority": named[-1] if named else row["priority"],
        "excluded": row.get("close_code") in contract.excluded_close_codes
        and (moment is None or moment < as_of),
        "resolved": resolved,
        "first_resolution": min(firsts) if firsts else None,
        "in_progress_at": started[0] if started else None,
    }


def ticket(contract, row: dict, events: list[tuple], as_of: datetime) -> dict:
    """The ticket_sla fields for one ticket, as of `as_of`, by walking its history; events are
    (at, status) or (at, status, priority) in file order."""
    stood = as_it_stood(contract, row, events, as_of)
    target = contract.sla[stood["priority"]]
    cal = target.calendar
    created = row["created_at"]
    excluded = stood["excluded"]
    resolved = stood["resolved"]
    first = row.get("first_response_at")
    response_at = first if first is not None and first < as_of else stood["first_resolution"]
    out = {"ticket_id": row["ticket_id"], "priority": stood["priority"], "in_progress_at": stood["in_progress_at"]}

    # response
    due = add_business(contract, cal, created, target_minutes(contract, target, "response", created) * 60)
    if response_at is not None:
        minutes = business_seconds(contract, cal, created, max(response_at, created)) / 60
        met = minutes <= target_minutes(contract, target, "response", created)
        out["response_status"] = "met" if met else "breached"
        month = month_of(response_at if met else due, contract.timezone)
        out["response_minutes"] = minutes
    else:
        out["response_minutes"] = None
        out["response_status"] = "breached" if due < as_of else "pending"
        month = month_of(due, contract.timezone) if due < as_of else None
    out["response_due_at"] = due
    if excluded:
        out["response_status"], month = "excluded", None
    out["response_month"] = month

    # resolution: walk the history
    stop = resolved or as_of
    pause = set(contract.statuses.pause) | set(contract.statuses.resolved)
    intervals, state, since = [], "run", created
    for at, status, *_ in sorted(events, key=lambda e: e[0]):  # stable: ties keep their order
        at = max(at, created)
        if at >= stop:
            break
        if state == "run" and at > since:
            intervals.append((since, at))
        state, since = ("pause" if status in pause else "run"), at
    running_at_stop = state == "run"
    if running_at_stop and stop > since:
        intervals.append((since, stop))
    running = sum(business_seconds(contract, cal, a, b) for a, b in intervals)
    elapsed = business_seconds(contract, cal, created, stop)
    out["paused_minutes"] = (elapsed - running) / 60
    need, due = target_minutes(contract, target, "resolution", created) * 60, None
    for a, b in intervals:
        span = business_seconds(contract, cal, a, b)
        if span >= need:
            due = add_business(contract, cal, a, need)
            break
        need -= span
    if due is None and (resolved is not None or running_at_stop):
        due = add_business(contract, cal, stop, need)
    out["resolution_due_at"] = due
    if resolved is not None:
        out["resolution_minutes"] = running / 60
        met = running / 60 <= target_minutes(contract, target, "resolution", created)
        out["resolution_status"] = "met" if met else "breached"
        month = month_of(resolved if met else due, contract.timezone)
    else:
        out["resolution_minutes"] = None
        late = due is not None and due < as_of
        out["resolution_status"] = "breached" if late else "pending"
        month = month_of(due, contract.timezone) if late else None
    if excluded:
        out["resolution_status"], month = "excluded", None
    out["resolution_month"] = month
    return out
