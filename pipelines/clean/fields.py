"""Field-level cleaning: parsing text into timestamps, numbers and booleans, the checks that
reject a row, per-client lookups through the contracts, and deduplication.

Every function returns a polars expression or a (good, rejected) pair of frames: pure
transforms that `pipelines.clean.stage` applies table by table.
"""

from __future__ import annotations

import polars as pl

from pipelines.core.contracts import Contract
from pipelines.core.io import ROW, SOURCE
from pipelines.core.rejects import Check, quoted, reject_rows, with_reasons
from pipelines.core.schemas import TableSpec

_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
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


def aware_ts(column: str) -> pl.Expr:
    """Text with a UTC offset (or Z) -> UTC timestamp; null for anything else."""
    text = pl.col(column).str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
    return pl.coalesce(
        [text.str.to_datetime(format=f, strict=False, time_zone="UTC", time_unit="us") for f in _AWARE_FORMATS]
    )


def naive_ts(column: str) -> pl.Expr:
    """Text without an offset -> naive wall-clock timestamp; null for anything else."""
    text = pl.col(column).str.replace(" ", "T", literal=True)
    has_offset = text.str.contains(r"([+-]\d{2}:?\d{2}|Z)$")
    parsed = pl.coalesce(
        [text.str.to_datetime(format=f, strict=False, time_unit="us") for f in _NAIVE_FORMATS]
    )
    return pl.when(has_offset).then(None).otherwise(parsed)


def local_ts(column: str, zones: list[str]) -> pl.Expr:
    """A naive wall-clock time read in each row's client zone -> UTC (null in a DST gap)."""
    naive = naive_ts(column)
    per_zone = [
        pl.when(pl.col(ZONE) == zone).then(
            naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
        )
        for zone in zones
    ]
    return pl.coalesce(per_zone) if per_zone else pl.lit(None, dtype=pl.Datetime("us", "UTC"))


def timestamp_checks(spec: TableSpec) -> list[Check]:
    """Per timestamp column: unreadable text, and a local time that does not exist."""
    checks = []
    for c in spec.timestamps:
        unreadable = pl.col(c).is_not_null() & aware_ts(c).is_null() & naive_ts(c).is_null()
        checks.append(Check(
            "unparseable_timestamp", unreadable,
            pl.format("{}: {} is not an ISO 8601 timestamp like 2026-03-02T09:15:00", pl.lit(c), quoted(c)),
        ))
        gap = pl.col(c).is_not_null() & aware_ts(c).is_null() & pl.col(f"__ts_{c}").is_null()
        checks.append(Check(
            "nonexistent_local_time", gap,
            pl.format("{}: {} does not exist in {} (daylight-saving gap)", pl.lit(c), quoted(c), pl.col(ZONE)),
        ))
    return checks


def timestamp_columns(spec: TableSpec) -> dict[str, str]:
    """Timestamp column -> the helper column its parsed value is kept in."""
    return {c: f"__ts_{c}" for c in spec.timestamps}


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


def split_checks(frame: pl.DataFrame, table: str, checks: list[Check], timestamps: dict[str, str]):
    """Apply checks in order; the first that fails is the row's reason. Parses timestamps."""
    if ZONE in frame.columns and timestamps:
        zones = sorted(z for z in frame[ZONE].unique().to_list() if z)
        frame = frame.with_columns(
            [pl.coalesce(aware_ts(c), local_ts(c, zones)).alias(tmp) for c, tmp in timestamps.items()]
        )
    frame = with_reasons(frame, checks)
    bad = frame.filter(pl.col("__reason").is_not_null())
    good = frame.filter(pl.col("__reason").is_null()).drop("__reason", "__detail")
    if timestamps:
        good = good.with_columns([pl.col(tmp).alias(c) for c, tmp in timestamps.items()]).drop(
            list(timestamps.values())
        )
    return good, reject_rows(bad, table)


def dedupe(frame: pl.DataFrame, table: str, key: tuple[str, ...]):
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


def choice(column: str, allowed: tuple[str, ...], aliases: dict[str, str]) -> pl.Expr:
    """A value lower-cased and mapped through its aliases; null when it is none of `allowed`
    (and null when empty: the caller decides what an empty value means)."""
    value = pl.col(column).str.strip_chars().str.to_lowercase().replace(aliases)
    return pl.when(value.is_in(list(allowed))).then(value).alias(column)


def choice_check(column: str, allowed: tuple[str, ...], aliases: dict[str, str]) -> Check:
    """A value that is given but none of the allowed ones (after aliases) -> invalid_choice."""
    return Check(
        "invalid_choice",
        pl.col(column).is_not_null() & choice(column, allowed, aliases).is_null(),
        pl.format("{}: {} is not one of {}", pl.lit(column), quoted(column), pl.lit(", ".join(allowed))),
    )


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
