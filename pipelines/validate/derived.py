"""The derived tables and columns the data-quality checks run on.

The checks of `pipelines.validate.suites` test columns a clean table does not carry as
such: the record id shown as an example, a ticket's creation and closing next to each of
its events, the monthly ticket volume, the schema of every provided table. `prepare`
computes them, as pure polars transforms.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from pipelines.core.contracts import Contract
from pipelines.core.schemas import TABLES, ticket_key, ticket_number
from pipelines.validate.suites import (
    HISTORY_TABLE,
    MIN_VOLUME_MONTHS,
    RECORD_ID,
    SCHEMA_TABLE,
    VOLUME_TABLE,
)


def prepare(tables: dict[str, pl.DataFrame | None], contract: Contract,
            now: datetime) -> dict[str, pl.DataFrame | None]:
    """Each provided table plus the derived columns its checks need, and the monthly volume table.

    A table given as None (not provided) stays None. A missing or mistyped
    column is not repaired: values derived from it are null, and the schema
    checks report the column.
    """
    tickets = tables.get("tickets")
    if tickets is None:
        tickets = pl.DataFrame(schema=TABLES["tickets"].columns)
    resolved = [s.casefold() for s in contract.statuses.resolved]
    out: dict[str, pl.DataFrame | None] = {}
    for name in TABLES:
        frame = tables.get(name)
        out[name] = None if frame is None else _DERIVE[name](frame, tickets, resolved)
    out[VOLUME_TABLE] = monthly_volume(tickets, contract.timezone, now)
    out[SCHEMA_TABLE] = schema_table(tables)
    events = out["ticket_events"]
    out[HISTORY_TABLE] = None if events is None else ticket_history(events)
    return out


def ticket_history(events: pl.DataFrame) -> pl.DataFrame:
    """One row per ticket with status changes (from the derived events): its first and last
    change, the ticket's own opening and closing times, and whether the history is in order."""
    return (
        events.select(_col(events, "ticket_id").alias("ticket_id"), _col(events, "at").alias("at"),
                      "ticket_created_at", "ticket_closed_at", "in_order")
        .filter(pl.col("ticket_id").is_not_null())
        .group_by("ticket_id", maintain_order=True)
        .agg(
            pl.col("at").min().alias("first_at"),
            pl.col("at").max().alias("last_at"),
            pl.col("ticket_created_at").first(),
            pl.col("ticket_closed_at").first(),
            pl.col("in_order").min(),  # False as soon as one change is out of order
            pl.len().alias("changes"),
        )
        .with_columns(pl.col("ticket_id").alias(RECORD_ID))
    )


