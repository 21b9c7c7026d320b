"""Data-health content and page: plain words, the client's own rejects only, works offline."""

from __future__ import annotations

import re

import polars as pl
import pytest

from pipelines.core import io
from pipelines.core.schemas import REJECTS_SCHEMA
from pipelines.validate.health import (
    health_frames,
    health_note,
    health_summary,
    load_health,
    render_health_html,
)

OFFLINE_MARKERS = ("http://", "https://", "//cdn", "<script", "<link", "@import", "url(", "src=")


def result(check, status, severity, **extra) -> dict:
    base = {"check": check, "table": "tickets", "expectation": "expect_x", "column": "priority",
            "severity": severity, "status": status, "success": status == "passed",
            "observed_value": None, "element_count": 200, "unexpected_count": 0,
            "unexpected_percent": 0.0, "tolerated_percent": None, "example_ids": [],
            "explain": f"explanation of {check}."}
    return base | extra


VALIDATION = {
    "client_id": "acme",
    "generated_at": "2026-11-02T06:00:00+00:00",
    "publishable": False,
    "counts": {"passed": 2, "warned": 2, "failed": 1},
    "results": [
        result("tickets.unique_id", "passed", "error"),
        result("tickets.priority_in_contract", "passed", "error"),
        result("tickets.first_response_after_created", "failed", "error", column="first_response_at",
               unexpected_count=21, unexpected_percent=10.5, tolerated_percent=1.0,
               example_ids=["T-9", "T-12"],
               explain="Some tickets show a first response before the ticket was opened."),
        result("tickets.closed_after_resolved", "warned", "error", column="closed_at", success=True,
               unexpected_count=1, unexpected_percent=0.5, tolerated_percent=1.0, example_ids=["T-3"]),
        result("tickets.monthly_volume", "warned", "warning", table="ticket_volume", column="created_at",
               element_count=12, unexpected_count=1, unexpected_percent=8.3333,
               example_ids=["2026-08"]),
    ],
}

CLEAN_SUMMARY = {
    "missing_tables": ["devices"],
    "tables": {},
    "by_client": {
        "acme": {"tickets": {"rows_in": 203, "clean": 200, "rejected": 3},
                 "ticket_events": {"rows_in": 10, "clean": 10, "rejected": 0},
                 "devices": {"rows_in": 0, "clean": 0, "rejected": 0}},
        "zenith": {"tickets": {"rows_in": 50, "clean": 45, "rejected": 5}},
    },
}


def rejects() -> pl.DataFrame:
    rows = [
        ("tickets", "tickets.csv", 4, "acme", "unknown_priority", "priority: 'Extreme' ...", "{}"),
        ("tickets", "tickets.csv", 5, "acme", "unknown_priority", "priority: 'Extreme' ...", "{}"),
        ("tickets", "tickets.csv", 6, "acme", "unparseable_timestamp", "created_at: 'soon'", "{}"),
        ("tickets", "tickets.csv", 7, "zenith", "duplicate_row", "copy", "{}"),
        ("tickets", "tickets.csv", 8, None, "unknown_client", "client_id 'ghost' has no contract", "{}"),
    ]
    return pl.DataFrame(rows, schema=REJECTS_SCHEMA, orient="row")


@pytest.fixture
def summary() -> dict:
    return health_summary(VALIDATION, CLEAN_SUMMARY, rejects(), "acme")


def test_rows_in_clean_and_rejected_per_table(summary):
    tickets = next(t for t in summary["tables"] if t["table"] == "tickets")
    assert (tickets["rows_in"], tickets["clean"], tickets["rejected"]) == (203, 200, 3)
    assert (summary["rows_in"], summary["rows_rejected"]) == (213, 3)
    devices = next(t for t in summary["tables"] if t["table"] == "devices")
    assert devices["provided"] is False and devices["without"] == "patch compliance is not shown"


def test_rejected_rows_by_reason_are_this_clients_only(summary):
    assert [(r["reason"], r["count"]) for r in summary["rejected"]] == [
        ("unknown_priority", 2), ("unparseable_timestamp", 1)]
    assert summary["rejected"][0]["meaning"] == "The priority is not in the client's contract."
    text = render_health_html(summary)
    assert "duplicate" not in text.lower()  # zenith's reject
    assert "ghost" not in text and "has no contract" not in text  # provider-internal reject


def test_findings_in_plain_words_failed_first(summary):
    first, *rest = summary["findings"]
    assert first["status"] == "failed"
    assert first["scope"] == "21 of 200 tickets (10.5%)"
    assert first["examples"] == ["T-9", "T-12"]
    assert first["effect"].startswith("The report is held back")
    tolerated = next(f for f in rest if f["check"] == "tickets.closed_after_resolved")
    assert tolerated["effect"].startswith("Up to 1% is tolerated")
    volume = next(f for f in rest if f["check"] == "tickets.monthly_volume")
    assert (volume["label"], volume["scope"]) == ("Monthly ticket volume", "1 of 12 months (8.3%)")
    assert volume["effect"] == "The report is published; keep this in mind when reading it."
    assert not any(f["check"] == "tickets.unique_id" for f in summary["findings"])


