"""Quarantining rows: the checks that reject a row, and the rows of the rejects table.

A check is a (reason code, failed expression, detail expression) triple; the first
failing check in priority order is the row's reason. Rejected rows keep their file,
record number and raw values, so nothing is lost silently. Shared by `clean` and the
importers.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from pipelines.core.io import ROW, SOURCE
from pipelines.core.schemas import REJECTS_SCHEMA


class Check(NamedTuple):
    """One way a row can be unusable: its reason code, when it fails, and the detail in words."""

    reason: str
    failed: pl.Expr
    detail: pl.Expr


def quoted(column: str) -> pl.Expr:
    """A column's value in quotes for a reject's detail ('' when empty), cut to 200 characters
    (the raw values keep it whole)."""
    value = pl.col(column).fill_null("")
    short = pl.when(value.str.len_chars() > 200).then(value.str.slice(0, 200) + pl.lit("…")).otherwise(value)
    return pl.format("'{}'", short)


def with_reasons(frame: pl.DataFrame, checks) -> pl.DataFrame:
    """Add `__reason` / `__detail`: the first failing check of `(reason, failed, detail)`
    triples, in priority order (null when the row passes them all). Shared with the importer."""
    reason = pl.lit(None, dtype=pl.String)
    detail = pl.lit(None, dtype=pl.String)
    for code, failed, text in reversed(checks):
        reason = pl.when(failed.fill_null(False)).then(pl.lit(code)).otherwise(reason)
        detail = pl.when(failed.fill_null(False)).then(text).otherwise(detail)
    return frame.with_columns(reason.alias("__reason"), detail.alias("__detail"))


def split_rejects(frame: pl.DataFrame, checks) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows passing every check, failing rows with `__reason` / `__detail` of their first
    failing check). Each check is evaluated once and the details only for failing rows: the
    outcome of `with_reasons` and a filter, several times faster on millions of rows."""
    names = [f"__check_{i}" for i in range(len(checks))]
    flagged = frame.with_columns([c.failed.fill_null(False).alias(n) for c, n in zip(checks, names)])
    failing = pl.any_horizontal(names) if names else pl.lit(False)
    good = flagged.filter(~failing).drop(names)
    reason = pl.lit(None, dtype=pl.String)
    detail = pl.lit(None, dtype=pl.String)
    for (code, _, text), name in reversed(list(zip(checks, names))):
        reason = pl.when(pl.col(name)).then(pl.lit(code)).otherwise(reason)
        detail = pl.when(pl.col(name)).then(text).otherwise(detail)
    # rechunked: polars 2.1 panics formatting text in a frame of many chunks (a filter's result)
    bad = flagged.filter(failing).rechunk().with_columns(reason.alias("__reason"), detail.alias("__detail"))
    return good, bad.drop(names)


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
