"""Numbers into words: formats, thin-sample rules and month-over-month sentences.

A percentage with no denominator is "n/a"; one resting on too few tickets or
surveys says so instead of printing a misleading figure.
"""

from __future__ import annotations

import math

# Below these counts a percentage is shown as "too few to judge" (and never coloured).
MIN_N = {"sla": 10, "fcr": 10, "csat": 5, "share": 10, "patch": 5}


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def thin(n: int | None, kind: str) -> bool:
    """True when a percentage rests on fewer than MIN_N[kind] cases (but more than none)."""
    return n is not None and 0 < n < MIN_N[kind]


def pct(value: float | None, n: int | None = None, kind: str = "sla") -> str:
    """'93.1%'; 'n/a' with no denominator; 'too few to judge (n=3)' for thin samples."""
    if is_missing(value) or n == 0:
        return "n/a"
    if n is not None and thin(n, kind):
        return f"too few to judge (n={n})"
    return f"{value:.1f}%"


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


def duration(minutes: float | None) -> str:
    """90.5 -> '1 h 31 min'; 2 days+ -> '2 d 4 h'; None -> 'n/a'."""
    if is_missing(minutes):
        return "n/a"
    total = int(round(minutes))
    if total < 60:
        return f"{total} min"
    hours, mins = divmod(total, 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def status(value: float | None, target: float | None, n: int | None = None, kind: str = "sla",
           higher_is_better: bool = True) -> str:
    """Tile colour: good / bad against the target, na when unknown or too thin to judge."""
    if is_missing(value) or target is None or n == 0 or (n is not None and thin(n, kind)):
        return "na"
    ok = value >= target if higher_is_better else value <= target
    return "good" if ok else "bad"


def change(label: str, current: float | None, previous: float | None, *, n: int | None = None,
           previous_n: int | None = None, target: float | None = None, kind: str = "sla",
           unit: str = "%") -> str:
    """'Resolution SLA 93.1%, down 2.4 points; target 95%.' — or why it can't be said."""
    if is_missing(current) or n == 0:
        sentence = f"{label}: n/a (nothing to measure this month)"
    elif n is not None and thin(n, kind):
        sentence = f"{label}: too few to judge this month (n={n})"
    else:
        sentence = f"{label} {current:.1f}{unit}"
        comparable = not (is_missing(previous) or previous_n == 0 or (previous_n and thin(previous_n, kind)))
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
