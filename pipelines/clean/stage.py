"""Ingest and clean: raw exports in, clean tables and a rejects table out.

Every raw row ends up either in a clean table or in the rejects table with its
source file, record number, a reason code and the raw values: input rows =
clean rows + rejected rows, per table, checked in code. Timestamps without an
offset are read in the client's time zone and stored as UTC. Statuses,
priorities and close codes are normalised through the client's contract.

`clean_tables` is pure (frames in, frames out); `clean_folder` does the I/O.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import polars as pl

from pipelines.core import io
from pipelines.core.contracts import Contract, load_contracts
from pipelines.core.io import ROW, SOURCE
from pipelines.core.schemas import REJECTS_SCHEMA, TABLES, TableSpec

_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
_TRUE = ("true", "yes", "y", "1", "t")
_FALSE = ("false", "no", "n", "0", "f")
_CLOSE_CODE_ALIASES = {"canceled": "cancelled", "dup": "duplicate", "duplicated": "duplicate"}
_INT_COLUMNS = ("escalation_level", "reopen_count", "reassignment_count", "provider_touches")
_ZONE = "__zone"


class CleanError(RuntimeError):
    """Cleaning could not reconcile its own counts (a bug, never a data problem)."""


@dataclass
class CleanResult:
    """Clean tables (every canonical table, empty when not provided), the rejects and the counts."""

    tables: dict[str, pl.DataFrame]
    rejects: pl.DataFrame
    summary: dict = field(default_factory=dict)


class _Check(NamedTuple):
    reason: str
    failed: pl.Expr
    detail: pl.Expr


def clean_tables(raw: dict[str, pl.DataFrame | None], contracts: dict[str, Contract]) -> CleanResult:
    """Clean every raw table (as read by `io.read_raw`) against the clients' contracts."""
    if raw.get("tickets") is None:
        raise io.InputError("no tickets table: it is required")
    tables: dict[str, pl.DataFrame] = {}
    rejects: list[pl.DataFrame] = []
    summary: dict = {"tables": {}, "missing_tables": []}

    for name, spec in TABLES.items():
        frame = raw.get(name)
        if frame is None:
            summary["missing_tables"].append(name)
            tables[name] = pl.DataFrame(schema=spec.columns)
            continue
        absent = [c for c in spec.columns if c not in frame.columns and c != "client_id"]
        full = frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in absent])
        good, bad = _CLEANERS[name](full, contracts, tables)
        bad = attach_raw(bad, frame)
        tables[name] = good
        rejects.append(bad)
        summary["tables"][name] = _reconcile(name, frame, good, bad)
        summary["tables"][name]["ignored_columns"] = io.unknown_columns(frame, name)

    all_rejects = pl.concat(rejects) if rejects else pl.DataFrame(schema=REJECTS_SCHEMA)
    summary["by_client"] = _by_client(tables, all_rejects, contracts)
    return CleanResult(tables=tables, rejects=all_rejects, summary=summary)


def clean_folder(data: Path, out: Path) -> CleanResult:
    """Read `data/` (raw tables + contracts/), write clean Parquet tables, rejects and a summary.

    The folder is built aside and switched in whole: readers never see a mix of runs."""
    data, out = Path(data), Path(out)
    contracts = load_contracts(data / "contracts")
    raw: dict[str, pl.DataFrame | None] = {}
    for name in TABLES:
        path = io.find_table(data, name)
        if path is None:
            if not TABLES[name].optional_table:
                raise io.InputError(
                    f"{data}: no {name} file ({', '.join(name + s for s in io.RAW_SUFFIXES)})"
                )
            raw[name] = None
            continue
        raw[name] = io.read_raw(path, name)
    result = clean_tables(raw, contracts)
    staging = out.parent / f".{out.name}.new-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, frame in result.tables.items():
            io.write_table(frame, staging / f"{name}.parquet")
        io.write_table(result.rejects, staging / "rejects.parquet")
        io.copy_contracts(data / "contracts", staging / "contracts")
        io.write_json(result.summary, staging / "clean_summary.json")
        io.swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


# ---------------------------------------------------------------- per table


