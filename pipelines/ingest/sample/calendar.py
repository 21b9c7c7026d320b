"""Time for the sample generator: the period, local-to-UTC conversion and a business clock.

All generator times are integer seconds since the Unix epoch in UTC. `BusinessClock`
knows, minute by minute, when a client's contract calendar is open (business
hours in its time zone, holidays, real daylight-saving rules), so the generator
can place a first response "2 business hours after creation" exactly, with one
`searchsorted` for thousands of tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

import holidays as holiday_calendars
import numpy as np
import polars as pl

from pipelines.core.contracts import WEEKDAYS, Contract
from pipelines.core.periods import is_period, month_index

EPOCH = date(1970, 1, 1)


class SampleError(ValueError):
    """A sample request that cannot be generated (bad month, count or format)."""


MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class Period:
    """The months the sample covers, as local calendar dates (the same for every client)."""

    month_starts: tuple[date, ...]
    last: date  # last day of the end month

    @property
    def first(self) -> date:
        return self.month_starts[0]

    @property
    def years(self) -> list[int]:
        return list(range(self.first.year, self.last.year + 1))

    def day_numbers(self) -> np.ndarray:
        """Every local day of the period as days since 1970-01-01."""
        return np.arange(day_number(self.first), day_number(self.last) + 1)

    def month_start_days(self) -> np.ndarray:
        return np.array([day_number(d) for d in self.month_starts])

    def labels(self) -> list[str]:
        return [d.strftime("%Y-%m") for d in self.month_starts]


def period(end: str, months: int) -> Period:
    """`months` calendar months ending with `end` ("YYYY-MM")."""
    if not is_period(str(end).strip()):
        raise SampleError(f"--end {end!r} is not a month like 2026-10")
    if months < 1:
        raise SampleError(f"--months must be at least 1 (got {months})")
    index = month_index(str(end).strip())
    starts = tuple(date((i // 12), i % 12 + 1, 1) for i in range(index - months + 1, index + 1))
    after = index + 1
    last = date(after // 12, after % 12 + 1, 1) - timedelta(days=1)
    return Period(starts, last)


def day_number(day: date) -> int:
    """Days since 1970-01-01 (the generator's day index)."""
    return (day - EPOCH).days


def weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday for day numbers (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def local_to_utc(local_seconds: np.ndarray, zone: str) -> np.ndarray:
    """Wall-clock seconds in `zone` -> UTC seconds. A time skipped by a daylight-saving
    change moves one hour later (as a clock on the wall would); a repeated hour takes
    its first occurrence."""

    def convert(values: np.ndarray) -> pl.Series:
        naive = pl.from_epoch(pl.Series(values, dtype=pl.Int64), time_unit="s")
        aware = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        return aware.dt.epoch("s")

    result = convert(local_seconds)
    if result.null_count():
        retry = convert(local_seconds + HOUR)
        result = result.fill_null(retry)
    return result.to_numpy().astype(np.int64)


def utc_offsets(utc_seconds: np.ndarray, zone: str) -> np.ndarray:
    """Seconds to add to UTC to get the wall clock in `zone`, per timestamp."""
    utc = pl.from_epoch(pl.Series(utc_seconds, dtype=pl.Int64), time_unit="s").dt.replace_time_zone(
        "UTC"
    )
    local = utc.dt.convert_time_zone(zone).dt.replace_time_zone(None)
    return (local.dt.epoch("s") - utc.dt.epoch("s")).to_numpy().astype(np.int64)


def holiday_days(contract: Contract, years: list[int]) -> np.ndarray:
    """Day numbers of the contract's public holidays and extra closure days."""
    days = set(contract.holidays.extra)
    if contract.holidays.country:
        calendar = holiday_calendars.country_holidays(
            contract.holidays.country, subdiv=contract.holidays.subdivision, years=years
        )
        days |= set(calendar)
    return np.array(sorted(day_number(d) for d in days), dtype=np.int64)


def week_table(contract: Contract) -> np.ndarray:
    """(7, 1440) booleans: is minute m of weekday d inside business hours."""
    table = np.zeros((7, 1440), dtype=bool)
    for k, day in enumerate(WEEKDAYS):
        for start, stop in contract.business_hours.get(day, []):
            a = start.hour * 60 + start.minute
            b = 1440 if stop == time.max else stop.hour * 60 + stop.minute
            table[k, a:b] = True
    return table


class BusinessClock:
    """A contract's business calendar over a range of UTC minutes.

    `cum[i]` is the number of open minutes in `[start, start + i)`; adding business
    minutes is a `searchsorted` on it and measuring is a difference of two lookups.
    """

    def __init__(self, contract: Contract, first: date, last: date, years: list[int]):
        self.start = (day_number(first) - 2) * 1440  # UTC minute; two days of slack for any offset
        self.length = (day_number(last) - day_number(first) + 4) * 1440
        minutes = self.start + np.arange(self.length, dtype=np.int64)
        # Offsets change on quarter-hour boundaries in every real zone.
        quarters = minutes[::15] * MINUTE
        offsets = np.repeat(utc_offsets(quarters, contract.timezone) // MINUTE, 15)[: self.length]
        local = minutes + offsets
        days = local // 1440
        is_open = week_table(contract)[weekday(days), local % 1440]
        is_open &= ~np.isin(days, holiday_days(contract, years))
        self.cum = np.concatenate([[0], np.cumsum(is_open, dtype=np.int64)])

    def _index(self, seconds: np.ndarray) -> np.ndarray:
        return np.clip(seconds // MINUTE - self.start, 0, self.length)

    def add(self, seconds: np.ndarray, minutes: np.ndarray, business: np.ndarray) -> np.ndarray:
        """Times `minutes` later on each ticket's clock (business hours where `business`,
        else wall clock). Times past the end of the range land on its end."""
        seconds = np.asarray(seconds, dtype=np.int64)
        whole = np.ceil(np.asarray(minutes, dtype=float)).astype(np.int64)
        wall = seconds + whole * MINUTE
        target = self.cum[self._index(seconds)] + whole
        at = np.searchsorted(self.cum, target, side="left")
        on_clock = (self.start + at) * MINUTE + seconds % MINUTE
        return np.where(business, on_clock, wall)

    def between(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Business minutes from `start` to `stop` (to the minute)."""
        return self.cum[self._index(np.asarray(stop))] - self.cum[self._index(np.asarray(start))]
