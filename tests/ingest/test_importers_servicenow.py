"""The servicenow preset on the real instance's event log (skipped when the data is absent).

The log lives outside the project (`../shared/data/servicenow-incident-log/`, or the
path in SERVICENOW_LOG); it is never copied into the repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean.stage import clean_folder
from pipelines.ingest.importers import import_files
from pipelines.ingest.importers.engine import IMPORT_REJECT_REASONS

ROOT = Path(__file__).resolve().parents[2]
LOG = Path(os.environ.get(
    "SERVICENOW_LOG", ROOT.parent / "shared/data/servicenow-incident-log/incident_event_log.csv.gz"))
EXAMPLES = ROOT / "examples" / "servicenow"

pytestmark = pytest.mark.skipif(not LOG.exists(), reason=f"real ServiceNow log not found at {LOG}")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("servicenow") / "imported"
    result = import_files([LOG], "servicenow", "servicenow-demo", out,
                          contracts=EXAMPLES / "contracts-24x7")
    return result, out


def test_every_incident_is_imported_with_its_history(imported):
    result, out = imported
    report = result.report
    assert report["rows_read"] == 141_712
    assert report["rows_read"] == report["rows_used"] + report["rows_rejected"]
    assert set(report["rejected_by_reason"]) <= set(IMPORT_REJECT_REASONS)
    # Rejected rows are single updates (incident_state -100); no incident loses all its rows.
    assert report["tickets"] == 24_918
    tickets = pl.read_csv(out / "tickets.csv", infer_schema=False)
    events = pl.read_csv(out / "ticket_events.csv", infer_schema=False)
    assert tickets["ticket_id"].n_unique() == 24_918
    assert set(events["ticket_id"].unique()) == set(tickets["ticket_id"])
    assert tickets["first_response_at"].null_count() == 0
    assert set(tickets["priority"].unique()) == {"P1", "P2", "P3", "P4"}
    rejects = pl.read_csv(out / "import_rejects.csv", infer_schema=False)
    assert rejects.height == report["rows_rejected"]
    assert rejects["detail"].null_count() == 0 and rejects["raw"].null_count() == 0
    extras = pl.read_csv(out / "extras.csv", infer_schema=False)
    assert set(extras["made_sla"].unique()) == {"true", "false"}


def test_clean_runs_on_the_import_with_the_example_contract(imported, tmp_path):
    result, out = imported
    cleaned = clean_folder(out, tmp_path / "clean")
    summary = cleaned.summary["tables"]
    assert summary["tickets"]["rows_in"] == result.report["tickets"]
    assert summary["tickets"]["clean"] + summary["tickets"]["rejected"] == summary["tickets"]["rows_in"]
    assert summary["ticket_events"]["rows_in"] == result.report["ticket_events"]
    assert cleaned.tables["tickets"].height > 0.99 * result.report["tickets"]
    written = json.loads((out / "import_report.json").read_text())
    assert written["outputs"]["contracts"].endswith("contracts")