def _clean_tickets(frame, contracts, _done):
    frame = _with_zone(frame, contracts)
    priority = _lookup(frame, "priority", _pairs(contracts, Contract._priority_lookup))
    frame = frame.with_columns(priority.alias("__priority"))
    checks = [
        *_missing(TABLES["tickets"]),
        _unknown_client(contracts),
        _Check(
            "unknown_priority",
            pl.col("__priority").is_null(),
            pl.format("priority: {} is not in the priority_map of contracts/{}.yml",
                      quoted("priority"), pl.col("client_id")),
        ),
        *_timestamp_checks(TABLES["tickets"]),
        *_integer_checks(_INT_COLUMNS),
        *_boolean_checks(("fcr",)),
    ]
    good, bad = _split(frame, "tickets", checks, _timestamps(TABLES["tickets"]))
    later = _Check(
        "resolved_before_created",
        pl.col("resolved_at") < pl.col("created_at"),
        pl.format("resolved_at {} is before created_at {}", _iso("resolved_at"), _iso("created_at")),
    )
    good, bad2 = _split(good, "tickets", [later], {})
    good, dupes = _dedupe(good, "tickets", TABLES["tickets"].key)
    status = _lookup(good, "status", _pairs(contracts, Contract.status_lookup))
    good = good.with_columns(
        pl.col("__priority").alias("priority"),
        pl.col("priority").alias("priority_raw"),
        pl.coalesce(status, pl.col("status")).alias("status"),
        _close_code(),
        *[pl.col(c).cast(pl.Int32) for c in _INT_COLUMNS],
        _boolean("fcr"),
        pl.col("source", "type").str.to_lowercase(),
    )
    return _to_schema(good, TABLES["tickets"]), pl.concat([bad, bad2, dupes])


def _clean_events(frame, contracts, done):
    frame = _attach_ticket(frame, done["tickets"], contracts)
    checks = [
        *_missing(TABLES["ticket_events"]),
        _unknown_ticket("event_unknown_ticket"),
        *_timestamp_checks(TABLES["ticket_events"]),
    ]
    good, bad = _split(frame, "ticket_events", checks, _timestamps(TABLES["ticket_events"]))
    good, dupes = _dedupe(good, "ticket_events", ())
    status = _lookup(good, "status", _pairs(contracts, Contract.status_lookup))
    good = good.with_columns(pl.coalesce(status, pl.col("status")).alias("status"))
    return _to_schema(good, TABLES["ticket_events"]).sort("ticket_id", "at"), pl.concat([bad, dupes])


def _clean_surveys(frame, contracts, done):
    frame = _attach_ticket(frame, done["tickets"], contracts)
    scale = pl.col("client_id").replace_strict(
        {c: k.survey_scale for c, k in contracts.items()}, default=None, return_dtype=pl.String
    )
    frame = frame.with_columns(scale.alias("scale")).with_columns(survey_score().alias("score"))
    checks = [
        *_missing(TABLES["surveys"]),
        _unknown_ticket("survey_unknown_ticket"),
        *_timestamp_checks(TABLES["surveys"]),
        _Check(
            "rating_out_of_scale",
            pl.col("score").is_null(),
            pl.format("rating: {} is not a rating on the {} scale of contracts/{}.yml ({})",
                      quoted("rating"), pl.col("scale"), pl.col("client_id"),
                      pl.col("scale").replace_strict(_SCALE_WORDS, default="")),
        ),
    ]
    good, bad = _split(frame, "surveys", checks, _timestamps(TABLES["surveys"]))
    good, dupes = _dedupe(good, "surveys", TABLES["surveys"].key)
    good = good.with_columns(survey_sentiment().alias("sentiment"))
    return _to_schema(good, TABLES["surveys"]), pl.concat([bad, dupes])


def _clean_outages(frame, contracts, _done):
    frame = _with_zone(frame, contracts)
    checks = [
        *_missing(TABLES["outages"]),
        _unknown_client(contracts),
        *_timestamp_checks(TABLES["outages"]),
        *_boolean_checks(("planned",)),
    ]
    good, bad = _split(frame, "outages", checks, _timestamps(TABLES["outages"]))
    order = _Check(
        "ended_before_started",
        pl.col("ended_at") < pl.col("started_at"),
        pl.format("ended_at {} is before started_at {}", _iso("ended_at"), _iso("started_at")),
    )
    good, bad2 = _split(good, "outages", [order], {})
    good, dupes = _dedupe(good, "outages", ())
    good = good.with_columns(_boolean("planned").fill_null(False))
    return _to_schema(good, TABLES["outages"]), pl.concat([bad, bad2, dupes])


def _clean_time_entries(frame, contracts, _done):
    frame = _with_zone(frame, contracts)
    minutes = _number("minutes")
    checks = [
        *_missing(TABLES["time_entries"]),
        _unknown_client(contracts),
        *_timestamp_checks(TABLES["time_entries"]),
        _Check(
            "invalid_number",
            minutes.is_null() | (minutes < 0),
            pl.format("minutes: {} is not a number of minutes >= 0", quoted("minutes")),
        ),
    ]
    good, bad = _split(frame, "time_entries", checks, _timestamps(TABLES["time_entries"]))
    good, dupes = _dedupe(good, "time_entries", ())
    good = good.with_columns(minutes.alias("minutes"), pl.col("work_type").str.to_lowercase())
    return _to_schema(good, TABLES["time_entries"]), pl.concat([bad, dupes])


