"""Reading and writing tables: the only module that touches data files.

Raw exports are read with every column as text and a record number, so that
cleaning can quarantine a bad value together with where it came from. Clean and
derived tables are Parquet with the schemas in `pipelines.core.schemas`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.core.schemas import COLUMN_ALIASES, REJECTS_SCHEMA, TABLES

RAW_SUFFIXES = (".csv", ".csv.gz", ".parquet")
ROW = "__row"
SOURCE = "__source"


class InputError(ValueError):
    """An input file that cannot be read as the table it claims to be."""


def find_table(folder: Path, table: str) -> Path | None:
    """The raw file for a table (`tickets.csv`, `.csv.gz` or `.parquet`), or None."""
    found = [folder / f"{table}{suffix}" for suffix in RAW_SUFFIXES if (folder / f"{table}{suffix}").exists()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(f"{folder}: {table} is given twice ({names}); keep one file per table")
    return found[0] if found else None


def read_raw(path: Path, table: str) -> pl.DataFrame:
    """A raw export as text columns plus its record number (`__row`) and file (`__source`).

    Column names are matched case-insensitively; known aliases are renamed; a
    missing required column fails naming the file and the column.
    """
    spec = TABLES[table]
    try:
        if path.suffix == ".parquet":
            frame = _parquet_as_text(pl.read_parquet(path))
        else:
            frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.NoDataError:
        raise InputError(
            f"{path}: the file is empty (the {table} table needs a header row with "
            f"{', '.join(spec.required)})"
        ) from None
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {table} ({exc})") from None
    frame = _canonical_columns(frame, path, table)
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing required column {', '.join(repr(c) for c in missing)} "
            f"(the {table} table needs {', '.join(spec.required)})"
        )
    frame = frame.with_columns(pl.all().str.strip_chars().replace("", None))
    return frame.with_row_index(ROW, offset=1).with_columns(
        pl.col(ROW).cast(pl.Int64), pl.lit(path.name).alias(SOURCE)
    )


def unknown_columns(frame: pl.DataFrame, table: str) -> list[str]:
    """Columns in a raw frame that the canonical table does not have (they are ignored)."""
    known = set(TABLES[table].columns) | {ROW, SOURCE}
    return [c for c in frame.columns if c not in known]


def _canonical_columns(frame: pl.DataFrame, path: Path, table: str) -> pl.DataFrame:
    known = set(TABLES[table].columns)
    renames: dict[str, str] = {}
    for column in frame.columns:
        key = column.strip().lower().replace(" ", "_")
        target = key if key in known else COLUMN_ALIASES.get(key, column)
        if target in renames.values():
            raise InputError(f"{path}: column {column!r} duplicates {target!r}")
        renames[column] = target
    return frame.rename(renames)


def _parquet_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%dT%H:%M:%S%.f%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.f"
            exprs.append(pl.col(name).dt.to_string(fmt))
        else:
            exprs.append(pl.col(name).cast(pl.String))
    return frame.select(exprs)


def _atomic(path: Path, write) -> Path:
    """Write through a temporary file next to `path`, then rename: a reader never sees half a file.

    The temporary file is created with open() (not mkstemp, whose 0600 mode would stick)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_table(frame: pl.DataFrame, path: Path, row_group_size: int | None = None) -> Path:
    """Write Parquet atomically (`row_group_size` rows per row group; default: polars')."""
    return _atomic(path, lambda tmp: frame.write_parquet(tmp, row_group_size=row_group_size))


def merge_sorted_parts(parts: list[Path], path: Path, by: list[str], window: int,
                       drop: tuple[str, ...] = ()) -> Path:
    """Merge Parquet parts, each sorted by `by` (the first an integer or timestamp column), into
    one file sorted by `by`, atomically, without holding them all in memory.

    The output is built in windows of about `window` rows (a range of the first key): a
    window's rows are one contiguous slice of each part, so each part is read once and only
    a window is sorted at a time. `drop` columns are left out of the output."""
    key = by[0]
    keys = [pl.read_parquet(p, columns=[key])[key].to_physical().to_numpy() for p in parts]
    merged = np.sort(np.concatenate(keys)) if keys else np.empty(0, np.int64)
    bounds = np.unique(merged[::max(window, 1)]).tolist() + [None]  # None: past the last key
    windows = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        pieces = []
        for part, k in zip(parts, keys, strict=True):
            a = int(np.searchsorted(k, lo, side="left"))
            b = len(k) if hi is None else int(np.searchsorted(k, hi, side="left"))
            if b > a:
                pieces.append(pl.scan_parquet(part).slice(a, b - a))
        windows.append(pl.concat(pieces).sort(by, maintain_order=True).drop(list(drop)))
    if not windows:  # no rows at all: the parts' (empty) schema
        windows = [pl.scan_parquet(parts[0]).drop(list(drop))]
    return _atomic(path, lambda tmp: pl.concat(windows).sink_parquet(tmp))


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """Write CSV atomically, LF line endings (stable bytes for committed files)."""
    return _atomic(path, lambda tmp: frame.write_csv(tmp, line_terminator="\n"))


_FORMULA = r"^[=+\-@\t\r]"  # what makes a spreadsheet read a cell as a formula


