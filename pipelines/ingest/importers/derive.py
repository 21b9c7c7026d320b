"""Counts derived from several rows per ticket (an update log, or a tool's status history):
reassignments, escalation level, provider touches; and the per-ticket collapse rules.

Pure polars transforms over rows already in update order. A derived count fills the
canonical field only where the export gives no value of its own.
"""

from __future__ import annotations

import polars as pl

from pipelines.ingest.importers.preset_parts import Changes, Derive, Levels, Touches

DERIVED_FIELDS = ("reassignment_count", "escalation_level", "provider_touches")


def collapse(column: str, rule: str, order: pl.Expr | None = None) -> pl.Expr:
    """One value per ticket (inside a group_by) from its rows in update order.

    first / last (/ _non_null), count_distinct (distinct non-empty values), changes (times a
    non-empty value differs from the previous non-empty one), max / min (by `order`: the parsed
    time or number of the column; the text otherwise)."""
    value = pl.col(column)
    if rule in ("first", "last"):
        return value.first() if rule == "first" else value.last()
    if rule in ("first_non_null", "last_non_null"):
        return value.drop_nulls().first() if rule == "first_non_null" else value.drop_nulls().last()
    if rule == "count_distinct":
        return value.drop_nulls().n_unique().cast(pl.String)
    if rule == "changes":
        present = value.drop_nulls()
        return (present != present.shift(1)).sum().cast(pl.String)
    by = value if order is None else order
    best = by.max() if rule == "max" else by.min()
    return value.filter(by == best).first()


def numeric_order(frame: pl.DataFrame, column: str) -> pl.Expr | None:
    """The column as a number when every non-empty value is one (so "10" > "9")."""
    text = frame[column]
    number = text.cast(pl.Float64, strict=False)
    return pl.col(column).cast(pl.Float64, strict=False) if number.null_count() == text.null_count() else None


def derive_counts(rows: pl.DataFrame, derive: Derive, key: str, at: str, column) -> pl.DataFrame:
    """Per ticket key: the derivations the preset declares (text columns, null when unknown).
    `rows` are in update order; `column(name)` is the frame column of a derivation's column;
    `at` identifies an update (changes of several columns at one update count once)."""
    aggs = []
    if derive.reassignment_count:
        aggs.append(_changes(derive.reassignment_count, key, at, column).alias("reassignment_count"))
    if derive.escalation_level:
        aggs.append(_level(derive.escalation_level, column).max().cast(pl.String).alias("escalation_level"))
    if derive.provider_touches:
        aggs.append(_touches(derive.provider_touches, column).alias("provider_touches"))
    have = [c for c in derive.columns() if column(c) in rows.columns]
    if not aggs or not have:
        return pl.DataFrame(schema={key: pl.String})
    for name in derive.columns():
        if column(name) not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(column(name)))
    changed = []
    if derive.reassignment_count:
        for name in derive.reassignment_count.columns:
            value = pl.col(column(name))
            previous = value.forward_fill().shift(1).over(key)
            changed.append((value.is_not_null() & previous.is_not_null() & (value != previous)).fill_null(False))
    rows = rows.with_columns(pl.any_horizontal(changed).alias("__changed") if changed else pl.lit(False)
                             .alias("__changed"))
    return rows.group_by(key, maintain_order=True).agg(aggs)


def _changes(rule: Changes, key: str, at: str, column) -> pl.Expr:
    # a ticket with none of the columns filled has no known assignment: unknown, not 0
    known = pl.any_horizontal([pl.col(column(c)).is_not_null() for c in rule.columns]).any()
    count = pl.col(at).filter(pl.col("__changed")).n_unique().cast(pl.String)
    return pl.when(known).then(count)


def _level(rule: Levels, column) -> pl.Expr:
    value = pl.col(column(rule.column))
    low = value.str.strip_chars().str.to_lowercase()
    level = pl.lit(None, dtype=pl.Int64)
    for pattern, number in reversed(list(rule.patterns.items())):
        hit = value.str.contains(f"(?i){pattern}")
        found = (pl.lit(number, dtype=pl.Int64) if number is not None
                 else value.str.extract(f"(?i){pattern}", 1).cast(pl.Int64, strict=False))
        level = pl.when(hit).then(found).otherwise(level)
    exact = {k.strip().lower(): v for k, v in rule.map.items()}
    if exact:
        level = pl.when(low.is_in(list(exact))).then(
            low.replace_strict(exact, default=None, return_dtype=pl.Int64)).otherwise(level)
    if rule.default is not None:
        level = pl.when(value.is_not_null()).then(level.fill_null(rule.default))
    return level


def _touches(rule: Touches, column) -> pl.Expr:
    actor = pl.col(column(rule.column))
    excluded = [a.strip().lower() for a in rule.exclude]
    kept = actor.filter(actor.is_not_null() & ~actor.str.strip_chars().str.to_lowercase().is_in(excluded))
    return pl.when(actor.is_not_null().any()).then(kept.n_unique().cast(pl.String))


def fill_derived(tickets: pl.DataFrame, derived: pl.DataFrame, key: str | list[str],
                 fields: tuple[str, ...] = DERIVED_FIELDS) -> tuple[pl.DataFrame, dict]:
    """Fill empty canonical fields (the derived counts by default) from `derived` (same key);
    how many tickets got each."""
    names = [c for c in derived.columns if c in fields]
    if not names:
        return tickets, {}
    keys = [key] if isinstance(key, str) else key
    renamed = derived.select(*keys, *[pl.col(c).alias(f"__d_{c}") for c in names])
    tickets = tickets.join(renamed, on=key, how="left", maintain_order="left")
    filled, exprs = {}, []
    for name in names:
        current = pl.col(name) if name in tickets.columns else pl.lit(None, dtype=pl.String)
        filled[name] = int(tickets.select((current.is_null() & pl.col(f"__d_{name}").is_not_null()).sum()).item())
        exprs.append(pl.coalesce(current, pl.col(f"__d_{name}")).alias(name))
    return tickets.with_columns(exprs).drop([f"__d_{c}" for c in names]), filled
