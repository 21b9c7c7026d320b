"""Status changes in the same second keep their file order, through clean and metrics (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.clean.stage import clean_folder
from pipelines.core import io
from pipelines.core.contracts import load_contracts
from pipelines.metrics.stage import compute_metrics
from tests.conftest import write_contract, write_csv

TICKETS = 300


@pytest.fixture
def clean(tmp_path, contract_data):
    """300 tickets logged Tue 13 Oct 2026 (New York), each put on 'Waiting on Customer' and
    taken back to 'In Progress' in the same second, resolved an hour later; the tickets'
    events interleaved in the file (as an export sorted by time writes them)."""
    raw = tmp_path / "raw"
    write_contract(raw, contract_data)
    start = datetime(2026, 10, 13, 13, 0, tzinfo=UTC)  # 09:00 in New York
    tickets, events = ["ticket_id,client_id,created_at,priority,resolved_at,close_code"], []
    for i in range(TICKETS):
        created = start + timedelta(seconds=7 * i)
        same = created + timedelta(minutes=30)
        done = created + timedelta(minutes=60)
        tickets.append(f"T{i},acme,{created.isoformat()},High,{done.isoformat()},resolved")
        events += [(created, 0, f"T{i},{created.isoformat()},New"),
                   (same, 1, f"T{i},{same.isoformat()},Waiting on Customer"),
                   (same, 2, f"T{i},{same.isoformat()},In Progress"),
                   (done, 3, f"T{i},{done.isoformat()},Resolved")]
    write_csv(raw, "tickets", "\n".join(tickets))
    write_csv(raw, "ticket_events", "\n".join(["ticket_id,at,status", *[e[2] for e in sorted(events)]]))
    out = tmp_path / "clean"
    clean_folder(raw, out)
    return out


def test_clean_keeps_the_file_order_of_same_second_events(clean):
    events = io.read_table(clean, "ticket_events")
    assert events["seq"].dtype == pl.Int64  # the record number in ticket_events.csv
    statuses = events.filter(pl.col("ticket_id") == "T5")["status"].to_list()
    assert statuses == ["New", "Waiting on Customer", "In Progress", "Resolved"]
    ordered = events.sort("client_id", "ticket_id", "at", "seq")
    assert_frame_equal(events, ordered)  # stored in the documented order


def test_same_second_changes_never_turn_into_a_pause(clean):
    tables = io.read_clean(clean)
    result = compute_metrics(tables, load_contracts(clean / "contracts"), "2026-10")
    sla = result.ticket_sla
    assert sla.height == TICKETS
    assert sla["paused_minutes"].to_list() == [0.0] * TICKETS
    assert sla["resolution_minutes"].to_list() == [60.0] * TICKETS


def test_metrics_break_ties_by_file_order_even_when_rows_are_shuffled(clean):
    tables = io.read_clean(clean)
    contracts = load_contracts(clean / "contracts")
    want = compute_metrics(tables, contracts, "2026-10").ticket_sla
    shuffled = dict(tables, ticket_events=tables["ticket_events"].reverse())
    assert_frame_equal(compute_metrics(shuffled, contracts, "2026-10").ticket_sla, want)


def test_event_priorities_are_mapped_through_the_contract(tmp_path, contract_data):
    raw = tmp_path / "raw"
    write_contract(raw, contract_data)
    write_csv(raw, "tickets", """
        ticket_id,client_id,created_at,priority
        T1,acme,2026-10-13T09:00:00,Medium
    """)
    write_csv(raw, "ticket_events", """
        ticket_id,at,status,priority
        T1,2026-10-13T09:00:00,New,Medium
        T1,2026-10-13T10:00:00,In Progress,
        T1,2026-10-13T11:00:00,In Progress,high
        T1,2026-10-13T12:00:00,In Progress,Sev 0
    """)
    result = clean_folder(raw, tmp_path / "clean")
    assert result.tables["ticket_events"]["priority"].to_list() == ["P3", None, "P2"]
    reject = result.rejects.filter(pl.col("table") == "ticket_events").row(0, named=True)
    assert (reject["row"], reject["reason"]) == (4, "unknown_priority")
    assert reject["detail"] == "priority: 'Sev 0' is not in the priority_map of contracts/acme.yml"
