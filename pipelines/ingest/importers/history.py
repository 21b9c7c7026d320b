"""A tool's status history (audit trail, changelog, activities) -> ticket_events with real
pause intervals, joined to the ticket export by ticket id.

Pure: parsed JSON pages or a CSV frame in, frames out (`run.py` reads the files). JSON
records are flattened to dotted column names (`events.field_name`, `changelog.histories.
items.toString`); each item of the lists named by the shape's `explode` becomes one row.
Rows that carry none of the shape's kinds of change (a comment, another field) are read
but not used; every change row is used or rejected with its reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import polars as pl

from pipelines.core.io import ROW, SOURCE
from pipelines.core.rejects import quoted, reject_rows, with_reasons
from pipelines.ingest.importers.derive import derive_counts
from pipelines.ingest.importers.engine import (
    EVENT_COLUMNS,
    KEY,
    REF,
    iso_text,
    parse_timestamp,
    text_column,
    value_lookup,
)
from pipelines.ingest.importers.mapping import MappingError, Preset
from pipelines.ingest.importers.preset_parts import History, HistoryField

TICKET = ["client_id", "ticket_id"]


@dataclass
class HistoryMapped:
    """One history file after the mapping: status events, derived counts, rejects, counts."""

    shape: History
    events: pl.DataFrame  # EVENT_COLUMNS + __ts (parsed time) + __order
    derived: pl.DataFrame  # client_id, ticket_id + derived counts (text)
    rejects: pl.DataFrame
    counts: dict = field(default_factory=dict)
    unmapped: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- reading the shapes


def pick_json_shape(doc: object, preset: Preset, source: str) -> History:
    """The preset's JSON history shape this document (a page, a list of pages) looks like."""
    page = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], (dict, list)) else doc
    for shape in (h for h in preset.history if h.format == "json"):
        if shape.records is None and isinstance(doc, list):
            return shape
        if shape.records and isinstance(page, dict) and _get(page, shape.records) is not None:
            return shape
    raise MappingError(f"{source}: {_expected(preset, 'json')}")


def pick_csv_shape(columns: list[str], preset: Preset, source: str) -> History:
    """The preset's CSV history shape whose key, time and status columns the file has."""
    for shape in (h for h in preset.history if h.format == "csv"):
        wanted = [c for c in (shape.key, shape.at, shape.status.column) if c]
        if all(c in columns for c in wanted):
            return shape
    raise MappingError(f"{source}: {_expected(preset, 'csv')} (columns: {', '.join(columns[:12])})")


def _expected(preset: Preset, fmt: str) -> str:
    shapes = [h for h in preset.history if h.format == fmt]
    if not preset.history:
        return f"the {preset.name} preset has no status-history input"
    if not shapes:
        other = ", ".join(sorted({h.format for h in preset.history}))
        return f"the {preset.name} preset reads its status history as {other}, not {fmt}"
    wanted = "; ".join(
        f"{h.name}: " + (f"a page with {h.records!r}" if h.format == "json" and h.records else
                         "a list of records" if h.format == "json" else
                         f"columns {h.key!r}, {h.at!r}, {h.status.column!r}") for h in shapes)
    return f"does not look like a {preset.name} status history ({wanted}; see the preset's docs)"


def pages_of(doc: object, shape: History) -> list:
    """The pages of a document: one page, a list of pages, or (records: null) a list of records
    or a list of such lists. JSON Lines files arrive here as a list of their lines."""
    if shape.records is None:
        if isinstance(doc, list) and doc and all(isinstance(d, list) for d in doc):
            return doc
        return [doc]
    return doc if isinstance(doc, list) else [doc]


def flatten(pages: list, shape: History, source: str) -> tuple[pl.DataFrame, list[object]]:
    """Pages -> one text row per change item (dotted column names), with `__row` / `__source`;
    and the pages' stated data-end values (`extracted_at`)."""
    rows: list[dict] = []
    stated = []
    for number, page in enumerate(pages, start=1):
        records = page if shape.records is None else _get(page, shape.records)
        if not isinstance(records, list):
            raise MappingError(f"{source}: page {number}: {shape.records or 'the page'!r} is not a list of records")
        if shape.extracted_at and isinstance(page, dict) and _get(page, shape.extracted_at) is not None:
            stated.append(_get(page, shape.extracted_at))
        for record in records:
            if not isinstance(record, dict):
                raise MappingError(f"{source}: page {number}: a record is {type(record).__name__}, expected an object")
            rows.extend(_explode(record, shape.explode, 0, "", {}))
    columns = list(dict.fromkeys(k for r in rows for k in r))
    frame = pl.DataFrame([[r.get(c) for c in columns] for r in rows], schema={c: pl.String for c in columns},
                         orient="row") if rows else pl.DataFrame(schema={c: pl.String for c in columns})
    return frame.with_row_index(ROW, offset=1).with_columns(
        pl.col(ROW).cast(pl.Int64), pl.lit(source).alias(SOURCE)), stated


