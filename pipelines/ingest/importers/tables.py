"""Mapped export rows -> the raw canonical tables `clean` reads (tickets, ticket_events,
surveys) plus the extras side table.

An update log (several rows per ticket) is collapsed per ticket and its status changes
become events; a one-row-per-ticket export gets events from its milestone timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipelines.core.io import ROW, SOURCE
from pipelines.ingest.importers.derive import collapse, derive_counts, fill_derived, numeric_order
from pipelines.ingest.importers.engine import (
    ACTOR,
    AT,
    CURRENT_AT,
    DERIVED,
    EVENT_COLUMNS,
    KEY,
    SURVEY_COLUMNS,
    UPDATE_LOG,
    iso_text,
)
from pipelines.ingest.importers.mapping import TICKET_FIELDS, Preset

COLLAPSE_TIMES = ("first", "last", "first_non_null", "last_non_null", "max", "min")


@dataclass
class Tables:
    """The canonical raw tables for `clean`, the extras side table and how they were derived."""

    tickets: pl.DataFrame
    events: pl.DataFrame
    surveys: pl.DataFrame
    extras: pl.DataFrame | None
    notes: dict = field(default_factory=dict)


def build_tables(rows: pl.DataFrame, preset: Preset, mode: str) -> Tables:
    """Mapped rows -> tickets, ticket_events, surveys (and extras), per the preset."""
    if mode == UPDATE_LOG:
        tickets, events, notes = _from_update_log(rows, preset)
    else:
        tickets, events, notes = rows, _milestone_events(rows, preset), {}
        repeated = rows.filter(pl.col(KEY).is_duplicated())[KEY].n_unique() if KEY in rows.columns else 0
        if repeated:
            notes["repeated_ticket_ids"] = int(repeated)
    surveys = _surveys(tickets)
    extras_cols = [c for c in tickets.columns if c.startswith("__x_")]
    extras = None
    if preset.extras:
        extras = tickets.select(
            pl.col("ticket_id"), pl.col("client_id"), *[pl.col(f"__x_{c}").alias(c) if f"__x_{c}" in tickets.columns
                                   else pl.lit(None, dtype=pl.String).alias(c) for c in preset.extras]
        )
        notes["extras_missing_in_export"] = [c for c in preset.extras if f"__x_{c}" not in extras_cols]
    return Tables(tickets=_ticket_table(tickets), events=events, surveys=surveys, extras=extras, notes=notes)


def _order_keys(rows: pl.DataFrame, log) -> list[pl.Expr]:
    """Update order: numbers compare as numbers, the update time as a time, else text."""
    keys = []
    for i, column in enumerate(log.order_by):
        if column == log.at:
            keys.append(pl.col(f"__ts_{AT}"))
            continue
        number = numeric_order(rows, f"__order_{i}")
        keys.append(pl.col(f"__order_{i}") if number is None else number)
    return keys


def _from_update_log(rows: pl.DataFrame, preset: Preset):
    log = preset.update_log
    ordered = rows.sort([pl.col(KEY), *_order_keys(rows, log), pl.col(SOURCE), pl.col(ROW)],
                        nulls_last=True, maintain_order=True)
    at_iso = iso_text(f"__ts_{AT}", f"__utc_{AT}")
    actor = pl.col(ACTOR) if ACTOR in ordered.columns else pl.lit(None, dtype=pl.String)
    steps = ordered.filter(pl.col("status").is_not_null()).select(
        pl.col(KEY), pl.col("ticket_id"), pl.col("client_id"), at_iso.alias("at"), pl.col("status"),
        actor.alias("actor"),
        pl.col(f"__ts_{AT}").alias("__ts"),
    )
    changed = pl.col("status") != pl.col("status").shift(1).over(KEY)
    events = steps.filter(changed.fill_null(True))
    backwards = events.filter(pl.col("__ts") < pl.col("__ts").shift(1).over(KEY))[KEY].n_unique()

    tickets = _collapse(ordered, log)
    rows_per_key = ordered.group_by(KEY).agg(pl.len().alias("__rows"))
    tickets, filled = _derive_from_history(tickets, events, rows_per_key, log)
    notes = {
        "rows_per_ticket": "several rows per ticket (an update log) collapsed into one ticket each",
        "status_changes": int(events.height),
        "filled_from_history": filled,
        "tickets_with_events_out_of_time_order": int(backwards),
    }
    if log.derive:
        column = lambda name: DERIVED + name  # noqa: E731
        derived = derive_counts(ordered, log.derive, KEY, AT, column)
        tickets, notes["derived"] = fill_derived(tickets, derived, KEY)
    notes["timestamps_out_of_order"] = timestamp_order(tickets)
    return tickets, events.select(EVENT_COLUMNS), notes


def _collapse(ordered: pl.DataFrame, log) -> pl.DataFrame:
    """One row per ticket: each canonical field by its collapse rule (the last row's value, the
    first row's for created_at), plus the parsed times the order check needs."""
    # Timestamps are final ISO text by now (`_finish_values`); max / min compare their parsed
    # values, numbers compare as numbers.
    values = [c for c in ordered.columns if c in TICKET_FIELDS or c in ("responded_at", "rating", "comment",
                                                                        "client_id")]
    aggs = [pl.col(c).last() for c in ordered.columns if c.startswith("__x_")]
    for column in values:
        rule = log.collapse.get(column, "first" if column == "created_at" else "last")
        parsed = f"__ts_{column}" if f"__ts_{column}" in ordered.columns else None
        order = pl.col(parsed) if parsed else numeric_order(ordered, column)
        aggs.append(collapse(column, rule, order).alias(column))
        if parsed:
            aggs.append(collapse(parsed, rule if rule in COLLAPSE_TIMES else "last", pl.col(parsed)).alias(parsed))
    aggs.append(pl.col(f"__ts_{AT}").min().alias("__first_update"))
    return ordered.group_by(KEY, maintain_order=True).agg(aggs)


def timestamp_order(tickets: pl.DataFrame) -> dict:
    """Tickets whose collapsed times contradict each other (created after its first update or
    after its resolution...): a sign of a collapse rule that takes the wrong row."""
    pairs = [("created_at", "__first_update", "its first update"),
             ("created_at", "__ts_first_response_at", "first_response_at"),
             ("created_at", "__ts_resolved_at", "resolved_at"),
             ("created_at", "__ts_closed_at", "closed_at"),
             ("resolved_at", "__ts_closed_at", "closed_at")]
    out = {}
    for name, later, label in pairs:
        earlier = f"__ts_{name}"
        if earlier not in tickets.columns or later not in tickets.columns:
            continue
        bad = tickets.filter(pl.col(earlier) > pl.col(later))
        if bad.height:
            first = bad.row(0, named=True)
            out[f"{name} after {label}"] = {
                "tickets": bad.height, "example": first["ticket_id"],
                "values": [str(first[earlier]), str(first[later])]}
    return out


def _derive_from_history(tickets: pl.DataFrame, events: pl.DataFrame, rows_per_key: pl.DataFrame, log):
    """Fill empty first_response_at / resolved_at / closed_at from the status history."""
    low = pl.col("status").str.to_lowercase()
    rules = {}
    if log.first_response_leaves:
        rules["first_response_at"] = (~low.is_in([s.lower() for s in log.first_response_leaves]), "first")
    for name, statuses in (("resolved_at", log.resolved_enters), ("closed_at", log.closed_enters)):
        if statuses:
            inside = low.is_in([s.lower() for s in statuses])
            entered = inside & ~inside.shift(1).over(KEY).fill_null(False)
            rules[name] = (entered, "last")
    if not rules:
        return tickets, {}
    aggs = []
    for name, (condition, pick) in rules.items():
        picked = pl.col("at").filter(condition)  # ISO text that already carries its UTC offset
        aggs.append((picked.first() if pick == "first" else picked.last()).alias(name))
    derived = events.group_by(KEY).agg(aggs)
    # One row holds no history (an incident-table export, say): nothing is derived from it.
    derived = derived.join(rows_per_key, on=KEY, how="inner").filter(pl.col("__rows") > 1).drop("__rows")
    return fill_derived(tickets, derived, KEY, tuple(rules))


def _milestone_events(rows: pl.DataFrame, preset: Preset) -> pl.DataFrame:
    """One row per ticket: events at its created / resolved / closed times (and, when the
    preset names a last-update column, the current status at that time)."""
    milestones = preset.milestones
    parts = []
    if milestones and "ticket_id" in rows.columns:
        for rank, name in enumerate(("created_at", "resolved_at", "closed_at")):
            status = getattr(milestones, name)
            if status and name in rows.columns:
                parts.append(rows.select(
                    pl.col("ticket_id"), pl.col("client_id"), pl.col(name).alias("at"),
                    pl.lit(status).alias("status"),
                    pl.col(f"__ts_{name}").alias("__ts"), pl.lit(rank).alias("__rank"),
                ))
        if CURRENT_AT in rows.columns and "status" in rows.columns:
            parts.append(rows.select(
                pl.col("ticket_id"), pl.col("client_id"), iso_text(f"__ts_{CURRENT_AT}", f"__utc_{CURRENT_AT}").alias("at"), pl.col("status"),
                pl.col(f"__ts_{CURRENT_AT}").alias("__ts"), pl.lit(3).alias("__rank"),
            ))
    if not parts:
        return pl.DataFrame(schema={c: pl.String for c in EVENT_COLUMNS})
    events = (pl.concat(parts).filter(pl.col("at").is_not_null() & pl.col("status").is_not_null())
              .sort("client_id", "ticket_id", "__ts", "__rank", maintain_order=True))
    repeat = pl.col("status") == pl.col("status").shift(1).over("client_id", "ticket_id")
    return events.filter(~repeat.fill_null(False)).select(
        "ticket_id", "client_id", "at", "status", pl.lit(None, dtype=pl.String).alias("actor")
    )


def _surveys(tickets: pl.DataFrame) -> pl.DataFrame:
    if "rating" not in tickets.columns:
        return pl.DataFrame(schema={c: pl.String for c in SURVEY_COLUMNS})
    return tickets.filter(pl.col("rating").is_not_null()).select(
        [pl.col(c) if c in tickets.columns else pl.lit(None, dtype=pl.String).alias(c) for c in SURVEY_COLUMNS]
    )


def _ticket_table(tickets: pl.DataFrame) -> pl.DataFrame:
    """The raw tickets table in schema order (priority as the source gave it, or P1..P4)."""
    order = ["ticket_id", "client_id", *[c for c in TICKET_FIELDS if c != "ticket_id"]]
    return tickets.select(
        [pl.col(c) if c in tickets.columns else pl.lit(None, dtype=pl.String).alias(c) for c in order]
    )
