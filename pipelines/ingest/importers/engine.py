"""The generic importer: a preset applied to an export, as pure polars transforms.

Frames in, frames out. `map_rows` turns every export row into canonical fields
or a reject with its reason; `pipelines.ingest.importers.tables.build_tables` then
turns the mapped rows into the raw canonical tables. Every input row is used or
rejected: rows read = rows used + rows rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from pipelines.core.io import ROW, SOURCE
from pipelines.core.rejects import quoted, reject_rows, with_reasons
from pipelines.ingest.importers.mapping import (
    BOOLEAN_FIELDS,
    TIMESTAMP_FIELDS,
    ClientMap,
    MappingError,
    TEMPLATE_PART,
    Preset,
    header_key,
)

UPDATE_LOG = "update_log"
ONE_ROW = "one_row_per_ticket"
# events and surveys carry their client: ticket ids are numbered per client (per tenant)
EVENT_COLUMNS = ("ticket_id", "client_id", "at", "status", "actor")
SURVEY_COLUMNS = ("ticket_id", "client_id", "responded_at", "rating", "comment")

# Reasons the importer rejects a row (codes shared with pipelines.core.schemas where they exist).
IMPORT_REJECT_REASONS = {
    "missing_required_field": "the ticket id (or, in an update log, the update time) is empty",
    "unknown_client": "the row's client could not be mapped by --client-map",
    "unparseable_timestamp": "a timestamp matches none of the preset's date formats",
    "invalid_number": "a number the preset computes with could not be read",
    "unmapped_value": "a value the preset must map (unmapped: reject) is not in its value map",
    "unknown_ticket": "a history row's ticket is not among the imported tickets",
    "ambiguous_ticket": "a history row's ticket id belongs to tickets of several clients",
}

# helper columns of the mapped rows: ticket key, client value, update time, actor, last-update time
KEY, CLIENT, AT, ACTOR, CURRENT_AT = "__key", "__client", "__at", "__actor", "__current_at"
DERIVED, REF = "__dv_", "__ref_"  # prefixes: a column a derivation reads; a column a history's key matches
_ISO = "%Y-%m-%dT%H:%M:%S"
_DUPLICATE = re.compile(r"_duplicated_\d+$")


@dataclass
class Mapped:
    """Export rows after the mapping: good rows (canonical fields + helpers) and rejects."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    defaults_applied: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- columns


def canonical_headers(columns: list[str], preset: Preset, source: str) -> dict[str, str]:
    """Rename map: export header -> the preset's spelling, for headers the preset knows."""
    known = {header_key(c): c for c in preset.known_columns()}
    renames: dict[str, str] = {}
    for column in columns:
        # A repeated header (Jira repeats Watchers, Comment...) is read as NAME_duplicated_N:
        # only the first copy is used.
        target = column if _DUPLICATE.search(column) else known.get(header_key(column), column)
        if target in renames.values():
            raise MappingError(f"{source}: columns {column!r} and {target!r} are the same column twice")
        renames[column] = target
    return renames


def import_mode(columns: list[str], preset: Preset, source: str) -> str:
    """`update_log` when the export has the preset's update-log columns, else one row per ticket."""
    if not preset.update_log:
        return ONE_ROW
    wanted = preset.update_log.columns()
    missing = [c for c in wanted if c not in columns]
    if not missing:
        return UPDATE_LOG
    if len(missing) == len(wanted):
        return ONE_ROW
    raise MappingError(
        f"{source}: has some update-log columns of the {preset.name} preset but not "
        f"{', '.join(repr(c) for c in missing)} (an update log needs {', '.join(repr(c) for c in wanted)})"
    )


