"""Ingest and clean: raw exports in, clean tables and a rejects table out.

Every raw row ends up either in a clean table or in the rejects table with its
source file, record number, a reason code and the raw values: input rows =
clean rows + rejected rows, per table, checked in code. Timestamps without an
offset are read in the client's time zone and stored as UTC. Statuses,
priorities and close codes are normalised through the client's contract. Each
clean table holds a client's rows together, in the export's order (the status
history and the contact log in their own order, client first).

`clean_tables` is pure (frames in, frames out); `clean_folder` does the I/O.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.clean import fields
from pipelines.core import exports, io
from pipelines.core.contracts import Contract, contract_to_yaml, load_contracts
from pipelines.core.io import ROW, SOURCE
from pipelines.core.rejects import Check, attach_raw, quoted
from pipelines.core.scales import SCALE_WORDS, infer_scale, number, survey_score, survey_sentiment
from pipelines.core.schemas import (
    CONTACT_ALIASES,
    CONTACT_CHANNELS,
    CONTACT_DIRECTIONS,
    REJECTS_SCHEMA,
    TABLES,
)

_INT_COLUMNS = ("escalation_level", "reopen_count", "reassignment_count", "provider_touches")


class CleanError(RuntimeError):
    """Cleaning could not reconcile its own counts (a bug, never a data problem)."""


@dataclass
class CleanResult:
    """Clean tables (every canonical table, empty when not provided), the rejects and the counts;
    `contracts` as cleaning read them (a survey scale left to the data is filled in)."""

    tables: dict[str, pl.DataFrame]
    rejects: pl.DataFrame
    summary: dict = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)


@dataclass
class _Context:
    """What every table's cleaner gets: the contracts, the plausible times, the tables done."""

    contracts: dict[str, Contract]
    bounds: fields.TimeBounds
    done: dict[str, pl.DataFrame]
    inferred: dict[str, dict] = field(default_factory=dict)  # client -> survey scale read from ratings


def clean_tables(raw: dict[str, pl.DataFrame | None], contracts: dict[str, Contract],
                 bounds: fields.TimeBounds | None = None) -> CleanResult:
    """Clean every raw table (as read by `exports.read_raw`) against the clients' contracts;
    timestamps outside `bounds` (default: 1990 to now plus a day) are implausible."""
    bounds = bounds or fields.TimeBounds.of()
    if raw.get("tickets") is None:
        raise io.InputError("no tickets table: it is required")
    tables: dict[str, pl.DataFrame] = {}
    rejects: list[pl.DataFrame] = []
    summary: dict = {"tables": {}, "missing_tables": []}
    ctx = _Context(dict(contracts), bounds, tables)

    for name, spec in TABLES.items():
        frame = raw.get(name)
        if frame is None:
            summary["missing_tables"].append(name)
            tables[name] = pl.DataFrame(schema=spec.columns)
            continue
        absent = [c for c in spec.columns if c not in frame.columns and c != "client_id"]
        full = frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in absent])
        good, bad = _CLEANERS[name](full, ctx)
        bad = attach_raw(bad, frame)
        tables[name] = good
        rejects.append(bad)
        summary["tables"][name] = _reconcile(name, frame, good, bad)
        summary["tables"][name]["ignored_columns"] = exports.unknown_columns(frame, name)
    for name, frame in tables.items():
        # each client's rows together, in the export's order: the metrics stage reads a chunk of
        # clients at a time, and the Parquet reader then skips the row groups of the others
        if not frame["client_id"].is_sorted():
            tables[name] = frame.sort("client_id", maintain_order=True)

    all_rejects = pl.concat(rejects) if rejects else pl.DataFrame(schema=REJECTS_SCHEMA)
    summary["by_client"] = _by_client(tables, all_rejects, contracts)
    summary["plausible_timestamps"] = {"earliest": bounds.earliest.isoformat(),
                                       "latest": bounds.latest.isoformat()}
    summary["extracted_at"] = bounds.extracted_at.isoformat() if bounds.extracted_at else None
    summary["inferred_survey_scales"] = ctx.inferred
    return CleanResult(tables=tables, rejects=all_rejects, summary=summary, contracts=ctx.contracts)


