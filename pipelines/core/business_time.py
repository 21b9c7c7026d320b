"""The calendar kernel: business time and months as vectorised arithmetic on instants.

A calendar is a sorted array of windows (UTC instants, microseconds) with the
business time accumulated before each one. Then F(t), the business time before
an instant, is a binary search plus one subtraction; the business time between
two instants is F(b) - F(a); and the instant at which a clock started at `a`
reaches a target is F⁻¹(F(a) + target). Many calendars (one per client and
calendar kind) are laid side by side in "lanes" of one array, so a million
tickets of two hundred clients are served by a single `numpy.searchsorted`.

Wall-clock rules (daylight saving): a window boundary that falls in a skipped
hour means the instant the clocks jump (so the skipped hour is not business
time); a boundary in a repeated hour means its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import polars as pl

from pipelines.core.contracts import WEEKDAYS, Contract
from pipelines.core.periods import month_index, month_label

SECOND = 1_000_000  # instants and durations are int64 microseconds since the Unix epoch
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
NEVER = np.iinfo(np.int64).max  # "no instant" in int64 arrays (sorts after everything)


class CalendarRangeError(ValueError):
    """An instant outside the range a clock was built for (a bug in the caller, never data)."""


# ---------------------------------------------------------------- wall clock -> UTC


def local_to_utc(wall: list[datetime] | np.ndarray, zone: str) -> np.ndarray:
    """Naive wall-clock datetimes in `zone` -> int64 UTC microseconds (DST rules above)."""
    series = pl.Series("wall", wall, dtype=pl.Datetime("us"))
    aware = series.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    out = aware.dt.epoch("us").to_numpy().copy()
    gaps = np.flatnonzero(aware.is_null().to_numpy() & series.is_not_null().to_numpy())
    for i in gaps:
        out[i] = _gap_end(series[int(i)], ZoneInfo(zone))
    return out.astype(np.int64)


def _gap_end(wall: datetime, zone: ZoneInfo) -> int:
    """The instant the clocks jump over a skipped wall time (first real instant after it)."""
    late = int(wall.replace(tzinfo=zone, fold=0).timestamp())  # offset before the jump
    early = int(wall.replace(tzinfo=zone, fold=1).timestamp())  # offset after the jump
    lo, hi = min(early, late), max(early, late)
    after = datetime.fromtimestamp(hi, zone).utcoffset()
    while lo < hi:  # smallest second whose offset is already the new one
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid + 1
    return lo * SECOND


# ---------------------------------------------------------------- business windows


@lru_cache(maxsize=256)
def _holiday_dates(country: str | None, subdivision: str | None, extra: tuple[date, ...],
                   years: tuple[int, ...]) -> frozenset[date]:
    days = set(extra)
    if country:
        days |= set(holidays.country_holidays(country, subdiv=subdivision, years=list(years)))
    return frozenset(days)


def business_windows(contract: Contract, first: date, last: date) -> tuple[np.ndarray, np.ndarray]:
    """The contract's business windows on local dates first..last as UTC (starts, ends).

    Weekday windows in the client's zone (time.max = 24:00) minus holidays; sorted,
    non-overlapping, zero-length windows (inside a skipped hour) dropped.
    """
    return business_windows_many([contract], first, last)[0]


def business_windows_many(contracts: list[Contract], first: date,
                          last: date) -> list[tuple[np.ndarray, np.ndarray]]:
    """`business_windows` for many contracts; wall times are converted once per time zone."""
    naive = [_naive_windows(k, first, last) for k in contracts]
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, np.int64),) * 2] * len(contracts)
    zones: dict[str, list[int]] = {}
    for i, k in enumerate(contracts):
        zones.setdefault(k.timezone, []).append(i)
    for zone, members in zones.items():
        cuts = np.cumsum([len(naive[i][0]) for i in members])[:-1]
        starts = local_to_utc(np.concatenate([naive[i][0] for i in members]).astype("datetime64[us]"), zone)
        ends = local_to_utc(np.concatenate([naive[i][1] for i in members]).astype("datetime64[us]"), zone)
        for i, s, e in zip(members, np.split(starts, cuts), np.split(ends, cuts)):
            keep = e > s
            s, e = s[keep], e[keep]
            if len(s) > 1 and np.any(s[1:] < e[:-1]):  # cannot happen with the DST rules above
                raise ValueError(f"contracts/{contracts[i].client_id}.yml: business windows overlap")
            out[i] = (s, e)
    return out


def _naive_windows(contract: Contract, first: date, last: date) -> tuple[np.ndarray, np.ndarray]:
    h = contract.holidays
    hours = tuple(tuple(contract.business_hours.get(day, [])) for day in WEEKDAYS)
    return _naive(hours, h.country, h.subdivision, tuple(sorted(h.extra)), first, last)


@lru_cache(maxsize=256)
def _naive(hours: tuple, country: str | None, subdivision: str | None, extra: tuple[date, ...],
           first: date, last: date) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock window (start, end) as naive µs, in order, for the open days first..last."""
    off = _holiday_dates(country, subdivision, extra, tuple(range(first.year, last.year + 1)))
    days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    if off:
        days = days[~np.isin(days, np.array(sorted(off), dtype="datetime64[D]"))]
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    midnight = days.astype("datetime64[us]").astype(np.int64)
    starts, ends = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for index, windows in enumerate(hours):
        on = midnight[weekday == index]
        for begin, end in windows:
            starts.append(on + _clock(begin))
            ends.append(on + (DAY if end == time.max else _clock(end)))
    s, e = np.concatenate(starts), np.concatenate(ends)
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    s.flags.writeable = False
    e.flags.writeable = False
    return s, e


