"""Import wiring: read the export file(s), apply the preset, write the canonical raw tables.

The only module of the importer that touches files. `import_files` writes, into
the output folder, what `servicereview clean` reads (`tickets.csv`,
`ticket_events.csv`, `surveys.csv` when the export has survey data) plus
`import_rejects.csv`, `import_report.json` and `extras.csv` (the preset's
pass-through columns), and optionally copies contract files to `contracts/`.
A second input with the tool's status history (`--history`, JSON as its API
returns it or CSV) gives the tickets their real status changes.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.core import exports, io
from pipelines.core.io import ROW, SOURCE
from pipelines.core.rejects import attach_raw
from pipelines.ingest.importers import engine, history
from pipelines.ingest.importers.agreement import waiting_agreement
from pipelines.ingest.importers.derive import fill_derived
from pipelines.ingest.importers.mapping import (
    ClientMap,
    MappingError,
    Preset,
    header_key,
    load_client_map,
    load_preset,
    load_presets,
)
from pipelines.ingest.importers.preset_parts import History
from pipelines.ingest.importers.tables import Tables, build_tables

REJECT_WARNING_SHARE = 0.05  # warn when more of the export's rows than this are rejected
EXCEL = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
JSON = {".json", ".jsonl", ".ndjson"}

OUTPUTS = ("tickets.csv", "ticket_events.csv", "surveys.csv", "extras.csv", "import_rejects.csv",
           "import_report.json")


@dataclass
class ImportResult:
    """The canonical tables, the rejected export rows (with raw values) and the import report."""

    tables: Tables
    rejects: pl.DataFrame
    report: dict


class NothingImported(MappingError):
    """No row of the export could be used; the report and the rejects were still written."""

    def __init__(self, message: str, result: ImportResult):
        super().__init__(message)
        self.result = result


def read_export(path: Path, preset: Preset) -> pl.DataFrame:
    """One export file (CSV, optionally gzipped, or an Excel sheet) as text columns, headers
    in the preset's spelling, plus `__row` (1 = first record after the header) and `__source`
    (the file name)."""
    path = Path(path)
    _refuse_other_formats(path, "ticket export")
    try:
        if path.suffix.lower() in EXCEL:
            frame = _read_excel(path)
        else:  # strict UTF-8 or the preset's encoding: never a character replaced silently
            frame, _ = exports.read_csv_text(path, _read_options(preset))
    except FileNotFoundError:
        raise MappingError(f"{path}: file not found") from None
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise MappingError(f"{path}: cannot be read as a CSV export ({exc})".replace("\n", " ")) from None
    frame = frame.rename(engine.canonical_headers(frame.columns, preset, str(path)))
    return frame.with_row_index(ROW, offset=1).with_columns(
        pl.col(ROW).cast(pl.Int64), pl.lit(path.name).alias(SOURCE)
    )


def _read_options(preset: Preset) -> exports.ReadOptions:
    utf8 = preset.encoding.replace("-", "").lower() == "utf8"
    return exports.ReadOptions(None if utf8 else preset.encoding, preset.separator)


def _read_excel(path: Path) -> pl.DataFrame:
    try:  # the first sheet, every cell as text (dates as "2026-03-02 09:15:00")
        return pl.read_excel(path, infer_schema_length=0)
    except ModuleNotFoundError as exc:
        raise MappingError(f"{path}: reading Excel needs the fastexcel package ({exc}); "
                           "pip install fastexcel, or save the sheet as CSV (UTF-8)") from None
    except Exception as exc:  # noqa: BLE001 (calamine raises its own error types)
        raise MappingError(f"{path}: cannot be read as an Excel sheet ({exc})".replace("\n", " ")) from None


def _head(path: Path) -> bytes:
    try:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rb") as handle:
            head = handle.read(512)
        return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    except (OSError, EOFError):
        return b""


def _refuse_other_formats(path: Path, role: str) -> None:
    """XML / XES event logs and JSON are not ticket exports: say what to do instead."""
    suffixes = {s.lower() for s in path.suffixes}
    head = _head(path) if path.is_file() else b""
    if suffixes & {".xes", ".xml"} or head.startswith(b"<"):
        raise MappingError(
            f"{path}: is XML (an XES event log or an XML export), not a CSV or Excel {role}. "
            "Export it as CSV from the tool instead, or convert an XES log to CSV with one row per "
            "event (e.g. pm4py: pm4py.convert_to_dataframe(pm4py.read_xes(PATH)).to_csv(OUT, index=False)) "
            "and write a mapping with an update_log section (see pipelines/ingest/importers/README.md)")
    if suffixes & JSON or head[:1] in (b"{", b"["):
        raise MappingError(
            f"{path}: is JSON, not a CSV or Excel {role}. A tool's status history in JSON (audits, "
            "changelog, activities, actions) is read with --history next to the ticket export")
    binary = {b"PK\x03\x04": "a ZIP archive (an Excel workbook saved without its .xlsx name? rename it; "
                              "else unpack it)", b"%PDF": "a PDF document", b"PAR1": "a Parquet file",
              b"\xd0\xcf\x11\xe0": "an old Office file (an .xls saved without its name? rename it to .xls)"}
    for magic, what in binary.items():
        if head.startswith(magic) and path.suffix.lower() not in EXCEL:
            raise MappingError(f"{path}: is {what}, not a CSV or Excel {role}; export the tickets as CSV")


def read_history(path: Path, preset: Preset) -> tuple[pl.DataFrame, History, list[object]]:
    """A status-history file (JSON pages as the tool's API returns them, JSON Lines, or CSV) as
    text rows, the preset's shape it matches and the data-end values its pages state."""
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"--history {path}: file not found")
    head = _head(path)
    if head.startswith(b"<"):
        _refuse_other_formats(path, "status history")
    if head[:1] in (b"{", b"["):
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8-sig") as handle:
            text = handle.read()
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as whole:
            try:  # JSON Lines: one page per line
                doc = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError:
                raise MappingError(f"--history {path}: not valid JSON ({whole})") from None
        shape = history.pick_json_shape(doc, preset, str(path))
        frame, stated = history.flatten(history.pages_of(doc, shape), shape, path.name)
        return frame, shape, stated
    try:
        frame, _ = exports.read_csv_text(path, _read_options(preset))
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise MappingError(f"--history {path}: cannot be read as JSON or CSV ({exc})".replace("\n", " ")) from None
    known = {header_key(c): c for h in preset.history if h.format == "csv" for c in _csv_columns(h)}
    frame = frame.rename({c: known.get(header_key(c), c) for c in frame.columns})
    shape = history.pick_csv_shape(frame.columns, preset, str(path))
    frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(path.name).alias(SOURCE))
    return frame, shape, []