def _clean_devices(frame, contracts, _done):
    frame = _with_zone(frame, contracts)
    checks = [
        *_missing(TABLES["devices"]),
        _unknown_client(contracts),
        *_timestamp_checks(TABLES["devices"]),
    ]
    good, bad = _split(frame, "devices", checks, _timestamps(TABLES["devices"]))
    good, dupes = _dedupe(good, "devices", TABLES["devices"].key)
    good = good.with_columns(pl.col("patch_status").str.to_lowercase())
    return _to_schema(good, TABLES["devices"]), pl.concat([bad, dupes])


_CLEANERS = {
    "tickets": _clean_tickets,
    "ticket_events": _clean_events,
    "surveys": _clean_surveys,
    "outages": _clean_outages,
    "time_entries": _clean_time_entries,
    "devices": _clean_devices,
}


# ---------------------------------------------------------------- checks


def quoted(column: str) -> pl.Expr:
    """A column's value in quotes for a reject's detail ('' when empty)."""
    return pl.format("'{}'", pl.col(column).fill_null(""))


def _iso(column: str) -> pl.Expr:
    return pl.col(column).dt.to_string("%Y-%m-%dT%H:%M:%SZ")


def _missing(spec: TableSpec) -> list[_Check]:
    return [
        _Check("missing_required_field", pl.col(c).is_null(), pl.lit(f"{c} is empty (required)"))
        for c in spec.required
    ]


def _unknown_client(contracts: dict[str, Contract]) -> _Check:
    return _Check(
        "unknown_client",
        ~pl.col("client_id").is_in(list(contracts)),
        pl.format("client_id {} has no contract file (expected contracts/{}.yml)",
                  quoted("client_id"), pl.col("client_id")),
    )


def _unknown_ticket(reason: str) -> _Check:
    return _Check(
        reason,
        pl.col("client_id").is_null(),
        pl.format("ticket_id {} is not in the clean tickets (missing or rejected)", quoted("ticket_id")),
    )


def _aware(column: str) -> pl.Expr:
    text = pl.col(column).str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
    return pl.coalesce(
        [text.str.to_datetime(format=f, strict=False, time_zone="UTC", time_unit="us") for f in _AWARE_FORMATS]
    )


def _naive(column: str) -> pl.Expr:
    text = pl.col(column).str.replace(" ", "T", literal=True)
    has_offset = text.str.contains(r"([+-]\d{2}:?\d{2}|Z)$")
    parsed = pl.coalesce(
        [text.str.to_datetime(format=f, strict=False, time_unit="us") for f in _NAIVE_FORMATS]
    )
    return pl.when(has_offset).then(None).otherwise(parsed)


def _local(column: str, zones: list[str]) -> pl.Expr:
    naive = _naive(column)
    per_zone = [
        pl.when(pl.col(_ZONE) == zone).then(
            naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
        )
        for zone in zones
    ]
    return pl.coalesce(per_zone) if per_zone else pl.lit(None, dtype=pl.Datetime("us", "UTC"))


def _timestamp_checks(spec: TableSpec) -> list[_Check]:
    checks = []
    for c in spec.timestamps:
        unreadable = pl.col(c).is_not_null() & _aware(c).is_null() & _naive(c).is_null()
        checks.append(_Check(
            "unparseable_timestamp", unreadable,
            pl.format("{}: {} is not an ISO 8601 timestamp like 2026-03-02T09:15:00", pl.lit(c), quoted(c)),
        ))
        gap = pl.col(c).is_not_null() & _aware(c).is_null() & pl.col(f"__ts_{c}").is_null()
        checks.append(_Check(
            "nonexistent_local_time", gap,
            pl.format("{}: {} does not exist in {} (daylight-saving gap)", pl.lit(c), quoted(c), pl.col(_ZONE)),
        ))
    return checks


def _timestamps(spec: TableSpec) -> dict[str, str]:
    return {c: f"__ts_{c}" for c in spec.timestamps}


def _integer_checks(columns: tuple[str, ...]) -> list[_Check]:
    return [
        _Check(
            "invalid_number",
            # Through Int32 (the clean type), so a too-large count is a reject, not a crash.
            pl.col(c).is_not_null()
            & pl.col(c).str.to_integer(strict=False).cast(pl.Int32, strict=False).is_null(),
            pl.format("{}: {} is not a whole number", pl.lit(c), quoted(c)),
        )
        for c in sorted(columns)
    ]