def _clock(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * SECOND


def weekly_business_minutes(contract: Contract) -> float:
    """Business minutes in an ordinary week (no holidays, no DST), for sizing ranges."""
    total = 0.0
    for windows in contract.business_hours.values():
        for begin, end in windows:
            stop = 24 * 60 if end == time.max else end.hour * 60 + end.minute
            total += stop - (begin.hour * 60 + begin.minute)
    return total


# ---------------------------------------------------------------- the clock


@dataclass(frozen=True)
class Clock:
    """Business-time arithmetic over many calendars at once (one lane per calendar).

    Build it with `Clock.build([(starts, ends), ...], start, end)`; every instant
    passed in must lie in [start, end). Lane k's windows live at k * width + (t - start).
    """

    start: int
    width: int
    starts: np.ndarray  # lane-shifted window starts, ascending, with a sentinel at index 0
    lengths: np.ndarray
    before: np.ndarray  # business time before each window (cumulative over all lanes)
    lane_of: np.ndarray
    day_first: np.ndarray  # per day of every lane: the last window starting at or before it
    day_steps: int  # most windows starting inside one day (bounds the forward scan)

    @classmethod
    def build(cls, calendars: list[tuple[np.ndarray, np.ndarray]], start: int, end: int) -> Clock:
        """One lane per (starts, ends) pair; windows are clipped to [start, end)."""
        width = int(end - start)
        parts_s, parts_l, parts_k = [np.array([-1], np.int64)], [np.array([0], np.int64)], [
            np.array([-1], np.int64)]
        for lane, (s, e) in enumerate(calendars):
            s = np.clip(np.asarray(s, np.int64), start, end) - start
            e = np.clip(np.asarray(e, np.int64), start, end) - start
            keep = e > s
            parts_s.append(s[keep] + lane * width)
            parts_l.append(e[keep] - s[keep])
            parts_k.append(np.full(int(keep.sum()), lane, np.int64))
        # A sentinel window that starts after everything ends the forward scan in `position`.
        parts_s.append(np.array([np.iinfo(np.int64).max], np.int64))
        parts_l.append(np.array([0], np.int64))
        parts_k.append(np.array([-1], np.int64))
        starts, lengths = np.concatenate(parts_s), np.concatenate(parts_l)
        before = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # A day index makes F a lookup plus a short scan instead of a binary search.
        days = np.arange(-(-width * max(len(calendars), 1) // DAY) + 1, dtype=np.int64) * DAY
        day_first = np.searchsorted(starts, days, side="right") - 1
        inside = np.diff(np.searchsorted(starts, days, side="left"))
        steps = int(inside.max()) if len(inside) else 0
        return cls(start, width, starts, lengths, before, np.concatenate(parts_k), day_first, steps)

    @staticmethod
    def always(start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """A 24x7 calendar: every instant counts."""
        return np.array([start], np.int64), np.array([end], np.int64)

    def _shift(self, lane: np.ndarray, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.int64)
        if t.size and (t.min() < self.start or t.max() >= self.start + self.width):
            bad = t[(t < self.start) | (t >= self.start + self.width)][0]
            raise CalendarRangeError(
                f"instant {_iso(int(bad))} is outside the clock's range "
                f"{_iso(self.start)} .. {_iso(self.start + self.width)}"
            )
        q = np.multiply(lane, self.width, dtype=np.int64)
        q += t
        q -= self.start
        return q

    def position(self, lane: np.ndarray, t: np.ndarray) -> np.ndarray:
        """F(t): business microseconds before instant t on each lane's calendar."""
        q = self._shift(lane, t)
        i = self.day_first[q // DAY]
        for _ in range(self.day_steps):  # advance to the last window starting at or before q
            i += self.starts[i + 1] <= q
        q -= self.starts[i]
        np.minimum(q, self.lengths[i], out=q)
        q += self.before[i]
        return q

    def instant(self, lane: np.ndarray, x: np.ndarray) -> np.ndarray:
        """F⁻¹(x): the earliest instant at which F reaches x (x must exceed the lane's start)."""
        x = np.asarray(x, np.int64)
        lane = np.asarray(lane, np.int64)
        j = np.searchsorted(self.before + self.lengths, x, side="left")
        j = np.minimum(j, len(self.starts) - 1)
        wrong = self.lane_of[j] != lane
        if np.any(wrong):
            raise CalendarRangeError(
                f"a due time falls after the clock's range end {_iso(self.start + self.width)} "
                f"({int(wrong.sum())} cases); build the clock with a longer margin"
            )
        q = self.starts[j] + (x - self.before[j])
        return q - lane * self.width + self.start

    def elapsed(self, lane: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Business microseconds in [a, b) on each lane's calendar."""
        return self.position(lane, b) - self.position(lane, a)

    def add(self, lane: np.ndarray, t: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """The instant at which `amount` (> 0) business microseconds after t have passed."""
        return self.instant(lane, self.position(lane, t) + np.asarray(amount, np.int64))


def _iso(us: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).isoformat()


# ---------------------------------------------------------------- months


@dataclass(frozen=True)
class Months:
    """Local calendar months first..last for every client (one lane per client zone).

    `index(client, t)` gives each instant's month as a position 0..n-1 in this
    grid (-1 when outside it); `labels[i]` is 'YYYY-MM'.
    """

    first: int  # absolute month index of position 0
    count: int
    bounds: np.ndarray  # (clients, count + 1) UTC month starts; bounds[:, -1] is the end of the grid

    @classmethod
    def build(cls, zones: list[str], first: str, last: str) -> Months:
        a, b = month_index(first), month_index(last)
        if b < a:
            raise ValueError(f"month range {first}..{last} is empty")
        walls = [datetime(m // 12, m % 12 + 1, 1) for m in range(a, b + 2)]  # local midnights
        per_zone = {z: local_to_utc(walls, z) for z in dict.fromkeys(zones)}  # once per time zone
        bounds = np.array([per_zone[z] for z in zones], np.int64)
        return cls(a, b - a + 1, bounds.reshape(len(zones), b - a + 2))

    @property
    def labels(self) -> list[str]:
        return [month_label(self.first + i) for i in range(self.count)]

    def label(self, position: int) -> str:
        return month_label(self.first + position)

    def end(self, client: np.ndarray) -> np.ndarray:
        """End of the grid (end of the last month) for each client index, UTC µs."""
        return self.bounds[np.asarray(client, np.int64), -1]

    def index(self, client: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Month position of each instant in its client's zone; -1 outside the grid or for NEVER."""
        client = np.asarray(client, np.int64)
        t = np.asarray(t, np.int64)
        origin = int(self.bounds.min())
        lane = int(self.bounds.max()) - origin + 3  # clipped instants stay inside their lane
        flat = (self.bounds - origin + 1 + np.arange(len(self.bounds))[:, None] * lane).ravel()
        q = client * lane + np.clip(t - origin, -1, lane - 3) + 1
        pos = np.searchsorted(flat, q, side="right") - 1 - client * (self.count + 1)
        pos[(pos < 0) | (pos >= self.count)] = -1
        return pos