def _get(obj: object, path: str) -> object:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _explode(obj: dict, levels: list[str], depth: int, prefix: str, parent: dict) -> list[dict]:
    inner = levels[depth] if depth < len(levels) else None
    skip = inner[len(prefix):] if inner else None
    row = dict(parent)
    _flat(obj, prefix, row, skip)
    if inner is None:
        return [row]
    items = _get(obj, skip)
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        item = item if isinstance(item, dict) else {"value": item}
        out.extend(_explode(item, levels, depth + 1, inner + ".", row))
    return out


def _flat(obj: dict, prefix: str, out: dict, skip: str | None, at: str = "") -> None:
    for key, value in obj.items():
        kind = type(value)
        if kind is str:  # most values: checked first
            out[prefix + at + key] = value
        elif value is None:
            out[prefix + at + key] = None
        elif kind is dict:
            if at + key != skip:
                _flat(value, prefix, out, skip, at + key + ".")
        elif kind is list:
            if at + key != skip:
                out[prefix + at + key] = json.dumps(value, ensure_ascii=False)
        elif kind is bool:
            out[prefix + at + key] = "true" if value else "false"
        else:
            out[prefix + at + key] = str(value)


# ---------------------------------------------------------------- mapping the rows


def _field(spec: HistoryField, present: set[str], nulls: list[str]) -> pl.Expr:
    if spec.column not in present:
        return pl.lit(None, dtype=pl.String)
    value = text_column(spec.column, nulls)
    if spec.pattern:
        compiled = re.compile(spec.pattern)
        group = compiled.groupindex.get("value", compiled.groups)
        value = value.str.extract(spec.pattern, group)
    for column, wanted in spec.where.items():
        allowed = [w.lower() for w in ([wanted] if isinstance(wanted, str) else wanted)]
        hit = pl.col(column).str.strip_chars().str.to_lowercase().is_in(allowed) if column in present else pl.lit(False)
        value = pl.when(hit).then(value)
    return value


