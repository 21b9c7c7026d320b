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