def _number(column: str) -> pl.Expr:
    """A finite number from text, or null."""
    value = pl.col(column).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def _boolean(column: str) -> pl.Expr:
    low = pl.col(column).str.to_lowercase()
    return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).alias(column)


def _boolean_checks(columns: tuple[str, ...]) -> list[_Check]:
    return [
        _Check(
            "invalid_boolean",
            pl.col(c).is_not_null() & _boolean(c).is_null(),
            pl.format("{}: {} is not true or false", pl.lit(c), quoted(c)),
        )
        for c in sorted(columns)
    ]


# ---------------------------------------------------------------- mechanics


def _with_zone(frame: pl.DataFrame, contracts: dict[str, Contract]) -> pl.DataFrame:
    zones = {c: k.timezone for c, k in contracts.items()}
    return frame.with_columns(
        pl.col("client_id").replace_strict(zones, default=None, return_dtype=pl.String).alias(_ZONE)
    )


def _attach_ticket(frame: pl.DataFrame, tickets: pl.DataFrame, contracts) -> pl.DataFrame:
    owners = tickets.select("ticket_id", "client_id")
    frame = frame.drop("client_id", strict=False).join(owners, on="ticket_id", how="left")
    return _with_zone(frame, contracts)


def _pairs(contracts: dict[str, Contract], lookup) -> pl.DataFrame:
    """(client_id, lower-cased source value, canonical value) from each contract's `lookup`."""
    rows = [(c, key, value) for c, k in contracts.items() for key, value in lookup(k).items()]
    return pl.DataFrame(rows, schema={"client_id": pl.String, "__key": pl.String, "__value": pl.String},
                        orient="row")


def _lookup(frame: pl.DataFrame, column: str, pairs: pl.DataFrame) -> pl.Series:
    """Per-client, case-insensitive lookup of a column's values; null where unmapped."""
    keys = frame.select(
        pl.col("client_id"), pl.col(column).str.strip_chars().str.to_lowercase().alias("__key")
    )
    joined = keys.join(pairs, on=["client_id", "__key"], how="left", maintain_order="left")
    return joined["__value"]


def _split(frame: pl.DataFrame, table: str, checks: list[_Check], timestamps: dict[str, str]):
    """Apply checks in order; the first that fails is the row's reason. Parses timestamps."""
    if _ZONE in frame.columns and timestamps:
        zones = sorted(z for z in frame[_ZONE].unique().to_list() if z)
        frame = frame.with_columns(
            [pl.coalesce(_aware(c), _local(c, zones)).alias(tmp) for c, tmp in timestamps.items()]
        )
    frame = with_reasons(frame, checks)
    bad = frame.filter(pl.col("__reason").is_not_null())
    good = frame.filter(pl.col("__reason").is_null()).drop("__reason", "__detail")
    if timestamps:
        good = good.with_columns([pl.col(tmp).alias(c) for c, tmp in timestamps.items()]).drop(
            list(timestamps.values())
        )
    return good, reject_rows(bad, table)


def with_reasons(frame: pl.DataFrame, checks) -> pl.DataFrame:
    """Add `__reason` / `__detail`: the first failing check of `(reason, failed, detail)`
    triples, in priority order (null when the row passes them all). Shared with the importer."""
    reason = pl.lit(None, dtype=pl.String)
    detail = pl.lit(None, dtype=pl.String)
    for code, failed, text in reversed(checks):
        reason = pl.when(failed.fill_null(False)).then(pl.lit(code)).otherwise(reason)
        detail = pl.when(failed.fill_null(False)).then(text).otherwise(detail)
    return frame.with_columns(reason.alias("__reason"), detail.alias("__detail"))