@pytest.mark.parametrize(("validation", "words"), [
    (VALIDATION, "1 of 5 checks found problems the report's figures depend on"),
    ({**VALIDATION, "publishable": True, "counts": {"passed": 3, "warned": 2, "failed": 0}},
     "The data passed the checks the report depends on. 2 things are worth knowing"),
    ({**VALIDATION, "publishable": True, "counts": {"passed": 5, "warned": 0, "failed": 0}},
     "All 5 checks on the data passed."),
])
def test_verdict_in_one_sentence(validation, words):
    assert words in health_summary(validation, CLEAN_SUMMARY, rejects(), "acme")["verdict"]


def test_page_is_self_contained_and_says_what_findings_mean(summary):
    page = render_health_html(summary, title="Acme Dental")
    assert page.startswith("<!doctype html>")
    assert not any(marker in page for marker in OFFLINE_MARKERS)
    assert "<style>" in page and '"Segoe UI"' in page  # CSS inline and not escaped
    assert "Some tickets show a first response before the ticket was opened." in page
    assert "21 of 200 tickets (10.5%)" in page and "For example: T-9, T-12." in page
    assert "The priority is not in the client&#39;s contract." in page
    assert "Data checked 2 Nov 2026, 06:00 UTC" in page
    assert "Not provided: patch compliance is not shown" in page


def test_untrusted_text_is_escaped(summary):
    summary["findings"][0]["examples"] = ['<script>alert("x")</script>']
    summary["rejected"][0]["meaning"] = "<img src=x onerror=alert(1)>"
    page = render_health_html(summary, title="<b>Acme</b>")
    assert "<script>alert" not in page and "<img" not in page and "<b>Acme" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Acme&lt;/b&gt;" in page


def test_fragment_for_embedding(summary):
    fragment = render_health_html(summary, standalone=False)
    assert fragment.lstrip().startswith('<section class="data-health">')
    assert "<html" not in fragment and "<style" not in fragment


def test_frames_and_note_for_notebooks(summary):
    frames = health_frames(summary)
    assert frames["tables"].height == 7  # every canonical table, provided or not
    assert frames["rejected"]["count"].to_list() == [2, 1]
    assert frames["findings"].columns == ["status", "label", "column", "count", "scope", "text", "examples"]
    assert frames["findings"]["examples"][0] == "T-9, T-12"
    note = health_note(summary)
    assert "213 rows came in; 3 were set aside" in note
    assert note.endswith("Checks: 2 passed, 2 warnings, 1 failed.")


def test_empty_findings_give_empty_frames():
    ok = {**VALIDATION, "publishable": True, "counts": {"passed": 2, "warned": 0, "failed": 0},
          "results": VALIDATION["results"][:2]}
    frames = health_frames(health_summary(ok, CLEAN_SUMMARY, rejects(), "acme"))
    assert frames["findings"].is_empty() and frames["findings"].schema["count"] == pl.Int64


def test_another_clients_verdict_is_refused():
    with pytest.raises(ValueError, match="validation result is for 'acme', not 'zenith'"):
        health_summary(VALIDATION, CLEAN_SUMMARY, rejects(), "zenith")


def test_load_health_reads_the_files(tmp_path):
    clean, validation = tmp_path / "clean", tmp_path / "validation"
    io.write_json(CLEAN_SUMMARY, clean / "clean_summary.json")
    io.write_table(rejects(), clean / "rejects.parquet")
    io.write_json(VALIDATION, validation / "acme.json")
    loaded = load_health("acme", clean, validation)
    assert loaded["counts"] == VALIDATION["counts"]
    assert re.search(r"unknown_priority", str(loaded["rejected"]))


def test_load_health_names_a_missing_file(tmp_path):
    with pytest.raises(io.InputError, match=r"validation/acme\.json: file not found"):
        load_health("acme", tmp_path / "clean", tmp_path / "validation")


def test_scope_counts_only_the_rows_a_check_judged():
    """A pair check skips rows with a missing value; its share is of the rows it judged."""
    skipped = result("tickets.closed_after_resolved", "failed", "error", column="closed_at",
                     element_count=200, rows_checked=160, unexpected_count=8, unexpected_percent=5.0)
    assert health_summary({"client_id": "acme", "results": [skipped]}, CLEAN_SUMMARY, rejects(),
                          "acme")["findings"][0]["scope"] == "8 of 160 tickets (5.0%)"