def clean_folder(data: Path, out: Path, bounds: fields.TimeBounds | None = None,
                 options: exports.ReadOptions | None = None) -> CleanResult:
    """Read `data/` (raw tables + contracts/), write clean Parquet tables, rejects and a summary.

    `options` say how CSV files are read (encoding, separator). Files that resolve outside
    `data` (links) are refused. The folder is built aside and switched in whole: readers never
    see a mix of runs."""
    data, out = Path(data), Path(out)
    for path in [data / "contracts", *(data / "contracts").glob("*.y*ml")]:
        exports.inside(path, data)
    contracts = load_contracts(data / "contracts")
    if bounds is None:  # the export's own extraction time when the importer recorded one, else now
        stated = (io.read_json(data / IMPORT_REPORT).get("extracted_at")
                  if (data / IMPORT_REPORT).exists() else None)
        moment = datetime.fromisoformat(stated).astimezone(UTC) if stated else None
        bounds = fields.TimeBounds.of(min(moment, datetime.now(UTC)) if moment else None)  # never the future
    raw: dict[str, pl.DataFrame | None] = {}
    for name in TABLES:
        path = exports.find_table(data, name)
        if path is None:
            if not TABLES[name].optional_table:
                raise io.InputError(
                    f"{data}: no {name} file ({', '.join(name + s for s in io.RAW_SUFFIXES)})"
                )
            raw[name] = None
            continue
        raw[name] = exports.read_raw(path, name, options or exports.ReadOptions())
    result = clean_tables(raw, contracts, bounds)
    _with_import(result, data, contracts)
    staging = out.parent / f".{out.name}.new-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, frame in result.tables.items():
            io.write_table(frame, staging / f"{name}.parquet")
        io.write_table(result.rejects, staging / "rejects.parquet")
        io.copy_contracts(data / "contracts", staging / "contracts",
                          {c: contract_to_yaml(result.contracts[c]) for c in result.summary["inferred_survey_scales"]})
        io.write_json(result.summary, staging / "clean_summary.json")
        io.swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


IMPORT_REPORT, IMPORT_REJECTS = "import_report.json", "import_rejects.csv"
EXPORT = "export"  # the rejects' table name for rows set aside by `servicereview import`
EXPORT_HISTORY = "export_history"  # ... and for rows of the tool's status history (`--history`)


def _with_import(result: CleanResult, data: Path, contracts: dict[str, Contract]) -> None:
    """When `data` was written by `servicereview import`, carry its counts and rejects along, so
    rows in the export = used + rejected at import, and the tickets built = clean + rejected."""
    report_path = data / IMPORT_REPORT
    if not report_path.exists():
        return
    report = io.read_json(report_path)
    raw = io.read_rejects_csv(data / IMPORT_REJECTS)
    history = raw["table"] == "ticket_events"
    rejects = raw.with_columns(pl.when(history).then(pl.lit(EXPORT_HISTORY)).otherwise(pl.lit(EXPORT)).alias("table"))
    keys = ("preset", "tool", "mode", "files", "client_map", "rows_read", "rows_used", "rows_rejected",
            "rejected_by_reason", "reject_reasons", "extracted_at", "history")
    own = rejects.filter(pl.col("table") == EXPORT)
    mine = dict(own.group_by("client_id").len().iter_rows()) if own.height else {}
    result.summary["import"] = {k: report.get(k) for k in keys} | {
        "rejected_by_client": {c: mine.get(c, 0) for c in contracts},
        "rejected_without_client": sum(n for c, n in mine.items() if c not in contracts),
    }
    expected = {EXPORT: report.get("rows_rejected") or 0,
                EXPORT_HISTORY: (report.get("history") or {}).get("change_rows_rejected") or 0}
    for table, count in expected.items():
        found = rejects.filter(pl.col("table") == table).height
        if found != count:
            what = "rows" if table == EXPORT else "status-history change rows"
            raise io.InputError(f"{data / IMPORT_REJECTS}: {found} {what} rejected, but {IMPORT_REPORT} says "
                                f"{count} were rejected at import (files out of step)")
    result.rejects = pl.concat([rejects, result.rejects])


