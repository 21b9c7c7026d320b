"""The dirty sample: a small, deliberately faulty export to test cleaning and the quality gate.

Derived from the same generator (3 clients, 2 months, a few hundred tickets), then:
- rows that cleaning must reject, one or more for every reason in `REJECT_REASONS`,
  added as extra rows so nothing else depends on them (no cascades);
- a few valid timestamps written without an offset (local time) and an unknown column;
- one "dirty client" whose data passes cleaning but breaks what a data-quality gate
  checks: first responses before creation, status events before the ticket existed,
  events after the ticket was closed. The other clients stay healthy.

Every fault is listed with its table, file row and reason in `dirty/README.md` and
`dirty/faults.json`, computed from where the rows finally landed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.core.io import write_text
from pipelines.core.schemas import REJECT_REASONS
from pipelines.ingest.sample.faults import (
    EXTRA_COLUMN,
    MARK,
    Fault,
    Injector,
    contact_faults,
    quality_faults,
    reject_faults,
    valid_oddities,
)
from pipelines.ingest.sample.files import write_contracts, write_frames
from pipelines.ingest.sample.generator import generate_sample, raw_frames

DIRTY_CLIENTS, DIRTY_MONTHS, DIRTY_TICKETS = 3, 2, 300


@dataclass
class DirtySet:
    """The dirty tables as text (as written), their contracts and the list of faults."""

    frames: dict[str, pl.DataFrame]
    contracts: dict
    faults: list[Fault]
    dirty_client: str


def dirty_sample(seed: int = 7, end: str = "2026-10") -> DirtySet:
    """The dirty set in memory (text frames as written, faults with final row numbers)."""
    sample = generate_sample(
        DIRTY_CLIENTS, DIRTY_MONTHS, seed, end, tickets=DIRTY_TICKETS, degrade=False
    )
    frames = {
        name: frame.with_columns(
            pl.all().cast(pl.String), pl.lit(None, dtype=pl.String).alias(MARK)
        )
        for name, frame in raw_frames(sample).items()
    }
    client = sample.story["clients"][-1]
    zone = sample.contracts[client].timezone
    rng = np.random.default_rng([seed, 404])
    injector = Injector(frames, rng)
    quality = quality_faults(injector, client)
    reject_faults(injector, client, zone, int(end[:4]))
    valid = valid_oddities(injector, zone)
    contact_faults(injector, client)
    faults = injector.located() + valid + quality
    out = {name: f.drop(MARK) for name, f in injector.frames.items()}
    out["tickets"] = out["tickets"].with_columns(
        (pl.lit("CW-") + pl.col("ticket_id").str.extract(r"(\d+)$")).alias(EXTRA_COLUMN)
    )
    faults.append(
        Fault("tickets", None, "valid", f"extra column {EXTRA_COLUMN!r}: unknown, ignored by clean")
    )
    missing = sorted(set(REJECT_REASONS) - {f.reason for f in faults})
    if missing:  # a generator bug, never a data problem
        raise RuntimeError(f"the dirty set lacks rows for reject reasons {missing}")
    return DirtySet(out, sample.contracts, faults, client)


def write_dirty(out: Path, seed: int = 7, end: str = "2026-10") -> list[Path]:
    """Write the dirty set (CSV tables, contracts/, README.md, faults.json) to `out`."""
    dirty = dirty_sample(seed, end)
    written = write_frames(dirty.frames, Path(out), "csv")
    written += write_contracts(dirty.contracts, Path(out) / "contracts")
    manifest = {"dirty_client": dirty.dirty_client, "faults": [asdict(f) for f in dirty.faults]}
    written.append(write_text(Path(out) / "faults.json", json.dumps(manifest, indent=2) + "\n"))
    written.append(write_text(Path(out) / "README.md", _readme(dirty)))
    return written


# ---------------------------------------------------------------- README


def _readme(dirty: DirtySet) -> str:
    rejects = [f for f in dirty.faults if f.reason in REJECT_REASONS]
    lines = [
        "# Dirty sample (generated)",
        "",
        "A small export with deliberate faults, written by `servicereview sample` next to the main",
        "sample. `servicereview clean --data data/sample/dirty` must reject exactly the rows below",
        "(every reason in `pipelines.core.schemas.REJECT_REASONS` at least once) and keep all others.",
        f"The same list is in `faults.json`. Clients: {', '.join(dirty.contracts)}.",
        "",
        "## Rows cleaning must reject",
        "",
        "| table | row | reason | what |",
        "|---|---|---|---|",
        *[f"| {f.table} | {f.row} | {f.reason} | {f.detail} |" for f in rejects],
        "",
        "Row = record number in the CSV file (1 = first row after the header), as in the rejects",
        "table.",
        "",
        "## Valid oddities (kept)",
        "",
        *[
            f"- {f.table}" + (f" row {f.row}" if f.row else "") + f": {f.detail}"
            for f in dirty.faults
            if f.reason == "valid"
        ],
        "",
        f"## The dirty client: `{dirty.dirty_client}`",
        "",
        "Its rows pass cleaning, but a data-quality gate should flag it; the other clients are",
        "healthy.",
        "",
        *[
            f"- {f.table}: {f.detail} — {len(f.ticket_ids)} tickets: {', '.join(f.ticket_ids)}"
            for f in dirty.faults
            if f.reason == "quality"
        ],
        "",
    ]
    return "\n".join(lines)
