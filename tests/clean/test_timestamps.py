"""The fast timestamp reader gives exactly what the general (polars) parser gives, value by value."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.clean.timestamps import NONEXISTENT, UNREADABLE, aware_ts, naive_ts, read_column

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", None]


def _reference(text: list[str | None], zones: list[str | None]) -> tuple[list, list]:
    """The general parser on every value: aware text -> UTC; naive text read in its zone."""
    frame = pl.DataFrame({"t": text, "z": zones}, schema={"t": pl.String, "z": pl.String})
    frame = frame.with_columns(aware=aware_ts("t"), naive=naive_ts("t"))
    local = [pl.when(pl.col("z") == z).then(
        pl.col("naive").dt.replace_time_zone(z, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")) for z in ZONES if z]
    out = frame.with_columns(utc=pl.coalesce("aware", *local))
    problem = (pl.when(pl.col("t").is_not_null() & pl.col("aware").is_null() & pl.col("naive").is_null())
               .then(UNREADABLE)
               .when(pl.col("t").is_not_null() & pl.col("utc").is_null()).then(NONEXISTENT))
    out = out.with_columns(problem=problem)
    return out["utc"].dt.epoch("us").to_list(), out["problem"].to_list()  # µs: year 0 has no datetime


_two = st.integers(0, 99).map(lambda v: f"{v:02d}")
_shaped = st.builds(
    lambda y, mo, d, h, mi, s, sep, tail: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}:{s}{tail}",
    st.integers(0, 9999), _two, _two, _two, _two, _two, st.sampled_from(["T", " ", "t", "_"]),
    st.one_of(st.just(""), st.just("Z"), st.just("z"), st.just(".5"), st.just("+0100"),
              st.builds(lambda sign, hh, mm: f"{sign}{hh}:{mm}", st.sampled_from("+-~"), _two, _two)),
)
_plausible = st.builds(
    lambda y, mo, d, h, mi, s, tail: f"{y}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{tail}",
    st.integers(1969, 2040), st.integers(1, 12), st.integers(1, 31), st.integers(0, 23), st.integers(0, 59),
    st.integers(0, 59), st.sampled_from(["", "Z", "+05:45", "-04:00", "+10:30", "+00:00"]),
)
_value = st.one_of(st.none(), _shaped, _plausible, st.text(max_size=30),
                   st.sampled_from(["2026-03-08T02:30:00", "2026-11-01T01:30:00", "2026-10-04T02:15:00",
                                    "2026-03-02", "2026-03-02T09:15", "2026-03-02 09:15:00.250-05:00"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_value, st.sampled_from(ZONES)), min_size=1, max_size=40))
def test_fast_reader_matches_the_general_parser(rows):
    text, zones = [t for t, _ in rows], [z for _, z in rows]
    value, problem = read_column(pl.Series(text, dtype=pl.String), pl.Series(zones, dtype=pl.String))
    assert (value.dt.epoch("us").to_list(), problem.to_list()) == _reference(text, zones)


def test_daylight_saving_changes_off_the_hour_are_read_value_by_value():
    # Lord Howe moves its clocks by 30 minutes at 02:00: 02:15 does not exist, 02:45 does
    text = ["2026-10-04T02:15:00", "2026-10-04T02:45:00", "2026-10-04T01:59:59"]
    zones = ["Australia/Lord_Howe"] * 3
    value, problem = read_column(pl.Series(text), pl.Series(zones))
    assert problem.to_list() == [NONEXISTENT, None, None]
    assert (value.dt.epoch("us").to_list(), problem.to_list()) == _reference(text, zones)
