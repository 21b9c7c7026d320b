"""Reading and writing tables: with `pipelines.core.exports` (raw exports as text), the only
modules that touch data files.

Clean and derived tables are Parquet with the schemas in `pipelines.core.schemas`; files are
written atomically, folders swapped in whole, and CSV files meant for people have spreadsheet
formulas neutralised.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.core.schemas import REJECTS_SCHEMA, TABLES

RAW_SUFFIXES = (".csv", ".csv.gz", ".parquet")
ROW = "__row"
SOURCE = "__source"
NUL = "__nul"  # in a raw frame: the first column of the row holding a NUL byte


class InputError(ValueError):
    """An input file that cannot be read as the table it claims to be."""


class WriteError(OSError):
    """A file that could not be written (the disk is full, the folder is read-only)."""


def _atomic(path: Path, write) -> Path:
    """Write through a temporary file next to `path`, then rename: a reader never sees half a file.

    The temporary file is created with open() (not mkstemp, whose 0600 mode would stick)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # name the file the user will look for, not the temporary one
        raise WriteError(exc.errno, exc.strerror or str(exc), str(path)) from None
    except pl.exceptions.PolarsError as exc:  # polars reports a full disk as its own error
        found = re.search(r"os error (\d+)", str(exc))
        if not found:
            raise
        number = int(found.group(1))
        raise WriteError(number, os.strerror(number), str(path)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


_STAGING = re.compile(r"^\.(.+\.(new|tmp|old)-\d+|tmp-.+-\d+|.+\.\d+\.tmp)$")


def sweep_staging(folders: list[Path]) -> list[Path]:
    """Remove what an interrupted run left in `folders`: staging folders (`.clean.new-<pid>`,
    `._site.tmp-<pid>`, `.tmp-<client>-<pid>`), backups of a swap (`.<name>.old-<pid>`) and
    half-written files (`.<name>.<pid>.tmp`). Only under the run lock: then no one else writes."""
    removed = []
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for entry in sorted(Path(folder).iterdir()):
            if _STAGING.match(entry.name):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def describe_os_error(exc: OSError) -> str:
    """An OSError in words for the user: which file, what went wrong and what to do."""
    where = f"{exc.filename}: " if exc.filename else ""
    text = f"{'cannot write ' if isinstance(exc, WriteError) else ''}{where}{exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        text += " (the disk is full or a file size limit is reached: free some space and run again)"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
        text += (" (that folder cannot be written: check its permissions, or set SERVICEREVIEW_HOME to a "
                 "writable folder)")
    return text



def write_table(frame: pl.DataFrame, path: Path, row_group_size: int | None = None) -> Path:
    """Write Parquet atomically (`row_group_size` rows per row group; default: polars')."""
    return _atomic(path, lambda tmp: frame.write_parquet(tmp, row_group_size=row_group_size))


def write_part(frame: pl.DataFrame, path: Path) -> Path:
    """A part of a table that `merge_sorted_parts` or `concat_parts` put together: Arrow IPC,
    uncompressed (a fifth of the CPU time of Parquet to write, and read back mapped)."""
    return _atomic(path, lambda tmp: frame.write_ipc(tmp, compression="uncompressed"))


def merge_sorted_parts(parts: list[Path], path: Path, by: list[str], window: int,
                       drop: tuple[str, ...] = ()) -> Path:
    """Merge parts (`write_part`), each sorted by `by` (the first an integer or timestamp
    column), into one Parquet file sorted by `by`, atomically, without holding them all in memory.

    The output is built in windows of about `window` rows (a range of the first key): a
    window's rows are one contiguous slice of each part, so each part is read once and only
    a window is sorted at a time; parts that follow one another (each one's keys after the
    last one's) are only put one after another. `drop` columns are left out of the output."""
    key = by[0]
    keys = [pl.read_ipc(p, columns=[key])[key].to_physical().to_numpy() for p in parts]
    given = [k for k in keys if len(k)]
    if all(a[-1] < b[0] for a, b in zip(given, given[1:])):
        return concat_parts(parts, path, drop)
    merged = np.sort(np.concatenate(keys)) if keys else np.empty(0, np.int64)
    bounds = np.unique(merged[::max(window, 1)]).tolist() + [None]  # None: past the last key
    windows = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        pieces = []
        for part, k in zip(parts, keys, strict=True):
            a = int(np.searchsorted(k, lo, side="left"))
            b = len(k) if hi is None else int(np.searchsorted(k, hi, side="left"))
            if b > a:
                pieces.append(pl.scan_ipc(part).slice(a, b - a))
        windows.append(pl.concat(pieces).sort(by, maintain_order=True).drop(list(drop)))
    if not windows:  # no rows at all: the parts' (empty) schema
        windows = [pl.scan_ipc(parts[0]).drop(list(drop))]
    return _atomic(path, lambda tmp: pl.concat(windows).sink_parquet(tmp))


def concat_parts(parts: list[Path], path: Path, drop: tuple[str, ...] = ()) -> Path:
    """Parts (`write_part`) one after another in one Parquet file, atomically, without holding
    them in memory; `drop` columns left out."""
    return _atomic(path, lambda tmp: pl.concat([pl.scan_ipc(p).drop(list(drop)) for p in parts]).sink_parquet(tmp))


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """Write CSV atomically, LF line endings (stable bytes for committed files)."""
    return _atomic(path, lambda tmp: frame.write_csv(tmp, line_terminator="\n"))


_FORMULA_START = r"^[=+\-@\t\r']"  # what a spreadsheet runs as a formula (OWASP), and the quote itself
_NUMBER = r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$"


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
    return) prefixed with a single quote, as OWASP advises for CSV files people open; a number
    such as -5 or +1.5 is kept as it is. A cell that starts with a quote gets one more, so
    `unneutralised` gives back every value exactly. Only for files written for people."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START) & ~pl.col(c).str.contains(_NUMBER))
        .then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def unneutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """The values `neutralised` was given (one leading quote taken off the text cells that have one)."""
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.starts_with("'")).then(pl.col(c).str.slice(1)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def write_csv_for_people(frame: pl.DataFrame, path: Path) -> Path:
    """Write a CSV meant to be opened in a spreadsheet (rejects, ticket lists): formulas
    neutralised (`neutralised`) and every text cell quoted."""
    return _atomic(path, lambda tmp: neutralised(frame).write_csv(tmp, line_terminator="\n",
                                                                   quote_style="non_numeric"))


def csv_for_people(frame: pl.DataFrame) -> str:
    """CSV text for people, who open it in a spreadsheet (the per-figure ticket lists): formulas
    neutralised (`neutralised`), numbers left as numbers."""
    return neutralised(frame).write_csv(line_terminator="\n", quote_style="non_numeric")


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


def write_pickle(data: object, path: Path) -> Path:
    """Pickle `data` atomically: what a worker process of this run hands its parent (never kept).
    Polars frames in it travel as Arrow IPC at polars' own format level (5x faster than their
    default pickling, which converts every string column)."""
    def dump(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            _FramePickler(handle, protocol=pickle.HIGHEST_PROTOCOL).dump(data)

    return _atomic(path, dump)


class _FramePickler(pickle.Pickler):
    def reducer_override(self, obj: object) -> object:
        if type(obj) is pl.DataFrame:
            buffer = BytesIO()
            obj.write_ipc(buffer, compression="uncompressed", compat_level=pl.CompatLevel.newest())
            return _frame_from_ipc, (buffer.getvalue(),)
        return NotImplemented


def _frame_from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(BytesIO(data))


def read_pickle(path: Path) -> object:
    """Load what `write_pickle` wrote (only ever this run's own scratch files)."""
    return pickle.loads(Path(path).read_bytes())  # noqa: S301 - written by this run's own worker


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
    frame = unneutralised(pl.read_csv(path, infer_schema=False))  # written by write_csv_for_people
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


def copy_contracts(source: Path, target: Path, rewritten: dict[str, str] | None = None) -> None:
    """Copy the contract files next to the clean tables, replacing any older set. Each copy is
    `<client_id>.yml` whether the file was .yml or .yaml (later stages look for that name);
    `rewritten` gives the text of a client's copy instead (a contract completed by clean)."""
    rewritten = rewritten or {}
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in sorted([*source.glob("*.yml"), *source.glob("*.yaml")]):
        copy = target / f"{path.stem}.yml"
        if path.stem in rewritten:
            write_text(copy, rewritten[path.stem])
        else:
            shutil.copy2(path, copy)


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