def check_columns(
    columns: list[str], preset: Preset, client_map: ClientMap, source: str,
    presets: Callable[[], dict[str, Preset]],
) -> None:
    """Fail early on a file of the wrong format: name the missing required columns and
    the preset whose columns the file looks like (`presets` gives the candidates)."""
    missing = []
    for name in preset.required:
        sources = preset.sources(name) or preset.template_columns().get(name, [])
        if not any(s in columns for s in sources):
            wanted = " or ".join(repr(s) for s in sources) if sources else "(no column mapped)"
            missing.append(f"{wanted} ({name})")
    if preset.update_log and preset.update_log.key not in columns:
        missing.append(f"{preset.update_log.key!r} (the update log's ticket key)")
    if missing:
        raise MappingError(
            f"{source}: the {preset.name} preset needs column(s) {', '.join(missing)}, "
            f"which the file does not have. {_looks_like(columns, presets(), preset.name)}"
        )
    if client_map.column and client_map.column not in columns:
        raise MappingError(
            f"{source}: --client-map column {client_map.column!r} is not in the file "
            f"(columns: {', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''})"
        )


def score_presets(columns: list[str], presets: dict[str, Preset]) -> list[tuple[str, int, float]]:
    """(preset, matching columns, overlap score) for every preset, best first."""
    have = {header_key(c) for c in columns if not c.startswith("__")}
    scores = []
    for name, preset in presets.items():
        known = {header_key(c) for c in preset.known_columns()}
        matched = len(have & known)
        scores.append((name, matched, matched / len(have | known) if have | known else 0.0))
    return sorted(scores, key=lambda s: (-s[2], s[0]))