def _csv_columns(shape: History) -> list[str]:
    names = [shape.key, shape.at, shape.actor, shape.ticket_column]
    for spec in shape.fields().values():
        names += [spec.column, *spec.where]
    return [n for n in names if n]


def import_frames(
    frames: list[pl.DataFrame], preset: Preset, client_map: ClientMap, names: list[str],
    histories: list[tuple[pl.DataFrame, History, list[object]]] | None = None,
    history_names: list[str] | None = None,
) -> ImportResult:
    """Apply a preset to already-read export frames and status-history rows (pure;
    `import_files` does the I/O)."""
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
    done = [history.map_history(frame, shape, preset, mapped.rows) for frame, shape, _ in histories or []]
    if done:
        tables.events = history.merge_events(tables.events, done)
        for item in done:
            if item.derived.width > 2:
                tables.tickets, filled = fill_derived(tables.tickets, item.derived, history.TICKET)
                tables.notes.setdefault("derived_from_history", {}).update(filled)
        rejects = pl.concat([rejects, *[attach_raw(h.rejects, f) for h, (f, _, _) in zip(done, histories)]])
    report = _report(raw, frames, names, preset, client_map, mode, mapped, tables, rejects)
    if histories:
        report["files"] += [{"name": Path(n).name, "path": n, "role": "history", "shape": h.shape.name,
                             "rows": h.counts["rows"], "status_events": h.counts["status_events"]}
                            for n, h in zip(history_names or [f[0][SOURCE][0] for f in histories], done)]
        report["history"] = _history_report(done, histories, tables, preset)
        report["reject_reasons"] |= {r: engine.IMPORT_REJECT_REASONS[r] for r in report["history"]["rejected_by_reason"]}
        report["kpi_inputs"]["status_history"] = (
            f"status history for {report['history']['tickets_with_history']} tickets, "
            f"milestone timestamps for {report['history']['tickets_without_history']}")
        stated = [v for _, _, values in histories for v in values]
        if stated:
            report["extracted_at"] = _stated_time(stated, preset)
    report["warnings"] = _warnings(report)
    return ImportResult(tables=tables, rejects=rejects, report=report)


