"""Canonical tables: their columns, which are required, and their clean types.

Raw files are read with every column as text (so a bad value can be quarantined
with its raw form); cleaning turns them into the clean types below. Timestamps
are stored as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class TableSpec:
    """One canonical table: its clean schema, required columns, timestamp columns and key."""

    name: str
    columns: dict[str, pl.DataType]  # clean schema, in output order
    required: tuple[str, ...]
    timestamps: tuple[str, ...] = ()
    key: tuple[str, ...] = ()  # identifies a record; duplicates with other values conflict
    optional_table: bool = True


TICKETS = TableSpec(
    name="tickets",
    columns={
        "ticket_id": pl.String,
        "client_id": pl.String,
        "created_at": UTC_TS,
        "priority": pl.String,  # P1..P4 after the contract's priority_map
        "priority_raw": pl.String,
        "status": pl.String,
        "type": pl.String,
        "source": pl.String,
        "category": pl.String,
        "subcategory": pl.String,
        "title": pl.String,
        "asset": pl.String,
        "requester": pl.String,
        "assignee": pl.String,
        "escalation_level": pl.Int32,
        "first_response_at": UTC_TS,
        "resolved_at": UTC_TS,
        "closed_at": UTC_TS,
        "close_code": pl.String,
        "parent_ticket_id": pl.String,
        "reopen_count": pl.Int32,
        "reassignment_count": pl.Int32,
        "provider_touches": pl.Int32,
        "fcr": pl.Boolean,  # the source system's own first-contact-resolution flag, if any
    },
    required=("ticket_id", "client_id", "created_at", "priority"),
    timestamps=("created_at", "first_response_at", "resolved_at", "closed_at"),
    key=("client_id", "ticket_id"),  # ticket ids are numbered per client (per tenant in a PSA)
    optional_table=False,
)

TICKET_EVENTS = TableSpec(
    name="ticket_events",
    columns={
        "ticket_id": pl.String,
        "client_id": pl.String,  # given by the export, or the one client that has this ticket id
        "at": UTC_TS,
        "status": pl.String,
        "actor": pl.String,
        "priority": pl.String,  # P1..P4 after the contract's priority_map, when the row names one
        "seq": pl.Int64,  # the row's record number in the export: breaks ties between same-time rows
    },
    required=("ticket_id", "at", "status"),
    timestamps=("at",),
)

SURVEYS = TableSpec(
    name="surveys",
    columns={
        "ticket_id": pl.String,
        "client_id": pl.String,  # given by the export, or the one client that has this ticket id
        "responded_at": UTC_TS,
        "rating": pl.String,  # as given: positive/neutral/negative, 1-5 or 0-10
        "score": pl.Float64,  # on the contract's scale (3-point: negative=1, neutral=2, positive=3)
        "scale": pl.String,  # 3-point | 5-point | 0-10
        "sentiment": pl.String,  # positive | neutral | negative, from the rating
        "comment": pl.String,
    },
    required=("ticket_id", "responded_at", "rating"),
    timestamps=("responded_at",),
    key=("client_id", "ticket_id"),
)

OUTAGES = TableSpec(
    name="outages",
    columns={
        "client_id": pl.String,
        "service": pl.String,
        "started_at": UTC_TS,
        "ended_at": UTC_TS,
        "planned": pl.Boolean,
        "description": pl.String,
    },
    required=("client_id", "service", "started_at", "ended_at"),
    timestamps=("started_at", "ended_at"),
)

TIME_ENTRIES = TableSpec(
    name="time_entries",
    columns={
        "client_id": pl.String,
        "started_at": UTC_TS,
        "minutes": pl.Float64,
        "ticket_id": pl.String,
        "engineer": pl.String,
        "work_type": pl.String,  # remote | onsite | project
    },
    required=("client_id", "started_at", "minutes"),
    timestamps=("started_at",),
)

DEVICES = TableSpec(
    name="devices",
    columns={
        "client_id": pl.String,
        "device_id": pl.String,
        "as_of": UTC_TS,  # snapshot time; one snapshot per month gives a patch trend
        "last_patched_at": UTC_TS,
        "patch_status": pl.String,
    },
    required=("client_id", "device_id"),
    timestamps=("as_of", "last_patched_at"),
    key=("client_id", "device_id", "as_of"),
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (TICKETS, TICKET_EVENTS, SURVEYS, OUTAGES, TIME_ENTRIES, DEVICES)
}

# Columns a source may use for the same thing (lower-cased) -> canonical name.
COLUMN_ALIASES = {
    "tier": "escalation_level",
    "subject": "title",
    "summary": "title",
}

REJECTS_SCHEMA = {
    "table": pl.String,
    "source": pl.String,  # the file the row came from
    "row": pl.Int64,  # 1-based record number in that file (1 = first row after the header)
    "client_id": pl.String,  # the row's client when it is known, so reports can filter
    "reason": pl.String,  # a code from REJECT_REASONS
    "detail": pl.String,  # what was wrong, in words, naming the field
    "raw": pl.String,  # the raw values as JSON
}

REJECT_REASONS = {
    "missing_required_field": "a required field is empty",
    "unparseable_timestamp": "a timestamp could not be read as ISO 8601",
    "invalid_number": "a number could not be read",
    "invalid_boolean": "a true/false value could not be read",
    "resolved_before_created": "the ticket was resolved before it was created",
    "response_before_created": "the ticket's first response is before it was created",
    "implausible_timestamp": "a timestamp before the earliest plausible time (1990 unless set) or after the "
                             "export's extraction time plus a day",
    "ended_before_started": "the outage ended before it started",
    "unknown_client": "the client has no contract file",
    "unknown_priority": "the priority is not in the client's contract",
    "duplicate_row": "an exact copy of an earlier row",
    "duplicate_id_conflict": "the same id appears again with different values; the last one is kept",
    "event_unknown_ticket": "a status event for a ticket that is not in the clean tickets",
    "ambiguous_ticket": "an event or survey without a client whose ticket id several clients use",
    "survey_unknown_ticket": "a survey for a ticket that is not in the clean tickets",
    "rating_out_of_scale": "the survey rating is outside the contract's scale",
    "nonexistent_local_time": "a local time that does not exist (skipped by a daylight-saving change)",
    "nul_byte": "a text field holds a NUL byte (the mark of a corrupt or binary export)",
}
