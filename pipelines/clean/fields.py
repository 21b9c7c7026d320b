"""Field-level cleaning: parsing text into timestamps, numbers and booleans, the checks that
reject a row, per-client lookups through the contracts, and deduplication.

Every function returns a polars expression or a (good, rejected) pair of frames: pure
transforms that `pipelines.clean.stage` applies table by table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines.clean import timestamps
from pipelines.core.contracts import Contract
from pipelines.core.io import NUL, ROW, SOURCE
from pipelines.core.rejects import Check, quoted, reject_rows, split_rejects
from pipelines.core.schemas import REJECTS_SCHEMA, TableSpec

_TRUE = ("true", "yes", "y", "1", "t")
_FALSE = ("false", "no", "n", "0", "f")
_CLOSE_CODE_ALIASES = {"canceled": "cancelled", "dup": "duplicate", "duplicated": "duplicate"}
ZONE = "__zone"
GIVEN_CLIENT, OWNERS = "__given_client", "__owners"  # see attach_ticket


def iso_text(column: str) -> pl.Expr:
    """A UTC timestamp as ISO text with a Z, for reject details."""
    return pl.col(column).dt.to_string("%Y-%m-%dT%H:%M:%SZ")


def missing(spec: TableSpec) -> list[Check]:
    """One check per required column: empty -> missing_required_field."""
    return [
        Check("missing_required_field", pl.col(c).is_null(), pl.lit(f"{c} is empty (required)"))
        for c in spec.required
    ]


def nul_byte(frame: pl.DataFrame) -> list[Check]:
    """A text value holding a NUL byte -> nul_byte (a corrupt or binary export); `exports.read_raw`
    marks such rows only when the file has any."""
    if NUL not in frame.columns:
        return []
    return [Check("nul_byte", pl.col(NUL).is_not_null(),
                  pl.format("{}: contains a NUL byte (\\x00), the mark of a corrupt or binary export",
                            pl.col(NUL)))]


def unknown_client(contracts: dict[str, Contract]) -> Check:
    """A client_id without a contract file -> unknown_client."""
    return Check(
        "unknown_client",
        ~pl.col("client_id").is_in(list(contracts)),
        pl.format("client_id {} has no contract file (expected contracts/{}.yml)",
                  quoted("client_id"), pl.col("client_id")),
    )


def unknown_ticket(reason: str) -> Check:
    """A row whose ticket is not in the clean tickets (of its own client, when it names one)."""
    of_client = pl.when(pl.col(GIVEN_CLIENT).is_not_null()).then(
        pl.format(" of client {}", quoted(GIVEN_CLIENT))).otherwise(pl.lit(""))
    return Check(
        reason,
        pl.col("client_id").is_null(),
        pl.format("ticket_id {}{} is not in the clean tickets (missing or rejected)", quoted("ticket_id"),
                  of_client),
    )


@dataclass(frozen=True)
class TimeBounds:
    """The plausible range of every timestamp: from `earliest` (default 1990-01-01) to the
    export's extraction time plus a day. A value outside it is rejected
    (`implausible_timestamp`), so no computation ever walks a calendar from 1900 or to 9999."""

    earliest: datetime
    latest: datetime
    extracted_at: datetime | None = None  # as given; None: the time of cleaning

    @classmethod
    def of(cls, extracted_at: datetime | None = None, earliest: datetime | None = None) -> TimeBounds:
        """Bounds for an export extracted at `extracted_at` (default: now); naive means UTC.
        The range itself is bounded: an export is not taken in the future, nor is anything
        plausible before 1970 (ValueError, saying which)."""
        now = datetime.now(UTC)
        given = _utc(extracted_at) if extracted_at else None
        if given and given > now + timedelta(days=1):
            raise ValueError(f"--extracted-at {given:%Y-%m-%dT%H:%M:%SZ} is in the future (now is "
                             f"{now:%Y-%m-%dT%H:%M:%SZ}); give when the export was taken")
        floor = _utc(earliest or EARLIEST)
        if floor < EPOCH:
            raise ValueError(f"--earliest {floor.date().isoformat()} is before 1970-01-01: no help-desk data is "
                             "that old")
        return cls(floor, (given or now) + timedelta(days=1), given)

    @property
    def key(self) -> str:
        """What was asked for (not the moving default): part of a run's inputs."""
        return f"{self.earliest.isoformat()}|{self.extracted_at.isoformat() if self.extracted_at else 'now'}"


EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def timestamp_checks(spec: TableSpec, bounds: TimeBounds) -> list[Check]:
    """Per timestamp column: unreadable text, a local time that does not exist, and a time
    outside the plausible range (the columns are read once, by `split_checks`)."""
    checks = []
    earliest, latest = (b.strftime("%Y-%m-%dT%H:%M:%SZ") for b in (bounds.earliest, bounds.latest))
    for c in spec.timestamps:
        problem, value = pl.col(f"__why_{c}"), pl.col(f"__ts_{c}")
        checks.append(Check(
            "unparseable_timestamp", problem == timestamps.UNREADABLE,
            pl.format("{}: {} is not an ISO 8601 timestamp like 2026-03-02T09:15:00", pl.lit(c), quoted(c)),
        ))
        checks.append(Check(
            "nonexistent_local_time", problem == timestamps.NONEXISTENT,
            pl.format("{}: {} does not exist in {} (daylight-saving gap)", pl.lit(c), quoted(c), pl.col(ZONE)),
        ))
        checks.append(Check(
            "implausible_timestamp", (value < bounds.earliest) | (value > bounds.latest),
            pl.when(value < bounds.earliest).then(pl.format(
                "{}: {} is before {}, the earliest plausible time (--earliest)", pl.lit(c), quoted(c),
                pl.lit(earliest)))
            .otherwise(pl.format(
                "{}: {} is after {}, the export's extraction time plus a day (--extracted-at)",
                pl.lit(c), quoted(c), pl.lit(latest))),
        ))
    return checks


def timestamp_columns(spec: TableSpec) -> dict[str, str]:
    """Timestamp column -> the helper column its parsed value is kept in."""
    return {c: f"__ts_{c}" for c in spec.timestamps}


def before(column: str, start: str, reason: str) -> Check:
    """A time earlier than the one it must follow (resolved_before_created, ended_before_started, …);
    on the values `split_checks` read, so it comes after the timestamp checks."""
    later, earlier = f"__ts_{column}", f"__ts_{start}"
    return Check(reason, pl.col(later) < pl.col(earlier),
                 pl.format("{} {} is before {} {}", pl.lit(column), iso_text(later), pl.lit(start),
                           iso_text(earlier)))


def integer_checks(columns: tuple[str, ...]) -> list[Check]:
    """A count that is not a whole number fitting Int32 -> invalid_number."""
    return [
        Check(
            "invalid_number",
            # Through Int32 (the clean type), so a too-large count is a reject, not a crash.
            pl.col(c).is_not_null()
            & pl.col(c).str.to_integer(strict=False).cast(pl.Int32, strict=False).is_null(),
            pl.format("{}: {} is not a whole number", pl.lit(c), quoted(c)),
        )
        for c in sorted(columns)
    ]


def boolean(column: str) -> pl.Expr:
    """true/yes/y/1/t and false/no/n/0/f (any case) -> bool; null for anything else."""
    low = pl.col(column).str.to_lowercase()
    return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).alias(column)


def boolean_checks(columns: tuple[str, ...]) -> list[Check]:
    """A value that is not true or false -> invalid_boolean."""
    return [
        Check(
            "invalid_boolean",
            pl.col(c).is_not_null() & boolean(c).is_null(),
            pl.format("{}: {} is not true or false", pl.lit(c), quoted(c)),
        )
        for c in sorted(columns)
    ]


# ---------------------------------------------------------------- mechanics


def with_zone(frame: pl.DataFrame, contracts: dict[str, Contract]) -> pl.DataFrame:
    """Add each row's client time zone (null for an unknown client)."""
    zones = {c: k.timezone for c, k in contracts.items()}
    return frame.with_columns(
        pl.col("client_id").replace_strict(zones, default=None, return_dtype=pl.String).alias(ZONE)
    )


def attach_ticket(frame: pl.DataFrame, tickets: pl.DataFrame, contracts) -> pl.DataFrame:
    """Give each row its ticket's client (and that client's zone).

    Ticket ids are numbered per client (real PSAs number them per tenant), so a row is
    attached by (client_id, ticket_id) when it names its client; a row without a client is
    attached only when exactly one client has a ticket with that id. Otherwise client_id
    stays null (`ambiguous_ticket` / `unknown_ticket` say why); `__owners` lists the
    clients that have the id."""
    given = pl.col("client_id") if "client_id" in frame.columns else pl.lit(None, dtype=pl.String)
    owners = tickets.group_by("ticket_id").agg(pl.col("client_id").unique().sort().alias(OWNERS))
    frame = (frame.with_columns(given.alias(GIVEN_CLIENT)).drop("client_id", strict=False)
             .join(owners, on="ticket_id", how="left", maintain_order="left"))
    known = pl.col(OWNERS).list.contains(pl.col(GIVEN_CLIENT))
    client = (pl.when(pl.col(GIVEN_CLIENT).is_not_null()).then(pl.when(known).then(pl.col(GIVEN_CLIENT)))
              .when(pl.col(OWNERS).list.len() == 1).then(pl.col(OWNERS).list.first()))
    return with_zone(frame.with_columns(client.alias("client_id")), contracts)


def ambiguous_ticket() -> Check:
    """A row without a client whose ticket id several clients use -> ambiguous_ticket."""
    return Check(
        "ambiguous_ticket",
        pl.col(GIVEN_CLIENT).is_null() & (pl.col(OWNERS).list.len() > 1),
        pl.format("ticket_id {} exists for clients {}; the row has no client_id, so it belongs to "
                  "neither (give the file a client_id column)", quoted("ticket_id"),
                  pl.col(OWNERS).list.join(", ")),
    )


def contract_pairs(contracts: dict[str, Contract], lookup) -> pl.DataFrame:
    """(client_id, lower-cased source value, canonical value) from each contract's `lookup`."""
    rows = [(c, key, value) for c, k in contracts.items() for key, value in lookup(k).items()]
    return pl.DataFrame(rows, schema={"client_id": pl.String, "__key": pl.String, "__value": pl.String},
                        orient="row")


