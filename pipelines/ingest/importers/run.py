"""Import wiring: read the export file(s), apply the preset, write the canonical raw tables.

The only module of the importer that touches files. `import_files` writes, into
the output folder, what `servicereview clean` reads (`tickets.csv`,
`ticket_events.csv`, `surveys.csv` when the export has survey data) plus
`import_rejects.csv`, `import_report.json` and `extras.csv` (the preset's
pass-through columns), and optionally copies contract files to `contracts/`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.core import io
from pipelines.core.io import ROW, SOURCE
from pipelines.core.rejects import attach_raw
from pipelines.ingest.importers import engine
from pipelines.ingest.importers.mapping import (
    ClientMap,
    MappingError,
    Preset,
    load_client_map,
    load_preset,
    load_presets,
)
from pipelines.ingest.importers.tables import Tables, build_tables

OUTPUTS = ("tickets.csv", "ticket_events.csv", "surveys.csv", "extras.csv", "import_rejects.csv",
           "import_report.json")


@dataclass
class ImportResult:
    """The canonical tables, the rejected export rows (with raw values) and the import report."""

    tables: Tables
    rejects: pl.DataFrame
    report: dict


def read_export(path: Path, preset: Preset) -> pl.DataFrame:
    """One export file as text columns, headers in the preset's spelling, plus `__row`
    (1 = first record after the header) and `__source` (the file name)."""
    path = Path(path)
    if path.suffix.lower() in {".xlsx", ".xls"}:
        raise MappingError(f"{path}: Excel files are not read; save the sheet as CSV (UTF-8) first")
    try:
        frame = pl.read_csv(path, infer_schema=False, separator=preset.separator,
                            encoding=preset.encoding, raise_if_empty=True)
    except FileNotFoundError:
        raise MappingError(f"{path}: file not found") from None
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise MappingError(f"{path}: cannot be read as a CSV export ({exc})".replace("\n", " ")) from None
    frame = frame.rename(engine.canonical_headers(frame.columns, preset, str(path)))
    return frame.with_row_index(ROW, offset=1).with_columns(
        pl.col(ROW).cast(pl.Int64), pl.lit(path.name).alias(SOURCE)
    )


def import_frames(
    frames: list[pl.DataFrame], preset: Preset, client_map: ClientMap, names: list[str]
) -> ImportResult:
    """Apply a preset to already-read export frames (pure; `import_files` does the I/O)."""
    modes = set()
    for frame, name in zip(frames, names):
        columns = [c for c in frame.columns if not c.startswith("__")]
        engine.check_columns(columns, preset, client_map, name, load_presets)
        modes.add(engine.import_mode(columns, preset, name))
    if len(modes) > 1:
        raise MappingError(f"{', '.join(names)}: mixes update-log and one-row-per-ticket exports; import them separately")
    mode = modes.pop()
    labels = [frame[SOURCE][0] if frame.height else name for frame, name in zip(frames, names)]
    if len(set(labels)) < len(labels):
        # Two folders' export.csv: the rows of each must stay apart (rejects, raw values).
        frames = [frame.with_columns(pl.lit(name).alias(SOURCE)) for frame, name in zip(frames, names)]
    raw = pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]
    mapped = engine.map_rows(raw, preset, client_map, mode)
    tables = build_tables(mapped.rows, preset, mode)
    rejects = attach_raw(mapped.rejects, raw)
    report = _report(raw, frames, names, preset, client_map, mode, mapped, tables, rejects)
    return ImportResult(tables=tables, rejects=rejects, report=report)


def import_files(
    files: list[Path], preset: str | Path, client_map: str | None, out: Path,
    contracts: Path | None = None,
) -> ImportResult:
    """`servicereview import`: export file(s) + preset + client map -> canonical raw tables in `out`."""
    started = time.perf_counter()
    if not files:
        raise MappingError("no export file given")
    chosen = load_preset(preset)
    clients = load_client_map(client_map, chosen)
    if contracts and not Path(contracts).exists():
        raise MappingError(f"--contracts {contracts}: no such file or folder")
    frames = [read_export(Path(f), chosen) for f in files]
    result = import_frames(frames, chosen, clients, [str(f) for f in files])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "tickets": _write_csv(result.tables.tickets, out / "tickets.csv"),
        "ticket_events": _write_csv(result.tables.events, out / "ticket_events.csv"),
        "import_rejects": _write_csv(result.rejects, out / "import_rejects.csv"),
    }
    optional = {"surveys": (result.tables.surveys, "surveys.csv"), "extras": (result.tables.extras, "extras.csv")}
    for name, (frame, filename) in optional.items():
        if frame is not None and frame.height:
            written[name] = _write_csv(frame, out / filename)
        elif (out / filename).exists():
            (out / filename).unlink()  # a stale table from an earlier import would be read by clean
    if contracts:
        written["contracts"] = _copy_contracts(Path(contracts), out / "contracts")
    result.report["outputs"] = {k: str(v) for k, v in written.items()}
    result.report["seconds"] = round(time.perf_counter() - started, 3)
    io.write_json(result.report, out / "import_report.json")
    return result


def _report(raw, frames, names, preset, client_map, mode, mapped, tables, rejects) -> dict:
    rows_read, rejected = raw.height, rejects.height
    used = mapped.rows.height
    if rows_read != used + rejected:  # a bug in the engine, never a data problem
        raise RuntimeError(f"import: {rows_read} rows read but {used} used + {rejected} rejected")
    by_reason = dict(sorted(rejects.group_by("reason").len().iter_rows())) if rejected else {}
    columns = [c for c in raw.columns if not c.startswith("__")]
    present = set(columns)
    mapped_columns = {s: t for s, t in preset.columns.items() if s in present}
    reconcile = f"rows read {rows_read} = rows used {used} + rows rejected {rejected}"
    if mode == engine.UPDATE_LOG:
        reconcile += f"; the {used} used rows are updates of {tables.tickets.height} tickets"
    return {
        "preset": preset.name,
        "tool": preset.tool,
        "mode": mode,
        "files": [{"path": n, "rows": f.height} for n, f in zip(names, frames)],
        "client_map": client_map.describe(),
        "rows_read": rows_read,
        "rows_used": used,
        "rows_rejected": rejected,
        "reconciliation": reconcile,
        "rejected_by_reason": by_reason,
        "reject_reasons": {r: engine.IMPORT_REJECT_REASONS[r] for r in by_reason},
        "tickets": tables.tickets.height,
        "ticket_events": tables.events.height,
        "surveys": tables.surveys.height,
        "extras_columns": list(tables.extras.columns[1:]) if tables.extras is not None else [],
        "mapped_columns": mapped_columns,
        "fields_not_in_export": [f for f in preset.mapped_fields() if not any(
            s in present for s in preset.sources(f))],
        "unknown_columns": engine.unknown_columns(columns, preset),
        "ignored_columns": [c for c in preset.ignore if c in present],
        "unmapped_values": mapped.unmapped,
        "unmapped_policy": {k: v.unmapped for k, v in preset.values.items() if k in mapped.unmapped},
        "defaults_applied": {k: v for k, v in mapped.defaults_applied.items() if v},
        "notes": tables.notes,
    }


def _write_csv(frame: pl.DataFrame, path: Path) -> Path:
    return io.write_csv(frame.select([c for c in frame.columns if not c.startswith("__")]), path)


def _copy_contracts(source: Path, target: Path) -> Path:
    if source.is_dir():
        io.copy_contracts(source, target)
    elif source.is_file():
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy2(source, target / source.name)
    else:
        raise MappingError(f"--contracts {source}: no such file or folder")
    return target
