"""Hostile and unlucky inputs to `clean`: each gets a reject with its reason or a clear error."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.clean.stage import clean_folder
from pipelines.cli import app
from pipelines.core.io import InputError
from pipelines.run.fingerprints import client_digest
from tests.conftest import write_contract, write_csv

EXTRACTED = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
HEADER = "ticket_id,client_id,created_at,priority,status,first_response_at,resolved_at,title"


@pytest.fixture
def raw(tmp_path, contract_data):
    write_contract(tmp_path / "data", contract_data)
    return tmp_path / "data"


def _tickets(raw, *rows: str) -> None:
    write_csv(raw, "tickets", "\n".join([HEADER, *rows]))


def _bounds():
    from pipelines.clean.fields import TimeBounds

    return TimeBounds.of(EXTRACTED)


def _rejects(raw, tmp_path, **kwargs):
    result = clean_folder(raw, tmp_path / "out", **kwargs)
    return result, {r["row"]: r for r in result.rejects.iter_rows(named=True)}


# ---------------------------------------------------------------- 1: implausible timestamps


def test_far_future_and_far_past_timestamps_are_rejected(raw, tmp_path):
    _tickets(raw,
             "T1,acme,9999-12-31T00:00:00Z,High,New,,,open for ever",
             "T2,acme,1900-01-01T09:00:00,High,New,,,from before computers",
             "T3,acme,2026-10-01T09:00:00,High,Closed,2026-10-01T09:30:00,2099-01-01T00:00:00Z,late",
             "T4,acme,2026-11-02T05:00:00Z,High,New,,,within a day of the extraction",
             "T5,acme,1990-01-01T00:00:00Z,High,New,,,the first plausible instant")
    result, rejects = _rejects(raw, tmp_path, bounds=_bounds())
    assert {row: r["reason"] for row, r in rejects.items()} == dict.fromkeys((1, 2, 3), "implausible_timestamp")
    assert rejects[1]["detail"] == ("created_at: '9999-12-31T00:00:00Z' is after 2026-11-02T06:00:00Z, the "
                                    "export's extraction time plus a day (--extracted-at)")
    assert rejects[2]["detail"] == ("created_at: '1900-01-01T09:00:00' is before 1990-01-01T00:00:00Z, the "
                                    "earliest plausible time (--earliest)")
    assert rejects[3]["detail"].startswith("resolved_at: '2099-01-01T00:00:00Z' is after")
    assert sorted(result.tables["tickets"]["ticket_id"]) == ["T4", "T5"]
    assert result.summary["plausible_timestamps"]["latest"] == "2026-11-02T06:00:00+00:00"


def test_the_earliest_plausible_time_is_configurable_through_the_cli(raw, tmp_path):
    _tickets(raw, "T1,acme,2001-05-01T09:00:00Z,High,New,,,old", "T2,acme,2026-10-01T09:00:00Z,High,New,,,new")
    done = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "out"),
                                    "--earliest", "2010-01-01", "--extracted-at", "2026-11-01"])
    assert done.exit_code == 0, done.output
    rejects = pl.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert rejects.select("row", "reason").rows() == [(1, "implausible_timestamp")]
    for option, value, message in (
            ("--extracted-at", "last tuesday", "--extracted-at 'last tuesday' is not an ISO date or time"),
            ("--extracted-at", "9999-01-01", "--extracted-at 9999-01-01T00:00:00Z is in the future"),
            ("--earliest", "0001-01-01", "--earliest 0001-01-01 is before 1970-01-01")):  # unbounded ranges
        bad = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "x"), option, value])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_the_extraction_time_given_to_clean_is_the_exports_end_for_metrics(raw, tmp_path):
    from pipelines.metrics.stage import metrics_folder

    _tickets(raw, "T1,acme,2026-10-01T09:00:00Z,High,New,,,x", "T2,acme,2026-11-03T09:00:00Z,High,New,,,y")
    done = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "clean"),
                                    "--extracted-at", "2026-11-01T06:00:00Z"])
    assert done.exit_code == 0, done.output
    rejects = pl.read_parquet(tmp_path / "clean" / "rejects.parquet")
    assert rejects.select("row", "reason").rows() == [(2, "implausible_timestamp")]  # over a day later
    summary = metrics_folder(tmp_path / "clean", tmp_path / "metrics").summary
    assert (summary["period"], summary["export_end_from"]) == ("2026-10", "extraction time")


def test_the_extraction_time_an_import_recorded_bounds_the_timestamps(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00Z,High,New,,,x", "T2,acme,2026-10-20T09:00:00Z,High,New,,,y")
    (raw / "import_report.json").write_text(json.dumps({"extracted_at": "2026-10-15T00:00:00+00:00",
                                                        "rows_rejected": 0}))
    result, rejects = _rejects(raw, tmp_path)
    assert [(row, r["reason"]) for row, r in rejects.items()] == [(2, "implausible_timestamp")]
    assert result.summary["extracted_at"] == "2026-10-15T00:00:00+00:00"


def test_metrics_after_clean_never_walk_a_calendar_from_1900_or_to_9999(raw, tmp_path):
    from pipelines.metrics.stage import metrics_folder

    _tickets(raw, "T1,acme,9999-12-31T00:00:00Z,High,New,,,open for ever",
             "T2,acme,1900-01-01T09:00:00Z,High,New,,,ancient",
             "T3,acme,2026-10-01T09:00:00Z,High,New,,,real")
    clean_folder(raw, tmp_path / "clean")
    result = metrics_folder(tmp_path / "clean", tmp_path / "metrics")
    assert result.summary["period"] == "2026-09"  # the latest month the real data covers, not 9999-11
    assert result.client_kpis.height <= 2  # a client-month or two, not 1,576 from 1900


# ---------------------------------------------------------------- 5: response before creation


def test_a_first_response_before_creation_is_rejected(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,Closed,2026-10-01T08:00:00,2026-10-01T12:00:00,early",
             "T2,acme,2026-10-01T09:00:00,High,Closed,2026-10-01T09:00:00,2026-10-01T12:00:00,on the dot")
    result, rejects = _rejects(raw, tmp_path)
    assert rejects[1]["reason"] == "response_before_created"
    assert rejects[1]["detail"] == ("first_response_at 2026-10-01T12:00:00Z is before created_at "
                                    "2026-10-01T13:00:00Z")
    assert result.tables["tickets"]["ticket_id"].to_list() == ["T2"]


# ---------------------------------------------------------------- 7: NUL bytes


def test_nul_bytes_in_text_are_rejected_like_a_nul_row(raw, tmp_path):
    text = (f"{HEADER}\nT1,acme,2026-10-01T09:00:00,High,New,,,Printer\x00 jam\n"
            + "\x00" * 40 + "\nT2,acme,2026-10-01T09:00:00,High,New,,,fine\n")
    (raw / "tickets.csv").write_text(text)
    (raw / "surveys.csv").write_text("ticket_id,responded_at,rating,comment\n"
                                     "T2,2026-10-02T09:00:00,5,Great\x00\x00\nT2,2026-10-02T09:00:00,5,Great\n")
    result, _ = _rejects(raw, tmp_path)
    reasons = result.rejects.select("table", "row", "reason", "detail").rows()
    assert reasons == [
        ("tickets", 1, "nul_byte", "title: contains a NUL byte (\\x00), the mark of a corrupt or binary export"),
        ("tickets", 2, "missing_required_field", "client_id is empty (required)"),
        ("surveys", 1, "nul_byte", "comment: contains a NUL byte (\\x00), the mark of a corrupt or binary export"),
    ]
    assert not result.tables["tickets"]["title"].str.contains("\x00", literal=True).any()
    assert result.tables["surveys"]["comment"].to_list() == ["Great"]


# ---------------------------------------------------------------- 3: encodings


def test_an_export_that_is_not_utf8_is_refused_saying_where_and_what_to_do(raw, tmp_path):
    (raw / "tickets.csv").write_bytes(
        f"{HEADER}\nT1,acme,2026-10-01T09:00:00,High,New,,,fine\n".encode()
        + "T2,acme,2026-10-01T09:00:00,High,New,,,Drucker über Fehler\n".encode("cp1252"))
    with pytest.raises(InputError) as info:
        clean_folder(raw, tmp_path / "out")
    assert str(info.value).endswith(
        "tickets.csv: not UTF-8 text at line 3, byte 174 (after 'T2,acme,2026-10-01T09:00:00,High,New,,,Drucker '). "
        "If the export is Windows-1252 (common in PSA exports) or Latin-1, give its encoding: --encoding "
        "cp1252 (or the preset's `encoding`); nothing is replaced silently")


def test_a_declared_encoding_decodes_files_that_are_not_utf8_and_leaves_utf8_files_alone(raw, tmp_path):
    (raw / "tickets.csv").write_bytes(
        f"{HEADER}\nT1,acme,2026-10-01T09:00:00,High,New,,,Drucker über Fehler – Fach 2\n".encode("cp1252"))
    (raw / "surveys.csv").write_text("ticket_id,responded_at,rating,comment\nT1,2026-10-02T09:00:00,5,Schön\n",
                                     encoding="utf-8")
    done = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "out"),
                                    "--encoding", "cp1252"])
    assert done.exit_code == 0, done.output
    assert pl.read_parquet(tmp_path / "out" / "tickets.parquet")["title"].to_list() == [
        "Drucker über Fehler – Fach 2"]
    assert pl.read_parquet(tmp_path / "out" / "surveys.parquet")["comment"].to_list() == ["Schön"]
    done = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "cli"),
                                    "--encoding", "no-such-codec"])
    assert done.exit_code == 2
    assert "--encoding 'no-such-codec': not an encoding Python knows" in done.output


def test_utf16_with_a_byte_order_mark_and_gzip_are_read(raw, tmp_path):
    text = f"{HEADER}\nT1,acme,2026-10-01T09:00:00,High,New,,,Ärger mit dem Drucker\n"
    (raw / "tickets.csv").write_bytes(text.encode("utf-16"))
    assert clean_folder(raw, tmp_path / "a").tables["tickets"]["title"].to_list() == [
        "Ärger mit dem Drucker"]
    (raw / "tickets.csv").unlink()
    (raw / "tickets.csv.gz").write_bytes(gzip.compress(text.encode("cp1252")))
    with pytest.raises(InputError, match=r"tickets.csv.gz: not UTF-8 text at line 2"):
        clean_folder(raw, tmp_path / "b")


# ---------------------------------------------------------------- 9: separators


def test_a_semicolon_separated_file_is_read_by_its_header(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x")
    (raw / "surveys.csv").write_text("ticket_id;responded_at;rating;comment\n"
                                     "T1;2026-10-02T09:00:00;5;Quick, friendly, great\n")
    result = clean_folder(raw, tmp_path / "out")
    assert result.tables["surveys"]["comment"].to_list() == ["Quick, friendly, great"]


def test_a_separator_that_does_not_fit_says_which_one_does(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x")
    (raw / "surveys.csv").write_text("Nr;Wann;Note;Bemerkung\nT1;2026-10-02T09:00:00;5;Quick, friendly\n")
    with pytest.raises(InputError) as info:
        clean_folder(raw, tmp_path / "out")
    assert str(info.value).endswith(
        "surveys.csv: a row has more fields than the header's 1 (separated by ','); this file looks "
        "semicolon-separated: use --separator ';' (or the preset's `separator`)")
    (raw / "surveys.csv").write_text("Nr;Wann;Note\nT1;2026-10-02T09:00:00;5\n")
    with pytest.raises(InputError, match=r"surveys.csv: the header is one column; this file looks "
                                         r"semicolon-separated: use --separator ';'"):
        clean_folder(raw, tmp_path / "out")
    done = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "cli"),
                                    "--separator", ";"])
    assert done.exit_code == 2 and "tickets.csv: the header is one column; this file looks comma-separated: " \
        "use --separator ','" in done.output


# ---------------------------------------------------------------- 4: links outside the data folder


def test_a_data_file_linked_from_outside_the_data_folder_is_refused(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x")
    secret = tmp_path / "elsewhere" / "other-clients-surveys.csv"
    secret.parent.mkdir()
    secret.write_text("ticket_id,responded_at,rating,comment\nT1,2026-10-02T09:00:00,1,ACME-SECRET\n")
    (raw / "surveys.csv").symlink_to(secret)
    with pytest.raises(InputError) as info:
        clean_folder(raw, tmp_path / "out")
    assert f"surveys.csv: is a link to {secret}, outside the data folder {raw}" in str(info.value)
    (raw / "surveys.csv").unlink()
    (raw / "contracts" / "beta.yml").symlink_to(secret)
    with pytest.raises(InputError, match=r"beta.yml: is a link to .*outside the data folder"):
        clean_folder(raw, tmp_path / "out")


def test_links_inside_the_data_folder_are_fine(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x")
    (raw / "exports").mkdir()
    (raw / "tickets.csv").rename(raw / "exports" / "tickets-2026-10.csv")
    (raw / "tickets.csv").symlink_to(raw / "exports" / "tickets-2026-10.csv")
    assert clean_folder(raw, tmp_path / "out").tables["tickets"].height == 1


# ---------------------------------------------------------------- 8: Parquet types


def test_a_parquet_column_of_the_wrong_type_is_a_clear_error(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x")
    pl.DataFrame({"ticket_id": ["T1"], "responded_at": ["2026-10-02T09:00:00"], "rating": ["5"],
                  "comment": [{"text": "nested", "lang": "en"}]}).write_parquet(raw / "surveys.parquet")
    with pytest.raises(InputError) as info:
        clean_folder(raw, tmp_path / "out")
    assert str(info.value).endswith("surveys.parquet: column 'comment' is a struct (Struct({'text': String, "
                                    "'lang': String})); expected text (the surveys table's comment); check "
                                    "how the file was written")


def test_parquet_types_that_mean_the_same_are_read(raw, tmp_path):
    pl.DataFrame({
        "ticket_id": [101, 102], "client_id": ["acme", "acme"],
        "created_at": [datetime(2026, 10, 1, 13, tzinfo=UTC)] * 2, "priority": ["High", "Low"],
        "reopen_count": [1.0, None],  # pandas writes an int column with gaps as float
        "extra_list": [[1, 2], [3]],  # an unknown nested column: reported and ignored
    }).write_parquet(raw / "tickets.parquet")
    result = clean_folder(raw, tmp_path / "out")
    tickets = result.tables["tickets"]
    assert tickets["ticket_id"].to_list() == ["101", "102"]
    assert tickets["reopen_count"].to_list() == [1, None]
    assert result.summary["tables"]["tickets"]["ignored_columns"] == ["extra_list"]


# ---------------------------------------------------------------- 13 and 15: contracts


def test_a_contract_named_yaml_is_copied_under_the_name_later_stages_read(raw, tmp_path):
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x")
    (raw / "contracts" / "acme.yml").rename(raw / "contracts" / "acme.yaml")
    clean_folder(raw, tmp_path / "clean")
    assert sorted(p.name for p in (tmp_path / "clean" / "contracts").iterdir()) == ["acme.yml"]
    assert client_digest("acme", tmp_path / "clean", "base")  # what `run` reads for each client


@pytest.mark.parametrize(("ratings", "scale"), [(["positive", "neutral", "Negative"], "3-point"),
                                                (["4", "5", "2"], "5-point"),
                                                (["9", "10", "3", "0"], "0-10")])
def test_a_survey_scale_left_out_is_read_from_the_ratings(raw, tmp_path, contract_data, ratings, scale):
    del contract_data["survey_scale"]
    write_contract(raw, contract_data)
    _tickets(raw, *(f"T{i},acme,2026-10-01T09:00:00,High,New,,,x" for i in range(len(ratings))))
    write_csv(raw, "surveys", "\n".join(["ticket_id,responded_at,rating"] + [
        f"T{i},2026-10-02T09:00:00,{r}" for i, r in enumerate(ratings)]))
    result = clean_folder(raw, tmp_path / "out")
    assert result.rejects.height == 0
    assert result.tables["surveys"]["scale"].unique().to_list() == [scale]
    assert result.summary["inferred_survey_scales"]["acme"]["survey_scale"] == scale
    from pipelines.core.contracts import load_contracts

    assert load_contracts(tmp_path / "out" / "contracts")["acme"].survey_scale == scale  # metrics read this


def test_ratings_that_do_not_tell_the_scale_are_a_clear_error(raw, tmp_path, contract_data):
    del contract_data["survey_scale"]
    write_contract(raw, contract_data)
    _tickets(raw, "T1,acme,2026-10-01T09:00:00,High,New,,,x", "T2,acme,2026-10-01T09:00:00,High,New,,,y")
    write_csv(raw, "surveys", "ticket_id,responded_at,rating\nT1,2026-10-02T09:00:00,positive\n"
                              "T2,2026-10-02T09:00:00,4\n")
    done = CliRunner().invoke(app, ["clean", "--data", str(raw), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert ("contracts/acme.yml: survey_scale is not given and acme's survey ratings do not tell it (1 are "
            "words like 'positive' and 1 are numbers like '4'); add survey_scale: 3-point, 5-point or 0-10"
            ) in " ".join(done.output.split())


def test_a_huge_value_is_cut_short_in_the_detail_and_kept_whole_in_the_raw_values(raw, tmp_path):
    _tickets(raw, f"T1,acme,{'9' * 100_000},High,New,,,x")
    _, rejects = _rejects(raw, tmp_path)
    assert rejects[1]["detail"] == f"created_at: '{'9' * 200}…' is not an ISO 8601 timestamp like 2026-03-02T09:15:00"
    assert json.loads(rejects[1]["raw"])["created_at"] == "9" * 100_000


def test_summary_is_json_and_rows_still_reconcile(raw, tmp_path):
    _tickets(raw, "T1,acme,9999-01-01T00:00:00Z,High,New,,,x", "T2,acme,2026-10-01T09:00:00,High,New,,,y")
    result = clean_folder(raw, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "clean_summary.json").read_text())
    assert summary["tables"]["tickets"] | {"ignored_columns": []} == result.summary["tables"]["tickets"] | {
        "ignored_columns": []}
    assert summary["tables"]["tickets"]["rows_in"] == 2 == summary["tables"]["tickets"]["clean"] + 1


def test_the_readme_names_every_reject_reason():
    from pipelines.core import config
    from pipelines.core.schemas import REJECT_REASONS

    readme = (config.PROJECT / "README.md").read_text()
    assert [r for r in REJECT_REASONS if f"`{r}`" not in readme] == []
