"""How a contract spells durations and working hours: '90m', '4h', '1h30m', '2d', '08:00',
["08:00", "18:00"]; parsed for the contract model and written back by `contract_to_yaml`."""

from __future__ import annotations

import math
import re
from datetime import time
from decimal import Decimal

from pipelines.core.limits import shown

MAX_TARGET_DAYS = 365  # the longest SLA target (and, on business hours, the longest time to fall due)

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*$")


def parse_duration(value: object) -> float:
    """'90m', '4h', '1h30m', '2d' or a number of minutes -> minutes (float), at most 365 days."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a duration like 90m or 4h")
    if isinstance(value, int | float):
        minutes = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match or not any(match.groups()):
            raise ValueError(f"{shown(value)} is not a duration like 90m or 4h")
        days, hours, mins = (float(g) if g else 0.0 for g in match.groups())
        minutes = days * 1440 + hours * 60 + mins
    if not math.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"{shown(value)} is not a positive duration like 90m or 4h")
    if minutes > MAX_TARGET_DAYS * 1440:
        raise ValueError(f"{shown(value)} is longer than {MAX_TARGET_DAYS} days, the longest target allowed")
    return minutes


def parse_clock(value: object) -> time:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080 (08:00 stays text);
        # a plain 8 cannot come from H:MM and stays an error.
        value = f"{value // 60}:{value % 60:02d}"
    text = str(value).strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match:
        raise ValueError(f"{shown(value)} is not a time of day like 08:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24 and minute == 0:
        return time.max  # end of day
    if hour > 23 or minute > 59:
        raise ValueError(f"{shown(value)} is not a time of day like 08:00")
    return time(hour, minute)


def parse_windows(value: object) -> list[tuple[time, time]]:
    """["08:00","18:00"] or [["08:00","12:00"],["13:00","17:00"]] -> sorted windows."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(f"{shown(value)} is not a window like [\"08:00\", \"18:00\"]")
    pairs = [value] if value and not isinstance(value[0], list | tuple) else list(value)
    windows = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{shown(pair)} is not a window like [\"08:00\", \"18:00\"]")
        start, end = parse_clock(pair[0]), parse_clock(pair[1])
        if end <= start:
            raise ValueError(f"window {pair[0]}-{pair[1]} ends before it starts")
        windows.append((start, end))
    windows.sort()
    for (_, end_a), (start_b, _) in zip(windows, windows[1:]):
        if start_b < end_a:
            raise ValueError(f"windows overlap at {start_b.strftime('%H:%M')}")
    return windows


def format_clock(value: time) -> str:
    """A time of day as a contract spells it (the end of the day as 24:00)."""
    return "24:00" if value == time.max else value.strftime("%H:%M")


def format_duration(minutes: float) -> str:
    """Minutes as a contract spells them: whole hours as 4h, else exact minutes."""
    if minutes % 60 == 0:
        return f"{int(minutes // 60)}h"
    return f"{Decimal(repr(minutes)).normalize():f}m"  # exact and never an exponent: 1e+06m would not load