def import_files(
    files: list[Path], preset: str | Path, client_map: str | None, out: Path,
    contracts: Path | None = None, history_files: list[Path] | None = None,
) -> ImportResult:
    """`servicereview import`: export file(s) (+ status-history files) + preset + client map ->
    canonical raw tables in `out`. Raises NothingImported (after writing the report and the
    rejects) when no ticket could be used."""
    started = time.perf_counter()
    if not files:
        raise MappingError("no export file given")
    chosen = load_preset(preset)
    clients = load_client_map(client_map, chosen)
    if contracts and not Path(contracts).exists():
        raise MappingError(f"--contracts {contracts}: no such file or folder")
    frames = [read_export(Path(f), chosen) for f in files]
    histories = [read_history(Path(f), chosen) for f in history_files or []]
    result = import_frames(frames, chosen, clients, [str(f) for f in files], histories,
                           [str(f) for f in history_files or []])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    usable = result.tables.tickets.height > 0
    written = {"import_rejects": _write_csv(result.rejects, out / "import_rejects.csv", for_people=True)}
    tables = {"tickets": (result.tables.tickets, "tickets.csv"), "ticket_events": (result.tables.events, "ticket_events.csv"),
              "surveys": (result.tables.surveys, "surveys.csv"), "extras": (result.tables.extras, "extras.csv")}
    for name, (frame, filename) in tables.items():
        if usable and frame is not None and (frame.height or name in ("tickets", "ticket_events")):
            written[name] = _write_csv(frame, out / filename, for_people=name == "extras")
        elif (out / filename).exists():
            (out / filename).unlink()  # a stale table from an earlier import would be read by clean
    if contracts and usable:
        written["contracts"] = _copy_contracts(Path(contracts), out / "contracts")
    result.report["outputs"] = {k: str(v) for k, v in written.items()}
    result.report["seconds"] = round(time.perf_counter() - started, 3)
    io.write_json(result.report, out / "import_report.json")
    if not usable:
        raise NothingImported(_nothing_message(result.report, out), result)
    return result


def _nothing_message(report: dict, out: Path) -> str:
    reasons = "; ".join(f"{reason} x{n}" for reason, n in report["rejected_by_reason"].items()) or "no rows"
    example = report.get("reject_examples", {})
    first = next(iter(example.values()), None)
    shown = f" e.g. {first['source']} row {first['row']}: {first['detail']}." if first else ""
    return (f"nothing usable was imported: {report['rows_read']} rows read, 0 used, "
            f"{report['rows_rejected']} rejected ({reasons}).{shown} No tables were written; see "
            f"{out / 'import_rejects.csv'} and {out / 'import_report.json'}")


def _report(raw, frames, names, preset, client_map, mode, mapped, tables, rejects) -> dict:
    rows_read, rejected = raw.height, mapped.rejects.height
    used = mapped.rows.height
    own = rejects.filter(pl.col("table") == "tickets")
    if rows_read != used + rejected:  # a bug in the engine, never a data problem
        raise RuntimeError(f"import: {rows_read} rows read but {used} used + {rejected} rejected")
    by_reason = dict(sorted(own.group_by("reason").len().iter_rows())) if rejected else {}
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
        "files": [{"name": Path(n).name, "path": n, "role": "tickets", "rows": f.height}
                  for n, f in zip(names, frames)],
        "client_map": client_map.describe(),
        "rows_read": rows_read,
        "rows_used": used,
        "rows_rejected": rejected,
        "reconciliation": reconcile,
        "rejected_by_reason": by_reason,
        "reject_reasons": {r: engine.IMPORT_REJECT_REASONS[r] for r in by_reason},
        "reject_examples": _examples(own),
        "tickets": tables.tickets.height,
        "ticket_events": tables.events.height,
        "surveys": tables.surveys.height,
        "extras_columns": list(tables.extras.columns[2:]) if tables.extras is not None else [],
        "mapped_columns": mapped_columns,
        "fields_not_in_export": [f for f in preset.mapped_fields() if not any(
            s in present for s in preset.sources(f) + preset.template_columns().get(f, []))
            and f not in tables.notes.get("derived", {})],
        "unknown_columns": engine.unknown_columns(columns, preset),
        "ignored_columns": [c for c in preset.ignore if c in present],
        "unmapped_values": mapped.unmapped,
        "unmapped_policy": {k: v.unmapped for k, v in preset.values.items() if k in mapped.unmapped},
        "defaults_applied": {k: v for k, v in mapped.defaults_applied.items() if v},
        "kpi_inputs": _kpi_inputs(tables, mode),
        "notes": tables.notes,
    }


# the ticket fields KPIs need, beyond the required ones (see the importers README's table)
KPI_INPUTS = ("first_response_at", "source", "reassignment_count", "escalation_level", "provider_touches",
              "reopen_count", "fcr")


def _kpi_inputs(tables: Tables, mode: str) -> dict:
    """How many tickets carry each KPI input, and where the status history comes from."""
    tickets = tables.tickets
    out = {name: int(tickets[name].is_not_null().sum()) for name in KPI_INPUTS}
    out["status_history"] = "update log" if mode == engine.UPDATE_LOG else "milestone timestamps"
    out["surveys"] = tables.surveys.height
    return {"tickets": tickets.height, **out}


