"""Periods: one spelling of a month, checked, titled and counted in one place."""

from __future__ import annotations

import pytest

from pipelines.core.periods import is_period, month_index, month_label, period_title, previous_month


def test_month_index_rejects_bad_spelling():
    assert month_index("2026-09") == 2026 * 12 + 8
    for bad in ("2026-9", "2026-13", "2026-00", "26-09", "2026-09-01", ""):
        assert not is_period(bad)
        with pytest.raises(ValueError, match="not a month like 2026-09"):
            month_index(bad)


def test_months_round_trip_and_have_titles():
    assert month_label(month_index("2026-10")) == "2026-10"
    assert period_title("2026-10") == "October 2026"
    assert previous_month("2026-01") == "2025-12"


def test_a_period_option_is_a_month_a_range_or_all():
    from pipelines.core.periods import ALL, months_between, parse_periods

    assert parse_periods(None) is None and parse_periods("2026-10") == ["2026-10"]
    assert parse_periods("2025-11:2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert parse_periods("all") == [ALL]
    assert months_between("2025-10", "2026-10")[::12] == ["2025-10", "2026-10"]
    with pytest.raises(ValueError, match="'2026-10:2026-01': the range ends before it starts"):
        parse_periods("2026-10:2026-01")
    with pytest.raises(ValueError, match="is not a month like 2026-10, a range like 2025-10:2026-10 or 'all'"):
        parse_periods("2026-10:")
