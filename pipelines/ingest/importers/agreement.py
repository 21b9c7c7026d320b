"""The tool's own figures against ours: its waiting time against the imported status
history (at import), its SLA verdicts against our per-ticket verdicts (after metrics:
`bench/preset_agreement.py`). Pure: frames in, rows of an agreement table out.
"""

from __future__ import annotations

import polars as pl

from pipelines.ingest.importers.history import TICKET, HistoryMapped
from pipelines.ingest.importers.mapping import Preset


def waiting_agreement(extras: pl.DataFrame | None, histories: list[HistoryMapped],
                      preset: Preset, close: float = 1.0) -> list[dict]:
    """The tool's own waiting minutes (extras) against the time the imported history spends
    in the same statuses (calendar minutes between a ticket's history events; an interval
    still open at the export is not counted), per ticket with both."""
    if not (preset.agreement and preset.agreement.waiting and histories and extras is not None):
        return []
    events = pl.concat([h.events for h in histories]).sort(*TICKET, "__ts", "__order", maintain_order=True)
    spans = events.with_columns(
        ((pl.col("__ts").shift(-1).over(TICKET) - pl.col("__ts")).dt.total_seconds() / 60).alias("__minutes"))
    out = []
    for item in preset.agreement.waiting:
        if item.column not in extras.columns:
            continue
        ours = (spans.filter(pl.col("status").is_in(item.statuses) & pl.col("__minutes").is_not_null())
                .group_by(TICKET).agg(pl.col("__minutes").sum().alias("ours")))
        scale = 60.0 if item.unit == "hours" else 1.0
        theirs = extras.select(*TICKET, (pl.col(item.column).cast(pl.Float64, strict=False) * scale).alias("theirs"))
        both = (theirs.join(events.select(TICKET).unique(), on=TICKET, how="semi")
                .join(ours, on=TICKET, how="left").with_columns(pl.col("ours").fill_null(0.0))
                .filter(pl.col("theirs").is_not_null()))
        diff = (pl.col("ours") - pl.col("theirs")).abs()
        off = both.filter(diff > close).sort(diff, descending=True)
        out.append({
            "column": item.column, "statuses": item.statuses, "tickets": both.height,
            "agree": both.height - off.height, "within_minutes": close,
            "ours_minutes": round(float(both["ours"].sum()), 1), "theirs_minutes": round(float(both["theirs"].sum()), 1),
            "examples": [{"ticket_id": r["ticket_id"], "ours": round(r["ours"], 1), "theirs": r["theirs"]}
                         for r in off.head(3).iter_rows(named=True)],
        })
    return out


def verdict_agreement(ticket_sla: pl.DataFrame, extras: pl.DataFrame, preset: Preset) -> list[dict]:
    """Per verdict column the tool exports (e.g. Freshdesk "Resolution status"): tickets both
    decided (met / breached), how many agree, and the confusion counts."""
    if not preset.agreement or not preset.agreement.verdicts:
        return []
    out = []
    for item in preset.agreement.verdicts:
        if item.column not in extras.columns:
            continue
        low = pl.col(item.column).str.strip_chars().str.to_lowercase()
        theirs = (pl.when(low.is_in([v.lower() for v in item.met])).then(pl.lit("met"))
                  .when(low.is_in([v.lower() for v in item.breached])).then(pl.lit("breached")))
        ours = f"{item.target}_status"
        both = (extras.select(*TICKET, theirs.alias("theirs"))
                .join(ticket_sla.select(*TICKET, pl.col(ours).alias("ours")), on=TICKET, how="inner")
                .filter(pl.col("theirs").is_not_null() & pl.col("ours").is_in(["met", "breached"])))
        matrix = both.group_by("ours", "theirs").len().sort("ours", "theirs")
        out.append({
            "column": item.column, "target": item.target, "tickets": both.height,
            "agree": both.filter(pl.col("ours") == pl.col("theirs")).height,
            "matrix": {f"ours {o} / tool {t}": n for o, t, n in matrix.iter_rows()},
            "disagree": both.filter(pl.col("ours") != pl.col("theirs"))["ticket_id"].sort().to_list()[:10],
        })
    return out