def lookup(frame: pl.DataFrame, column: str, pairs: pl.DataFrame) -> pl.Series:
    """Per-client, case-insensitive lookup of a column's values; null where unmapped."""
    keys = frame.select(
        pl.col("client_id"), pl.col(column).str.strip_chars().str.to_lowercase().alias("__key")
    )
    joined = keys.join(pairs, on=["client_id", "__key"], how="left", maintain_order="left")
    return joined["__value"]


def split_checks(frame: pl.DataFrame, table: str, checks: list[Check], stamps: dict[str, str]):
    """Apply checks in order; the first that fails is the row's reason. Reads the timestamp
    columns in `stamps` (column -> helper column) first; clean rows carry the UTC values."""
    if stamps:
        zone = frame[ZONE] if ZONE in frame.columns else None
        parsed = []
        for c, tmp in stamps.items():
            value, problem = timestamps.read_column(frame[c], zone)
            parsed += [value.alias(tmp), problem.alias(f"__why_{c}")]
        frame = frame.with_columns(parsed)
    good, bad = split_rejects(frame, checks)
    if stamps:
        good = good.with_columns([pl.col(tmp).alias(c) for c, tmp in stamps.items()]).drop(
            [*stamps.values(), *(f"__why_{c}" for c in stamps)])
    return good, reject_rows(bad, table)


def dedupe(frame: pl.DataFrame, table: str, key: tuple[str, ...]):
    """Exact copies of a row -> duplicate_row; a key seen again with other values ->
    duplicate_id_conflict for the earlier rows (the last one in the file is kept).

    Only rows whose values hash alike are compared (the hash narrows the search, the values
    decide), keys are compared on the key columns alone, and the frame is copied once: a few
    megabytes instead of a grouping of every column of every row."""
    values = [c for c in frame.columns if not c.startswith("__") and frame.schema[c] == pl.String]
    values += [c for c in frame.columns if not c.startswith("__") and frame.schema[c] != pl.String]
    if frame[SOURCE].n_unique() > 1 or not frame[ROW].is_sorted():
        frame = frame.sort(SOURCE, ROW)
    where = [SOURCE, ROW]
    rejects, removed = [pl.DataFrame(schema=REJECTS_SCHEMA)], []
    alike = frame.select(_row_hash(values).is_duplicated()).to_series() if values else None
    if alike is not None and alike.any():
        copies = (frame.filter(alike).with_columns(pl.col(ROW).first().over(values).alias("__first"))
                  .filter(pl.col(ROW) != pl.col("__first")).rechunk().with_columns(
                      pl.lit("duplicate_row").alias("__reason"),
                      pl.format("an exact copy of row {}", pl.col("__first")).alias("__detail")))
        rejects.append(reject_rows(copies, table))
        removed.append(copies.select(where))
    if key:
        keyed = frame.select(*where, *key)
        if removed:
            keyed = _without(keyed, removed[0])
        clash = keyed.select(pl.struct(list(key)).is_duplicated()).to_series()
        if clash.any():
            last = pl.col("__last")
            conflicts = (keyed.filter(clash).with_columns(pl.col(ROW).last().over(list(key)).alias("__last"))
                         .filter(pl.col(ROW) != last).rechunk().with_columns(
                             pl.lit("duplicate_id_conflict").alias("__reason"),
                             pl.format("{} appears again at row {} with different values; row {} is kept",
                                       pl.concat_str([pl.format("{}={}", pl.lit(k), quoted(k)) for k in key],
                                                     separator=", "), last, last).alias("__detail")))
            rejects.append(reject_rows(conflicts, table))
            removed.append(conflicts.select(where))
    if removed:
        frame = _without(frame, pl.concat(removed))
    return frame, pl.concat(rejects)


def _row_hash(columns: list[str]) -> pl.Expr:
    """A hash of each row's values, column by column (a struct hash copies the whole frame)."""
    return pl.reduce(lambda acc, h: acc ^ h, [pl.col(c).hash(seed=i) for i, c in enumerate(columns)])


def _without(frame: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """`frame` without the (source, row) pairs in `rows`: a filter (which shares the untouched runs
    of rows) when there is one source, else an anti-join."""
    if frame[SOURCE].n_unique() == 1 and rows[SOURCE].n_unique() == 1:
        return frame.filter(~pl.col(ROW).is_in(rows[ROW].implode()))
    return frame.join(rows, on=[SOURCE, ROW], how="anti", maintain_order="left")


def close_code() -> pl.Expr:
    """close_code lower-cased, with common spellings mapped (canceled -> cancelled)."""
    code = pl.col("close_code").str.to_lowercase().str.strip_chars()
    return code.replace(_CLOSE_CODE_ALIASES).alias("close_code")


def to_schema(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """The canonical columns of a table, in order and with their clean types."""
    columns = []
    for name, dtype in spec.columns.items():
        if name in frame.columns:
            columns.append(pl.col(name).cast(dtype))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(columns)