# ---------------------------------------------------------------- per table


def _unknown_priority() -> Check:
    return Check(
        "unknown_priority",
        pl.col("priority").is_not_null() & pl.col("__priority").is_null(),
        pl.format("priority: {} is not in the priority_map of contracts/{}.yml",
                  quoted("priority"), pl.col("client_id")),
    )


def _mapped_priority(frame, contracts) -> pl.DataFrame:
    pairs = fields.contract_pairs(contracts, Contract._priority_lookup)
    return frame.with_columns(fields.lookup(frame, "priority", pairs).alias("__priority"))


def _clean_tickets(frame, ctx):
    contracts = ctx.contracts
    frame = _mapped_priority(fields.with_zone(frame, contracts), contracts)
    checks = [
        *fields.missing(TABLES["tickets"]),
        *fields.nul_byte(frame),
        fields.unknown_client(contracts),
        _unknown_priority(),
        *fields.timestamp_checks(TABLES["tickets"], ctx.bounds),
        *fields.integer_checks(_INT_COLUMNS),
        *fields.boolean_checks(("fcr",)),
        fields.before("resolved_at", "created_at", "resolved_before_created"),
        fields.before("first_response_at", "created_at", "response_before_created"),
    ]
    good, bad = fields.split_checks(frame, "tickets", checks, fields.timestamp_columns(TABLES["tickets"]))
    good, dupes = fields.dedupe(good, "tickets", TABLES["tickets"].key)
    status = fields.lookup(good, "status", fields.contract_pairs(contracts, Contract.status_lookup))
    good = good.with_columns(
        pl.col("__priority").alias("priority"),
        pl.col("priority").alias("priority_raw"),
        pl.coalesce(status, pl.col("status")).alias("status"),
        fields.close_code(),
        *[pl.col(c).cast(pl.Int32) for c in _INT_COLUMNS],
        fields.boolean("fcr"),
        pl.col("source", "type").str.to_lowercase(),
    )
    return fields.to_schema(good, TABLES["tickets"]), pl.concat([bad, dupes])


EVENT_ORDER = ("client_id", "ticket_id", "at", "seq")  # seq: the record number, so file order


def _clean_events(frame, ctx):
    """Status events, stored in EVENT_ORDER: status changes in the same second keep the order
    of the export (its record number, kept as `seq`; one file per table, so file order)."""
    contracts = ctx.contracts
    frame = _mapped_priority(fields.attach_ticket(frame, ctx.done["tickets"], contracts), contracts)
    checks = [
        *fields.missing(TABLES["ticket_events"]),
        *fields.nul_byte(frame),
        fields.ambiguous_ticket(),
        fields.unknown_ticket("event_unknown_ticket"),
        _unknown_priority(),
        *fields.timestamp_checks(TABLES["ticket_events"], ctx.bounds),
    ]
    good, bad = fields.split_checks(frame, "ticket_events", checks, fields.timestamp_columns(TABLES["ticket_events"]))
    good, dupes = fields.dedupe(good, "ticket_events", ())
    status = fields.lookup(good, "status", fields.contract_pairs(contracts, Contract.status_lookup))
    good = good.with_columns(pl.coalesce(status, pl.col("status")).alias("status"),
                             pl.col("__priority").alias("priority"), pl.col(ROW).alias("seq"))
    clean = fields.to_schema(good, TABLES["ticket_events"]).sort(EVENT_ORDER, maintain_order=True)
    return clean, pl.concat([bad, dupes])


