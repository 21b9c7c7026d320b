"""Tickets and their status histories for the sample, vectorised per client.

`client_tickets` draws one client's tickets (when, what, who, priority, close code,
escalations, pauses, reopens), places every status change on the contract's clock
(`_timeline`), cuts each life at the data end and returns the tickets and ticket_events
frames plus the arrays the other tables (`pipelines.ingest.sample.operations`) build on.
No per-ticket Python loops: a client with 50,000 tickets takes well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.core.contracts import PRIORITIES, Contract
from pipelines.ingest.sample import categories, story
from pipelines.ingest.sample.calendar import (
    DAY,
    HOUR,
    MINUTE,
    BusinessClock,
    Period,
    local_to_utc,
    week_table,
    weekday,
)

KINDS = ("user", "monitoring", "maintenance")
STATUSES = ("New", "Assigned", "In Progress", "Waiting on Customer", "Waiting on Vendor",
            "Resolved", "Closed")  # fmt: skip
# Event slots of a ticket's life, in order; a slot is present or not per ticket.
SLOTS = ("new", "assigned", "in_progress", "paused", "resumed", "resolved", "reopened",
         "re_resolved", "closed")  # fmt: skip
CLOSE_CODE_SHARES = (("merged", 0.014), ("duplicate", 0.009), ("cancelled", 0.008))


@dataclass
class ClientPlan:
    """One client ready to generate: its profile, contract, random stream and daily rates."""

    index: int
    profile: story.ClientProfile
    contract: Contract
    rng: np.random.Generator
    lam: dict[str, np.ndarray]  # expected tickets per local day, by kind
    severity: np.ndarray  # per month: 0 healthy, 1 fully degraded
    survey_rng: np.random.Generator  # surveys' own stream: their changes leave other tables be


def degraded_months(months: int) -> tuple[int, int]:
    """[first, stop) month indexes of the degraded stretch: months 8-10 of 13, scaled."""
    first = max(1, round(months * 7 / 13))
    return first, min(months, first + max(1, round(months * 3 / 13)))


def _arrival_cdf(contract: Contract) -> np.ndarray:
    """(7, 1440) cumulative arrival probability per weekday: busy in business hours, a
    morning peak, a post-lunch bump, a quiet last hour and a trickle at night."""
    table = week_table(contract)
    weights = np.full((7, 1440), 0.015)
    weights[:, 6 * 60 : 8 * 60] = 0.05
    weights[:, 18 * 60 : 22 * 60] = 0.05
    generic = np.zeros(1440, dtype=bool)
    generic[9 * 60 : 17 * 60] = True
    for day in range(7):
        minutes = np.flatnonzero(table[day] if table[day].any() else generic)
        shape = np.ones(len(minutes))
        since_open = minutes - minutes[0]
        shape[(since_open >= 45) & (since_open < 180)] = 1.6
        shape[(minutes >= 13 * 60) & (minutes < 14 * 60 + 30)] *= 1.2
        shape[minutes >= minutes[-1] - 60] *= 0.6
        weights[day, minutes] = shape
    cdf = np.cumsum(weights, axis=1)
    return cdf / cdf[:, -1:]


def client_tickets(c: ClientPlan, per: Period, scale: float) -> dict:
    """One client's tickets and status events (frames) with the per-ticket arrays behind them;
    `scale` multiplies the expected volume (the `--tickets` option)."""
    rng, contract = c.rng, c.contract
    zone = contract.timezone
    days = per.day_numbers()
    month_of_day = np.searchsorted(per.month_start_days(), days, side="right") - 1

    # When: a Poisson count per day and origin, a minute from the weekday's arrival curve.
    counts = [rng.poisson(c.lam[k] * scale) for k in KINDS]
    day_idx = np.concatenate([np.repeat(np.arange(len(days)), n) for n in counts])
    kind = np.concatenate([np.full(n.sum(), k) for k, n in enumerate(counts)])
    wd = weekday(days[day_idx])
    flat = (_arrival_cdf(contract) + np.arange(7)[:, None]).ravel()
    minute = np.clip(
        np.searchsorted(flat, wd + rng.random(len(kind)), side="right") - wd * 1440, 0, 1439
    )
    minute = np.where(kind == 1, rng.integers(0, 1440, len(kind)), minute)  # alerts: any time
    local = (days[day_idx] * 1440 + minute) * MINUTE + rng.integers(0, 60, len(kind))
    created = local_to_utc(local, zone)
    order = np.argsort(created, kind="stable")
    created, kind, month = created[order], kind[order], month_of_day[day_idx][order]
    n = len(created)
    sev = c.severity[month]

    # Who and what.
    cast = _cast(c)
    cats = categories.CATEGORIES
    pools, available = _asset_pools(cats, cast)
    cat = np.zeros(n, dtype=np.int64)
    for k in range(3):
        weight = np.array([x.weights[k] for x in cats]) * available
        mask = kind == k
        cat[mask] = rng.choice(len(cats), size=mask.sum(), p=weight / weight.sum())
    requester = np.where(
        kind == 0, rng.choice(len(cast["staff"]), size=n, p=cast["staff_weight"]), -1
    )
    title_count = np.array([len(x.titles) for x in cats])
    title = (rng.random(n) * title_count[cat]).astype(np.int64)
    asset = _pick_assets(rng, cats, cat, kind, requester, pools, cast)

    # A recurring problem: the same issue on the same asset again within two weeks.
    repeat = rng.random(n) < 0.06 + 0.08 * sev
    source_row = np.arange(n) - rng.integers(1, 40, n)
    repeat &= (source_row >= 0) & (kind == kind[np.maximum(source_row, 0)])
    repeat &= created - created[np.maximum(source_row, 0)] <= 14 * DAY
    _copy_issue(repeat, source_row, cat, title, asset, requester)

    # Merged / duplicate / cancelled: reported twice, or withdrawn.
    u = rng.random(n)
    code = np.zeros(n, dtype=np.int64)  # 0 resolved, 1 merged, 2 duplicate, 3 cancelled
    edge = 0.0
    for k, (_, share) in enumerate(CLOSE_CODE_SHARES, start=1):
        code[(u >= edge) & (u < edge + share)] = k
        edge += share
    parent = np.arange(n) - rng.integers(1, 6, n)
    code[(code == 1) & (parent < 0)] = 3
    _copy_issue((code == 1) | (code == 2) & (parent >= 0), parent, cat, title, asset, requester)

    mix = np.cumsum(np.array([categories.PRIORITY_MIX[x.priority] for x in cats]), axis=1)
    prio = (rng.random(n)[:, None] > mix[cat][:, :3]).sum(axis=1)
    resolved_code = code == 0

    # Escalations, reassignments, pauses and reopens; worse while the client is degraded.
    u = rng.random(n)
    level = 1 + (u < 0.13 + 0.10 * (prio <= 1) + 0.10 * sev) + (u < 0.035 + 0.03 * (prio == 0))
    level = np.where(resolved_code, level, 1)
    reassign = np.where(resolved_code, rng.poisson(0.12 + 0.55 * (level - 1) + 0.5 * sev), 0)
    is_request = np.array([x.type == "request" for x in cats])[cat]
    pause = resolved_code & (rng.random(n) < 0.10 + 0.08 * is_request)
    vendor = pause & (rng.random(n) < 0.15)
    reopen = resolved_code & (rng.random(n) < 0.045 + 0.11 * sev)
    touches = 1 + rng.poisson(0.2 + 0.9 * (level - 1) + 0.6 * reassign + 1.2 * reopen + 1.0 * pause)
    touches = np.where(resolved_code, touches, 1)

    source = np.where(
        kind == 0,
        rng.choice(len(categories.USER_SOURCES), n, p=categories.USER_SOURCE_MIX),
        len(categories.USER_SOURCES) + kind - 1,
    )
    draw = {
        "n": n,
        "created": created,
        "kind": kind,
        "month": month,
        "cast": cast,
        "cat": cat,
        "title": title,
        "asset": asset,
        "requester": requester,
        "source": source,
        "code": code,
        "parent": parent,
        "prio": prio,
        "level": level,
        "reassign": reassign,
        "vendor": vendor,
        "touches": touches,
        "assignee": _assignees(rng, cast, month, level),
        "times": _timeline(c, per, created, prio, level, sev, code, pause, vendor, reopen),
    }
    return _ticket_frames(c, per, draw)


def _cast(c: ClientPlan) -> dict:
    """People and devices of one client: staff, their computers, infrastructure, the team."""
    rng, profile = c.rng, c.profile
    seats = profile.seats
    staff = story.staff_names(rng, seats)
    weight = rng.lognormal(0, 0.8, seats)
    laptops = rng.random(seats) < 0.7
    devices, kinds = [], []
    numbers = {"LT": 0, "DT": 0}
    for is_laptop in laptops:
        kind = "LT" if is_laptop else "DT"
        numbers[kind] += 1
        devices.append(f"{profile.prefix}-{kind}-{numbers[kind]:03d}")
        kinds.append(kind)
    for kind, count in story.DEVICE_KINDS.items():
        for k in range(1, count(seats) + 1):
            devices.append(f"{profile.prefix}-{kind}-{k:03d}")
            kinds.append(kind)
    first, stop = degraded_months(len(c.severity))
    degraded = bool(c.severity.any())
    team = list(rng.choice(story.ENGINEERS, size=3 + seats // 50, replace=False))
    if degraded:
        team = [story.DEPARTING_ENGINEER, *team[1:], story.REPLACEMENT_ENGINEER]
    months = len(c.severity)
    share = np.zeros((months, len(team)))
    share[:, 0] = 0.45
    others = len(team) - 1 - degraded
    share[:, 1 : 1 + others] = 0.55 / others
    if degraded:
        share[first:, 0] = 0.0
        share[stop:, -1] = 0.3
    lob = next((s for s in profile.services if s not in {"email", "internet", "VoIP"}), "the CRM")
    return {
        "staff": staff,
        "staff_weight": weight / weight.sum(),
        "devices": np.array(devices),
        "device_kinds": np.array(kinds),
        "team": np.array(team),
        "team_share": share / share.sum(axis=1, keepdims=True),
        "lob": lob,
    }


def _asset_pools(cats, cast) -> tuple[list[np.ndarray], np.ndarray]:
    """Device indexes each category can be about; a category with no device is unavailable."""
    pools, available = [], []
    user = np.flatnonzero(np.isin(cast["device_kinds"], ["LT", "DT"]))
    for cat in cats:
        kinds = [k for k in cat.asset.split("|") if k]
        pool = np.flatnonzero(np.isin(cast["device_kinds"], kinds))
        if "user" in kinds:
            pool = np.union1d(pool, user)
        pools.append(pool)
        available.append(not kinds or len(pool) > 0)
    return pools, np.array(available, dtype=float)


def _pick_assets(rng, cats, cat, kind, requester, pools, cast) -> np.ndarray:
    n = len(cat)
    sizes = np.array([len(p) for p in pools])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(pools) if sizes.sum() else np.zeros(0, dtype=np.int64)
    pick = offsets[cat] + (rng.random(n) * np.maximum(sizes[cat], 1)).astype(np.int64)
    asset = np.where(sizes[cat] > 0, flat[np.minimum(pick, max(len(flat) - 1, 0))], -1)
    # A person's own computer: staff i uses device i.
    own = (kind == 0) & np.array(["user" in x.asset for x in cats])[cat] & (requester >= 0)
    return np.where(own, requester, asset)


def _copy_issue(mask, source, *columns) -> None:
    rows = np.flatnonzero(mask)
    for column in columns:
        column[rows] = column[source[rows]]


def _timeline(
    c: ClientPlan, per: Period, created, prio, level, sev, code, pause, vendor, reopen
) -> dict:
    """Every event slot's time per ticket (seconds, UTC) and whether the slot happens."""
    rng, contract = c.rng, c.contract
    n = len(created)
    clock = BusinessClock(contract, per.first, per.last, per.years)
    resp_target = np.array([contract.sla[p].response for p in PRIORITIES])[prio]
    res_target = np.array([contract.sla[p].resolution for p in PRIORITIES])[prio]
    business = np.array([contract.sla[p].calendar == "business" for p in PRIORITIES])[prio]
    resolved = code == 0

    response = np.maximum(1, resp_target * rng.lognormal(-1.25 + 1.15 * sev, 0.75))
    work = res_target * rng.lognormal(-1.3 + 0.85 * sev + 0.3 * (level - 1), 0.8)
    resolution = np.maximum(response + 5, work)

    t = np.zeros((n, len(SLOTS)), dtype=np.int64)
    on = np.zeros((n, len(SLOTS)), dtype=bool)
    first_response = np.maximum(clock.add(created, response, business), created + MINUTE)
    quick_close = created + (rng.lognormal(np.log(45), 0.8, n) * MINUTE).astype(np.int64)
    first_response = np.where(resolved, first_response, np.where(code == 3, -1, quick_close))
    t[:, 0], on[:, 0] = created, True
    gap = first_response - created
    t[:, 1] = created + (gap * rng.uniform(0.1, 0.8, n)).astype(np.int64)
    on[:, 1] = resolved & (gap >= 5 * MINUTE) & (rng.random(n) < 0.75)
    t[:, 2] = first_response + np.where(
        rng.random(n) < 0.5, 0, rng.exponential(600, n).astype(np.int64)
    )
    on[:, 2] = resolved
    at = response + rng.uniform(0.2, 0.8, n) * (resolution - response)
    t[:, 3] = clock.add(created, at, business)
    on[:, 3] = pause
    # Customers take a day or so to answer (across nights and weekends); vendors longer.
    hold = (rng.lognormal(np.log(24), 1.1, n) * np.where(vendor, 3, 1) * HOUR).astype(np.int64)
    t[:, 4], on[:, 4] = t[:, 3] + hold, pause
    t[:, 5] = np.where(
        pause,
        clock.add(t[:, 4], resolution - at, business),
        clock.add(created, resolution, business),
    )
    on[:, 5] = resolved
    t[:, 6] = t[:, 5] + (np.maximum(1, rng.lognormal(np.log(20), 0.8, n)) * HOUR).astype(np.int64)
    on[:, 6] = reopen
    t[:, 7] = clock.add(t[:, 6], res_target * rng.lognormal(np.log(0.15), 0.6, n), business)
    on[:, 7] = reopen
    autoclose = (np.clip(rng.lognormal(np.log(2), 0.5, n), 0.2, 10) * DAY).astype(np.int64)
    t[:, 8] = np.where(resolved, np.where(reopen, t[:, 7], t[:, 5]) + autoclose, quick_close)
    on[:, 8] = True

    # Strictly increasing per ticket, so events sort the same way everywhere.
    last = np.full(n, np.iinfo(np.int64).min // 2)
    for k in range(len(SLOTS)):
        fixed = np.maximum(t[:, k], last + MINUTE)
        t[:, k] = np.where(on[:, k], fixed, t[:, k])
        last = np.where(on[:, k], t[:, k], last)
    # Merging or marking a duplicate is the provider's first (and only) touch.
    first_response = np.where(resolved, first_response, np.where(code == 3, -1, t[:, 8]))
    return {
        "t": t,
        "on": on,
        "first_response": first_response,
        "clock": clock,
        "business": business,
        "response_breach": response > resp_target,
        "resolution_breach": resolution > res_target,
    }


def _assignees(rng, cast, month, level) -> np.ndarray:
    """Team member index per ticket (by the month's team share), or -2 - senior index."""
    share = np.cumsum(cast["team_share"], axis=1)[month]
    member = np.minimum((rng.random(len(month))[:, None] > share).sum(axis=1), share.shape[1] - 1)
    senior = rng.integers(0, len(story.SENIOR_ENGINEERS), len(month))
    return np.where(level >= 2, -2 - senior, member)


def take(values, index: np.ndarray) -> pl.Series:
    """values[index] as a string Series, null where index < 0."""
    idx = pl.Series(np.asarray(index, dtype=np.int64))
    idx = pl.select(pl.when(idx >= 0).then(idx)).to_series()
    return pl.Series(list(values), dtype=pl.String).gather(idx)


def utc(seconds: np.ndarray, present: np.ndarray | None = None) -> pl.Series:
    """Epoch seconds as a UTC Datetime Series, null where `present` is False."""
    values = pl.from_epoch(pl.Series(np.asarray(seconds, dtype=np.int64)), time_unit="s")
    values = values.dt.replace_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
    if present is not None:
        values = pl.select(pl.when(pl.Series(present)).then(values)).to_series()
    return values


def _ticket_frames(c: ClientPlan, per: Period, v: dict) -> dict:
    """Cut every ticket's life at the data end; build the tickets and ticket_events frames.
    Returns `v` with the frames and what the other tables need."""
    rng, profile, cast, times = c.rng, c.profile, v["cast"], v["times"]
    n, code, cats = v["n"], v["code"], categories.CATEGORIES
    t, on = times["t"], times["on"]
    end = local_to_utc(np.array([(per.day_numbers()[-1] + 1) * DAY - 1]), c.contract.timezone)[0]
    seen = on & (t <= end)
    last = np.where(seen, np.arange(len(SLOTS)), -1).max(axis=1)
    slot_status = np.array([0, 1, 2, 3, 2, 5, 2, 5, 6])
    status = slot_status[last] + (last == 3) * v["vendor"]  # 3 customer, 4 vendor
    done = np.isin(status, [5, 6])
    resolved_at = np.where(seen[:, 7], t[:, 7], np.where(seen[:, 5], t[:, 5], t[:, 8]))
    first_response = times["first_response"]
    responded = (first_response >= 0) & (first_response <= end)

    ids = (
        profile.prefix
        + "-"
        + pl.Series(10000 + rng.integers(0, 40000) + np.arange(n)).cast(pl.String)
    )
    code_names = ("resolved", *(name for name, _ in CLOSE_CODE_SHARES))
    member = v["assignee"]
    engineers = [*cast["team"], *story.SENIOR_ENGINEERS]
    engineer_index = np.where(member >= 0, member, len(cast["team"]) + (-2 - member))
    titles = [t_ for x in cats for t_ in x.titles]
    title_offsets = np.concatenate([[0], np.cumsum([len(x.titles) for x in cats])[:-1]])
    title = take(titles, title_offsets[v["cat"]] + v["title"])
    asset = take(cast["devices"], v["asset"])
    title = pl.select(
        pl.lit(title)
        .str.replace_all("{asset}", asset.fill_null("the server"), literal=True)
        .str.replace_all("{lob}", pl.lit(cast["lob"]), literal=True)
    ).to_series()
    title = pl.select(
        pl.lit(title).str.slice(0, 1).str.to_uppercase() + pl.lit(title).str.slice(1)
    ).to_series()
    tickets = pl.DataFrame(
        {
            "ticket_id": ids,
            "client_id": pl.Series([profile.client_id] * n, dtype=pl.String),
            "created_at": utc(v["created"]),
            "priority": take(profile.priority_names, v["prio"]),
            "status": take(STATUSES, status),
            "type": take([x.type for x in cats], v["cat"]),
            "source": take([*categories.USER_SOURCES, "monitoring", "maintenance"], v["source"]),
            "category": take([x.category for x in cats], v["cat"]),
            "subcategory": take([x.subcategory for x in cats], v["cat"]),
            "title": title,
            "asset": asset,
            "requester": take(cast["staff"], v["requester"]),
            "assignee": take(engineers, np.where(v["code"] == 3, -1, engineer_index)),
            "escalation_level": pl.Series(v["level"], dtype=pl.Int32),
            "first_response_at": utc(first_response, responded),
            "resolved_at": utc(resolved_at, done),
            "closed_at": utc(t[:, 8], seen[:, 8]),
            "close_code": take(code_names, np.where(done, code, -1)),
            "parent_ticket_id": ids.gather(np.maximum(v["parent"], 0)).set(
                pl.Series(code != 1), None
            ),
            "reopen_count": pl.Series(seen[:, 6].astype(np.int32)),
            "reassignment_count": pl.Series(v["reassign"], dtype=pl.Int32),
            "provider_touches": pl.Series(np.where(responded, v["touches"], 0), dtype=pl.Int32),
        }
    )
    events = _events(tickets, t, seen, v, slot_status)
    return v | {
        "tickets": tickets,
        "ticket_events": events,
        "seen": seen,
        "end": end,
        "done": done,
        "responded": responded,
        "first_response": first_response,
        "resolved_at": resolved_at,
        "engineer": tickets["assignee"],
        "surveyable": done & (code == 0),
    }


def _events(tickets: pl.DataFrame, t, seen, v, slot_status) -> pl.DataFrame:
    row, slot = np.nonzero(seen)
    status = slot_status[slot] + (slot == 3) * v["vendor"][row]
    # Who changed the status: the requester opens, the desk assigns, the engineer works,
    # the system auto-closes; monitoring and maintenance open their own tickets.
    kind = v["kind"][row]
    opener = np.where(kind == 0, 0, np.where(kind == 1, 3, 2))
    closer = np.where(v["code"][row] == 3, 0, np.where(v["code"][row] == 0, 4, 2))
    actor = np.select([slot == 0, slot == 1, slot == 8], [opener, np.full(len(row), 1), closer], 2)
    requester = tickets["requester"].gather(row)
    assignee = tickets["assignee"].gather(row)
    frame = pl.DataFrame(
        {
            "ticket_id": tickets["ticket_id"].gather(row),
            "at": utc(t[row, slot]),
            "status": take(STATUSES, status),
            "__actor": pl.Series(actor, dtype=pl.Int8),
            "__requester": requester,
            "__assignee": assignee,
        }
    )
    return frame.select(
        "ticket_id",
        "at",
        "status",
        pl.when(pl.col("__actor") == 0)
        .then(pl.col("__requester").fill_null("System"))
        .when(pl.col("__actor") == 1)
        .then(pl.lit(story.DISPATCHER))
        .when(pl.col("__actor") == 3)
        .then(pl.lit("Monitoring"))
        .when(pl.col("__actor") == 4)
        .then(pl.lit("System"))
        .otherwise(pl.col("__assignee"))
        .alias("actor"),
    )
