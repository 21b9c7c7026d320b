from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.clean.stage import clean_folder
from pipelines.cli import app
from pipelines.core.io import InputError
from tests.conftest import write_contract, write_csv


@pytest.fixture
def raw(tmp_path, contract_data):
    """A raw folder with one contract (acme, New York, 5-point surveys) and a few tables."""
    write_contract(tmp_path, contract_data)
    write_contract(tmp_path, dict(contract_data, client_id="beta", timezone="Europe/London",
                                  survey_scale="3-point"))
    write_csv(tmp_path, "tickets", """
        ticket_id,client_id,created_at,priority,status,resolved_at,close_code,reopen_count,fcr,Extra
        T1,acme,2026-03-02T09:00:00,High,resolved,2026-03-02T11:00:00,Resolved,0,yes,x
        T2,acme,2026-03-08T02:30:00,High,New,,,0,,x
        T3,nope,2026-03-02T09:00:00,High,New,,,0,,x
        T4,acme,yesterday,High,New,,,0,,x
        T5,acme,2026-03-02T09:00:00Z,Urgent,New,,,0,,x
        T6,acme,2026-03-02T09:00:00,Low,Resolved,2026-03-01T09:00:00,resolved,0,,x
        T1,acme,2026-03-02T09:00:00,High,resolved,2026-03-02T11:00:00,Resolved,0,yes,x
        T7,acme,2026-03-02T09:00:00,Low,Closed,,Canceled,0,,x
        T7,acme,2026-03-02T09:00:00,Low,Closed,2026-03-03T10:00:00+00:00,merged,0,,x
        T8,,2026-03-02T09:00:00,Low,Closed,,merged,0,,x
        T9,beta,2026-07-01T09:00:00,p3,waiting on customer,,,two,,x
        T10,beta,2026-07-01 09:00,Medium,in progress,,,1,maybe,x
        T11,beta,2026-07-01T09:00:00+02:00,Critical,In Progress,,,,,x
        T12,beta,2026-07-01T09:00:00,p3,waiting on customer,,,0,,x
        T13,beta,2026-07-01 09:00,Medium,in progress,,,1,,x
    """)
    write_csv(tmp_path, "ticket_events", """
        ticket_id,at,status
        T1,2026-03-02T09:00:00,New
        T1,2026-03-02T10:00:00,in progress
        T404,2026-03-02T10:00:00,In Progress
        T2,2026-03-02T10:00:00,In Progress
        T1,2026-03-02T10:00:00,in progress
        T10,,New
    """)
    write_csv(tmp_path, "surveys", """
        ticket_id,responded_at,rating,comment
        T1,2026-03-03T10:00:00,5,"Quick, friendly"
        T7,2026-03-03T10:00:00,7,odd
        T13,2026-07-03T10:00:00,neutral,ok
        T11,2026-07-03T10:00:00,4,wrong scale
        T404,2026-03-03T10:00:00,5,ghost
    """)
    write_csv(tmp_path, "outages", """
        client_id,service,started_at,ended_at,planned
        acme,email,2026-03-04T10:00:00,2026-03-04T11:30:00,false
        acme,email,2026-03-05T10:00:00,2026-03-05T09:00:00,false
        beta,internet,2026-07-04T22:00:00,2026-07-05T01:00:00,true
    """)
    return tmp_path


