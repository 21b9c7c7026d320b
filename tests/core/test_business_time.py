"""The calendar kernel against the independent day-by-day reference (tests/sla_reference.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from pipelines.core.business_time import (
    SECOND,
    CalendarRangeError,
    Clock,
    Months,
    business_windows,
    local_to_utc,
)
from pipelines.core.contracts import parse_contract
from tests import sla_reference as ref

START = datetime(2025, 12, 1, tzinfo=UTC)
END = datetime(2027, 2, 1, tzinfo=UTC)


def us(t: datetime) -> int:
    return round(t.timestamp() * 1_000_000)


def contract(zone: str, hours: dict, country: str | None = None, subdivision: str | None = None,
             extra: list[str] | None = None, client: str = "c"):
    return parse_contract({
        "client_id": client, "name": client, "timezone": zone, "business_hours": hours,
        "holidays": {"country": country, "subdivision": subdivision, "extra": extra or []},
        "sla": {"P3": {"response": "4h", "resolution": "24h"}},
    })


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
CALENDARS = [
    contract("America/New_York", {d: ["08:00", "18:00"] for d in WEEKDAYS}, "US", "NY", ["2026-12-24"]),
    contract("Europe/London", {d: [["08:30", "12:30"], ["13:30", "17:30"]] for d in WEEKDAYS}
             | {"sat": ["09:00", "13:00"]}, "GB", "ENG"),
    # Windows that touch midnight and cover the small hours, so the DST jumps fall inside them.
    contract("America/New_York", {d: ["00:00", "24:00"] for d in ("sat", "sun")}
             | {d: ["01:00", "03:30"] for d in WEEKDAYS}),
    contract("Europe/London", {d: ["00:30", "24:00"] for d in ("sat", "sun", "mon")}),
]
# Around the 2026 DST changes (US 8 Mar / 1 Nov, UK 29 Mar / 25 Oct), holidays and month ends.
HOT_DAYS = [datetime(2026, m, d, tzinfo=UTC) for m, d in
            [(3, 7), (3, 8), (3, 28), (3, 29), (10, 24), (10, 25), (10, 31), (11, 1),
             (12, 24), (12, 25), (1, 1), (5, 25), (8, 31), (4, 3)]]


def random_instant(rng: random.Random) -> datetime:
    if rng.random() < 0.6:
        base = rng.choice(HOT_DAYS) - timedelta(days=1)
        return base + timedelta(seconds=rng.randrange(0, 3 * 86400))
    return START + timedelta(seconds=rng.randrange(0, int((END - START).total_seconds()) - 40 * 86400))


def build(calendars=CALENDARS) -> Clock:
    first, last = date(2025, 11, 29), date(2027, 2, 2)
    lanes = [business_windows(k, first, last) for k in calendars] + [Clock.always(us(START), us(END))]
    return Clock.build(lanes, us(START), us(END))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_elapsed_matches_the_day_by_day_reference(seed):
    rng = random.Random(seed)
    clock = build()
    cases = []
    for _ in range(150):
        lane = rng.randrange(len(CALENDARS) + 1)
        a = random_instant(rng)
        b = a + timedelta(seconds=rng.choice([0, 1, 59, 3600, rng.randrange(0, 10 * 86400)]))
        cases.append((lane, a, b))
    got = clock.elapsed(np.array([c[0] for c in cases]), np.array([us(c[1]) for c in cases]),
                        np.array([us(c[2]) for c in cases]))
    for (lane, a, b), value in zip(cases, got):
        k, cal = (CALENDARS[lane], "business") if lane < len(CALENDARS) else (CALENDARS[0], "24x7")
        assert value / SECOND == pytest.approx(ref.business_seconds(k, cal, a, b), abs=1e-6), (lane, a, b)


@pytest.mark.parametrize("seed", [4, 5])
def test_add_matches_the_reference_due_time(seed):
    rng = random.Random(seed)
    clock = build()
    cases = [(rng.randrange(len(CALENDARS)), random_instant(rng),
              rng.choice([60, 900, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 72 * 3600, 1234.5]))
             for _ in range(120)]
    got = clock.add(np.array([c[0] for c in cases]), np.array([us(c[1]) for c in cases]),
                    np.array([int(c[2] * SECOND) for c in cases]))
    for (lane, a, seconds), value in zip(cases, got):
        expected = ref.add_business(CALENDARS[lane], "business", a, seconds)
        assert value == us(expected), (lane, a, seconds)


def test_same_instant_and_zero_length_intervals_are_zero():
    clock = build()
    t = us(datetime(2026, 3, 9, 14, 0, tzinfo=UTC))  # inside New York business hours
    assert clock.elapsed(np.array([0, 4]), np.array([t, t]), np.array([t, t])).tolist() == [0, 0]


def test_dst_days_have_real_lengths():
    """A window spanning the change counts real time: 24:00 windows on 8 Mar 2026 in New York
    give 23 hours, on 1 Nov 25 hours."""
    clock = build()
    spring = [us(datetime(2026, 3, 8, 5, tzinfo=UTC)), us(datetime(2026, 3, 9, 4, tzinfo=UTC))]
    autumn = [us(datetime(2026, 11, 1, 4, tzinfo=UTC)), us(datetime(2026, 11, 2, 5, tzinfo=UTC))]
    got = clock.elapsed(np.array([2, 2]), np.array([spring[0], autumn[0]]), np.array([spring[1], autumn[1]]))
    assert (got / (3600 * SECOND)).tolist() == [23.0, 25.0]


def test_holidays_and_extra_dates_are_not_business_time():
    clock = build()
    christmas_eve = [us(datetime(2026, 12, 24, 12, tzinfo=UTC)), us(datetime(2026, 12, 24, 23, tzinfo=UTC))]
    july_4th_observed = [us(datetime(2026, 7, 3, 12, tzinfo=UTC)), us(datetime(2026, 7, 3, 23, tzinfo=UTC))]
    got = clock.elapsed(np.array([0, 0]), np.array([christmas_eve[0], july_4th_observed[0]]),
                        np.array([christmas_eve[1], july_4th_observed[1]]))
    assert got.tolist() == [0, 0]


def test_skipped_wall_times_map_to_the_jump_and_repeated_ones_to_the_first():
    got = local_to_utc([datetime(2026, 3, 8, 2, 30), datetime(2026, 11, 1, 1, 30),
                        datetime(2026, 3, 29, 1, 15)], "America/New_York")
    assert got[0] == us(datetime(2026, 3, 8, 7, 0, tzinfo=UTC))  # 03:00 EDT, when clocks jump
    assert got[1] == us(datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT, the first one
    london = local_to_utc([datetime(2026, 3, 29, 1, 15)], "Europe/London")
    assert london[0] == us(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))


def test_instants_outside_the_clock_range_fail_loudly():
    clock = build()
    with pytest.raises(CalendarRangeError, match="outside the clock's range"):
        clock.position(np.array([0]), np.array([us(datetime(2025, 6, 1, tzinfo=UTC))]))


def test_months_follow_the_client_zone():
    months = Months.build(["America/New_York", "Europe/London"], "2026-09", "2026-10")
    # 1 Oct 02:00 UTC is still September in New York but October in London.
    t = us(datetime(2026, 10, 1, 2, tzinfo=UTC))
    got = months.index(np.array([0, 1, 0]), np.array([t, t, us(datetime(2026, 11, 1, 3, 59, tzinfo=UTC))]))
    assert [months.label(int(p)) if p >= 0 else None for p in got] == ["2026-09", "2026-10", "2026-10"]
    outside = months.index(np.array([0, 0]), np.array([us(datetime(2026, 8, 31, tzinfo=UTC)),
                                                       us(datetime(2026, 11, 1, 4, tzinfo=UTC))]))
    assert outside.tolist() == [-1, -1]
