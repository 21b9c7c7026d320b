"""Event logs and honest imports: derived reassignment / escalation / touches, status
templates, created_at from the first update, exit 2 when nothing is usable, reject
warnings, Excel input and a clear refusal of XML / XES."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.clean.stage import clean_folder
from pipelines.cli import app
from pipelines.ingest.importers import MappingError, import_files
from pipelines.metrics.stage import metrics_folder
from tests.conftest import write_contract

FIXTURES = Path(__file__).parents[1] / "fixtures" / "importers"
LOG, MAPPING = FIXTURES / "event_log.csv", FIXTURES / "event_log_mapping.yml"


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def counts(tickets: pl.DataFrame) -> dict:
    return {r["ticket_id"]: (r["reassignment_count"], r["escalation_level"], r["provider_touches"])
            for r in tickets.iter_rows(named=True)}


def test_event_log_without_group_columns_imports_without_inventing_counts(tmp_path):
    export = tmp_path / "log.csv"
    pl.read_csv(LOG, infer_schema=False).drop("Resource", "Support Group").write_csv(export)
    result = import_files([export], MAPPING, "acme", tmp_path / "out")
    tickets = result.tables.tickets
    assert counts(tickets) == {t: (None, None, None) for t in ("C-1", "C-2", "C-3")}  # unknown, not 0
    first = tickets.filter(pl.col("ticket_id") == "C-1").row(0, named=True)
    assert first["created_at"] == "2026-03-02T09:00:00"  # the first update, not the last (Closed)
    assert (first["first_response_at"], first["status"]) == ("2026-03-02T09:20:00", "Closed")
    assert result.report["notes"]["derived"] == {}
    assert set(result.report["fields_not_in_export"]) == {"reassignment_count", "escalation_level",
                                                          "provider_touches"}
    statuses = result.tables.events.filter(pl.col("ticket_id") == "C-1")["status"].to_list()
    assert statuses == ["New", "In Progress", "Waiting on Customer", "In Progress", "Resolved", "Closed"]


def fcr_of(tmp_path: Path, export: Path, contract_data: dict, name: str) -> tuple:
    out = tmp_path / name
    write_contract(out / "raw", dict(contract_data, targets={"fcr_pct": 70}))
    result = import_files([export], MAPPING, "acme", out / "raw")
    clean_folder(out / "raw", out / "clean")
    metrics_folder(out / "clean", out / "metrics", "2026-03")
    kpis = pl.read_parquet(out / "metrics" / "client_kpis.parquet").filter(pl.col("month") == "2026-03")
    return result, kpis.select("fcr_pct", "fcr_n").row(0)


def test_event_log_with_group_columns_derives_counts_and_fcr(tmp_path, contract_data):
    result, fcr = fcr_of(tmp_path, LOG, contract_data, "with")
    # C-2: Service Desk -> Network 2nd line -> L3 Database, by Bob, Cara and Dev; Batch closes C-1
    assert counts(result.tables.tickets) == {"C-1": ("0", "1", "1"), "C-2": ("2", "3", "3"), "C-3": ("0", "1", "1")}
    assert result.report["notes"]["derived"] == {"reassignment_count": 3, "escalation_level": 3, "provider_touches": 3}
    # resolved in March: C-1 (one group, one touch: FCR), C-2 (escalated), C-3 (reopened)
    assert fcr == (pytest.approx(100 / 3), 3)

    export = tmp_path / "log.csv"
    pl.read_csv(LOG, infer_schema=False).drop("Resource", "Support Group").write_csv(export)
    _result, fcr = fcr_of(tmp_path, export, contract_data, "without")
    assert fcr[0] is None  # no reassignment, escalation or touches in the export: not measured


def test_collapse_rules_and_the_timestamp_order_warning(tmp_path):
    mapping = tmp_path / "last.yml"
    text = MAPPING.read_text().replace("  actor: Resource\n", "  actor: Resource\n  collapse: {created_at: last, "
                                       "priority: max, assignee: count_distinct, requester: changes}\n")
    mapping.write_text(text.replace("  Priority: priority\n", "  Priority: priority\n  Resource: [assignee, requester]\n"))
    out = tmp_path / "out"
    result = cli("import", "--from", mapping, LOG, "--client-map", "acme", "--out", out)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "warning: 3 ticket(s) have created_at after its first update (e.g. ticket C-1" in output
    report = json.loads((out / "import_report.json").read_text())
    assert report["notes"]["timestamps_out_of_order"]["created_at after its first update"]["tickets"] == 3
    tickets = pl.read_csv(out / "tickets.csv", infer_schema=False)
    c2 = tickets.filter(pl.col("ticket_id") == "C-2").row(0, named=True)
    assert (c2["created_at"], c2["priority"], c2["assignee"], c2["requester"]) == (
        "2026-03-03T14:00:00", "High", "3", "2")  # last row; text max; Bob, Cara, Dev; 2 changes


def test_an_export_whose_every_row_fails_exits_2_with_the_reason(tmp_path):
    export = tmp_path / "export.csv"
    frame = pl.read_csv(FIXTURES / "zendesk_tickets.csv", infer_schema=False)
    frame.with_columns(pl.col("Created at").str.replace(r"(\d+)-(\d+)-(\d+)", "$3.$2.$1")).write_csv(export)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "tickets.csv").write_text("stale\n")
    result = cli("import", "--from", "zendesk", export, "--client-map", "harbor-dental", "--out", out)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "nothing usable was imported: 4 rows read, 0 used, 4 rejected (unparseable_timestamp x4)" in message
    assert "export.csv row 1: created_at (column 'Created at'): '02.03.2026 09:15:00' matches none" in message
    assert not (out / "tickets.csv").exists()  # no stale table for clean to read
    assert pl.read_csv(out / "import_rejects.csv").height == 4
    assert json.loads((out / "import_report.json").read_text())["rows_rejected"] == 4


def test_more_than_5_percent_rejected_warns_with_reasons_and_an_example(tmp_path):
    result = cli("import", "--from", "zendesk", FIXTURES / "zendesk_tickets.csv", "--client-map",
                 "harbor-dental", "--out", tmp_path / "ok")
    assert result.exit_code == 0 and "warning" not in result.output
    (tmp_path / "map.yml").write_text("map: {Harbor Dental Group: harbor-dental, Lakeside Legal: lakeside-legal}\n")
    result = cli("import", "--from", "zendesk", FIXTURES / "zendesk_tickets.csv", "--client-map",
                 tmp_path / "map.yml", "--out", tmp_path / "out")
    assert result.exit_code == 0
    output = " ".join(result.output.split())
    assert ("warning: 1 of 4 export rows (25.0%) were rejected: unknown_client x1; e.g. zendesk_tickets.csv "
            "row 4: Organization: 'Riverside Vets' is not in --client-map") in output
    report = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert report["files"] == [{"name": "zendesk_tickets.csv", "path": str(FIXTURES / "zendesk_tickets.csv"),
                                "role": "tickets", "rows": 4}]
    assert report["reject_examples"]["unknown_client"]["row"] == 4
    assert {"rows_read", "rows_used", "rows_rejected", "rejected_by_reason", "tickets", "ticket_events",
            "surveys"} <= set(report)


def test_excel_exports_are_read_like_csv(tmp_path):
    frame = pl.read_csv(FIXTURES / "zendesk_tickets.csv", infer_schema=False)
    sheet = tmp_path / "export.xlsx"
    frame.write_excel(sheet)
    from_csv = import_files([FIXTURES / "zendesk_tickets.csv"], "zendesk", "harbor-dental", tmp_path / "a")
    from_xlsx = import_files([sheet], "zendesk", "harbor-dental", tmp_path / "b")
    assert from_xlsx.tables.tickets.equals(from_csv.tables.tickets)


def test_xml_xes_and_json_exports_get_a_clear_error(tmp_path):
    xes = tmp_path / "helpdesk.xes"
    xes.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0"><trace/></log>\n')
    with pytest.raises(MappingError, match=r"helpdesk\.xes: is XML \(an XES event log.*convert an XES log to CSV"):
        import_files([xes], MAPPING, "acme", tmp_path / "out")
    disguised = tmp_path / "export.csv"
    disguised.write_text("<html><body>Session expired</body></html>\n")
    with pytest.raises(MappingError, match=r"export\.csv: is XML"):
        import_files([disguised], "zendesk", "acme", tmp_path / "out")
    sheet = tmp_path / "export.csv"
    frame = pl.DataFrame({"Id": ["1"]})
    frame.write_excel(sheet)  # an Excel workbook under a CSV name
    with pytest.raises(MappingError, match=r"export\.csv: is a ZIP archive \(an Excel workbook saved without"):
        import_files([sheet], "zendesk", "acme", tmp_path / "out")
    result = cli("import", "--from", "zendesk", FIXTURES / "history" / "zendesk_ticket_audits.json",
                 "--client-map", "acme", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "is read with --history" in " ".join(result.output.split())


def test_bad_derivations_templates_and_history_shapes_name_the_field(tmp_path):
    base = MAPPING.read_text()
    cases = {
        "regex": (base.replace('"\\\\bL(\\\\d)\\\\b": null', '"\\\\bL(": null'),
                  r"update_log\.derive\.escalation_level\.patterns: .*is not a regular expression"),
        "group": (base.replace('"\\\\bL(\\\\d)\\\\b": null', '"L3": null'),
                  r"'L3': without a level it needs a group that captures the level"),
        "template": (base.replace('"{Activity}/{Lifecycle}"', '"Activity"'),
                     r"templates\.status: 'Activity' names no column"),
        "history": (base + "history:\n  - {name: h, format: json, at: when, status: {column: s}}\n",
                    r"history\.0: .*needs `key` \(the ticket id column\) or `key_from_file`"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        with pytest.raises(MappingError, match=message):
            import_files([LOG], path, "acme", tmp_path / "out")