def _looks_like(columns: list[str], presets: dict[str, Preset], current: str) -> str:
    ranked = [s for s in score_presets(columns, presets) if s[0] != current]
    n = len([c for c in columns if not c.startswith("__")])
    if ranked and ranked[0][1] >= max(3, n // 4):
        name, matched, _ = ranked[0]
        return f"Its columns look like the {name} preset ({matched} of {n} columns match): try --from {name}."
    return ("Its columns do not look like any shipped preset; write a mapping file for it "
            "(see pipelines/ingest/importers/README.md) and pass its path to --from.")


def unknown_columns(columns: list[str], preset: Preset) -> list[str]:
    """Export columns the preset neither uses nor lists under `ignore` (reported once)."""
    known = {header_key(c) for c in preset.known_columns()}
    return [c for c in columns
            if not c.startswith("__") and header_key(_DUPLICATE.sub("", c)) not in known]


# ---------------------------------------------------------------- row mapping


def text_column(column: str, nulls: list[str]) -> pl.Expr:
    value = pl.col(column).str.strip_chars()
    return pl.when(value.is_in(nulls)).then(None).otherwise(value)


def _template(template: str, present: set[str], nulls: list[str]) -> pl.Expr:
    """A value built from several columns ("{Status}/{Sub Status}"); empty when all are empty."""
    pieces, parts, at = [], [], 0
    for match in TEMPLATE_PART.finditer(template):
        pieces.append(pl.lit(template[at:match.start()]))
        column = match.group(1)
        value = text_column(column, nulls) if column in present else pl.lit(None, dtype=pl.String)
        pieces.append(value.fill_null(""))
        parts.append(value)
        at = match.end()
    pieces.append(pl.lit(template[at:]))
    return pl.when(pl.any_horizontal([p.is_not_null() for p in parts])).then(pl.concat_str(pieces))


def parse_timestamp(expr: pl.Expr, formats: list[str], utc: bool) -> tuple[pl.Expr, pl.Expr]:
    """(wall-clock datetime, value-is-UTC flag) from text; values with an offset are
    converted to UTC, naive values stay naive (clean reads them in the client's zone)."""
    aware_formats = [f for f in formats if "%z" in f or "%#z" in f or "%:z" in f]
    naive_formats = [f for f in formats if f not in aware_formats]
    aware = [
        expr.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us").dt.replace_time_zone(None)
        for f in aware_formats
    ]
    naive = [expr.str.to_datetime(f, strict=False, time_unit="us") for f in naive_formats]
    aware_value = pl.coalesce(aware) if aware else pl.lit(None, dtype=pl.Datetime("us"))
    naive_value = pl.coalesce(naive) if naive else pl.lit(None, dtype=pl.Datetime("us"))
    value = pl.coalesce(aware_value, naive_value)
    is_utc = aware_value.is_not_null() | (pl.lit(utc) & naive_value.is_not_null())
    return value, is_utc


def iso_text(ts: str, is_utc: str) -> pl.Expr:
    """A parsed timestamp as ISO text, with +00:00 where the value is known to be UTC."""
    text = pl.col(ts).dt.to_string(_ISO)
    return pl.when(pl.col(is_utc)).then(text + "+00:00").otherwise(text)


def value_lookup(vm) -> dict[str, str | None]:
    """A value map's keys as they are matched: trimmed, lower case."""
    return {k.strip().lower(): v for k, v in vm.map.items()}


def map_rows(raw: pl.DataFrame, preset: Preset, client_map: ClientMap, mode: str) -> Mapped:
    """Every export row -> canonical fields (text; timestamps ISO 8601), or a reject.

    `raw` holds the export as text with `__row` / `__source` and headers already in
    the preset's spelling (see `canonical_headers`)."""
    present = set(raw.columns)
    nulls = preset.null_values
    sources = {f: [s for s in preset.sources(f) if s in present] for f in preset.mapped_fields()}
    sources = {f: s for f, s in sources.items() if s}

    exprs = [pl.col(ROW), pl.col(SOURCE)]
    for name, cols in sources.items():
        value = pl.coalesce([text_column(c, nulls) for c in cols])
        exprs.append(value.alias(name))
    for name, cols in preset.template_columns().items():
        if any(c in present for c in cols):
            exprs.append(_template(preset.templates[name], present, nulls).alias(name))
            sources[name] = [c for c in cols if c in present]
    log = preset.update_log if mode == UPDATE_LOG else None
    if log:
        exprs += [text_column(log.key, nulls).alias(KEY), text_column(log.at, nulls).alias(AT)]
        exprs += [text_column(c, nulls).alias(f"__order_{i}") for i, c in enumerate(log.order_by)]
        if log.actor and log.actor in present:
            exprs.append(text_column(log.actor, nulls).alias(ACTOR))
        exprs += [text_column(c, nulls).alias(DERIVED + c) for c in (log.derive.columns() if log.derive else [])
                  if c in present]
    exprs += [text_column(c, nulls).alias(REF + c) for c in {h.ticket_column for h in preset.history} - {None}
              if c in present]
    current = preset.milestones.current_status_at if preset.milestones and not log else None
    if current and current in present:
        exprs.append(text_column(current, nulls).alias(CURRENT_AT))
    if client_map.column:
        exprs.append(text_column(client_map.column, nulls).alias(CLIENT))
    exprs += [text_column(c, nulls).alias(f"__x_{c}") for c in preset.extras if c in present]
    exprs += [text_column(r.minutes, nulls).alias(f"__minutes_{f}") for f, r in preset.add_minutes.items()
              if r.minutes in present]
    exprs += [text_column(r.column, nulls).alias(f"__number_{f}") for f, r in preset.subtract.items()
              if r.column in present]
    frame = raw.select(exprs)
    if KEY not in frame.columns and "ticket_id" in frame.columns:
        frame = frame.with_columns(pl.col("ticket_id").alias(KEY))

    defaults = {}
    for name, value in preset.defaults.items():
        if name in frame.columns:
            defaults[name] = int(frame[name].null_count())
            frame = frame.with_columns(pl.col(name).fill_null(pl.lit(value)))

    frame, checks = _parse_and_check(frame, preset, client_map, sources, log)
    unmapped = _unmapped_counts(frame, preset)
    frame = with_reasons(frame, checks)  # the first failing check is the row's reason
    bad = frame.filter(pl.col("__reason").is_not_null())
    good = frame.filter(pl.col("__reason").is_null()).drop("__reason", "__detail")
    # one ticket is one (client, ticket key): two tenants' ticket 555 are two tickets
    good = _finish_values(good, preset).with_columns(
        pl.concat_str([pl.col("client_id"), pl.col(KEY)], separator="\x1f").alias(KEY))
    return Mapped(rows=good, rejects=reject_rows(bad, "tickets"), unmapped=unmapped, defaults_applied=defaults)


def _parse_and_check(frame, preset, client_map, sources, log):
    formats = preset.date_formats
    utc_fields = {f for f, cols in sources.items() if any(c in preset.utc_columns for c in cols)}
    stamps = [f for f in TIMESTAMP_FIELDS if f in frame.columns]
    parsed = []
    for name in stamps:
        value, is_utc = parse_timestamp(pl.col(name), formats, name in utc_fields)
        parsed += [value.alias(f"__ts_{name}"), is_utc.alias(f"__utc_{name}")]
    # The update time of an update log and the last-update time of a one-row export.
    extra_stamps = {column: label for column, label in (
        (AT, log.at if log else None),
        (CURRENT_AT, preset.milestones.current_status_at if preset.milestones else None),
    ) if column in frame.columns}
    for column, label in extra_stamps.items():
        value, is_utc = parse_timestamp(pl.col(column), formats, label in preset.utc_columns)
        parsed += [value.alias(f"__ts_{column}"), is_utc.alias(f"__utc_{column}")]
    for name, vm in preset.values.items():
        if name in frame.columns:
            hit = pl.col(name).str.strip_chars().str.to_lowercase().is_in(list(value_lookup(vm)))
            parsed.append(hit.alias(f"__hit_{name}"))
    if client_map.client_id:
        parsed.append(pl.lit(client_map.client_id).alias("client_id"))
    else:
        lookup = {k.strip().lower(): v for k, v in client_map.map.items()}
        low = pl.col(CLIENT).str.to_lowercase()
        parsed.append(low.replace_strict(lookup, default=client_map.default, return_dtype=pl.String)
                      .alias("client_id"))
    frame = frame.with_columns(parsed)

    def where(name: str) -> str:
        cols = sources.get(name, [])
        return f"{name} (column {' / '.join(repr(c) for c in cols)})" if cols else name

    checks = [(
        "missing_required_field", pl.col(KEY).is_null() if KEY in frame.columns else pl.lit(True),
        pl.lit(f"{where('ticket_id')} is empty: the row cannot be given to a ticket"),
    )]
    if log:
        checks.append(("missing_required_field", pl.col(AT).is_null(),
                       pl.lit(f"{log.at!r} is empty: the update cannot be dated")))
    if client_map.column:
        checks.append((
            "unknown_client", pl.col("client_id").is_null(),
            pl.format("{}: {} is not in --client-map and it has no default",
                      pl.lit(client_map.column), quoted(CLIENT)),
        ))
    shown = ", ".join(formats)
    for name in stamps:
        checks.append((
            "unparseable_timestamp", pl.col(name).is_not_null() & pl.col(f"__ts_{name}").is_null(),
            pl.format("{}: {} matches none of the preset's date formats ({})",
                      pl.lit(where(name)), quoted(name), pl.lit(shown)),
        ))
    for column, label in extra_stamps.items():
        checks.append((
            "unparseable_timestamp", pl.col(column).is_not_null() & pl.col(f"__ts_{column}").is_null(),
            pl.format("{}: {} matches none of the preset's date formats ({})",
                      pl.lit(repr(label)), quoted(column), pl.lit(shown)),
        ))
    for name, rule in preset.add_minutes.items():
        column = f"__minutes_{name}"
        if column in frame.columns:
            checks.append((
                "invalid_number", _bad_number(column),
                pl.format("{}: {} is not a number of minutes", pl.lit(repr(rule.minutes)), quoted(column)),
            ))
    for name, rule in preset.subtract.items():
        column = f"__number_{name}"
        if column in frame.columns:
            checks.append((
                "invalid_number", _bad_number(column, whole=True),
                pl.format("{}: {} is not a whole number", pl.lit(repr(rule.column)), quoted(column)),
            ))
    for name, vm in preset.values.items():
        if vm.unmapped == "reject" and name in frame.columns:
            known = ", ".join(list(vm.map)[:12])
            checks.append((
                "unmapped_value", pl.col(name).is_not_null() & ~pl.col(f"__hit_{name}"),
                pl.format("{}: {} is not in the {} preset's {} values ({})", pl.lit(where(name)),
                          quoted(name), pl.lit(preset.name), pl.lit(name), pl.lit(known)),
            ))
    return frame, checks


def _bad_number(column: str, whole: bool = False) -> pl.Expr:
    # inf / NaN read as floats but would crash the later casts to a duration or an integer;
    # "2.0" is a whole number, "1.7" is not (it would be truncated silently).
    number = pl.col(column).cast(pl.Float64, strict=False)
    ok = number.is_finite() & (number == number.floor()) if whole else number.is_finite()
    return pl.col(column).is_not_null() & ~ok.fill_null(False)


def _unmapped_counts(frame: pl.DataFrame, preset: Preset) -> dict[str, dict[str, int]]:
    """Source values no value map knows, with their row counts (kept, emptied or rejected)."""
    out = {}
    for name in preset.values:
        if name not in frame.columns:
            continue
        missed = frame.filter(pl.col(name).is_not_null() & ~pl.col(f"__hit_{name}"))
        if missed.height:
            counts = missed.group_by(name).len().sort(["len", name], descending=[True, False])
            out[name] = {value: int(n) for value, n in counts.iter_rows()}
    return out


def _finish_values(frame: pl.DataFrame, preset: Preset) -> pl.DataFrame:
    """Apply value maps, booleans and computed fields; timestamps become ISO 8601 text."""
    exprs = []
    for name, vm in preset.values.items():
        if name not in frame.columns:
            continue
        mapped = pl.col(name).str.strip_chars().str.to_lowercase().replace_strict(
            value_lookup(vm), default=None, return_dtype=pl.String
        )
        kept = pl.col(name) if vm.unmapped == "keep" else pl.lit(None, dtype=pl.String)
        exprs.append(pl.when(pl.col(f"__hit_{name}")).then(mapped).otherwise(kept).alias(name))
    for name in BOOLEAN_FIELDS:
        if name in frame.columns:
            low = pl.col(name).str.to_lowercase()
            exprs.append(
                pl.when(low.is_in([v.lower() for v in preset.booleans.get("true", [])])).then(pl.lit("true"))
                .when(low.is_in([v.lower() for v in preset.booleans.get("false", [])])).then(pl.lit("false"))
                .otherwise(pl.col(name)).alias(name)  # clean rejects what it cannot read
            )
    if exprs:
        frame = frame.with_columns(exprs)

    for name, rule in preset.add_minutes.items():
        minutes = f"__minutes_{name}"
        if minutes not in frame.columns or f"__ts_{rule.base}" not in frame.columns:
            continue
        computed = pl.col(f"__ts_{rule.base}") + pl.duration(
            microseconds=(pl.col(minutes).cast(pl.Float64) * 60_000_000).round().cast(pl.Int64)
        )
        if f"__ts_{name}" in frame.columns:
            use = pl.col(f"__ts_{name}").is_null()
            frame = frame.with_columns(
                pl.when(use).then(computed).otherwise(pl.col(f"__ts_{name}")).alias(f"__ts_{name}"),
                pl.when(use).then(pl.col(f"__utc_{rule.base}")).otherwise(pl.col(f"__utc_{name}"))
                .alias(f"__utc_{name}"),
            )
        else:
            frame = frame.with_columns(computed.alias(f"__ts_{name}"),
                                       pl.col(f"__utc_{rule.base}").alias(f"__utc_{name}"))
    for name, rule in preset.subtract.items():
        number = f"__number_{name}"
        if number not in frame.columns:
            continue
        value = (pl.col(number).cast(pl.Float64).cast(pl.Int64) - rule.value).clip(lower_bound=0).cast(pl.String)
        frame = frame.with_columns(
            (pl.coalesce(pl.col(name), value) if name in frame.columns else value).alias(name)
        )

    stamps = [f for f in TIMESTAMP_FIELDS if f"__ts_{f}" in frame.columns]
    return frame.with_columns([iso_text(f"__ts_{f}", f"__utc_{f}").alias(f) for f in stamps])