def schema_table(tables: dict[str, pl.DataFrame | None]) -> pl.DataFrame:
    """One row per column each provided table should have: expected and found type (null if absent).

    Types are compared as polars types, so a timestamp without a time zone or a
    64-bit count where 32 bits are expected shows up too.
    """
    rows = [
        {"table": name, "column": column, "expected": str(dtype),
         "found": str(frame.schema[column]) if column in frame.columns else None,
         RECORD_ID: f"{name}.{column}"}
        for name, spec in TABLES.items() if (frame := tables.get(name)) is not None
        for column, dtype in spec.columns.items()
    ]
    schema = {"table": pl.String, "column": pl.String, "expected": pl.String, "found": pl.String,
              RECORD_ID: pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _col(frame: pl.DataFrame, name: str) -> pl.Expr:
    """The column if it is there with its clean type, else nulls of that type."""
    return pl.col(name) if _usable(frame, name) else pl.lit(None, dtype=_clean_type(name))


def _usable(frame: pl.DataFrame, name: str) -> bool:
    return name in frame.columns and frame.schema[name] == _clean_type(name)


def _clean_type(name: str) -> pl.DataType:
    for spec in TABLES.values():
        if name in spec.columns:
            return spec.columns[name]
    return pl.String


def _record(*parts: pl.Expr) -> pl.Expr:
    """The example id of a row: the first part that is there, else its row number."""
    return pl.coalesce(*parts, pl.format("row {}", pl.int_range(1, pl.len() + 1))).alias(RECORD_ID)


def _stamp(frame: pl.DataFrame, name: str) -> pl.Expr:
    return _col(frame, name).dt.to_string("%Y-%m-%d %H:%M UTC")


def _join_ticket(frame: pl.DataFrame, tickets: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Add ticket_<column> for each column, from the event's or survey's ticket."""
    lookup = tickets.select(
        _col(tickets, "ticket_id").alias("__key"),
        *[_col(tickets, c).alias(f"ticket_{c}") for c in columns],
    ).drop_nulls("__key").unique("__key", keep="last")
    frame = frame.with_columns(_col(frame, "ticket_id").alias("__key"))
    return frame.join(lookup, on="__key", how="left", maintain_order="left").drop("__key")


def _folded(frame: pl.DataFrame) -> pl.Expr:
    return _col(frame, "status").str.strip_chars().str.to_lowercase().alias("status_folded")


def _derive_tickets(frame, _tickets, _resolved) -> pl.DataFrame:
    return frame.with_columns(_record(_col(frame, "ticket_id")), _folded(frame))


def _derive_events(frame, tickets, resolved) -> pl.DataFrame:
    frame = _join_ticket(frame, tickets, "created_at", "closed_at", "reopen_count")
    frame = frame.with_columns(_record(_col(frame, "ticket_id")), _folded(frame))
    in_order = event_in_order(frame, resolved).alias("in_order")
    return frame.with_columns(in_order).drop("ticket_reopen_count")


def event_in_order(frame: pl.DataFrame, resolved: list[str]) -> pl.Series:
    """Per event: False when, in time order, it takes its ticket from a resolved status back to
    another one although the ticket says it was never reopened (reopen_count 0).

    That pattern is what status changes dated out of order look like once the
    history is sorted by time. Null (not judged) where the ticket's reopen count
    is unknown.
    """
    if frame.is_empty():
        return pl.Series("in_order", [], dtype=pl.Boolean)
    done = pl.col("status_folded").is_in(resolved).fill_null(False).cast(pl.Int32)
    keyed = frame.select(
        pl.int_range(pl.len()).alias("__i"), _col(frame, "ticket_id").alias("__t"),
        _col(frame, "at").alias("__at"), done.alias("__done"), pl.col("ticket_reopen_count"),
    ).sort("__t", "__at", "__i", nulls_last=True)
    earlier_done = (pl.col("__done").cum_sum().over("__t") - pl.col("__done")) > 0
    back = earlier_done & (pl.col("__done") == 0)
    flag = pl.when(pl.col("ticket_reopen_count").is_null() | pl.col("__at").is_null()).then(None) \
        .otherwise(~(back & (pl.col("ticket_reopen_count") == 0)))
    return keyed.with_columns(flag.alias("in_order")).sort("__i")["in_order"]


def _derive_surveys(frame, tickets, _resolved) -> pl.DataFrame:
    frame = _join_ticket(frame, tickets, "resolved_at")
    return frame.with_columns(_record(_col(frame, "ticket_id")))


def _derive_outages(frame, _tickets, _resolved) -> pl.DataFrame:
    label = pl.format("{} at {}", _col(frame, "service").fill_null("?"),
                      _stamp(frame, "started_at").fill_null("?"))
    return frame.with_columns(_record(label))


def _derive_time_entries(frame, tickets, _resolved) -> pl.DataFrame:
    label = pl.format("{} at {}", _col(frame, "engineer").fill_null("entry"),
                      _stamp(frame, "started_at").fill_null("?"))
    ids = tickets.select(_col(tickets, "ticket_id")).to_series().drop_nulls().unique()
    known = pl.lit(None, dtype=pl.Boolean)
    if _usable(frame, "ticket_id"):
        ticket = pl.col("ticket_id")
        known = pl.when(ticket.is_not_null()).then(ticket.is_in(ids.implode()))
    ticket = _col(frame, "ticket_id")
    return frame.with_columns(_record(ticket, label), known.alias("ticket_known"))


def _derive_devices(frame, _tickets, _resolved) -> pl.DataFrame:
    return frame.with_columns(_record(_col(frame, "device_id")))


def _derive_contacts(frame, tickets, _resolved) -> pl.DataFrame:
    """Whether a contact's ticket_ref is one of the client's tickets (its id, `ticket_key`, or
    its number, `ticket_number`)."""
    ticket = _col(tickets, "ticket_id")
    ids = tickets.select(ticket_key(ticket)).to_series().drop_nulls().unique()
    numbers = tickets.select(ticket_number(ticket)).to_series().drop_nulls().unique()
    known = pl.lit(None, dtype=pl.Boolean)
    if _usable(frame, "ticket_ref"):
        ref = pl.col("ticket_ref")
        known = pl.when(ref.is_not_null()).then(ticket_key(ref).is_in(ids.implode())
                                                | ticket_number(ref).is_in(numbers.implode()).fill_null(False))
    return frame.with_columns(_record(_col(frame, "contact_id")), known.alias("ticket_known"))


_DERIVE = {
    "tickets": _derive_tickets,
    "ticket_events": _derive_events,
    "surveys": _derive_surveys,
    "outages": _derive_outages,
    "time_entries": _derive_time_entries,
    "devices": _derive_devices,
    "contacts": _derive_contacts,
}


def monthly_volume(tickets: pl.DataFrame, timezone: str, now: datetime) -> pl.DataFrame:
    """Tickets per month (client's time zone) and each month's ratio to the client's median.

    Months without tickets inside the history count as 0; the month of `now`
    is left out because it is not complete. With fewer than
    MIN_VOLUME_MONTHS complete months the table is empty: there is no
    meaningful median to compare with.
    """
    schema = {"month": pl.String, "tickets": pl.UInt32, "median": pl.Float64,
              "ratio_to_median": pl.Float64, RECORD_ID: pl.String}
    created = tickets.select(_col(tickets, "created_at")).to_series().drop_nulls()
    if created.is_empty():
        return pl.DataFrame(schema=schema)
    local = pl.col("created_at").dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    current = now.astimezone(_zone(timezone)).replace(tzinfo=None, day=1, hour=0, minute=0,
                                                      second=0, microsecond=0)
    counts = (
        tickets.select(local.dt.truncate("1mo").alias("month")).drop_nulls()
        .filter(pl.col("month") < current)
        .group_by("month").len("tickets")
    )
    if counts.is_empty():
        return pl.DataFrame(schema=schema)
    months = pl.datetime_range(counts["month"].min(), counts["month"].max(), "1mo", eager=True)
    volume = (
        pl.DataFrame({"month": months}).join(counts, on="month", how="left")
        .with_columns(pl.col("tickets").fill_null(0).cast(pl.UInt32))
    )
    if volume.height < MIN_VOLUME_MONTHS:
        return pl.DataFrame(schema=schema)
    median = volume["tickets"].median()
    return volume.with_columns(
        pl.col("month").dt.strftime("%Y-%m"),
        pl.lit(median, dtype=pl.Float64).alias("median"),
        (pl.col("tickets") / median if median else pl.lit(None, dtype=pl.Float64))
        .alias("ratio_to_median"),
    ).with_columns(pl.col("month").alias(RECORD_ID)).select(list(schema))


def _zone(name: str):
    return ZoneInfo(name)
