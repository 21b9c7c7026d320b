"""Report periods: calendar months spelled 'YYYY-MM'.

One place parses, checks and titles a month, so the CLI, the metrics, the runner and
the site agree on what a period is. A month is also an absolute index
(year * 12 + month - 1), which makes ranges and "the month before" plain arithmetic.
"""

from __future__ import annotations

import re

import polars as pl

PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def is_period(text: object) -> bool:
    """True for a month spelled exactly 'YYYY-MM'."""
    return isinstance(text, str) and PERIOD.fullmatch(text) is not None


def month_index(label: str) -> int:
    """'YYYY-MM' -> absolute month index; a clear error for anything else."""
    if not is_period(label):
        raise ValueError(f"period {label!r} is not a month like 2026-09 (YYYY-MM)")
    return int(label[:4]) * 12 + int(label[5:]) - 1


def month_label(index: int) -> str:
    """Absolute month index -> 'YYYY-MM'."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_title(period: str) -> str:
    """'2026-10' -> 'October 2026' (English, whatever the machine's locale)."""
    index = month_index(period)
    return f"{_NAMES[index % 12]} {index // 12}"


def previous_month(period: str) -> str:
    """'2026-01' -> '2025-12'."""
    return month_label(month_index(period) - 1)


ALL = "all"  # --period all: every month in the data


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included, oldest first."""
    return [month_label(i) for i in range(month_index(first), month_index(last) + 1)]


def parse_periods(text: str | None) -> list[str] | None:
    """A --period value: None (the default month), 'YYYY-MM', 'YYYY-MM:YYYY-MM' (a range, both
    ends included) or 'all'. Returns the months oldest first, [ALL] for 'all', or None."""
    if text is None or text == "":
        return None
    if text == ALL:
        return [ALL]
    first, sep, last = text.partition(":")
    if not is_period(first) or (sep and not is_period(last)):
        raise ValueError(f"--period {text!r} is not a month like 2026-10, a range like "
                         "2025-10:2026-10 or 'all'")
    if sep and month_index(last) < month_index(first):
        raise ValueError(f"--period {text!r}: the range ends before it starts")
    return months_between(first, last) if sep else [first]


def local_months(client_id: pl.Series, at: pl.Series, zones: dict[str, str]) -> pl.Series:
    """'YYYY-MM' of each instant `at` in its client's time zone (`zones`: client id -> IANA
    zone; null for a client not in it), each zone's rows converted apart."""
    zone = client_id.replace_strict(zones, default=None, return_dtype=pl.String)
    month = pl.repeat(None, len(at), dtype=pl.String, eager=True).alias("month")
    for z in zone.drop_nulls().unique().sort().to_list():
        rows = (zone == z).arg_true()
        month = month.scatter(rows, at.gather(rows).dt.convert_time_zone(z).dt.strftime("%Y-%m"))
    return month
