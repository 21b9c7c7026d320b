"""Status histories per preset: ticket export + history fixture -> import (CLI) -> clean ->
metrics, with pauses, verdicts and paused minutes checked against hand-computed values.

The contract is ACME's (New York, pauses in Waiting on Customer / Vendor) on a 24x7 clock
so each expectation is plain arithmetic: P1 4h, P2 4h, P3 24h, P4 72h to resolve. The
period is 2026-03; it ends 2026-04-01 00:00 New York = 04:00Z, which is when a ticket still
waiting stops counting its pause.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.clean.stage import clean_folder
from pipelines.cli import app
from pipelines.ingest.importers import load_preset
from pipelines.ingest.importers.agreement import verdict_agreement
from pipelines.metrics.stage import metrics_folder
from tests.conftest import write_contract

FIXTURES = Path(__file__).parents[1] / "fixtures" / "importers"
HISTORY = FIXTURES / "history"
PERIOD_END = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
TICKETS = {
    "zendesk": "zendesk_tickets.csv",
    "jira-service-management": "jira_service_management_issues.csv",
    "freshdesk": "freshdesk_tickets.csv",
    "connectwise": "connectwise_v_rpt_service.csv",
    "autotask": "autotask_tickets.csv",
    "halopsa": "halopsa_tickets.csv",
}


def waiting_since(*args) -> float:
    """Minutes paused from a moment (UTC) to the period end: a ticket still waiting then."""
    return (PERIOD_END - datetime(*args, tzinfo=UTC)).total_seconds() / 60


# preset -> history files, {ticket: (paused minutes, resolution verdict, verdict without history)}
CASES = {
    "zendesk": (["zendesk_ticket_audits.json"], {
        "101": (240.0, "met", "breached"),  # pending 15:00-19:00Z; 7h25m calendar, 2h25m running (P2)
        "102": (60.0, "breached", "breached"),  # on hold 1h, still open: due 00:00Z (P1)
        "103": (1260.0, "met", "breached"),  # pending 21h; 27h calendar, 6h running (P3)
    }),
    "jira-service-management": (["jira_service_management_changelog.json"], {
        "ITS-12": (180.0, "met", "breached"),  # waiting for customer 3h; 5h30 calendar (P2)
        "ITS-13": (waiting_since(2026, 3, 4, 4, 0), "pending", "breached"),  # waits since 04:00Z (P1)
        "ITS-14": (0.0, "excluded", "excluded"),  # Won't Do; no changelog
    }),
    "freshdesk": (["freshdesk_ticket_activities.json"], {
        "1001": (90.0, "met", "met"),  # pending 14:30-16:00Z (P1)
        "1003": (4320.0, "met", "breached"),  # pending 3 days; 121h30 calendar, 49h30 running (P4)
    }),
    "connectwise": (["connectwise_audittrail-700101.json", "connectwise_audittrail-700102.json"], {
        "700101": (180.0, "met", "breached"),  # waiting on client 15:00-18:00Z; 5h30 calendar (P2)
        "700102": (waiting_since(2026, 3, 3, 16, 0), "pending", "pending"),  # waits since 16:00Z (P3)
    }),
    "autotask": (["autotask_ticket_history.json"], {
        "T20260302.0001": (60.0, "met", "met"),  # waiting customer 14:30-15:30Z (P1)
        "T20260303.0007": (waiting_since(2026, 3, 3, 21, 0), "pending", "breached"),  # waits since 21:00Z (P3)
    }),
    "halopsa": (["halopsa_actions.json"], {
        "5001": (120.0, "met", "breached"),  # waiting on user 15:00-17:00; 4h10 calendar (P2)
        "5002": (waiting_since(2026, 3, 3, 16, 30), "pending", "breached"),  # waits since 16:30 (P3)
    }),
}


@pytest.fixture
def client_map(tmp_path) -> Path:
    path = tmp_path / "client_map.yml"
    path.write_text("map:\n  Harbor Dental Group: harbor-dental\n  Lakeside Legal: lakeside-legal\n")
    return path


def contracts(tmp_path: Path, contract_data: dict) -> Path:
    folder = tmp_path / "contracts-src"
    sla = {p: {"response": r, "resolution": res, "calendar": "24x7"}
           for p, r, res in (("P1", "15m", "4h"), ("P2", "1h", "4h"), ("P3", "4h", "24h"), ("P4", "8h", "72h"))}
    for client in ("harbor-dental", "lakeside-legal"):
        write_contract(folder, dict(contract_data, client_id=client, name=client.title(), sla=sla,
                                    priority_map={"Priority 5 - Next Time": "P4"}))
    return folder / "contracts"


def pipeline(tmp_path: Path, preset: str, client_map: Path, contract_folder: Path, history: list[Path],
             name: str) -> tuple[pl.DataFrame, dict]:
    """import (CLI) -> clean -> metrics for 2026-03; the per-ticket SLA and the import report."""
    raw, clean, metrics = (tmp_path / name / part for part in ("raw", "clean", "metrics"))
    args = ["import", "--from", preset, str(FIXTURES / TICKETS[preset]), "--client-map", str(client_map),
            "--out", str(raw), "--contracts", str(contract_folder)]
    for path in history:
        args += ["--history", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    clean_folder(raw, clean)
    metrics_folder(clean, metrics, "2026-03")
    report = json.loads((raw / "import_report.json").read_text())
    report["extras"] = pl.read_csv(raw / "extras.csv", infer_schema=False) if (raw / "extras.csv").exists() else None
    return pl.read_parquet(metrics / "ticket_sla.parquet"), report


@pytest.mark.parametrize("preset", list(CASES))
def test_history_pauses_the_resolution_clock(tmp_path, contract_data, client_map, preset):
    files, expected = CASES[preset]
    folder = contracts(tmp_path, contract_data)
    sla, report = pipeline(tmp_path, preset, client_map, folder, [HISTORY / f for f in files], "with")
    got = {t: (round(p, 1), v) for t, p, v in sla.select("ticket_id", "paused_minutes", "resolution_status")
           .filter(pl.col("ticket_id").is_in(list(expected))).iter_rows()}
    assert got == {t: (round(paused, 1), verdict) for t, (paused, verdict, _) in expected.items()}
    assert report["history"]["change_rows_rejected"] == report["history"]["rejected_by_reason"].get(
        "unknown_ticket", 0)
    assert [f["role"] for f in report["files"]] == ["tickets"] + ["history"] * len(files)
    # the tool's own verdicts (Freshdesk, HaloPSA) agree with ours once the history pauses the clock
    verdicts = verdict_agreement(sla, report["extras"], load_preset(preset))
    assert [(v["column"], v["agree"]) for v in verdicts] == [(v["column"], v["tickets"]) for v in verdicts]
    assert all(v["tickets"] for v in verdicts) and bool(verdicts) == (preset in ("freshdesk", "halopsa"))

    # the same export without its history: no pause, and the verdicts the clock then gives
    plain, _ = pipeline(tmp_path, preset, client_map, folder, [], "without")
    without = dict(plain.select("ticket_id", "resolution_status").iter_rows())
    assert {t: without[t] for t in expected} == {t: v for t, (_, _, v) in expected.items()}
    assert plain["paused_minutes"].sum() < sla["paused_minutes"].sum()


def test_zendesk_history_events_waiting_agreement_and_rejects(tmp_path, contract_data, client_map):
    folder = contracts(tmp_path, contract_data)
    result = CliRunner().invoke(app, [
        "import", "--from", "zendesk", str(FIXTURES / TICKETS["zendesk"]), "--client-map", str(client_map),
        "--out", str(tmp_path / "raw"), "--history", str(HISTORY / "zendesk_ticket_audits.json"),
        "--contracts", str(folder)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "history rows read 24 = 3 other rows + 21 change rows; change rows = 20 used + 1 rejected" in output
    assert "the tool's own waiting time vs the imported history" in output
    events = pl.read_csv(tmp_path / "raw" / "ticket_events.csv", infer_schema=False)
    assert events.filter(pl.col("ticket_id") == "101")["status"].to_list() == [
        "New", "In Progress", "Waiting on Customer", "In Progress", "Resolved"]
    assert set(events["client_id"]) == {"harbor-dental", "lakeside-legal"}  # events carry their client
    report = json.loads((tmp_path / "raw" / "import_report.json").read_text())
    agreement = {a["column"]: (a["tickets"], a["agree"]) for a in report["history"]["agreement"]}
    assert agreement == {"Agent wait time in minutes": (3, 3), "On hold time in minutes": (3, 3)}
    rejects = pl.read_csv(tmp_path / "raw" / "import_rejects.csv", infer_schema=False)
    history = rejects.filter(pl.col("table") == "ticket_events").row(0, named=True)
    assert (history["source"], int(history["row"]), history["reason"]) == ("zendesk_ticket_audits.json", 24, "unknown_ticket")
    assert json.loads(history["raw"])["ticket_id"] == "104"


def test_incremental_ticket_events_state_the_data_end(tmp_path):
    page = {"ticket_events": [
        {"id": 1, "ticket_id": 101, "timestamp": 1772460900, "created_at": "2026-03-02T14:15:00Z", "updater_id": 3811,
         "via": "Web form", "event_type": "Audit",
         "child_events": [{"id": 11, "via": "Web form", "status": "new", "event_type": "Create"}]},
        {"id": 2, "ticket_id": 101, "timestamp": 1772463600, "created_at": "2026-03-02T15:00:00Z", "updater_id": 9001,
         "via": "Web form", "event_type": "Audit",
         "child_events": [{"id": 12, "status": "pending", "previous_value": "open", "event_type": "Change"},
                          {"id": 13, "comment_present": True, "comment_public": True, "event_type": "Comment"}]},
    ], "count": 2, "end_time": 1772463600, "end_of_stream": True, "next_page": None}
    path = tmp_path / "events.json"
    path.write_text(json.dumps(page))
    from pipelines.ingest.importers import import_files
    result = import_files([FIXTURES / TICKETS["zendesk"]], "zendesk", "harbor-dental", tmp_path / "raw",
                          history_files=[path])
    assert result.report["extracted_at"] == "2026-03-02T15:00:00+00:00"
    assert result.report["history"]["shapes"] == ["ticket-events"]
    assert "child_events.status" in result.report["history"]["unconfirmed_fields"]
    waiting = result.tables.events.filter(pl.col("ticket_id") == "101")["status"].to_list()
    assert waiting == ["New", "Waiting on Customer", "Resolved"]  # the history ends early: the CSV's solved time


def test_freshdesk_extracted_at_and_jira_reassignments(tmp_path, client_map):
    from pipelines.ingest.importers import import_files
    fresh = import_files([FIXTURES / TICKETS["freshdesk"]], "freshdesk", str(client_map), tmp_path / "f",
                         history_files=[HISTORY / "freshdesk_ticket_activities.json"])
    assert fresh.report["extracted_at"] == "2026-03-11T23:59:59+00:00"
    # 1004 (its ticket row has a bad date): its status change is rejected, its priority change is no change row
    assert fresh.report["history"]["rejected_by_reason"] == {"unknown_ticket": 1}
    jira = import_files([FIXTURES / TICKETS["jira-service-management"]], "jira-service-management",
                        str(client_map), tmp_path / "j",
                        history_files=[HISTORY / "jira_service_management_changelog.json"])
    tickets = jira.tables.tickets
    # Lee Chen -> Sam Ortiz; the first assignment is not a reassignment
    assert dict(tickets.select("ticket_id", "reassignment_count").iter_rows())["ITS-12"] == "1"
    assert jira.report["notes"]["derived_from_history"] == {"reassignment_count": 1}
    assert jira.report["history"]["tickets_without_history"] == 1  # ITS-14 has an empty changelog


def test_halopsa_history_as_csv_and_wrong_history_files(tmp_path, client_map):
    from pipelines.ingest.importers import MappingError, import_files
    actions = json.loads((HISTORY / "halopsa_actions.json").read_text())["actions"]
    csv = tmp_path / "actions.csv"
    pl.DataFrame([{k: (None if a.get(k) is None else str(a[k])) for k in
                   ("ticket_id", "datetime", "who", "new_status_name", "new_agent", "new_team")} for a in actions],
                 schema={k: pl.String for k in ("ticket_id", "datetime", "who", "new_status_name", "new_agent",
                                                 "new_team")}).write_csv(csv)
    result = import_files([FIXTURES / TICKETS["halopsa"]], "halopsa", str(client_map), tmp_path / "h",
                          history_files=[csv])
    assert result.report["history"]["shapes"] == ["actions-csv"]
    counts = dict(result.tables.tickets.select("ticket_id", "reassignment_count").iter_rows())
    assert (counts["5001"], counts["5002"]) == ("0", "1")  # agent 12 -> 14

    with pytest.raises(MappingError, match="does not look like a zendesk status history .*audits: a page with 'audits'"):
        import_files([FIXTURES / TICKETS["zendesk"]], "zendesk", "harbor-dental", tmp_path / "z",
                     history_files=[HISTORY / "halopsa_actions.json"])
    with pytest.raises(MappingError, match="the servicenow preset has no status-history input"):
        import_files([FIXTURES / "servicenow_event_log.csv"], "servicenow", "acme", tmp_path / "s",
                     history_files=[HISTORY / "halopsa_actions.json"])


def test_history_rejects_reach_clean_and_stay_apart_from_the_export_rows(tmp_path, contract_data, client_map):
    folder = contracts(tmp_path, contract_data)
    _sla, report = pipeline(tmp_path, "zendesk", client_map, folder, [HISTORY / "zendesk_ticket_audits.json"], "run")
    summary = json.loads((tmp_path / "run" / "clean" / "clean_summary.json").read_text())
    assert (summary["import"]["rows_read"], summary["import"]["rows_rejected"]) == (4, 1)
    assert summary["import"]["rejected_by_client"] == {"harbor-dental": 0, "lakeside-legal": 0}
    assert summary["import"]["history"]["change_rows_rejected"] == 1
    rejects = pl.read_parquet(tmp_path / "run" / "clean" / "rejects.parquet")
    at_import = rejects.filter(pl.col("table").str.starts_with("export"))
    assert sorted(at_import.select("table", "reason").rows()) == [
        ("export", "unknown_client"), ("export_history", "unknown_ticket")]
    assert summary["tables"]["ticket_events"]["rejected"] == 0  # every imported event is clean
