"""The rest of a client's month in the sample: surveys, work logs, outages and patching.

Called by `pipelines.ingest.sample.generator` once per client with the client's tickets and their
planned timelines; every function draws from the client's own random generator so
the whole sample stays deterministic.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from pipelines.ingest.sample import categories, comments, story
from pipelines.ingest.sample.calendar import (
    DAY,
    HOUR,
    MINUTE,
    Period,
    day_number,
    holiday_days,
    local_to_utc,
    weekday,
)
from pipelines.ingest.sample.tickets import ClientPlan, utc

UNPLANNED_PER_YEAR = {"email": 2.0, "internet": 3.5}
SURVEY_SHARE = 0.6  # of resolved tickets: a one-click rating in the closing email
EMPTY_COMMENT_SHARE = 0.1
ONSITE_MINUTES = np.array([60, 75, 90, 120, 150, 180])
PROJECT_MINUTES = np.array([60, 90, 120, 180, 240, 360, 480])


def operations(c: ClientPlan, per: Period, draw: dict) -> dict[str, pl.DataFrame]:
    """time_entries, outages and devices of one client."""
    return {
        "time_entries": time_entries(c, per, draw),
        "outages": outages(c, per, draw["end"]),
        "devices": devices(c, per, draw["cast"]),
    }


# ---------------------------------------------------------------- surveys


def surveys(c: ClientPlan, draw: dict) -> pl.DataFrame:
    """A one-click survey in the closing email of resolved tickets; most who answer add a
    line. Rating and comment follow the ticket's fate (breaches, reopens, escalations, the
    degraded months), each with its own noise (`pipelines.ingest.sample.comments`)."""
    rng, scale, tickets, times = c.survey_rng, c.contract.survey_scale, draw["tickets"], draw["times"]
    n = tickets.height
    delay = (rng.lognormal(np.log(4), 1.3, n) * HOUR).astype(np.int64) + MINUTE
    responded = draw["resolved_at"] + delay
    rows = np.flatnonzero(
        draw["surveyable"] & (rng.random(n) < SURVEY_SHARE) & (responded <= draw["end"])
    )
    fate = {
        "slow": times["resolution_breach"][rows],
        "late": times["response_breach"][rows],
        "reopened": tickets["reopen_count"].to_numpy()[rows] > 0,
        "escalated": draw["level"][rows] > 1,
        "phone": draw["source"][rows] == categories.USER_SOURCES.index("phone"),
        "degraded": c.severity[draw["month"][rows]] >= 0.5,
    }
    mood = (
        1.55
        + rng.normal(0, 0.85, len(rows))
        - 1.1 * fate["slow"]
        - 0.6 * fate["late"]
        - 1.2 * fate["reopened"]
        - 0.5 * c.severity[draw["month"][rows]]
        - 0.25 * fate["escalated"]
    )
    if scale == "3-point":
        rating = np.where(mood > 0.2, "positive", np.where(mood > -0.4, "neutral", "negative"))
    elif scale == "5-point":
        rating = (1 + (mood > -1.0) + (mood > -0.4) + (mood > 0.2) + (mood > 0.9)).astype(str)
    else:
        rating = np.clip(np.round(7.4 + 1.5 * mood), 0, 10).astype(int).astype(str)
    engineer = tickets["assignee"].gather(rows).str.split(" ").list.first().to_list()
    things = [comments.THINGS.get(s, "it") for s in tickets["subcategory"].gather(rows).to_list()]
    text = comments.compose(rng, comments.comment_tone(mood, rng), fate, engineer, things)
    empty = rng.random(len(rows)) < EMPTY_COMMENT_SHARE  # some leave the box empty
    return pl.DataFrame(
        {
            "ticket_id": tickets["ticket_id"].gather(rows),
            "responded_at": utc(responded[rows]),
            "rating": pl.Series(rating, dtype=pl.String),
            "comment": pl.Series([None if e else t for t, e in zip(text, empty)], dtype=pl.String),
        }
    )


# ---------------------------------------------------------------- time entries


def time_entries(c: ClientPlan, per: Period, draw: dict) -> pl.DataFrame:
    """Remote work logs per ticket, a few on-site visits a month, some project work. Work
    happens in business hours unless the ticket runs on the 24x7 clock."""
    rng, tickets, clock = c.rng, draw["tickets"], draw["times"]["clock"]
    business = draw["times"]["business"]
    fr, end = draw["first_response"], draw["end"]
    worked = (draw["code"] == 0) & draw["responded"]
    stop = np.where(draw["done"], draw["resolved_at"], end)
    span = np.where(business, clock.between(fr, stop), (stop - fr) // MINUTE)

    def during(rows: np.ndarray, share: np.ndarray) -> np.ndarray:
        return clock.add(fr[rows], share * span[rows], business[rows])

    count = np.where(worked, np.clip(draw["touches"], 1, 4), 0)
    row = np.repeat(np.arange(tickets.height), count)
    u = rng.random(len(row))
    order = np.lexsort((u, row))
    row, u = row[order], u[order]
    rank = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    started = during(row, u) + rank * MINUTE  # distinct times within a ticket
    heavy = (draw["level"][row] > 1) | (draw["prio"][row] == 0)
    minutes = _round_to(rng.lognormal(np.log(20), 0.7, len(row)) * (1 + 0.5 * heavy), 5, 5, 240)
    remote = _entries(
        c,
        started,
        minutes,
        tickets["ticket_id"].gather(row),
        draw["engineer"].gather(row),
        "remote",
    )

    # On-site: the contract's visits a month, spread over hands-on tickets; walk-ins always.
    hands_on = np.array([x.onsite for x in categories.CATEGORIES])[draw["cat"]] & (draw["kind"] == 0)
    walk_in = draw["source"] == categories.USER_SOURCES.index("onsite")
    candidates = worked & draw["done"] & (hands_on | walk_in)
    per_month = np.bincount(draw["month"][candidates], minlength=len(per.month_starts))
    target = c.contract.targets.onsite_visits
    chance = np.where(per_month > 0, target / np.maximum(per_month, 1), 0)[draw["month"]]
    visit = candidates & ((rng.random(tickets.height) < chance) | walk_in)
    rows = np.flatnonzero(visit)
    onsite = _entries(
        c,
        during(rows, rng.uniform(0.1, 0.6, len(rows))),
        rng.choice(ONSITE_MINUTES, len(rows)),
        tickets["ticket_id"].gather(rows),
        draw["engineer"].gather(rows),
        "onsite",
    )
    last = pl.from_epoch(pl.lit(end), time_unit="s").dt.replace_time_zone("UTC")
    return (
        pl.concat([remote, onsite, _projects(c, per, draw)])
        .filter(pl.col("started_at") <= last)
        .unique(maintain_order=True)
    )


def _projects(c: ClientPlan, per: Period, draw: dict) -> pl.DataFrame:
    rng, seats = c.rng, c.profile.seats
    days = per.day_numbers()
    month = np.searchsorted(per.month_start_days(), days, side="right") - 1
    workday = (weekday(days) < 5) & ~np.isin(days, holiday_days(c.contract, per.years))
    count = rng.poisson(1 + seats / 50, len(per.month_starts))
    chosen = []
    for m, k in enumerate(count):
        pool = days[(month == m) & workday]
        if len(pool) and k:
            chosen.append(rng.choice(pool, size=k))
    day = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    local = day * DAY + (9 * 60 + 30 * rng.integers(0, 13, len(day))) * MINUTE
    team = draw["cast"]["team"]
    engineer = np.where(
        rng.random(len(day)) < 0.3,
        rng.choice(story.SENIOR_ENGINEERS, len(day)),
        rng.choice(team[: max(1, len(team) - 1)], len(day)),
    )
    return _entries(
        c,
        local_to_utc(local, c.contract.timezone),
        rng.choice(PROJECT_MINUTES, len(day)),
        pl.Series([None] * len(day), dtype=pl.String),
        pl.Series(engineer, dtype=pl.String),
        "project",
    )


def _entries(
    c: ClientPlan, started, minutes, ticket_id: pl.Series, engineer: pl.Series, work_type: str
) -> pl.DataFrame:
    n = len(started)
    return pl.DataFrame(
        {
            "client_id": pl.Series([c.profile.client_id] * n, dtype=pl.String),
            "started_at": utc(started),
            "minutes": pl.Series(np.asarray(minutes, dtype=float), dtype=pl.Float64),
            "ticket_id": ticket_id.cast(pl.String),
            "engineer": engineer.cast(pl.String),
            "work_type": pl.Series([work_type] * n, dtype=pl.String),
        }
    )


def _round_to(values, step, low, high) -> np.ndarray:
    return np.clip(np.round(values / step) * step, low, high)


# ---------------------------------------------------------------- outages


def patch_nights(per: Period, before: int = 0) -> np.ndarray:
    """Local day number of each month's patch night (the Saturday after Patch Tuesday),
    for `before` months ahead of the period and every month in it."""
    index = per.first.year * 12 + per.first.month - 1
    starts = np.array(
        [
            day_number(date(i // 12, i % 12 + 1, 1))
            for i in range(index - before, index + len(per.month_starts))
        ]
    )
    second_tuesday = starts + (1 - weekday(starts)) % 7 + 7
    return second_tuesday + 4


def outages(c: ClientPlan, per: Period, end: int) -> pl.DataFrame:
    """Unplanned outages (a few a year per service, minutes to hours) and planned windows
    (the monthly patch night for hosted apps, quarterly firewall firmware for internet)."""
    rng, zone = c.rng, c.contract.timezone
    start = local_to_utc(np.array([per.month_start_days()[0] * DAY]), zone)[0]
    years = len(per.month_starts) / 12
    rows = []
    for service in c.contract.uptime.services:
        count = rng.poisson(UNPLANNED_PER_YEAR.get(service, 2.5) * years)
        began = rng.integers(start, end, count) if count else np.zeros(0, dtype=np.int64)
        length = np.round(np.clip(rng.lognormal(np.log(40), 1.0, count), 5, 480)) * MINUTE
        texts = categories.OUTAGE_DESCRIPTIONS.get(service, categories.OUTAGE_DESCRIPTIONS["default"])
        for b, d in zip(began, length.astype(np.int64)):
            text = texts[rng.integers(len(texts))].replace("{service}", service.capitalize())
            rows.append((service, b, b + d, False, text))
    # Planned: hosted apps go down for the monthly patch night; the firewall gets new
    # firmware once a quarter. Cloud email is patched by its vendor without downtime.
    planned = []
    for m, night in enumerate(patch_nights(per)):
        for service in c.contract.uptime.services:
            if service == "internet" and per.month_starts[m].month in (1, 4, 7, 10):
                planned.append(
                    (
                        service,
                        night * DAY + 23 * HOUR + 30 * MINUTE,
                        rng.choice([60, 75, 90]),
                        "Firewall firmware upgrade (scheduled)",
                    )
                )
            elif service not in ("email", "internet"):
                planned.append(
                    (
                        service,
                        night * DAY + 22 * HOUR,
                        rng.choice([120, 150, 180, 240]),
                        "Monthly patching window",
                    )
                )
    began = local_to_utc(np.array([p[1] for p in planned], dtype=np.int64), zone)
    for (service, _, minutes, text), b in zip(planned, began):
        rows.append((service, int(b), int(b) + int(minutes) * MINUTE, True, text))
    rows = [r for r in rows if r[2] <= end]
    return pl.DataFrame(
        {
            "client_id": pl.Series([c.profile.client_id] * len(rows), dtype=pl.String),
            "service": pl.Series([r[0] for r in rows], dtype=pl.String),
            "started_at": utc([r[1] for r in rows]),
            "ended_at": utc([r[2] for r in rows]),
            "planned": pl.Series([r[3] for r in rows], dtype=pl.Boolean),
            "description": pl.Series([r[4] for r in rows], dtype=pl.String),
        }
    )


# ---------------------------------------------------------------- devices


def devices(c: ClientPlan, per: Period, cast: dict) -> pl.DataFrame:
    """One patch snapshot per device and month (as of the month's last second, local):
    most devices take the monthly patch night, some stay pending or fail; compliance
    dips now and then and while the client is degraded."""
    rng, zone, window = c.rng, c.contract.timezone, c.contract.patch_window_days
    ids, kinds = cast["devices"], cast["device_kinds"]
    n, months = len(ids), len(per.month_starts)
    nights = patch_nights(per, before=1)
    last_days = np.append(per.month_start_days()[1:], per.day_numbers()[-1] + 1)
    as_of = local_to_utc(last_days * DAY - 1, zone)
    ok = np.clip(0.955 + rng.normal(0, 0.015, months), 0.88, 0.995)
    if rng.random() < 0.6:
        ok[rng.integers(months)] = 0.84
    ok = np.where(c.severity >= 1, np.minimum(ok, 0.87), ok)
    chronic = rng.random(n) < 0.015
    jitter_hours = np.where(np.isin(kinds, ["LT", "DT"]), 60, 6)

    def patched(night_day: int) -> np.ndarray:
        local = night_day * DAY + 22 * HOUR + (rng.random(n) * jitter_hours * HOUR).astype(np.int64)
        return local_to_utc(local, zone)

    last = patched(nights[0])
    frames = []
    for m in range(months):
        u = rng.random(n)
        good = (u < ok[m]) & ~(chronic & (rng.random(n) < 0.7))
        last = np.where(good, patched(nights[m + 1]), last)
        failed = ~good & (rng.random(n) < 0.35) | (chronic & ~good)
        compliant = as_of[m] - last <= window * DAY
        status = np.where(compliant, "compliant", np.where(failed, "failed", "pending"))
        frames.append(
            pl.DataFrame(
                {
                    "client_id": pl.Series([c.profile.client_id] * n, dtype=pl.String),
                    "device_id": pl.Series(ids, dtype=pl.String),
                    "as_of": utc(np.full(n, as_of[m])),
                    "last_patched_at": utc(last),
                    "patch_status": pl.Series(status, dtype=pl.String),
                }
            )
        )
    return pl.concat(frames)
