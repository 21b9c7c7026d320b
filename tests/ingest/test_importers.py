"""Importers: each preset's fixture -> import -> clean, and the importer's error paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.clean.stage import clean_folder
from pipelines.cli import app
from pipelines.core.io import InputError
from pipelines.ingest.importers import MappingError, import_files
from tests.conftest import ACME, write_contract

FIXTURES = Path(__file__).parents[1] / "fixtures" / "importers"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def client_map(tmp_path) -> Path:
    path = tmp_path / "client_map.yml"
    path.write_text("map:\n  Harbor Dental Group: harbor-dental\n  Lakeside Legal: lakeside-legal\n")
    return path


def contract(base: dict, client_id: str, **changes) -> dict:
    return dict(base, client_id=client_id, name=client_id.replace("-", " ").title(), **changes)


def run(tmp_path, preset, fixture, client_map, contracts):
    """Import a fixture into tmp/imported (with contracts) and clean it into tmp/clean."""
    out = tmp_path / "imported"
    for data in contracts:
        write_contract(out, data)
    result = import_files([FIXTURES / fixture], preset, str(client_map), out)
    cleaned = clean_folder(out, tmp_path / "clean")
    return result, cleaned, out


def row(frame: pl.DataFrame, ticket_id: str) -> dict:
    hit = frame.filter(pl.col("ticket_id") == ticket_id)
    assert hit.height == 1, hit
    return hit.row(0, named=True)


def statuses(events: pl.DataFrame, ticket_id: str) -> list[str]:
    return events.filter(pl.col("ticket_id") == ticket_id).sort("at")["status"].to_list()


# ---------------------------------------------------------------- round trips per preset


def test_servicenow_update_log_round_trip(tmp_path, contract_data):
    data = contract(contract_data, "acme", timezone="America/Sao_Paulo",
                    priority_map={"5 - Planning": "P4"})
    result, cleaned, out = run(tmp_path, "servicenow", "servicenow_event_log.csv", "acme", [data])
    tickets, events = cleaned.tables["tickets"], cleaned.tables["ticket_events"]

    assert result.report["mode"] == "update_log"
    assert (result.report["rows_read"], result.report["rows_used"], result.report["rows_rejected"]) == (20, 19, 1)
    assert tickets.height == 4 and cleaned.rejects.filter(pl.col("table") != "export").height == 0

    first = row(tickets, "INC9000001")  # Sao Paulo is UTC-3
    assert first["created_at"] == utc(2026, 3, 3, 12, 0)
    assert first["first_response_at"] == utc(2026, 3, 3, 12, 20)  # first move out of New
    assert first["resolved_at"] == utc(2026, 3, 3, 18, 0)
    assert (first["priority"], first["source"], first["assignee"]) == ("P2", "phone", "Resolver 9")
    assert first["reassignment_count"] == 1
    assert statuses(events, "INC9000001") == [
        "New", "In Progress", "Waiting on Customer", "In Progress", "Resolved", "Closed"]

    reopened = row(tickets, "INC9000002")  # resolved_at is `?`: the last entry into Resolved
    assert reopened["resolved_at"] == utc(2026, 3, 5, 12, 30)
    assert (reopened["priority"], reopened["reopen_count"], reopened["source"]) == ("P1", 1, "portal")

    third = row(tickets, "INC9000003")  # starts Active; priority changed; a -100 row; a repeated sys_mod_count
    assert third["first_response_at"] == utc(2026, 3, 6, 14, 2)
    assert third["priority"] == "P3"
    assert statuses(events, "INC9000003") == ["In Progress", "Waiting on Vendor", "Resolved", "Closed"]

    planning = row(tickets, "INC9000004")  # unmapped priority kept; the contract maps it
    assert (planning["priority"], planning["priority_raw"]) == ("P4", "5 - Planning")

    rejects = pl.read_csv(out / "import_rejects.csv")
    assert rejects.select("row", "reason").rows() == [(14, "unmapped_value")]
    assert "'-100'" in rejects["detail"][0] and json.loads(rejects["raw"][0])["incident_state"] == "-100"
    extras = pl.read_csv(out / "extras.csv", infer_schema=False)
    assert row(extras, "INC9000002")["made_sla"] == "false"
    report = json.loads((out / "import_report.json").read_text())
    assert report["unmapped_values"] == {"priority": {"5 - Planning": 2}, "status": {"-100": 1}}
    assert report["unknown_columns"] == []


def test_zendesk_round_trip_with_surveys(tmp_path, contract_data, client_map):
    harbor = contract(contract_data, "harbor-dental", survey_scale="3-point")
    lakeside = contract(contract_data, "lakeside-legal")
    _result, cleaned, out = run(tmp_path, "zendesk", "zendesk_tickets.csv", client_map, [harbor, lakeside])
    tickets = cleaned.tables["tickets"]

    assert sorted(tickets["ticket_id"]) == ["101", "102", "103"]
    first = row(tickets, "101")  # New York, EST before 8 March
    assert first["created_at"] == utc(2026, 3, 2, 14, 15)
    assert first["first_response_at"] == utc(2026, 3, 2, 14, 40)  # created + 25 minutes
    assert first["resolved_at"] == utc(2026, 3, 2, 21, 40)
    assert (first["priority"], first["status"], first["source"], first["type"]) == (
        "P2", "Resolved", "email", "incident")
    assert first["reassignment_count"] == 1  # 2 assignee stations
    assert first["provider_touches"] == 2  # Replies
    assert row(tickets, "102")["client_id"] == "lakeside-legal"
    closed = cleaned.tables["ticket_events"].filter(
        (pl.col("ticket_id") == "103") & (pl.col("status") == "Closed"))
    assert closed["at"].to_list() == [utc(2026, 3, 10, 13, 0)]  # EDT after 8 March

    surveys = cleaned.tables["surveys"].sort("ticket_id")
    assert surveys.select("ticket_id", "sentiment", "score").rows() == [
        ("101", "positive", 3.0), ("103", "negative", 1.0)]  # "Not Offered" is no answer

    rejects = pl.read_csv(out / "import_rejects.csv")
    assert rejects.select("row", "reason").rows() == [(4, "unknown_client")]
    assert "Riverside Vets" in rejects["detail"][0]


def test_jira_service_management_round_trip(tmp_path, contract_data, client_map):
    harbor = contract(contract_data, "harbor-dental", survey_scale="5-point")
    lakeside = contract(contract_data, "lakeside-legal")
    result, cleaned, _out = run(tmp_path, "jira-service-management", "jira_service_management_issues.csv",
                               client_map, [harbor, lakeside])
    tickets = cleaned.tables["tickets"]

    assert result.report["unknown_columns"] == []  # the repeated Watchers column is known
    first = row(tickets, "ITS-12")
    assert first["created_at"] == utc(2026, 3, 2, 14, 15)
    assert first["first_response_at"] == utc(2026, 3, 2, 14, 40, 12)
    assert first["resolved_at"] == utc(2026, 3, 2, 19, 45)
    assert (first["priority"], first["close_code"], first["type"]) == ("P2", "resolved", "incident")
    assert row(tickets, "ITS-13")["status"] == "Waiting on Customer"
    assert row(tickets, "ITS-13")["created_at"] == utc(2026, 3, 4, 3, 0)  # 10:00 PM
    assert row(tickets, "ITS-14")["close_code"] == "cancelled"  # Won't Do
    surveys = cleaned.tables["surveys"]
    assert surveys.select("ticket_id", "score", "sentiment").rows() == [("ITS-12", 4.0, "positive")]
    assert surveys["responded_at"].to_list() == [utc(2026, 3, 3, 13, 0)]


def test_freshdesk_round_trip(tmp_path, contract_data, client_map):
    harbor = contract(contract_data, "harbor-dental", survey_scale="3-point")
    lakeside = contract(contract_data, "lakeside-legal")
    _result, cleaned, out = run(tmp_path, "freshdesk", "freshdesk_tickets.csv", client_map, [harbor, lakeside])
    tickets = cleaned.tables["tickets"]

    first = row(tickets, "1001")
    assert (first["priority"], first["source"], first["status"]) == ("P1", "phone", "Resolved")
    assert first["first_response_at"] == utc(2026, 3, 2, 14, 10)
    assert row(tickets, "1002")["status"] == "Waiting on Customer"
    assert row(tickets, "1003")["closed_at"] == utc(2026, 3, 11, 15, 0)
    assert cleaned.tables["surveys"].sort("ticket_id").select("ticket_id", "sentiment").rows() == [
        ("1001", "positive"), ("1003", "negative")]
    rejects = pl.read_csv(out / "import_rejects.csv")
    assert rejects.select("row", "reason").rows() == [(4, "unparseable_timestamp")]
    assert "'31-02-2026 10:00:00'" in rejects["detail"][0] and "Created time" in rejects["detail"][0]
    extras = pl.read_csv(out / "extras.csv", infer_schema=False)
    assert row(extras, "1003")["Resolution status"] == "Within SLA"  # Freshdesk pauses on Pending


def test_connectwise_round_trip_mixes_local_and_utc_columns(tmp_path, contract_data, client_map):
    harbor = contract(contract_data, "harbor-dental", priority_map={"Priority 5 - Next Time": "P4"})
    lakeside = contract(contract_data, "lakeside-legal")
    result, cleaned, _out = run(tmp_path, "connectwise", "connectwise_v_rpt_service.csv", client_map,
                               [harbor, lakeside])
    tickets = cleaned.tables["tickets"]

    first = row(tickets, "700101")
    assert first["created_at"] == utc(2026, 3, 2, 14, 0)  # date_entered is local
    assert first["first_response_at"] == utc(2026, 3, 2, 14, 20)  # date_responded_utc is UTC
    assert first["resolved_at"] == utc(2026, 3, 2, 19, 30)
    assert first["closed_at"] == utc(2026, 3, 3, 13, 0)
    assert (first["priority"], first["status"]) == ("P2", "Closed")
    alert = row(tickets, "700103")
    assert (alert["priority"], alert["priority_raw"], alert["status"], alert["source"]) == (
        "P4", "Priority 5 - Next Time", "Needs Review", "monitoring")
    assert alert["first_response_at"] is None  # NULL
    assert result.report["unmapped_values"] == {
        "priority": {"Priority 5 - Next Time": 1}, "status": {"Needs Review": 1}}
    assert statuses(cleaned.tables["ticket_events"], "700102") == ["New", "Waiting on Customer"]


def test_autotask_round_trip_reads_required_markers(tmp_path, contract_data, client_map):
    harbor = contract(contract_data, "harbor-dental")
    lakeside = contract(contract_data, "lakeside-legal")
    _result, cleaned, _out = run(tmp_path, "autotask", "autotask_tickets.csv", client_map, [harbor, lakeside])
    tickets = cleaned.tables["tickets"]

    first = row(tickets, "T20260302.0001")  # "[required] Organization" is the client column
    assert (first["client_id"], first["priority"], first["status"], first["type"], first["asset"]) == (
        "harbor-dental", "P1", "Resolved", "incident", "HDG-FW01")
    assert first["created_at"] == utc(2026, 3, 2, 14, 5)
    assert first["first_response_at"] == utc(2026, 3, 2, 14, 12)
    assert first["resolved_at"] == utc(2026, 3, 2, 16, 45)
    assert row(tickets, "T20260304.0002")["created_at"] == utc(2026, 3, 5, 4, 58)  # 11:58 PM
    assert row(tickets, "T20260303.0007")["status"] == "Waiting on Customer"


def test_halopsa_round_trip_reads_utc_and_null_dates(tmp_path, contract_data, client_map):
    harbor = contract(contract_data, "harbor-dental", timezone="Europe/London")
    lakeside = contract(contract_data, "lakeside-legal")
    _result, cleaned, _out = run(tmp_path, "halopsa", "halopsa_tickets.csv", client_map, [harbor, lakeside])
    tickets = cleaned.tables["tickets"]

    first = row(tickets, "5001")
    assert first["created_at"] == utc(2026, 3, 2, 14, 0)
    assert (first["resolved_at"], first["closed_at"]) == (utc(2026, 3, 2, 18, 10), utc(2026, 3, 2, 18, 10))
    assert row(tickets, "5002")["created_at"] == utc(2026, 3, 3, 15, 30)  # UTC, not the client's zone
    assert row(tickets, "5002")["resolved_at"] is None  # 1899-12-30 means no date
    assert (row(tickets, "5003")["priority"], row(tickets, "5003")["first_response_at"]) == ("P1", None)


# ---------------------------------------------------------------- error paths and reporting


def test_wrong_preset_names_missing_columns_and_the_likely_preset(tmp_path):
    result = CliRunner().invoke(app, [
        "import", "--from", "servicenow", str(FIXTURES / "zendesk_tickets.csv"),
        "--client-map", "acme", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "'number' (ticket_id)" in message and "'opened_at' (created_at)" in message
    assert "look like the zendesk preset" in message and "try --from zendesk" in message
    assert not (tmp_path / "out" / "tickets.csv").exists()


def test_unknown_preset_and_missing_client_map_fail_clearly(tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(app, ["import", "--from", "remedy", str(FIXTURES / "zendesk_tickets.csv"),
                                  "--client-map", "acme", "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "no such preset" in unknown.output and "zendesk" in unknown.output
    missing = runner.invoke(app, ["import", "--from", "zendesk", str(FIXTURES / "zendesk_tickets.csv"),
                                  "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "--client-map is required" in " ".join(missing.output.split())


def test_unknown_columns_reported_once_and_summary_printed(tmp_path):
    frame = pl.read_csv(FIXTURES / "zendesk_tickets.csv", infer_schema=False)
    export = tmp_path / "export.csv"
    frame.with_columns(pl.lit("x").alias("Custom Field Region")).write_csv(export)
    result = CliRunner().invoke(app, ["import", "--from", "zendesk", str(export), "--client-map",
                                      "harbor-dental", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert output.count("Custom Field Region") == 1
    assert "4 rows read = 4 used + 0 rejected -> 4 tickets" in output
    report = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert report["unknown_columns"] == ["Custom Field Region"]
    assert report["client_map"] == {"mode": "one client for the whole file", "client_id": "harbor-dental"}


def test_client_map_default_and_bad_ids(tmp_path):
    good = tmp_path / "map.yml"
    good.write_text("column: Organization\nmap: {Harbor Dental Group: harbor-dental}\ndefault: other-clients\n")
    result = import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", str(good), tmp_path / "a")
    assert result.rejects.height == 0
    assert dict(result.tables.tickets.group_by("client_id").len().iter_rows()) == {
        "harbor-dental": 2, "other-clients": 2}
    bad = tmp_path / "bad.yml"
    bad.write_text("map: {Harbor Dental Group: Harbor Dental!}\n")
    with pytest.raises(MappingError, match=r"map\.Harbor Dental Group: 'Harbor Dental!' is not a client id"):
        import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", str(bad), tmp_path / "b")
    with pytest.raises(MappingError, match="column 'Account' is not in the file"):
        (tmp_path / "col.yml").write_text("column: Account\nmap: {A: a}\n")
        import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", str(tmp_path / "col.yml"), tmp_path / "c")


def test_user_mapping_file_for_a_tool_without_preset(tmp_path, contract_data):
    export = tmp_path / "helpdesk.csv"
    export.write_text(
        "Ref;Opened;Urgency;State;Customer;Fixed\n"
        "H-1;02.03.2026 09:00;Hoch;Erledigt;Harbor;02.03.2026 11:30\n"
        "H-2;03.03.2026 10:00;Mittel;Offen;Harbor;\n"
        "H-3;04.03.2026 10:00;Egal;Offen;Harbor;\n"
        "H-4;05.03.2026 10:00;Hoch;;Harbor;\n"
    )
    mapping = tmp_path / "helpdesk.yml"
    mapping.write_text("""