def _clean_surveys(frame, ctx):
    contracts = ctx.contracts
    frame = fields.attach_ticket(frame, ctx.done["tickets"], contracts)
    contracts = ctx.contracts = _with_survey_scales(frame, contracts, ctx.inferred)
    scale = pl.col("client_id").replace_strict(
        {c: k.survey_scale for c, k in contracts.items()}, default=None, return_dtype=pl.String
    )
    frame = frame.with_columns(scale.alias("scale")).with_columns(survey_score().alias("score"))
    checks = [
        *fields.missing(TABLES["surveys"]),
        *fields.nul_byte(frame),
        fields.ambiguous_ticket(),
        fields.unknown_ticket("survey_unknown_ticket"),
        *fields.timestamp_checks(TABLES["surveys"], ctx.bounds),
        Check(
            "rating_out_of_scale",
            pl.col("score").is_null(),
            pl.when(pl.col("scale").is_null()).then(pl.format(
                "rating: {} is not a rating on any scale (contracts/{}.yml gives no survey_scale)",
                quoted("rating"), pl.col("client_id")))
            .otherwise(pl.format("rating: {} is not a rating on the {} scale of contracts/{}.yml ({})",
                                 quoted("rating"), pl.col("scale"), pl.col("client_id"),
                                 pl.col("scale").replace_strict(SCALE_WORDS, default=""))),
        ),
    ]
    good, bad = fields.split_checks(frame, "surveys", checks, fields.timestamp_columns(TABLES["surveys"]))
    good, dupes = fields.dedupe(good, "surveys", TABLES["surveys"].key)
    good = good.with_columns(survey_sentiment().alias("sentiment"))
    return fields.to_schema(good, TABLES["surveys"]), pl.concat([bad, dupes])


def _clean_outages(frame, ctx):
    contracts = ctx.contracts
    frame = fields.with_zone(frame, contracts)
    checks = [
        *fields.missing(TABLES["outages"]),
        *fields.nul_byte(frame),
        fields.unknown_client(contracts),
        *fields.timestamp_checks(TABLES["outages"], ctx.bounds),
        *fields.boolean_checks(("planned",)),
        fields.before("ended_at", "started_at", "ended_before_started"),
    ]
    good, bad = fields.split_checks(frame, "outages", checks, fields.timestamp_columns(TABLES["outages"]))
    good, dupes = fields.dedupe(good, "outages", ())
    good = good.with_columns(fields.boolean("planned").fill_null(False))
    return fields.to_schema(good, TABLES["outages"]), pl.concat([bad, dupes])


def _clean_time_entries(frame, ctx):
    contracts = ctx.contracts
    frame = fields.with_zone(frame, contracts)
    minutes = number("minutes")
    checks = [
        *fields.missing(TABLES["time_entries"]),
        *fields.nul_byte(frame),
        fields.unknown_client(contracts),
        *fields.timestamp_checks(TABLES["time_entries"], ctx.bounds),
        Check(
            "invalid_number",
            minutes.is_null() | (minutes < 0),
            pl.format("minutes: {} is not a number of minutes >= 0", quoted("minutes")),
        ),
    ]
    good, bad = fields.split_checks(frame, "time_entries", checks, fields.timestamp_columns(TABLES["time_entries"]))
    good, dupes = fields.dedupe(good, "time_entries", ())
    good = good.with_columns(minutes.alias("minutes"), pl.col("work_type").str.to_lowercase())
    return fields.to_schema(good, TABLES["time_entries"]), pl.concat([bad, dupes])


def _clean_devices(frame, ctx):
    contracts = ctx.contracts
    frame = fields.with_zone(frame, contracts)
    checks = [
        *fields.missing(TABLES["devices"]),
        *fields.nul_byte(frame),
        fields.unknown_client(contracts),
        *fields.timestamp_checks(TABLES["devices"], ctx.bounds),
    ]
    good, bad = fields.split_checks(frame, "devices", checks, fields.timestamp_columns(TABLES["devices"]))
    good, dupes = fields.dedupe(good, "devices", TABLES["devices"].key)
    good = good.with_columns(pl.col("patch_status").str.to_lowercase())
    return fields.to_schema(good, TABLES["devices"]), pl.concat([bad, dupes])