def map_history(raw: pl.DataFrame, shape: History, preset: Preset, tickets: pl.DataFrame) -> HistoryMapped:
    """History rows -> status events of the imported tickets (mapped rows of the ticket export:
    KEY, client_id, ticket_id and the `__ref_` columns), rejects and derived counts."""
    present, nulls = set(raw.columns), preset.null_values
    key = (text_column(shape.key, nulls) if shape.key in present else pl.lit(None, dtype=pl.String)) if shape.key \
        else pl.col(SOURCE).str.extract(shape.key_from_file, 1)
    kinds = shape.fields()
    frame = raw.select(
        pl.col(ROW), pl.col(SOURCE), key.alias("__hkey"),
        (text_column(shape.at, nulls) if shape.at in present else pl.lit(None, dtype=pl.String)).alias("__at"),
        (text_column(shape.actor, nulls) if shape.actor in present else pl.lit(None, dtype=pl.String)).alias("actor"),
        *[_field(spec, present, nulls).alias(name) for name, spec in kinds.items()],
    )
    is_change = pl.any_horizontal([pl.col(n).is_not_null() for n in kinds])
    other = frame.filter(~is_change).height
    frame = frame.filter(is_change)
    formats = shape.date_formats or preset.date_formats
    ts, utc = parse_timestamp(pl.col("__at"), formats, shape.utc)
    ref = REF + shape.ticket_column if shape.ticket_column else "ticket_id"
    if ref not in tickets.columns:
        raise MappingError(f"the {shape.name} history refers to tickets by {shape.ticket_column!r}, "
                           "which the ticket export does not have")
    known = (tickets.select(pl.col(ref).alias("__hkey"), KEY, *TICKET).unique(KEY)
             .with_columns(pl.len().over("__hkey").alias("__matches")))
    status_map = preset.values.get("status")
    lookup = value_lookup(status_map) if status_map else {}
    low = pl.col("status").str.strip_chars().str.to_lowercase()
    frame = (frame.with_columns(ts.alias("__ts"), utc.alias("__utc"), low.is_in(list(lookup)).alias("__hit"))
             .join(known.unique("__hkey", keep="first"), on="__hkey", how="left", maintain_order="left"))
    shown = ", ".join(formats)
    where_key = repr(shape.key) if shape.key else f"the file name ({shape.key_from_file!r})"
    checks = [
        ("missing_required_field", pl.col("__hkey").is_null(),
         pl.lit(f"{where_key} is empty: the change cannot be given to a ticket")),
        ("missing_required_field", pl.col("__at").is_null(), pl.lit(f"{shape.at!r} is empty: the change cannot be dated")),
        ("unparseable_timestamp", pl.col("__ts").is_null(),
         pl.format("{}: {} matches none of the date formats ({})", pl.lit(repr(shape.at)), quoted("__at"), pl.lit(shown))),
        ("unknown_ticket", pl.col(KEY).is_null(),
         pl.format("ticket {} is not among the imported tickets (not in the ticket export, or its row was rejected)",
                   quoted("__hkey"))),
        ("ambiguous_ticket", pl.col("__matches") > 1,
         pl.format("ticket {} belongs to tickets of several clients; import each client's history separately",
                   quoted("__hkey"))),
    ]
    if status_map and status_map.unmapped == "reject":
        checks.append(("unmapped_value", pl.col("status").is_not_null() & ~pl.col("__hit"),
                       pl.format("{}: {} is not in the {} preset's status values", pl.lit(repr(shape.status.column)),
                                 quoted("status"), pl.lit(preset.name))))
    frame = with_reasons(frame, checks)
    bad = frame.filter(pl.col("__reason").is_not_null())
    good = frame.filter(pl.col("__reason").is_null()).sort(KEY, "__ts", ROW, maintain_order=True)
    unmapped = dict(good.filter(pl.col("status").is_not_null() & ~pl.col("__hit")).group_by("status").len()
                    .sort("len", "status", descending=[True, False]).iter_rows()) if status_map else {}
    if status_map:
        mapped = low.replace_strict(lookup, default=None, return_dtype=pl.String)
        kept = pl.col("status") if status_map.unmapped == "keep" else pl.lit(None, dtype=pl.String)
        good = good.with_columns(pl.when(pl.col("__hit")).then(mapped).otherwise(kept).alias("status"))
    steps = good.filter(pl.col("status").is_not_null())
    repeat = (pl.col("status") == pl.col("status").shift(1).over(KEY)).fill_null(False)
    events = steps.filter(~repeat).select(
        pl.col("ticket_id"), pl.col("client_id"), iso_text("__ts", "__utc").alias("at"), "status", "actor",
        "__ts", pl.col(ROW).alias("__order"))
    derived = (derive_counts(good, shape.derive, TICKET, "__at", lambda n: n) if shape.derive
               else pl.DataFrame(schema={c: pl.String for c in TICKET}))
    counts = {"rows": raw.height, "not_changes": other, "changes": frame.height, "used": good.height,
              "rejected": bad.height, "status_events": events.height,
              "tickets_with_history": int(events.select(pl.struct(TICKET).n_unique()).item()) if events.height else 0}
    return HistoryMapped(shape=shape, events=events.select(*EVENT_COLUMNS, "__ts", "__order"), derived=derived,
                         rejects=reject_rows(bad, "ticket_events"), counts=counts, unmapped=unmapped)


def merge_events(milestones: pl.DataFrame, histories: list[HistoryMapped]) -> pl.DataFrame:
    """Status events: a ticket with history gets its history plus those of its milestone events
    (created, resolved, closed, current status) whose status the history never shows, so a
    history that starts late or ends early keeps the export's creation and resolution; a
    ticket without history keeps its milestone events."""
    if not histories:
        return milestones
    history = pl.concat([h.events for h in histories]).sort(*TICKET, "__ts", "__order", maintain_order=True)
    repeat = (pl.col("status") == pl.col("status").shift(1).over(TICKET)).fill_null(False)
    history = history.filter(~repeat)
    seen = history.select(*TICKET, "status").unique()
    with_history = history.select(TICKET).unique()
    kept = (milestones.with_columns(pl.int_range(pl.len()).over(TICKET).alias("__n"))
            .join(seen, on=[*TICKET, "status"], how="anti"))
    mixed = kept.join(with_history, on=TICKET, how="semi")
    return pl.concat([  # written in a readable order; clean orders events by their time
        mixed.filter(pl.col("__n") == 0).select(EVENT_COLUMNS), history.select(EVENT_COLUMNS),
        mixed.filter(pl.col("__n") > 0).select(EVENT_COLUMNS),
        kept.join(with_history, on=TICKET, how="anti").select(EVENT_COLUMNS)])