name: in-house
tool: In-house help desk
separator: ";"
date_formats: ["%d.%m.%Y %H:%M"]
columns: {Ref: ticket_id, Opened: created_at, Urgency: priority, State: status, Fixed: resolved_at}
client_column: Customer
defaults: {status: Offen}
values:
  priority: {map: {Hoch: P2, Mittel: P3}, unmapped: reject}
  status: {map: {Offen: New, Erledigt: Resolved}}
milestones: {created_at: New, resolved_at: Resolved, closed_at: null}
""")
    out = tmp_path / "imported"
    write_contract(out, contract(contract_data, "harbor-dental", timezone="Europe/Berlin"))
    (tmp_path / "clients.yml").write_text("map: {Harbor: harbor-dental}\n")
    result = import_files([export], mapping, str(tmp_path / "clients.yml"), out)
    assert result.report["preset"] == "in-house"
    assert result.rejects.select("row", "reason").rows() == [(3, "unmapped_value")]
    assert result.report["defaults_applied"] == {"status": 1}
    cleaned = clean_folder(out, tmp_path / "clean")
    assert row(cleaned.tables["tickets"], "H-4")["status"] == "New"  # the default, then mapped
    first = row(cleaned.tables["tickets"], "H-1")
    assert (first["priority"], first["created_at"], first["resolved_at"]) == (
        "P2", utc(2026, 3, 2, 8, 0), utc(2026, 3, 2, 10, 30))


def test_bad_preset_file_names_the_field(tmp_path):
    typo = tmp_path / "typo.yml"
    typo.write_text("name: typo\ntool: x\ndate_formats: ['%Y']\ncolumns: {Id: ticket_id}\nvalue: {}\n")
    with pytest.raises(MappingError, match=r"typo\.yml: value: unknown key"):
        import_files([FIXTURES / "zendesk_tickets.csv"], typo, "acme", tmp_path / "out")
    field = tmp_path / "field.yml"
    field.write_text("name: field\ntool: x\ndate_formats: ['%Y']\ncolumns: {Id: ticket_key}\n")
    with pytest.raises(MappingError, match=r"field\.yml: .*'ticket_key' is not a canonical field"):
        import_files([FIXTURES / "zendesk_tickets.csv"], field, "acme", tmp_path / "out")


def test_preset_and_client_map_aliases_are_refused(tmp_path):
    laughs = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
    preset = tmp_path / "laughs.yml"
    preset.write_text("name: laughs\ntool: x\nl0: &l0 [lol, lol]\n" + laughs + "columns: *l8\n")
    with pytest.raises(MappingError) as info:
        import_files([FIXTURES / "zendesk_tickets.csv"], preset, "acme", tmp_path / "out")
    assert "laughs.yml: not valid YAML (line 4: an alias (*l0) repeats another part" in str(info.value)
    assert len(str(info.value)) < 400
    clients = tmp_path / "clients.yml"
    clients.write_text("default: &x acme\nmap: {Harbor: *x}\n")
    with pytest.raises(MappingError, match=r"clients\.yml: not valid YAML \(line 2: an alias \(\*x\)"):
        import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", str(clients), tmp_path / "out")


def test_files_for_people_neutralise_spreadsheet_formulas(tmp_path):
    # OWASP CSV injection: a cell starting with = + - @ (or tab / CR) runs as a formula in a spreadsheet
    export = tmp_path / "helpdesk.csv"
    export.write_text(
        "Ref,Opened,Urgency,@Customer,Note\n"
        "H-1,02.03.2026 09:00,High,Harbor,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\"\n"
        "H-2,03.03.2026 10:00,High,=cmd|' /C calc'!A0,-5\n"
        "H-3,04.03.2026 10:00,High,Harbor,+1.5\n"
    )
    mapping = tmp_path / "helpdesk.yml"
    mapping.write_text("name: in-house\ntool: x\ndate_formats: ['%d.%m.%Y %H:%M']\n"
                       "columns: {Ref: ticket_id, Opened: created_at, Urgency: priority}\n"
                       "client_column: '@Customer'\nextras: [Note]\n")
    clients = tmp_path / "clients.yml"
    clients.write_text("map: {Harbor: harbor-dental}\n")
    out = tmp_path / "out"
    import_files([export], mapping, str(clients), out)
    extras = pl.read_csv(out / "extras.csv", infer_schema=False)
    assert extras["Note"].to_list() == ["'=HYPERLINK(\"http://evil.example\",\"click\")", "+1.5"]  # a number stays
    rejects = pl.read_csv(out / "import_rejects.csv", infer_schema=False)
    assert rejects["detail"].to_list() == [
        "'@Customer: '=cmd|' /C calc'!A0' is not in --client-map and it has no default"]
    assert json.loads(rejects["raw"][0])["@Customer"] == "=cmd|' /C calc'!A0"  # the value itself is kept
    tickets = pl.read_csv(out / "tickets.csv", infer_schema=False)  # data for clean keeps its values
    assert tickets["ticket_id"].to_list() == ["H-1", "H-3"]
    write_contract(out, dict(ACME, client_id="harbor-dental"))
    carried = clean_folder(out, tmp_path / "clean").rejects.filter(pl.col("table") == "export")
    assert carried["detail"].to_list() == [  # read back as they were
        "@Customer: '=cmd|' /C calc'!A0' is not in --client-map and it has no default"]


def test_an_export_that_is_not_utf8_needs_the_presets_encoding(tmp_path):
    export = tmp_path / "helpdesk.csv"
    export.write_bytes("Ref,Opened,Urgency,Title\nH-1,02.03.2026 09:00,High,Drucker über Fehler\n".encode("cp1252"))
    preset = "name: in-house\ntool: x\ndate_formats: ['%d.%m.%Y %H:%M']\n" \
             "columns: {Ref: ticket_id, Opened: created_at, Urgency: priority, Title: title}\n"
    mapping = tmp_path / "helpdesk.yml"
    mapping.write_text(preset)
    with pytest.raises(InputError, match=r"helpdesk.csv: not UTF-8 text at line 2.*--encoding cp1252 \(or the "
                                         r"preset's `encoding`\); nothing is replaced silently"):
        import_files([export], mapping, "harbor-dental", tmp_path / "out")
    mapping.write_text(preset + "encoding: cp1252\n")
    import_files([export], mapping, "harbor-dental", tmp_path / "out")
    assert pl.read_csv(tmp_path / "out" / "tickets.csv")["title"].to_list() == ["Drucker über Fehler"]
    mapping.write_text(preset + "encoding: utf8-lossy\n")
    with pytest.raises(MappingError, match="encoding: utf8-lossy would replace characters silently"):
        import_files([export], mapping, "harbor-dental", tmp_path / "out")


def test_several_files_reconcile_and_stale_outputs_go(tmp_path):
    frame = pl.read_csv(FIXTURES / "zendesk_tickets.csv", infer_schema=False)
    first, second = tmp_path / "march-a.csv", tmp_path / "march-b.csv"
    frame.head(2).write_csv(first)
    frame.tail(2).write_csv(second)
    out = tmp_path / "out"
    (out / "surveys.csv").parent.mkdir()
    result = import_files([first, second], "zendesk", "harbor-dental", out)
    assert [f["rows"] for f in result.report["files"]] == [2, 2]
    assert result.report["rows_read"] == 4 == result.report["rows_used"]
    assert (out / "surveys.csv").exists()

    frame.drop("Satisfaction Score").write_csv(first)  # an export without survey data
    import_files([first], "zendesk", "harbor-dental", out)
    assert not (out / "surveys.csv").exists()


def test_partial_update_log_columns_fail(tmp_path):
    frame = pl.read_csv(FIXTURES / "servicenow_event_log.csv", infer_schema=False)
    export = tmp_path / "log.csv"
    frame.drop("sys_mod_count").write_csv(export)
    with pytest.raises(MappingError, match="not 'sys_mod_count'"):
        import_files([export], "servicenow", "acme", tmp_path / "out")


def test_contracts_option_copies_the_contract(tmp_path, contract_data):
    source = tmp_path / "src"
    path = write_contract(source, contract(contract_data, "acme", timezone="America/Sao_Paulo"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "import", "--from", "servicenow", str(FIXTURES / "servicenow_event_log.csv"),
        "--client-map", "acme", "--out", str(out), "--contracts", str(path)])
    assert result.exit_code == 0, result.output
    assert (out / "contracts" / "acme.yml").exists()
    assert "unmapped status values (reject): '-100' x1" in " ".join(result.output.split())


def test_two_exports_with_the_same_file_name_stay_apart(tmp_path):
    frame = pl.read_csv(FIXTURES / "zendesk_tickets.csv", infer_schema=False)
    march, april = tmp_path / "march" / "export.csv", tmp_path / "april" / "export.csv"
    march.parent.mkdir()
    april.parent.mkdir()
    frame.write_csv(march)
    frame.with_columns((pl.col("ID") + "0").alias("ID"),
                       pl.when(pl.col("ID") == "101").then(pl.lit("soon")).otherwise(pl.col("Created at"))
                       .alias("Created at")).write_csv(april)
    result = import_files([march, april], "zendesk", "harbor-dental", tmp_path / "out")
    assert (result.report["rows_read"], result.report["rows_used"], result.report["rows_rejected"]) == (8, 7, 1)
    reject = result.rejects.row(0, named=True)
    assert (reject["source"], reject["row"], reject["reason"]) == (str(april), 1, "unparseable_timestamp")
    assert json.loads(reject["raw"])["Created at"] == "soon"


def test_a_folder_named_like_the_client_or_preset_is_not_read_as_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zendesk").mkdir()
    (tmp_path / "harbor-dental").mkdir()
    result = import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", "harbor-dental", tmp_path / "out")
    assert set(result.tables.tickets["client_id"]) == {"harbor-dental"}


def test_client_map_entry_without_a_client_id_fails(tmp_path):
    empty = tmp_path / "map.yml"
    empty.write_text("map:\n  Harbor Dental Group:\n")
    with pytest.raises(MappingError, match=r"map\.yml: map\.Harbor Dental Group: empty; expected a client id"):
        import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", str(empty), tmp_path / "out")


def test_infinite_or_fractional_numbers_are_rejected_not_a_crash(tmp_path):
    frame = pl.read_csv(FIXTURES / "zendesk_tickets.csv", infer_schema=False)
    export = tmp_path / "export.csv"
    frame.with_columns(
        pl.when(pl.col("ID") == "101").then(pl.lit("inf")).otherwise(pl.col("Assignee stations"))
        .alias("Assignee stations"),
        pl.when(pl.col("ID") == "102").then(pl.lit("NaN")).otherwise(pl.col("First reply time in minutes"))
        .alias("First reply time in minutes"),
    ).with_columns(
        pl.when(pl.col("ID") == "103").then(pl.lit("1.7")).otherwise(pl.col("Assignee stations"))
        .alias("Assignee stations"),
    ).write_csv(export)
    result = import_files([export], "zendesk", "harbor-dental", tmp_path / "out")
    assert result.rejects.select("row", "reason", "detail").rows() == [
        (1, "invalid_number", "'Assignee stations': 'inf' is not a whole number"),
        (2, "invalid_number", "'First reply time in minutes': 'NaN' is not a number of minutes"),
        (3, "invalid_number", "'Assignee stations': '1.7' is not a whole number"),
    ]


def test_export_rows_reconcile_from_import_through_clean_to_the_report(tmp_path, contract_data):
    from pipelines.report import context, sections
    from pipelines.validate.health import health_frames

    data = contract(contract_data, "acme", timezone="America/Sao_Paulo", priority_map={"5 - Planning": "P4"})
    result, cleaned, out = run(tmp_path, "servicenow", "servicenow_event_log.csv", "acme", [data])
    summary = json.loads((tmp_path / "clean" / "clean_summary.json").read_text())
    imported = summary["import"]
    assert (imported["rows_read"], imported["rows_used"], imported["rows_rejected"]) == (20, 19, 1)
    assert imported["rejected_by_reason"] == {"unmapped_value": 1} and imported["rejected_by_client"] == {"acme": 1}
    rejects = pl.read_parquet(tmp_path / "clean" / "rejects.parquet")
    export = rejects.filter(pl.col("table") == "export")
    assert export.select("source", "row", "reason", "client_id").rows() == [
        ("servicenow_event_log.csv", 14, "unmapped_value", "acme")]
    built = sum(t["rows_in"] for t in summary["tables"].values())
    assert built == sum(t["clean"] + t["rejected"] for t in summary["tables"].values())

    ctx = context.load("acme", "2026-03", build_dir=tmp_path / "build-of-report", data_dir=out)
    note = str(sections.data_health_note(ctx))
    assert (f"The {result.report['tool']} export had 20 rows: 19 were used and 1 set aside at import. "
            f"From them, {built} rows came in") in note
    intake = health_frames(ctx.health)["tables"].row(0, named=True)
    assert (intake["rows_in"], intake["clean"], intake["rejected"]) == (20, 19, 1)
    assert "unmapped_value" in str(sections.rejected_reasons(ctx))
