"""Numbers into words: formats, thin-sample rules and month-over-month sentences.

A percentage with no denominator is "n/a"; one resting on too few tickets or
surveys says so instead of printing a misleading figure.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

# Below these counts a percentage is shown as "too few to judge" (and never coloured).
MIN_N = {"sla": 10, "fcr": 10, "csat": 5, "share": 10, "patch": 5}


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def thin(n: int | None, kind: str) -> bool:
    """True when a percentage rests on fewer than MIN_N[kind] cases (but more than none)."""
    return n is not None and 0 < n < MIN_N[kind]


def pct(value: float | None, n: int | None = None, kind: str = "sla", target: float | None = None) -> str:
    """'93.1%'; 'n/a' with no denominator; 'too few to judge (n=3)' for thin samples. Shown
    beside a `target`, it keeps the decimals it needs to fall on the target's side it is on
    (99.86 against 99.9 is '99.86%', not '99.9%' marked as missed)."""
    if is_missing(value) or n == 0:
        return "n/a"
    if n is not None and thin(n, kind):
        return f"too few to judge (n={n})"
    decimals = 1
    while target is not None and decimals < 4 and (round(value, decimals) < target) != (value < target):
        decimals += 1
    return f"{value:.{decimals}f}%"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 ticket', '3 tickets' ('1 was', '2 were' with many='were')."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def number(value: float | None, decimals: int = 0) -> str:
    if is_missing(value):
        return "n/a"
    return f"{value:,.{decimals}f}"


def money(value: float | None, currency: str = "USD") -> str:
    if is_missing(value):
        return "n/a"
    symbol = {"USD": "$", "GBP": "£", "EUR": "€", "AUD": "A$", "CAD": "C$"}.get(currency, currency + " ")
    return f"{symbol}{value:,.2f}"


def duration(minutes: float | None, *, calendar: bool = False) -> str:
    """Clock time in the clock's unit: 90.5 -> '1 h 31 min', 6120 -> '102 h' (working time is
    never shown in 24-hour days); with `calendar` (elapsed time) 2 days+ -> '2 d 4 h'."""
    if is_missing(minutes):
        return "n/a"
    total = int(round(minutes))
    if total < 60:
        return f"{total} min"
    hours, mins = divmod(total, 60)
    if hours < 48 or not calendar:
        return f"{hours} h {mins:02d} min" if mins and hours < 48 else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def target(sla_target, name: str) -> str:
    """A contract target in its own unit: '4 h', '30 min', '3 business days'."""
    days = sla_target.business_days(name)
    if days:
        return plural(days, "business day")
    return duration(sla_target.minutes(name))


def date_of(stamp: str | None, zone: str) -> str:
    """An ISO instant as the day it is in `zone`: '23 May 2026' ('n/a' when unknown)."""
    if not stamp:
        return "n/a"
    moment = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone))
    return f"{moment.day} {moment:%B %Y}"


def status(value: float | None, target: float | None, n: int | None = None, kind: str = "sla",
           higher_is_better: bool = True) -> str:
    """Tile colour: good / bad against the target, na when unknown or too thin to judge."""
    if is_missing(value) or target is None or n == 0 or (n is not None and thin(n, kind)):
        return "na"
    ok = value >= target if higher_is_better else value <= target
    return "good" if ok else "bad"


def change(label: str, current: float | None, previous: float | None, *, n: int | None = None,
           previous_n: int | None = None, target: float | None = None, kind: str = "sla",
           unit: str = "%", compare: bool = True, not_measured: str | None = None) -> str:
    """'Resolution SLA 93.1%, down 2.4 points; target 95%.' — or why it can't be said.
    `compare`: whether last month is comparable at all (both months complete);
    `not_measured`: why the export cannot support the figure."""
    if not_measured:
        return f"{label}: not measured ({not_measured})."
    if is_missing(current) or n == 0:
        sentence = f"{label}: n/a (nothing to measure this month)"
    elif n is not None and thin(n, kind):
        sentence = f"{label}: too few to judge this month (n={n})"
    else:
        sentence = f"{label} {current:.1f}{unit}"
        comparable = compare and not (is_missing(previous) or previous_n == 0
                                      or (previous_n and thin(previous_n, kind)))
        if comparable:
            delta = current - previous
            points = "points" if unit in ("%", "") else unit.strip()
            if abs(delta) < 0.05:
                sentence += ", unchanged from last month"
            else:
                sentence += f", {'up' if delta > 0 else 'down'} {abs(delta):.1f} {points}"
        else:
            sentence += " (no comparable figure last month)"
    if target is not None:
        sentence += f"; target {target:g}{unit}"
    return sentence + "."
