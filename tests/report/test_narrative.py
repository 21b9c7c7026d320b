from __future__ import annotations

import pytest

from pipelines.report import narrative as say


@pytest.mark.parametrize(
    ("value", "n", "kind", "expected"),
    [
        (93.14, 40, "sla", "93.1%"),
        (None, 0, "sla", "n/a"),
        (100.0, 0, "sla", "n/a"),  # no denominator is never 100%
        (100.0, 3, "sla", "too few to judge (n=3)"),
        (80.0, 4, "csat", "too few to judge (n=4)"),
        (80.0, 5, "csat", "80.0%"),
        (float("nan"), None, "sla", "n/a"),
    ],
)
def test_pct(value, n, kind, expected):
    assert say.pct(value, n, kind) == expected


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        (99.86, 99.9, "99.86%"),  # missed: never shown as the target itself
        (99.899, 99.9, "99.899%"),
        (94.96, 95, "94.96%"),
        (95.0, 95, "95.0%"),  # met exactly
        (99.94, 99.9, "99.9%"),  # met: one decimal is enough
        (93.14, 95, "93.1%"),
        (99.86, None, "99.9%"),  # no target beside it
    ],
)
def test_pct_beside_a_target_stays_on_its_side(value, target, expected):
    assert say.pct(value, 40, "sla", target) == expected


def test_change_sentence_names_direction_points_and_target():
    assert say.change("Resolution SLA", 93.1, 95.5, n=40, previous_n=38, target=95) == \
        "Resolution SLA 93.1%, down 2.4 points; target 95%."
    assert say.change("Response SLA", 97.0, 96.0, n=40, previous_n=40) == "Response SLA 97.0%, up 1.0 points."
    assert say.change("CSAT", 90.0, 90.0, n=12, previous_n=9, kind="csat") == \
        "CSAT 90.0%, unchanged from last month."


def test_change_sentence_for_thin_or_missing_months():
    assert say.change("CSAT", 100.0, 80.0, n=2, previous_n=10, target=90, kind="csat") == \
        "CSAT: too few to judge this month (n=2); target 90%."
    assert say.change("Response SLA", None, 90.0, n=0, target=95) == \
        "Response SLA: n/a (nothing to measure this month); target 95%."
    assert say.change("Response SLA", 90.0, 100.0, n=30, previous_n=2) == \
        "Response SLA 90.0% (no comparable figure last month)."
    assert say.change("NPS", 40.0, 30.0, n=20, previous_n=20, kind="csat", unit="") == "NPS 40.0, up 10.0 points."


def test_status_colours_only_judgeable_numbers():
    assert say.status(96, 95, 40) == "good"
    assert say.status(90, 95, 40) == "bad"
    assert say.status(90, 95, 3) == "na"
    assert say.status(None, 95, 0) == "na"
    assert say.status(2, 1) == "good"


@pytest.mark.parametrize(("minutes", "text"), [(None, "n/a"), (45, "45 min"), (90.4, "1 h 30 min"),
                                               (120, "2 h"), (60 * 50, "50 h"), (60 * 102 + 20, "102 h")])
def test_working_time_is_shown_in_working_hours_never_in_24_hour_days(minutes, text):
    assert say.duration(minutes) == text


def test_elapsed_calendar_time_may_use_days():
    assert say.duration(60 * 50, calendar=True) == "2 d 2 h"
    assert say.duration(60 * 48, calendar=True) == "2 d"


def test_words():
    assert say.plural(1, "ticket") == "1 ticket" and say.plural(2, "ticket") == "2 tickets"
    assert say.money(210, "GBP") == "£210.00"