def _examples(rejects: pl.DataFrame) -> dict:
    """The first rejected row of each reason: file, row, detail."""
    if rejects.is_empty():
        return {}
    first = rejects.sort("source", "row").unique("reason", keep="first", maintain_order=True).sort("reason")
    return {r["reason"]: {"source": r["source"], "row": r["row"], "detail": r["detail"]}
            for r in first.iter_rows(named=True)}


def _history_report(done, histories, tables: Tables, preset: Preset) -> dict:
    """What the status history gave: rows read, change rows used / rejected, events, coverage."""
    counts = {k: sum(h.counts[k] for h in done) for k in ("rows", "not_changes", "changes", "used", "rejected")}
    own = pl.concat([h.rejects for h in done])
    with_history = pl.concat([h.events.select(history.TICKET) for h in done]).unique()
    unmapped: dict[str, int] = {}
    for item in done:
        for value, n in item.unmapped.items():
            unmapped[value] = unmapped.get(value, 0) + n
    return {
        "shapes": sorted({h.shape.name for h in done}),
        "rows_read": counts["rows"],
        "rows_not_status_or_assignment_changes": counts["not_changes"],
        "change_rows": counts["changes"],
        "change_rows_used": counts["used"],
        "change_rows_rejected": counts["rejected"],
        "reconciliation": (f"history rows read {counts['rows']} = {counts['not_changes']} other rows + "
                           f"{counts['changes']} change rows; change rows = {counts['used']} used + "
                           f"{counts['rejected']} rejected"),
        "rejected_by_reason": dict(sorted(own.group_by("reason").len().iter_rows())) if own.height else {},
        "reject_examples": _examples(own),
        "status_events": sum(h.counts["status_events"] for h in done),
        "tickets_with_history": with_history.height,
        "tickets_without_history": tables.tickets.height - with_history.join(
            tables.tickets.select(history.TICKET), on=history.TICKET, how="semi").height,
        "unmapped_statuses": unmapped,
        "unconfirmed_fields": sorted({f for h in done for f in h.shape.unconfirmed}),
        "agreement": waiting_agreement(tables.extras, done, preset),
    }


def _stated_time(values: list[object], preset: Preset) -> str | None:
    """The latest data-end time the history's pages state (unix seconds or text), in UTC."""
    times = []
    for value in values:
        text = str(value).strip()
        if text.isdigit():
            times.append(datetime.fromtimestamp(int(text), UTC))
            continue
        formats = [f for h in preset.history for f in h.date_formats] + preset.date_formats
        parsed, utc = engine.parse_timestamp(pl.lit(text), formats, True)
        stamp = pl.select(parsed).item()
        if stamp is not None:
            times.append(stamp.replace(tzinfo=UTC))
    return max(times).isoformat() if times else None


def _warnings(report: dict) -> list[str]:
    """What the user should look at before trusting the import."""
    out = []
    blocks = [("export", report["rows_read"], report["rows_rejected"], report["rejected_by_reason"],
               report["reject_examples"])]
    if "history" in report:
        h = report["history"]
        blocks.append(("status history", h["change_rows"], h["change_rows_rejected"], h["rejected_by_reason"],
                       h["reject_examples"]))
    for label, rows, rejected, reasons, examples in blocks:
        if rows and rejected / rows > REJECT_WARNING_SHARE:
            top = sorted(reasons.items(), key=lambda kv: -kv[1])[:3]
            example = examples[top[0][0]]
            out.append(
                f"{rejected} of {rows} {label} rows ({100 * rejected / rows:.1f}%) were rejected: "
                + ", ".join(f"{reason} x{n}" for reason, n in top)
                + f"; e.g. {example['source']} row {example['row']}: {example['detail']}")
    for what, item in report["notes"].get("timestamps_out_of_order", {}).items():
        out.append(f"{item['tickets']} ticket(s) have {what} (e.g. ticket {item['example']}: "
                   f"{item['values'][0]} > {item['values'][1]}): the export's own times disagree, or a "
                   "collapse rule takes the wrong row (see the preset's update_log.collapse)")
    return out


def _write_csv(frame: pl.DataFrame, path: Path, for_people: bool = False) -> Path:
    """A table for `clean` as it is, or a file for people (rejects, extras) with spreadsheet
    formulas neutralised (`clean` reads import_rejects.csv back through io.read_rejects_csv)."""
    frame = frame.select([c for c in frame.columns if not c.startswith("__")])
    return io.write_csv_for_people(frame, path) if for_people else io.write_csv(frame, path)


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