def _clean_contacts(frame, ctx):
    """The client's own record of calls and emails; a ticket_ref is kept as given (matching,
    in metrics, looks it up among the same client's tickets)."""
    contracts = ctx.contracts
    frame = fields.with_zone(frame, contracts)
    spec = TABLES["contacts"]
    checks = [
        *fields.missing(spec),
        *fields.nul_byte(frame),
        fields.unknown_client(contracts),
        *fields.timestamp_checks(spec, ctx.bounds),
        fields.choice_check("channel", CONTACT_CHANNELS, CONTACT_ALIASES["channel"]),
        fields.choice_check("direction", CONTACT_DIRECTIONS, CONTACT_ALIASES["direction"]),
    ]
    good, bad = fields.split_checks(frame, "contacts", checks, fields.timestamp_columns(spec))
    good, dupes = fields.dedupe(good, "contacts", spec.key)
    good = good.with_columns(
        fields.choice("channel", CONTACT_CHANNELS, CONTACT_ALIASES["channel"]),
        fields.choice("direction", CONTACT_DIRECTIONS, CONTACT_ALIASES["direction"]).fill_null("outbound"),
    )
    return fields.to_schema(good, spec).sort("client_id", "at", "contact_id"), pl.concat([bad, dupes])


def _with_survey_scales(surveys: pl.DataFrame, contracts: dict[str, Contract], inferred: dict) -> dict:
    """The contracts with each survey_scale left to the data read from the client's ratings
    (recorded in `inferred`); ratings that do not tell the scale are a clear error."""
    missing = [c for c, k in contracts.items() if k.survey_scale is None]
    if not missing:
        return contracts
    out = dict(contracts)
    ratings = surveys.filter(pl.col("client_id").is_in(missing)).partition_by("client_id", as_dict=True)
    for (client,), part in sorted(ratings.items()):
        try:
            scale, why = infer_scale(part["rating"])
        except ValueError as exc:
            raise io.InputError(
                f"contracts/{client}.yml: survey_scale is not given and {client}'s survey ratings do not "
                f"tell it ({exc}); add survey_scale: 3-point, 5-point or 0-10") from None
        if scale is not None:  # else every rating is rejected: none is on any scale
            out[client] = contracts[client].model_copy(update={"survey_scale": scale})
            inferred[client] = {"survey_scale": scale, "because": why}
    return out


_CLEANERS = {
    "tickets": _clean_tickets,
    "ticket_events": _clean_events,
    "surveys": _clean_surveys,
    "outages": _clean_outages,
    "time_entries": _clean_time_entries,
    "devices": _clean_devices,
    "contacts": _clean_contacts,
}


def _reconcile(name: str, raw: pl.DataFrame, good: pl.DataFrame, bad: pl.DataFrame) -> dict:
    rows_in, clean, rejected = raw.height, good.height, bad.height
    if rows_in != clean + rejected:
        raise CleanError(f"{name}: {rows_in} rows in but {clean} clean + {rejected} rejected")
    by_reason = dict(sorted(bad.group_by("reason").len().iter_rows())) if rejected else {}
    source = raw[SOURCE][0] if raw.height else None
    return {"source": source, "rows_in": rows_in, "clean": clean, "rejected": rejected,
            "by_reason": by_reason}


def _by_client(tables: dict[str, pl.DataFrame], rejects: pl.DataFrame, contracts) -> dict:
    """Rows in / clean / rejected per client and table, for each client's data-health note."""
    out: dict = {c: {} for c in contracts}
    for name, frame in tables.items():
        clean = dict(frame.group_by("client_id").len().iter_rows()) if frame.height else {}
        table_rejects = rejects.filter(pl.col("table") == name)
        rejected = dict(table_rejects.group_by("client_id").len().iter_rows()) if table_rejects.height else {}
        for client in contracts:
            c, r = clean.get(client, 0), rejected.get(client, 0)
            out[client][name] = {"rows_in": c + r, "clean": c, "rejected": r}
    return out
