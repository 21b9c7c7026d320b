"""What the data-quality gate checks in each clean table, declared as data and built in code.

There is one Great Expectations suite per table and it is the same for every
client: what differs per client (its id, priorities, statuses, thresholds, the
run time) goes in as `$PARAMETER` values when validating, so suites are built
once per process. Values an expectation needs that the table does not hold
(each event's ticket creation time, a month's volume against the client's own
median) are derived here in polars, before the one conversion to pandas; three
suites run on derived tables: `schema` (one row per expected column: found vs
expected type), `ticket_volume` (one row per month) and `ticket_history` (one
row per ticket with status changes, so ordering faults are counted per ticket).

Every check carries a severity: "error" blocks the client's report, "warning"
is published with the finding shown. A `tolerant` error is only a warning while
the share of rows it hits stays within the contract's `quality.error_tolerance`.
The `explain` text is written for a client's office manager.

Importing this module does not import Great Expectations; `build_suite` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipelines.core.contracts import CLOSE_CODES, Contract
from pipelines.core.schemas import TABLES

FLOOR = datetime(2000, 1, 1, tzinfo=UTC)  # no help desk export holds real work before this
RECORD_ID = "record_id"  # derived in every table: the id shown as an example of a finding
VOLUME_TABLE = "ticket_volume"  # derived: one row per month of the client's ticket history
SCHEMA_TABLE = "schema"  # derived: one row per expected column of each provided table
HISTORY_TABLE = "ticket_history"  # derived: one row per ticket with status changes
MIN_VOLUME_MONTHS = 3  # fewer complete months give no meaningful median
MAX_ENTRY_MINUTES = 12 * 60  # one time entry longer than this is probably a typing slip

# Statuses most help desks use while a ticket runs; anything else is only a warning.
TYPICAL_STATUSES = (
    "new", "open", "assigned", "in progress", "scheduled", "pending", "on hold",
    "waiting on customer", "waiting on vendor", "waiting on third party", "escalated",
    "reopened", "resolved", "closed", "cancelled", "canceled", "merged",
)
KNOWN_SOURCES = (
    "phone", "email", "portal", "chat", "monitoring", "maintenance", "onsite", "walk-in",
    "web", "self-service", "alert", "api", "sms", "teams", "slack", "voicemail",
)
WORK_TYPES = ("remote", "onsite", "project")
SCALE_BOUNDS = {"3-point": (1.0, 3.0), "5-point": (1.0, 5.0), "0-10": (0.0, 10.0)}
TABLE_NOUNS = {  # what one row of each table is, in words
    "tickets": "tickets",
    VOLUME_TABLE: "months",
    HISTORY_TABLE: "tickets with a status history",
    SCHEMA_TABLE: "columns",
    "ticket_events": "status changes",
    "surveys": "survey answers",
    "outages": "outages",
    "time_entries": "time entries",
    "devices": "device records",
}


@dataclass(frozen=True)
class Check:
    """One expectation: the GX class name, its arguments and what a finding means."""

    table: str  # the suite: a clean table, or a derived one (schema, volume, history)
    name: str  # stable id, e.g. "tickets.first_response_after_created"
    expectation: str  # class in great_expectations.expectations
    kwargs: dict
    severity: str  # "error" | "warning"
    explain: str
    column: str | None = None  # the column a reader should look at
    tolerant: bool = False
    extra: dict = field(default_factory=dict)

    def meta(self) -> dict:
        return {"check": self.name, "severity": self.severity, "explain": self.explain,
                "column": self.column, "tolerant": self.tolerant, "table": self.table}


def _param(name: str) -> dict:
    return {"$PARAMETER": name}


# ---------------------------------------------------------------- the checks


def _schema_table_checks() -> list[Check]:
    t = SCHEMA_TABLE
    return [
        Check(t, "schema.columns", "ExpectColumnValuesToNotBeNull", {"column": "found"}, "error",
              "Some columns the report is built from are missing from the data.", column="column"),
        Check(t, "schema.types", "ExpectColumnPairValuesToBeEqual",
              {"column_A": "found", "column_B": "expected",
               "ignore_row_if": "either_value_is_missing"},
              "error", "Some columns hold a different kind of value than expected (for example "
              "text where a date and time is expected).", column="column"),
    ]


def _common_checks(table: str) -> list[Check]:
    spec, noun = TABLES[table], TABLE_NOUNS[table]
    checks = []
    for column in spec.required:
        checks.append(Check(
            table, f"{table}.required.{column}", "ExpectColumnValuesToNotBeNull",
            {"column": column}, "error",
            f"Some {noun} have no {column}, which every one of them needs.", column=column,
        ))
    if "client_id" in spec.columns:
        checks.append(Check(
            table, f"{table}.client", "ExpectColumnValuesToBeInSet",
            {"column": "client_id", "value_set": _param("client_ids")}, "error",
            f"Some {noun} belong to another client; they must never appear in this report.",
            column="client_id",
        ))
    for column in spec.timestamps:
        checks.append(Check(
            table, f"{table}.time_range.{column}", "ExpectColumnValuesToBeBetween",
            {"column": column, "min_value": FLOOR, "max_value": _param("now"),
             "mostly": _param("error_mostly")}, "error",
            f"Some {noun} have a {column} in the future or before the year 2000, which "
            "cannot be real.",
            column=column, tolerant=True,
        ))
    return checks


def _order(table: str, name: str, later: str, earlier: str, explain: str, *,
           severity: str = "error", tolerant: bool = True, column: str | None = None,
           compared_to: str | None = None) -> Check:
    """`later` >= `earlier` where both are set. `column` is what a reader should look at
    (default `later`); `compared_to` the other side (default `earlier`)."""
    kwargs = {"column_A": later, "column_B": earlier, "or_equal": True,
              "ignore_row_if": "either_value_is_missing"}
    if tolerant:
        kwargs["mostly"] = _param("error_mostly")
    return Check(table, f"{table}.{name}", "ExpectColumnPairValuesAToBeGreaterThanB", kwargs,
                 severity, explain, column=column or later, tolerant=tolerant,
                 extra={"compared_to": compared_to or earlier})


def _ticket_checks() -> list[Check]:
    t = "tickets"
    return [
        *_common_checks(t),
        Check(t, "tickets.has_rows", "ExpectTableRowCountToBeBetween", {"min_value": 1}, "warning",
              "There are no tickets for this client in the export, so the report has nothing "
              "to show."),
        Check(t, "tickets.unique_id", "ExpectColumnValuesToBeUnique", {"column": "ticket_id"},
              "error",
              "The same ticket number appears more than once, so tickets would be counted twice.",
              column="ticket_id"),
        Check(t, "tickets.priority_in_contract", "ExpectColumnValuesToBeInSet",
              {"column": "priority", "value_set": _param("priorities")}, "error",
              "Some tickets have a priority the contract sets no target for, so their SLA "
              "cannot be judged.", column="priority"),
        Check(t, "tickets.status_known", "ExpectColumnValuesToBeInSet",
              {"column": "status_folded", "value_set": _param("statuses")}, "warning",
              "Some tickets are in a status the contract does not name, so the report cannot "
              "tell whether their SLA clock was running.", column="status"),
        Check(t, "tickets.close_code_known", "ExpectColumnValuesToBeInSet",
              {"column": "close_code", "value_set": list(CLOSE_CODES),
               "mostly": _param("error_mostly")}, "error",
              "Some tickets were closed with an unknown reason, so the report cannot tell whether "
              "they count towards the SLA.", column="close_code", tolerant=True),
        Check(t, "tickets.source_known", "ExpectColumnValuesToBeInSet",
              {"column": "source", "value_set": _param("sources")}, "warning",
              "Some tickets came in through a channel we do not recognise, which affects the "
              "share of problems caught proactively.", column="source"),
        _order(t, "first_response_after_created", "first_response_at", "created_at",
               "Some tickets show a first response before the ticket was opened, which cannot "
               "happen; their response times would be wrong."),
        _order(t, "resolved_after_first_response", "resolved_at", "first_response_at",
               "Some tickets were marked resolved before anyone first responded, which cannot "
               "happen; their response times would be wrong."),
        _order(t, "resolved_after_created", "resolved_at", "created_at",
               "Some tickets were resolved before they were opened, which cannot happen."),
        _order(t, "closed_after_resolved", "closed_at", "resolved_at",
               "Some tickets were closed before they were resolved, which cannot happen."),
        _order(t, "closed_after_created", "closed_at", "created_at",
               "Some tickets were closed before they were opened, which cannot happen."),
        *[
            Check(t, f"tickets.not_negative.{c}", "ExpectColumnValuesToBeBetween",
                  {"column": c, "min_value": 0, "mostly": _param("error_mostly")}, "error",
                  f"Some tickets have a negative {c.replace('_', ' ')}, which cannot happen.",
                  column=c, tolerant=True)
            for c in ("reopen_count", "reassignment_count", "escalation_level", "provider_touches")
        ],
        Check(t, "tickets.no_response_share", "ExpectColumnValuesToNotBeNull",
              {"column": "first_response_at", "mostly": _param("min_responded_share")}, "warning",
              "An unusually large share of tickets has no recorded first response; the export "
              "may be missing response times.", column="first_response_at"),
        Check(t, "tickets.p1_share", "ExpectColumnValuesToNotBeInSet",
              {"column": "priority", "value_set": ["P1"], "mostly": _param("min_non_p1_share")},
              "warning",
              "An unusually large share of tickets is top priority (P1); priorities may be "
              "mapped wrongly.", column="priority"),
    ]


def _volume_checks() -> list[Check]:
    return [Check(
        VOLUME_TABLE, "tickets.monthly_volume", "ExpectColumnValuesToBeBetween",
        {"column": "ratio_to_median", "min_value": _param("min_volume_ratio"),
         "max_value": _param("volume_ratio")}, "warning",
        "In some months the number of tickets is far from this client's usual month; the "
        "export for those months may be incomplete or duplicated. (Examples are months.)",
        column="created_at",
    )]


def _event_checks() -> list[Check]:
    t = "ticket_events"
    return [
        *_common_checks(t),
        Check(t, "ticket_events.status_known", "ExpectColumnValuesToBeInSet",
              {"column": "status_folded", "value_set": _param("statuses")}, "warning",
              "The status history uses statuses the contract does not name, so paused time "
              "may be missed.", column="status"),
    ]


def _history_checks() -> list[Check]:
    # Judged per ticket: one ticket with a broken history has wrong SLA figures however
    # many status changes it has, so the tolerance is a share of tickets, not of rows.
    t = HISTORY_TABLE
    return [
        _order(t, "starts_after_created", "first_at", "ticket_created_at",
               "Some tickets' status history starts before the ticket was opened: the changes "
               "are dated out of order, so paused and in-progress times would be wrong.",
               column="at"),
        _order(t, "ends_before_closed", "ticket_closed_at", "last_at",
               "Some tickets' status history goes on after the ticket was closed: the changes "
               "are dated out of order, so paused and in-progress times would be wrong.",
               column="at", compared_to="ticket_closed_at"),
        Check(t, f"{t}.in_time_order", "ExpectColumnValuesToBeInSet",
              {"column": "in_order", "value_set": [True], "mostly": _param("error_mostly")},
              "error",
              "In some tickets' status history the ticket goes from resolved back to open "
              "although it was never reopened: the changes are dated out of order, so the time "
              "spent in each status would be wrong.",
              column="at", tolerant=True),
    ]


def _survey_checks() -> list[Check]:
    t = "surveys"
    return [
        *_common_checks(t),
        Check(t, "surveys.unique_ticket", "ExpectColumnValuesToBeUnique", {"column": "ticket_id"},
              "error", "Some tickets have more than one survey answer, so satisfaction would be "
              "counted twice.", column="ticket_id"),
        Check(t, "surveys.scale", "ExpectColumnValuesToBeInSet",
              {"column": "scale", "value_set": _param("survey_scales")}, "error",
              "Some survey answers are on a different scale from the one in the contract.",
              column="scale"),
        Check(t, "surveys.rating_in_scale", "ExpectColumnValuesToBeBetween",
              {"column": "score", "min_value": _param("min_score"),
               "max_value": _param("max_score")},
              "error", "Some survey ratings are outside the contract's rating scale.",
              column="rating"),
        _order(t, "after_resolution", "responded_at", "ticket_resolved_at",
               "Some surveys were answered before their ticket was resolved, which cannot happen."),
        Check(t, "surveys.ticket_resolved", "ExpectColumnValuesToNotBeNull",
              {"column": "ticket_resolved_at"}, "warning",
              "Some surveys belong to tickets that are not resolved yet.", column="ticket_id"),
    ]


def _outage_checks() -> list[Check]:
    t = "outages"
    return [
        *_common_checks(t),
        _order(t, "ended_after_started", "ended_at", "started_at",
               "Some outages end before they start, which cannot happen; uptime would be wrong.",
               tolerant=False),
        Check(t, "outages.service_in_contract", "ExpectColumnValuesToBeInSet",
              {"column": "service", "value_set": _param("services")}, "warning",
              "Some outages are for services the contract does not list, so they do not count "
              "in the uptime figures.", column="service"),
    ]


def _time_entry_checks() -> list[Check]:
    t = "time_entries"
    return [
        *_common_checks(t),
        Check(t, "time_entries.minutes_plausible", "ExpectColumnValuesToBeBetween",
              {"column": "minutes", "min_value": 0, "max_value": MAX_ENTRY_MINUTES}, "warning",
              "Some single time entries are longer than 12 hours, which is probably a typing slip.",
              column="minutes"),
        Check(t, "time_entries.work_type_known", "ExpectColumnValuesToBeInSet",
              {"column": "work_type", "value_set": list(WORK_TYPES)}, "warning",
              "Some time entries have a work type other than remote, onsite or project, so they "
              "may be missed in the on-site visit count.", column="work_type"),
        Check(t, "time_entries.ticket_known", "ExpectColumnValuesToBeInSet",
              {"column": "ticket_known", "value_set": [True]}, "warning",
              "Some time entries name a ticket that is not among this client's tickets.",
              column="ticket_id"),
    ]


def _device_checks() -> list[Check]:
    t = "devices"
    return [
        *_common_checks(t),
        Check(t, "devices.unique_device", "ExpectCompoundColumnsToBeUnique",
              {"column_list": ["device_id", "as_of"]}, "error",
              "The same device appears twice in one snapshot, so patch figures would count it "
              "twice.",
              column="device_id"),
        _order(t, "patched_before_snapshot", "as_of", "last_patched_at",
               "Some devices were patched after the date of the snapshot that reports them, "
               "which cannot happen.", column="last_patched_at", compared_to="as_of"),
    ]


CHECKS: dict[str, list[Check]] = {
    SCHEMA_TABLE: _schema_table_checks(),
    "tickets": _ticket_checks(),
    VOLUME_TABLE: _volume_checks(),
    "ticket_events": _event_checks(),
    HISTORY_TABLE: _history_checks(),
    "surveys": _survey_checks(),
    "outages": _outage_checks(),
    "time_entries": _time_entry_checks(),
    "devices": _device_checks(),
}
SUITE_TABLES = tuple(CHECKS)  # validation order; schema, ticket_volume, ticket_history are derived


def build_suite(table: str):
    """The GX ExpectationSuite for one table (imports Great Expectations)."""
    # lazy: importing Great Expectations takes 3-4 s; health pages and reports read CHECKS only
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"servicereview.{table}")
    for check in CHECKS[table]:
        expectation = getattr(gxe, check.expectation)(**check.kwargs, meta=check.meta())
        suite.add_expectation(expectation)
    return suite


# ---------------------------------------------------------------- per-client values


def parameters(contract: Contract, now: datetime) -> dict:
    """The `$PARAMETER` values for one client: its sets and thresholds, and the run time."""
    q = contract.quality
    named = contract.statuses
    statuses = [*named.pause, *named.in_progress, *named.resolved, *named.aliases.values(),
                *TYPICAL_STATUSES]
    low, high = SCALE_BOUNDS.get(contract.survey_scale, (0.0, 10.0))  # None: no rating on any scale
    return {
        "client_ids": [contract.client_id],
        "priorities": sorted(contract.sla),
        "statuses": sorted({s.casefold() for s in statuses}),
        "sources": sorted({*KNOWN_SOURCES, *(s.lower() for s in contract.proactive_sources)}),
        "services": list(contract.uptime.services),
        "survey_scales": [contract.survey_scale] if contract.survey_scale else [],
        "min_score": low,
        "max_score": high,
        "now": now,
        "error_mostly": _share(1 - q.error_tolerance),
        "min_responded_share": _share(1 - q.max_no_response_share),
        "min_non_p1_share": _share(1 - q.max_p1_share),
        "volume_ratio": q.volume_ratio,
        "min_volume_ratio": 1 / q.volume_ratio,
    }


def _share(value: float) -> float:
    return round(value, 10)  # 1 - 0.01 must compare equal to 99/100
