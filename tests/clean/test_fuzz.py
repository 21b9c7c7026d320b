"""Fuzz `servicereview clean` with random rows of the canonical tables full of hostile values:
never a traceback, exit 0 or 2, and every row in is a clean row or a rejected one.

Bounded for CI: a fixed number of small examples (well under a minute on two cores)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import polars as pl
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.core.schemas import REJECT_REASONS, TABLES
from tests.conftest import ACME, write_contract

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\x00",
           "a\x00b", "two\nlines", "cr\ronly", 'quo"te', ";;;", ",,,", "  padded  ", "\t", "😀", "\u202eevil",
           "x" * 3000, "", " ", "NULL", "None", "N/A", "<script>alert(1)</script>", "../../etc/passwd"]
TIMESTAMPS = ["9999-12-31T23:59:59Z", "1900-01-01", "0001-01-01T00:00:00", "1969-12-31T23:59:59Z",
              "2026-03-08T02:30:00", "2026-11-01T01:30:00", "2026-02-30T10:00:00", "2026-13-01T00:00:00",
              "yesterday", "2026-10-01T09:00:00+25:00", "2026-10-01T09:00:00.123456789Z", "2026-10-01",
              "2026-10-01 09:00", "20261001T090000", "2026-10-01T09:00:00z", "+02026-10-01T09:00:00"]
NUMBERS = ["0", "1", "-1", "2", "99999999999", "1e309", "nan", "inf", "-inf", "1.5", "two", "0x10", "½"]
BOOLEANS = ["true", "False", "yes", "N", "1", "maybe", "TRUE "]
RATINGS = ["1", "3", "5", "9", "10", "0", "positive", "Neutral", "bad", "4.5", "-1", "11"]

EARLIEST, LATEST = datetime(1990, 1, 1, tzinfo=UTC), datetime(2026, 11, 2, 6, tzinfo=UTC)
hostile = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))
stamp = st.builds(lambda d, h, m, off: f"2026-10-{d:02d}T{h:02d}:{m:02d}:00{off}", st.integers(1, 31),
                  st.integers(0, 23), st.integers(0, 59), st.sampled_from(["", "Z", "-04:00", "+01:00", "+05:45"]))
# per column: (plausible values, odd values); a hostile value can replace either
VALUES = {
    "ticket_id": (st.sampled_from(["T1", "T2", "T3", "555"]), ["t1", " T1", "T1 "]),
    "client_id": (st.sampled_from(["acme", "beta"]), ["nope", "ACME", " acme ", "portfolio"]),
    "priority": (st.sampled_from(["High", "Low", "P1", "p2", "Critical"]), ["Urgent", "P5", "0"]),
    "rating": (st.sampled_from(["1", "3", "5", "positive", "neutral"]), RATINGS),
}
TIMESTAMP_COLUMNS = {c for spec in TABLES.values() for c in spec.timestamps}


def _kinds(column: str, dtype) -> tuple[st.SearchStrategy, list[str]]:
    if column in VALUES:
        return VALUES[column]
    if column in TIMESTAMP_COLUMNS:
        return stamp, TIMESTAMPS
    if str(dtype).startswith(("Int", "Float")):
        return st.integers(0, 5).map(str), NUMBERS
    if str(dtype) == "Boolean":
        return st.sampled_from(["true", "false"]), BOOLEANS
    return st.sampled_from(["Printer jam", "email", "remote", "Closed", "resolved", ""]), HOSTILE


@st.composite
def row(draw, header: list[str], spec) -> list[str]:
    """A plausible row with one value (or, sometimes, every value) odd or hostile."""
    kinds = [_kinds(c, spec.columns.get(c)) for c in header]
    values = [draw(plausible) for plausible, _ in kinds]
    spoilt = draw(st.sampled_from([None, "all", *range(len(header))]))
    for i, (_, odd) in enumerate(kinds):
        if spoilt == "all" or spoilt == i:
            values[i] = draw(st.one_of(st.sampled_from(odd), hostile))
    return values


@st.composite
def tables(draw) -> dict[str, tuple[list[str], list[list[str]], str]]:
    """Per table: a header (the required columns, some optional ones, maybe an unknown one), rows,
    and how the file is written (mostly plain UTF-8 CSV)."""
    out = {}
    for name, spec in TABLES.items():
        if name != "tickets" and not draw(st.booleans()):
            continue
        optional = [c for c in spec.columns if c not in spec.required and c not in ("priority_raw", "score",
                                                                                      "scale", "sentiment")]
        header = [*spec.required, *draw(st.lists(st.sampled_from(optional), unique=True, max_size=6))]
        if draw(st.booleans()):
            header.append("Legacy Ref")
        form = draw(st.sampled_from([*["plain"] * 6, "semicolons", "crlf", "bom", "cp1252"]))
        out[name] = (header, draw(st.lists(row(header, spec), max_size=8)), form)
    return out


def _clean_tables_hold_no_hostile_value(out) -> None:
    """What got through is usable: no NUL byte, every time plausible, no answer before the question."""
    for name, spec in TABLES.items():
        frame = pl.read_parquet(out / f"{name}.parquet")
        text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
        assert not frame.select(pl.any_horizontal(pl.col(text).str.contains("\x00", literal=True)).any()).item()
        for column in spec.timestamps:
            assert frame.filter((pl.col(column) < EARLIEST) | (pl.col(column) > LATEST)).is_empty(), column
    tickets = pl.read_parquet(out / "tickets.parquet")
    for column in ("first_response_at", "resolved_at"):
        assert tickets.filter(pl.col(column) < pl.col("created_at")).is_empty(), column


def _write(folder, name: str, header: list[str], rows: list[list[str]], form: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if form == "semicolons" else ",",
                        lineterminator="\r\n" if form == "crlf" else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    if form == "cp1252":  # a Windows export: an error unless --encoding is given (when it is not ASCII)
        data = text.encode("cp1252", errors="replace")
    else:
        data = ("\ufeff" if form == "bom" else "").encode() + text.encode("utf-8", errors="surrogatepass")
    (folder / f"{name}.csv").write_bytes(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(tables())
def test_clean_never_crashes_and_accounts_for_every_row(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("fuzz")
    write_contract(root / "raw", ACME)
    write_contract(root / "raw", {k: v for k, v in ACME.items() if k != "survey_scale"}
                   | {"client_id": "beta", "timezone": "Australia/Lord_Howe"})  # scale read from ratings
    for name, (header, rows, form) in data.items():
        _write(root / "raw", name, header, rows, form)
    result = CliRunner().invoke(app, ["clean", "--data", str(root / "raw"), "--out", str(root / "out"),
                                      "--extracted-at", "2026-11-01T06:00:00Z"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.output.startswith("error: "), result.output
        event(f"exit 2: {result.output.split(':')[-1][:60]}")
        return
    event("exit 0")
    summary = json.loads((root / "out" / "clean_summary.json").read_text())
    _clean_tables_hold_no_hostile_value(root / "out")
    for name, (_, rows, _) in data.items():
        counts = summary["tables"][name]
        assert counts["rows_in"] == len(rows) == counts["clean"] + counts["rejected"], name
        assert set(counts["by_reason"]) <= set(REJECT_REASONS)
        for reason in counts["by_reason"]:
            event(reason)
        event(f"{name} clean rows: {min(counts['clean'], 2)}+")