def reject_rows(bad: pl.DataFrame, table: str) -> pl.DataFrame:
    """Rows carrying `__reason` / `__detail` (and __source / __row) -> rows of the rejects table."""
    client = pl.col("client_id") if "client_id" in bad.columns else pl.lit(None, dtype=pl.String)
    return bad.select(
        pl.lit(table).alias("table"),
        pl.col(SOURCE).alias("source"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        client.alias("client_id"),
        pl.col("__reason").alias("reason"),
        pl.col("__detail").alias("detail"),
        pl.lit(None, dtype=pl.String).alias("raw"),
    ).cast(REJECTS_SCHEMA)


def attach_raw(rejects: pl.DataFrame, raw: pl.DataFrame) -> pl.DataFrame:
    """Each rejected row's values exactly as they were read (original columns), as JSON."""
    if rejects.is_empty():
        return rejects
    columns = [c for c in raw.columns if not c.startswith("__")]
    keys = rejects.select(pl.col("source").alias(SOURCE), pl.col("row").alias(ROW))
    picked = raw.with_columns(pl.col(ROW).cast(pl.Int64)).join(keys, on=[SOURCE, ROW], how="semi")
    values = picked.select(
        pl.col(SOURCE).alias("source"), pl.col(ROW).alias("row"),
        pl.struct(columns).struct.json_encode().alias("raw"),
    )
    return (rejects.drop("raw").join(values, on=["source", "row"], how="left", maintain_order="left")
            .select(list(REJECTS_SCHEMA)).sort("source", "row"))


def _dedupe(frame: pl.DataFrame, table: str, key: tuple[str, ...]):
    """Exact copies of a row -> duplicate_row; a key seen again with other values ->
    duplicate_id_conflict for the earlier rows (the last one in the file is kept)."""
    values = [c for c in frame.columns if not c.startswith("__") and frame.schema[c] == pl.String]
    values += [c for c in frame.columns if not c.startswith("__") and frame.schema[c] != pl.String]
    frame = frame.sort(SOURCE, ROW).with_columns(
        pl.col(ROW).first().over(values).alias("__first")
    )
    copies = frame.filter(pl.col(ROW) != pl.col("__first")).with_columns(
        pl.lit("duplicate_row").alias("__reason"),
        pl.format("an exact copy of row {}", pl.col("__first")).alias("__detail"),
    )
    frame = frame.filter(pl.col(ROW) == pl.col("__first")).drop("__first")
    rejects = [reject_rows(copies, table)]
    if key:
        frame = frame.with_columns(pl.col(ROW).last().over(list(key)).alias("__last"))
        last = pl.col("__last")
        conflicts = frame.filter(pl.col(ROW) != last).with_columns(
            pl.lit("duplicate_id_conflict").alias("__reason"),
            pl.format("{} appears again at row {} with different values; row {} is kept",
                      pl.concat_str([pl.format("{}={}", pl.lit(k), quoted(k)) for k in key], separator=", "),
                      last, last).alias("__detail"),
        )
        rejects.append(reject_rows(conflicts, table))
        frame = frame.filter(pl.col(ROW) == last).drop("__last")
    return frame, pl.concat(rejects)


def _close_code() -> pl.Expr:
    code = pl.col("close_code").str.to_lowercase().str.strip_chars()
    return code.replace(_CLOSE_CODE_ALIASES).alias("close_code")


_SCALE_WORDS = {"3-point": "positive, neutral or negative", "5-point": "1 to 5", "0-10": "0 to 10"}


def survey_score() -> pl.Expr:
    """A survey's `rating` as a number on its `scale` column's scale, or null when off the scale
    (3-point: negative=1, neutral=2, positive=3; 5-point: whole 1-5; 0-10: whole 0-10)."""
    rating = pl.col("rating").str.to_lowercase()
    number = _number("rating")
    whole = number.is_not_null() & (number == number.floor())
    three = rating.replace_strict({"negative": 1.0, "neutral": 2.0, "positive": 3.0}, default=None,
                                  return_dtype=pl.Float64)
    five = pl.when(whole & number.is_between(1, 5)).then(number)
    ten = pl.when(whole & number.is_between(0, 10)).then(number)
    return (
        pl.when(pl.col("scale") == "3-point").then(three)
        .when(pl.col("scale") == "5-point").then(five)
        .when(pl.col("scale") == "0-10").then(ten)
    )


def survey_sentiment() -> pl.Expr:
    """positive / neutral / negative from `score` and `scale` (CSAT 4-5 positive; NPS 9-10 promoter)."""
    s = pl.col("score")
    return (
        pl.when(pl.col("scale") == "3-point")
        .then(pl.when(s == 3).then(pl.lit("positive")).when(s == 2).then(pl.lit("neutral")).otherwise(pl.lit("negative")))
        .when(pl.col("scale") == "5-point")
        .then(pl.when(s >= 4).then(pl.lit("positive")).when(s == 3).then(pl.lit("neutral")).otherwise(pl.lit("negative")))
        .otherwise(pl.when(s >= 9).then(pl.lit("positive")).when(s >= 7).then(pl.lit("neutral")).otherwise(pl.lit("negative")))
    )


def _to_schema(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    columns = []
    for name, dtype in spec.columns.items():
        if name in frame.columns:
            columns.append(pl.col(name).cast(dtype))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(columns)


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
