"""`servicereview validate` on a crafted clean folder: one client passes, one fails the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.clean.stage import clean_folder
from pipelines.cli import app
from tests.conftest import ACME, write_contract, write_csv

PAGES_OFFLINE = ("http://", "https://", "<script", "<link", "@import", "url(")


def make_clean_dir(root: Path) -> Path:
    """acme: consistent tickets; bravo: first responses recorded after the resolution."""
    raw = root / "raw"
    write_contract(raw, ACME)
    write_contract(raw, dict(ACME, client_id="bravo", name="Bravo Books"))
    write_csv(raw, "tickets", """
        ticket_id,client_id,created_at,priority,status,source,first_response_at,resolved_at,closed_at,close_code,reopen_count
        A1,acme,2026-09-01T09:00:00,High,Closed,email,2026-09-01T09:20:00,2026-09-01T12:00:00,2026-09-02T12:00:00,resolved,0
        A2,acme,2026-09-02T09:00:00,Low,Closed,phone,2026-09-02T10:00:00,2026-09-03T12:00:00,2026-09-04T12:00:00,resolved,0
        A3,acme,2026-09-03T09:00:00,Medium,In Progress,portal,2026-09-03T09:30:00,,,,0
        B1,bravo,2026-09-01T09:00:00,High,Closed,email,2026-09-01T13:00:00,2026-09-01T12:00:00,2026-09-02T12:00:00,resolved,0
        B2,bravo,2026-09-02T09:00:00,Low,Closed,email,2026-09-02T10:00:00,2026-09-03T12:00:00,2026-09-04T12:00:00,resolved,0
        B3,bravo,2026-09-03T09:00:00,Medium,Closed,email,2026-09-03T15:00:00,2026-09-03T12:00:00,2026-09-04T12:00:00,resolved,0
        B4,bravo,2026-09-03T09:00:00,Extreme,Closed,email,,,,resolved,0
    """)
    write_csv(raw, "ticket_events", """
        ticket_id,at,status
        A1,2026-09-01T09:00:00,New
        A1,2026-09-01T12:00:00,Resolved
        B1,2026-09-01T09:00:00,New
    """)
    clean = root / "clean"
    clean_folder(raw, clean)
    return clean


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory) -> Path:
    return make_clean_dir(tmp_path_factory.mktemp("gate"))


@pytest.fixture(scope="module")
def run(clean_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
    result = CliRunner().invoke(app, ["validate", "--data", str(clean_dir), "--out", str(out)])
    return result, out


def test_exit_code_is_1_when_a_client_fails(run):
    result, _ = run
    assert result.exit_code == 1, result.output


def test_summary_names_the_failing_client_and_check_in_words(run):
    result, _ = run
    text = result.output
    assert "bravo failed tickets.resolved_after_first_response (2 of 3 tickets)" in text
    assert "resolved before anyone first responded" in text
    assert "e.g. B1, B3" in text
    assert "acme failed" not in text
    assert "Great Expectations import" in text


def test_files_per_client_and_summary(run):
    _, out = run
    acme = json.loads((out / "acme.json").read_text())
    bravo = json.loads((out / "bravo.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert acme["publishable"] is True and acme["counts"]["failed"] == 0
    assert bravo["publishable"] is False
    assert summary["clients"]["bravo"]["failed_checks"] == ["tickets.resolved_after_first_response"]
    assert summary["clients"]["acme"]["publishable"] is True
    assert set(summary["timings"]) >= {"gx_import_seconds", "per_client_seconds", "total_seconds"}
    assert set(summary["not_provided"]) == {"surveys", "outages", "time_entries", "devices"}
    tables = acme["tables"]
    assert tables["surveys"]["status"] == "not provided"
    assert tables["ticket_events"] == {"status": "checked", "rows": 2}


def test_rows_rejected_by_cleaning_do_not_fail_the_gate(run):
    _, out = run
    bravo = json.loads((out / "bravo.json").read_text())
    priority = next(r for r in bravo["results"] if r["check"] == "tickets.priority_in_contract")
    assert priority["status"] == "passed"  # B4 'Extreme' was set aside by cleaning


def test_health_pages_are_written_and_self_contained(run):
    _, out = run
    page = (out / "health" / "bravo.html").read_text()
    assert "resolved before anyone first responded" in page
    assert "The priority is not in the client&#39;s contract." in page
    assert not any(marker in page for marker in PAGES_OFFLINE)


def test_data_docs_for_analysts(run):
    _, out = run
    assert (out / "data_docs" / "index.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data_docs"] == str(out / "data_docs" / "index.html")


def test_only_selected_clients(clean_dir, tmp_path):
    result = CliRunner().invoke(app, ["validate", "--data", str(clean_dir), "--out", str(tmp_path),
                                      "--client", "acme", "--no-data-docs"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["acme.json", "summary.json"]
    assert not (tmp_path / "data_docs").exists()


def test_unknown_client_is_a_usage_error(clean_dir, tmp_path):
    result = CliRunner().invoke(app, ["validate", "--data", str(clean_dir), "--out", str(tmp_path),
                                      "--client", "zenith"])
    assert result.exit_code == 2
    assert "no contract for client 'zenith'" in result.output
    assert "known: acme, bravo" in result.output


def test_a_folder_that_was_not_cleaned_is_a_usage_error(tmp_path):
    (tmp_path / "contracts").mkdir()
    write_contract(tmp_path, ACME)
    result = CliRunner().invoke(app, ["validate", "--data", str(tmp_path), "--out", str(tmp_path / "v")])
    assert result.exit_code == 2
    assert "no tickets.parquet (run `servicereview clean` first)" in result.output


# ---------------------------------------------------------------- the committed sample


def sample_folder(tmp_path_factory) -> Path:
    """data/sample as committed; generated with the same defaults if the checkout lacks it."""
    from pipelines.core import config

    if (config.SAMPLE_DATA / "tickets.csv").exists():
        return config.SAMPLE_DATA
    from pipelines.ingest.sample.write import write_sample

    out = tmp_path_factory.mktemp("sample")
    write_sample(out)
    return out


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    return sample_folder(tmp_path_factory)


def validate_raw(raw: Path, work: Path):
    clean_folder(raw, work / "clean")
    result = CliRunner().invoke(app, ["validate", "--data", str(work / "clean"),
                                      "--out", str(work / "validation"), "--no-data-docs"])
    summary = json.loads((work / "validation" / "summary.json").read_text())
    return result, summary


def test_the_sample_passes_without_findings(sample_dir, tmp_path):
    result, summary = validate_raw(sample_dir, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(summary["clients"]) == 5
    for client, verdict in summary["clients"].items():
        # the main sample has no data-quality faults, so there is nothing to warn about
        assert (client, verdict["failed_checks"], verdict["warned_checks"]) == (client, [], [])


def test_the_dirty_sample_fails_only_the_dirty_client_naming_its_faults(sample_dir, tmp_path):
    manifest = json.loads((sample_dir / "dirty" / "faults.json").read_text())
    dirty = manifest["dirty_client"]
    result, summary = validate_raw(sample_dir / "dirty", tmp_path)
    assert result.exit_code == 1
    assert f"{dirty} failed tickets.resolved_after_first_response" in result.output
    failing = {c: v["failed_checks"] for c, v in summary["clients"].items() if v["failed_checks"]}
    assert failing == {dirty: ["tickets.resolved_after_first_response",
                               "ticket_history.starts_after_created",
                               "ticket_history.ends_before_closed",
                               "ticket_history.in_time_order"]}
    assert all(v["warned_checks"] == [] for v in summary["clients"].values())

    quality = [f for f in manifest["faults"] if f["reason"] == "quality"]

    def planted(table: str, words: str) -> set[str]:
        return next(set(f["ticket_ids"]) for f in quality if f["table"] == table and words in f["detail"])

    late = planted("tickets", "first_response_at after resolved_at")
    before = planted("ticket_events", "before the ticket was created")
    after = planted("ticket_events", "after the ticket was closed")
    gate = json.loads((tmp_path / "validation" / f"{dirty}.json").read_text())
    found = {r["check"]: r for r in gate["results"] if r["status"] == "failed"}
    assert found["tickets.resolved_after_first_response"]["unexpected_count"] == len(late)
    assert set(found["tickets.resolved_after_first_response"]["example_ids"]) <= late
    assert found["ticket_history.starts_after_created"]["unexpected_count"] == len(before)
    assert set(found["ticket_history.starts_after_created"]["example_ids"]) <= before
    assert found["ticket_history.ends_before_closed"]["unexpected_count"] == len(after)
    assert set(found["ticket_history.ends_before_closed"]["example_ids"]) <= after
    assert found["ticket_history.in_time_order"]["unexpected_count"] == len(after)


# ---------------------------------------------------------------- the runner's path: one client per call


def test_one_client_at_a_time_gives_the_same_verdicts_and_summary(clean_dir, run, tmp_path):
    """The runner's workers call validate_one; the parent rebuilds summary.json from the files."""
    from pipelines.validate.gate import GateResult, validate_one, write_summary

    _, whole = run
    ones = {}
    for client in ("acme", "bravo"):
        ones[client] = one = validate_one(clean_dir, tmp_path, client)
        folder = json.loads((whole / f"{client}.json").read_text())
        written = json.loads((tmp_path / f"{client}.json").read_text())
        assert written == one.to_json()

        def outcome(results):
            return [(r["check"], r["status"], r["unexpected_count"], r["example_ids"]) for r in results]

        assert outcome(written["results"]) == outcome(folder["results"])
        assert written["tables"] == folder["tables"]
    results = {c: GateResult.from_json(json.loads((tmp_path / f"{c}.json").read_text()))
               for c in ("acme", "bravo")}
    assert results["bravo"].failures == ones["bravo"].failures and not results["bravo"].publishable
    write_summary(tmp_path, results, one_time(), not_provided=["devices"], clean_dir=clean_dir)
    summary = json.loads((tmp_path / "summary.json").read_text())

    def verdicts(s):
        return {c: {k: v for k, v in x.items() if k != "seconds"} for c, x in s["clients"].items()}

    assert verdicts(summary) == verdicts(json.loads((whole / "summary.json").read_text()))
    assert summary["publishable"] is False
    assert set(summary["timings"]) == {"gx_import_seconds", "per_client_seconds"}


def one_time():
    from datetime import UTC, datetime

    return datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def test_a_result_file_without_its_fields_is_named(tmp_path):
    from pipelines.validate.gate import GateResult

    with pytest.raises(ValueError, match=r"validation result of 'acme': no generated_at, results"):
        GateResult.from_json({"client_id": "acme"})


def test_a_clean_table_without_client_column_is_named(clean_dir, tmp_path):
    import shutil

    import polars as pl

    from pipelines.core.io import InputError
    from pipelines.validate.gate import validate_one

    copy = tmp_path / "clean"
    shutil.copytree(clean_dir, copy)
    events = copy / "ticket_events.parquet"
    pl.read_parquet(events).drop("client_id").write_parquet(events)
    with pytest.raises(InputError, match=r"ticket_events.parquet: no client_id column"):
        validate_one(copy, tmp_path / "v", "acme")