def csv_for_people(frame: pl.DataFrame) -> str:
    """CSV text for people, who open it in a spreadsheet: a text cell that would start a formula
    (=, +, -, @, tab, carriage return) gets a leading apostrophe, so a ticket title such as
    `=HYPERLINK(...)` shows as text and never runs (OWASP's advice on CSV injection). Numbers
    are left as numbers. Every CSV written for people goes through here."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    safe = frame.with_columns(pl.when(pl.col(c).str.contains(_FORMULA)).then(pl.lit("'") + pl.col(c))
                              .otherwise(pl.col(c)).alias(c) for c in text)
    return safe.write_csv(line_terminator="\n")


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically, UTF-8 with LF line endings."""
    return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def write_json(data: object, path: Path) -> Path:
    """Write JSON atomically, pretty and with stable key order."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_model(model: object, path: Path) -> Path:
    """Write a fitted model atomically with joblib (internal build artefacts only)."""
    import joblib  # comes with scikit-learn; kept out of notebook kernels' imports

    return _atomic(path, lambda tmp: joblib.dump(model, tmp, compress=3))


def read_model(path: Path) -> object:
    """Load a model written by `write_model` (only ever from this project's own build folder)."""
    import joblib

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run `servicereview metrics` first)")
    return joblib.load(path)


def read_json(path: Path) -> dict:
    """Read a JSON file written by `write_json` (a summary or a validation result)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def digest(*parts: bytes | str) -> str:
    """sha256 over the given parts (length-prefixed, so boundaries count): content hashes."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def swap_in(staging: Path, target: Path) -> None:
    """Replace the folder `target` by `staging` with two renames: never half a folder."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)  # left by an interrupted swap under a reused pid
    if target.exists():
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if old.exists():  # put the previous folder back rather than leave none
            old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_rejects_csv(path: Path) -> pl.DataFrame:
    """A rejects table written as CSV (the importer's import_rejects.csv); empty when absent."""
    if not Path(path).exists():
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    frame = pl.read_csv(path, infer_schema=False)
    missing = [c for c in REJECTS_SCHEMA if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column {', '.join(missing)} (a rejects file has {', '.join(REJECTS_SCHEMA)})")
    return frame.select(list(REJECTS_SCHEMA)).cast(REJECTS_SCHEMA)


@contextmanager
def scratch_folder(path: Path) -> Iterator[Path]:
    """A fresh folder for intermediate files, removed afterwards whatever happens."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def read_table(folder: Path, table: str, columns: list[str] | None = None,
               client_id: str | list[str] | None = None, row_index: str | None = None) -> pl.DataFrame:
    """A table from `folder/<table>.parquet`; an empty frame of the right schema if absent.

    `columns` reads only those columns and `client_id` only that client's rows, or those
    clients' rows when it is a list (both pushed down into the Parquet reader: large tables
    cost less memory and time). A requested canonical column that a file written before it
    existed lacks is read as nulls. `row_index` adds each row's position in the file (Int64)."""
    path = Path(folder) / f"{table}.parquet"
    schema = REJECTS_SCHEMA if table == "rejects" else TABLES[table].columns if table in TABLES else {}
    if not path.exists():
        schema = {c: schema[c] for c in columns} if columns else dict(schema)
        return pl.DataFrame(schema=schema | ({row_index: pl.Int64} if row_index else {}))
    scan = pl.scan_parquet(path, row_index_name=row_index)
    if row_index:
        scan = scan.with_columns(pl.col(row_index).cast(pl.Int64))
    names = scan.collect_schema().names()
    if client_id is not None:
        if "client_id" not in names:
            raise InputError(f"{path}: no client_id column (clean tables carry each row's client)")
        wanted = pl.col("client_id")
        scan = scan.filter(wanted == client_id if isinstance(client_id, str) else wanted.is_in(client_id))
    if columns:
        scan = scan.select(([pl.col(row_index)] if row_index else [])
                           + [pl.col(c) if c in names or c not in schema else pl.lit(None, schema[c]).alias(c)
                              for c in columns])
    return scan.collect()


def scan_table(folder: Path, table: str) -> pl.LazyFrame | None:
    """A lazy scan of `folder/<table>.parquet` (None when absent): for passes over a table
    too large to read whole, such as counting rows per client."""
    path = Path(folder) / f"{table}.parquet"
    return pl.scan_parquet(path) if path.exists() else None


def copy_contracts(source: Path, target: Path) -> None:
    """Copy the contract files next to the clean tables, replacing any older set."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.y*ml")):
        shutil.copy2(path, target / path.name)


def missing_clean_tables(clean_dir: Path) -> set[str]:
    """The canonical tables a clean folder does not have (the export did not provide them);
    a folder without tickets is an error."""
    clean_dir = Path(clean_dir)
    if not (clean_dir / "tickets.parquet").exists():
        raise InputError(f"{clean_dir}: no tickets.parquet (run `servicereview clean` first)")
    summary = clean_dir / "clean_summary.json"
    missing = set(read_json(summary).get("missing_tables", [])) if summary.exists() else set()
    return missing | {name for name in TABLES if not (clean_dir / f"{name}.parquet").exists()}


def read_clean(clean_dir: Path, client_id: str | list[str] | None = None,
               columns: dict[str, list[str]] | None = None,
               row_index: dict[str, str] | None = None) -> dict[str, pl.DataFrame | None]:
    """Every canonical table of a clean folder, None for a table the export did not provide.

    `client_id` reads only that client's (or those clients') rows and `columns` only those
    columns of a table (both pushed down into the Parquet reader); `row_index` adds, per
    table, a column with each row's position in the file. A folder without tickets is an error."""
    missing = missing_clean_tables(clean_dir)
    return {
        name: None if name in missing
        else read_table(clean_dir, name, (columns or {}).get(name), client_id, (row_index or {}).get(name))
        for name in TABLES
    }