def _clean(raw, tmp_path):
    out = tmp_path / "out"
    result = clean_folder(raw, out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    return result, rejects, out


def _reason(rejects, table, row):
    hit = rejects.filter((pl.col("table") == table) & (pl.col("row") == row))
    assert hit.height == 1, hit
    return hit.row(0, named=True)


def test_every_input_row_is_clean_or_rejected(raw, tmp_path):
    result, rejects, out = _clean(raw, tmp_path)
    for name, counts in result.summary["tables"].items():
        clean_rows = pl.read_parquet(out / f"{name}.parquet").height
        rejected = rejects.filter(pl.col("table") == name).height
        assert counts["rows_in"] == clean_rows + rejected == counts["clean"] + counts["rejected"]
    assert result.summary["tables"]["tickets"]["rows_in"] == 15
    assert result.summary["tables"]["tickets"]["ignored_columns"] == ["Extra"]
    assert result.summary["missing_tables"] == ["time_entries", "devices", "contacts"]
    assert json.loads((out / "clean_summary.json").read_text())["tables"]["surveys"]["rows_in"] == 5


@pytest.mark.parametrize(
    ("table", "row", "reason", "detail"),
    [
        ("tickets", 2, "nonexistent_local_time", "created_at: '2026-03-08T02:30:00' does not exist in America/New_York"),
        ("tickets", 3, "unknown_client", "client_id 'nope' has no contract file"),
        ("tickets", 4, "unparseable_timestamp", "created_at: 'yesterday' is not an ISO 8601 timestamp"),
        ("tickets", 5, "unknown_priority", "priority: 'Urgent' is not in the priority_map of contracts/acme.yml"),
        ("tickets", 6, "resolved_before_created", "resolved_at 2026-03-01T14:00:00Z is before created_at 2026-03-02T14:00:00Z"),
        ("tickets", 7, "duplicate_row", "an exact copy of row 1"),
        ("tickets", 8, "duplicate_id_conflict", "ticket_id='T7' appears again at row 9 with different values; row 9 is kept"),
        ("tickets", 10, "missing_required_field", "client_id is empty"),
        ("tickets", 11, "invalid_number", "reopen_count: 'two' is not a whole number"),
        ("tickets", 12, "invalid_boolean", "fcr: 'maybe' is not true or false"),
        ("ticket_events", 3, "event_unknown_ticket", "ticket_id 'T404' is not in the clean tickets"),
        ("ticket_events", 4, "event_unknown_ticket", "ticket_id 'T2' is not in the clean tickets"),
        ("ticket_events", 5, "duplicate_row", "an exact copy of row 2"),
        ("ticket_events", 6, "missing_required_field", "at is empty"),
        ("surveys", 2, "rating_out_of_scale", "rating: '7' is not a rating on the 5-point scale of contracts/acme.yml (1 to 5)"),
        ("surveys", 4, "rating_out_of_scale", "rating: '4' is not a rating on the 3-point scale"),
        ("surveys", 5, "survey_unknown_ticket", "ticket_id 'T404' is not in the clean tickets"),
        ("outages", 2, "ended_before_started", "ended_at 2026-03-05T14:00:00Z is before started_at 2026-03-05T15:00:00Z"),
    ],
)
def test_rejects_name_row_reason_and_field(raw, tmp_path, table, row, reason, detail):
    _, rejects, _ = _clean(raw, tmp_path)
    hit = _reason(rejects, table, row)
    assert hit["reason"] == reason
    assert detail in hit["detail"]
    assert hit["source"] == f"{table}.csv"


def test_rejects_keep_raw_values_and_client(raw, tmp_path):
    _, rejects, _ = _clean(raw, tmp_path)
    hit = _reason(rejects, "tickets", 4)
    assert json.loads(hit["raw"])["created_at"] == "yesterday"
    assert json.loads(hit["raw"])["Extra"] == "x"
    assert hit["client_id"] == "acme"
    assert _reason(rejects, "tickets", 3)["client_id"] == "nope"
    assert _reason(rejects, "surveys", 4)["client_id"] == "beta"


def test_timestamps_use_the_clients_zone_unless_given_an_offset(raw, tmp_path):
    result, _, _ = _clean(raw, tmp_path)
    tickets = {r["ticket_id"]: r for r in result.tables["tickets"].iter_rows(named=True)}
    assert tickets["T1"]["created_at"] == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # EST, UTC-5
    assert tickets["T12"]["created_at"] == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # BST, UTC+1
    assert tickets["T13"]["created_at"] == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # space separator
    assert tickets["T11"]["created_at"] == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # explicit offset
    assert tickets["T7"]["resolved_at"] == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_values_are_normalised_through_the_contract(raw, tmp_path):
    result, _, _ = _clean(raw, tmp_path)
    tickets = {r["ticket_id"]: r for r in result.tables["tickets"].iter_rows(named=True)}
    assert (tickets["T1"]["priority"], tickets["T1"]["priority_raw"]) == ("P2", "High")
    assert tickets["T1"]["status"] == "Resolved"
    assert (tickets["T12"]["status"], tickets["T12"]["priority"]) == ("Waiting on Customer", "P3")
    assert tickets["T13"]["status"] == "In Progress"
    assert tickets["T7"]["close_code"] == "merged"
    assert tickets["T1"]["fcr"] is True
    events = result.tables["ticket_events"]
    assert events["status"].to_list() == ["New", "In Progress"]
    assert events["client_id"].to_list() == ["acme", "acme"]


def test_survey_sentiment_follows_the_scale(raw, tmp_path):
    result, _, _ = _clean(raw, tmp_path)
    surveys = {r["ticket_id"]: r for r in result.tables["surveys"].iter_rows(named=True)}
    assert (surveys["T1"]["score"], surveys["T1"]["sentiment"], surveys["T1"]["scale"]) == (5.0, "positive", "5-point")
    assert (surveys["T13"]["score"], surveys["T13"]["sentiment"]) == (2.0, "neutral")
    assert surveys["T1"]["comment"] == "Quick, friendly"


def test_outage_planned_flag(raw, tmp_path):
    result, _, _ = _clean(raw, tmp_path)
    assert result.tables["outages"]["planned"].to_list() == [False, True]


def test_duplicate_resolution_is_deterministic(raw, tmp_path):
    first, _, _ = _clean(raw, tmp_path)
    second = clean_folder(raw, tmp_path / "again")
    assert first.tables["tickets"].equals(second.tables["tickets"])
    assert first.rejects.equals(second.rejects)


def test_missing_required_column_names_file_and_column(raw, tmp_path):
    (raw / "tickets.csv").write_text("ticket_id,client_id,created_at\nT1,acme,2026-03-02T09:00:00\n")
    with pytest.raises(InputError, match=r"tickets.csv: missing required column 'priority'"):
        clean_folder(raw, tmp_path / "out")


def test_empty_file_names_file_and_expected_header(raw, tmp_path):
    (raw / "outages.csv").write_text("")
    with pytest.raises(InputError, match=r"outages.csv: the file is empty \(the outages table needs a header row "
                                         r"with client_id, service, started_at, ended_at\)"):
        clean_folder(raw, tmp_path / "out")


def test_header_only_tables_clean_to_empty_tables(raw, tmp_path):
    for name in ("tickets", "ticket_events", "surveys", "outages"):
        header = (raw / f"{name}.csv").read_text().splitlines()[0]
        (raw / f"{name}.csv").write_text(header + "\n")
    result, rejects, out = _clean(raw, tmp_path)
    assert rejects.height == 0
    assert {name: t["rows_in"] for name, t in result.summary["tables"].items()} == dict.fromkeys(
        ["tickets", "ticket_events", "surveys", "outages"], 0)
    assert pl.read_parquet(out / "tickets.parquet").schema["created_at"] == pl.Datetime("us", "UTC")
    assert result.summary["by_client"]["acme"]["tickets"] == {"rows_in": 0, "clean": 0, "rejected": 0}


def test_count_too_large_for_its_type_is_rejected_not_a_crash(raw, tmp_path):
    (raw / "tickets.csv").write_text(
        "ticket_id,client_id,created_at,priority,reopen_count\n"
        "T1,acme,2026-03-02T09:00:00,High,99999999999\n"
        "T2,acme,2026-03-02T09:00:00,High,2\n"
    )
    result, rejects, _ = _clean(raw, tmp_path)
    assert _reason(rejects, "tickets", 1)["detail"] == "reopen_count: '99999999999' is not a whole number"
    assert result.tables["tickets"]["reopen_count"].to_list() == [2]


def test_missing_tickets_file_is_an_error(raw, tmp_path):
    (raw / "tickets.csv").unlink()
    with pytest.raises(InputError, match="no tickets file"):
        clean_folder(raw, tmp_path / "out")


def test_parquet_input_reads_like_csv(raw, tmp_path):
    csv_result = clean_folder(raw, tmp_path / "csv")
    pl.read_csv(raw / "outages.csv", infer_schema=False).write_parquet(raw / "outages.parquet")
    (raw / "outages.csv").unlink()
    parquet_result = clean_folder(raw, tmp_path / "pq")
    assert csv_result.tables["outages"].equals(parquet_result.tables["outages"])


def test_table_given_twice_is_an_error(raw, tmp_path):
    pl.read_csv(raw / "outages.csv", infer_schema=False).write_parquet(raw / "outages.parquet")
    with pytest.raises(InputError, match="outages is given twice"):
        clean_folder(raw, tmp_path / "out")


def test_cli_reports_counts_and_bad_contract(raw, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "cli")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "cli" / "tickets.parquet").exists()
    (raw / "contracts" / "beta.yml").write_text("client_id: beta\nname: Beta\n")
    bad = runner.invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "cli")])
    assert bad.exit_code == 2
    assert "beta.yml: timezone: required field is missing" in bad.output


def test_each_clients_rows_are_together_in_the_exports_order(raw, tmp_path):
    write_csv(raw, "tickets", """
        ticket_id,client_id,created_at,priority,status
        B2,beta,2026-07-02T09:00:00,p3,New
        A9,acme,2026-03-09T09:00:00,High,New
        B1,beta,2026-07-01T09:00:00,p3,New
        A1,acme,2026-03-01T09:00:00,High,New
    """)
    write_csv(raw, "ticket_events", """
        ticket_id,at,status
        B1,2026-07-01T09:00:00,New
        A9,2026-03-09T09:00:00,New
    """)
    write_csv(raw, "surveys", """
        ticket_id,responded_at,rating
        B2,2026-07-03T10:00:00,neutral
        A1,2026-03-03T10:00:00,5
        B1,2026-07-03T10:00:00,negative
    """)
    _, rejects, out = _clean(raw, tmp_path)
    assert rejects.filter(pl.col("table") != "outages").is_empty()
    assert pl.read_parquet(out / "tickets.parquet")["ticket_id"].to_list() == ["A9", "A1", "B2", "B1"]
    assert pl.read_parquet(out / "surveys.parquet")["ticket_id"].to_list() == ["A1", "B2", "B1"]
    assert pl.read_parquet(out / "ticket_events.parquet")["ticket_id"].to_list() == ["A9", "B1"]
