"""Reading raw exports: a CSV or Parquet file as text columns with where each row came from.

Every column is read as text with the record number (`__row`) and file (`__source`), so
cleaning can quarantine a bad value together with where it came from. What cannot be read
as the table it claims to be is an `InputError` naming the file and what to do: text that
is not UTF-8 (unless its encoding is given), a separator that does not fit the header, a
Parquet column of the wrong type, a link to a file outside the data folder.
"""

from __future__ import annotations

import codecs
import gzip
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.core.io import NUL, RAW_SUFFIXES, ROW, SOURCE, InputError
from pipelines.core.limits import clip
from pipelines.core.schemas import COLUMN_ALIASES, TABLES

_SNIFF = 1 << 16  # bytes read to find the header line
_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class ReadOptions:
    """How to read raw CSV files: `encoding` for a file that is not UTF-8 (cp1252, latin-1, …;
    a UTF-8 file is read as UTF-8 whatever is declared), `separator` (None: read from the header)."""

    encoding: str | None = None
    separator: str | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise InputError(f"--encoding {clip(self.encoding)!r}: not an encoding Python knows "
                                 "(like cp1252, latin-1, utf-16)") from None
        if self.separator is not None and len(self.separator) != 1:
            raise InputError(f"--separator {clip(self.separator)!r}: give one character, like ';' or "
                             "'\\t'")


def inside(path: Path, root: Path) -> Path:
    """`path` itself, when it resolves inside `root`: a link to a file elsewhere (another
    client's export, a system file) is refused rather than read."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise InputError(f"{path}: is a link to {resolved}, outside the data folder {base}; "
                         "files outside --data are not read (copy the file into the folder)")
    return Path(path)


def find_table(folder: Path, table: str) -> Path | None:
    """The raw file for a table (`tickets.csv`, `.csv.gz` or `.parquet`), or None. A file that
    resolves outside `folder` (a link) is refused."""
    found = [folder / f"{table}{suffix}" for suffix in RAW_SUFFIXES if (folder / f"{table}{suffix}").exists()]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(f"{folder}: {table} is given twice ({names}); keep one file per table")
    return inside(found[0], folder) if found else None


def read_raw(path: Path, table: str, options: ReadOptions = ReadOptions()) -> pl.DataFrame:
    """A raw export as text columns plus its record number (`__row`) and file (`__source`).

    Column names are matched case-insensitively; known aliases are renamed; a missing required
    column, a Parquet column of the wrong type, text that is not in its encoding and a ragged
    row each fail naming the file and what was expected. `__nul` names the first column with a
    NUL byte in rows that have one (only when the file has any)."""
    spec = TABLES[table]
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            frame = _read_parquet(path, table)
        else:
            frame = _read_csv(path, table, options)
    except pl.exceptions.NoDataError:
        raise InputError(
            f"{path}: the file is empty (the {table} table needs a header row with "
            f"{', '.join(spec.required)})"
        ) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as {table} ({clip(exc)})".replace("\n", " ")) from None
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing required column {', '.join(repr(c) for c in missing)} "
            f"(the {table} table needs {', '.join(spec.required)})"
        )
    text = [c for c in frame.columns if c != NUL]
    frame = frame.with_columns(pl.col(text).str.strip_chars().replace("", None))
    return frame.with_row_index(ROW, offset=1).with_columns(
        pl.col(ROW).cast(pl.Int64), pl.lit(path.name).alias(SOURCE)
    )


def _read_csv(path: Path, table: str, options: ReadOptions) -> pl.DataFrame:
    frame, has_nul = read_csv_text(path, options, table)
    frame = _canonical_columns(frame, path, table)
    return frame.with_columns(_first_nul(frame.columns)) if has_nul else frame


def read_csv_text(path: Path, options: ReadOptions = ReadOptions(), table: str | None = None
                  ) -> tuple[pl.DataFrame, bool]:
    """A CSV file (or .csv.gz) as text columns, and whether it holds a NUL byte anywhere.

    UTF-8 (a BOM is fine; UTF-16 is read by its BOM); a file that is not valid UTF-8 is
    decoded with `options.encoding`, or refused saying where and what to do: characters are
    never replaced silently. The separator is `options.separator`, else the one that splits
    the header into the most of `table`'s column names (','). A ragged row or a header that
    is one column full of semicolons is an error naming the separator to use."""
    data: bytes | Path = path
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    head = data[:_SNIFF] if isinstance(data, bytes) else _head(path)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        data = _recode(data, "utf-16")
        head = data[:_SNIFF]
    separator = options.separator or (_sniff_separator(head, table) if table else ",")
    try:
        try:
            frame = pl.read_csv(data, infer_schema=False, separator=separator, encoding="utf8")
        except pl.exceptions.ComputeError as exc:
            if "invalid utf-8" not in str(exc):
                raise
            if not options.encoding:
                raise InputError(_not_utf8(path, data)) from None
            data = _recode(data, options.encoding)
            frame = pl.read_csv(data, infer_schema=False, separator=separator, encoding="utf8")
    except pl.exceptions.ComputeError as exc:
        if "more fields than defined" not in str(exc):
            raise
        raise InputError(_ragged(path, head, separator)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not {options.encoding} text either (byte {exc.start:,}); "
                         "check the export's encoding") from None
    if frame.width == 1 and (hint := _separator_hint(frame.columns[0], separator)):
        raise InputError(f"{path}: the header is one column{hint}")
    return frame, _has_nul(data)


def _read_parquet(path: Path, table: str) -> pl.DataFrame:
    frame = _canonical_columns(pl.read_parquet(path), path, table)
    spec = TABLES[table]
    exprs = []
    for name, dtype in frame.schema.items():
        clean = spec.columns.get(name)
        if clean is not None and not _parquet_fits(dtype, clean):
            raise InputError(f"{path}: column {name!r} is {_kind(dtype)}; expected {_kind(clean)} "
                             f"(the {table} table's {name}); check how the file was written")
        exprs.append(_as_text(name, dtype, clean))
    frame = frame.select(exprs)
    text = [c for c, t in frame.schema.items() if t == pl.String]
    if text and frame.select(pl.any_horizontal(pl.col(text).str.contains("\x00", literal=True)).any()).item():
        frame = frame.with_columns(_first_nul(text))
    return frame


def _parquet_fits(dtype: pl.DataType, clean: pl.DataType) -> bool:
    if dtype == pl.Null or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return True
    if isinstance(clean, pl.Datetime):
        return isinstance(dtype, pl.Datetime) or dtype == pl.Date
    if clean == pl.String:
        return dtype.is_integer()
    if clean == pl.Boolean:
        return dtype == pl.Boolean or dtype.is_integer()
    return dtype.is_numeric()  # counts and minutes


def _as_text(name: str, dtype: pl.DataType, clean: pl.DataType | None) -> pl.Expr:
    """A Parquet column as the text a CSV export would hold."""
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.f%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.f"
        return col.dt.to_string(fmt)
    if dtype == pl.Date:
        return col.dt.to_string("%Y-%m-%d")
    if dtype.is_float() and clean is not None and clean.is_integer():  # pandas writes int columns
        return pl.when(col == col.floor()).then(col.cast(pl.Int64, strict=False).cast(pl.String)) \
            .otherwise(col.cast(pl.String)).alias(name)  # with gaps as float: 2.0 is 2
    if dtype.is_nested() or dtype in (pl.Object, pl.Binary) or isinstance(dtype, pl.Duration | pl.Time):
        return pl.lit(f"<{_kind(dtype)}>").alias(name)  # an unknown column: reported and ignored
    return col.cast(pl.String)


def _kind(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return "a timestamp"
    if dtype == pl.String:
        return "text"
    if dtype.is_integer():
        return "a whole number"
    if dtype.is_numeric():
        return "a number"
    if dtype == pl.Boolean:
        return "true/false"
    return f"a {type(dtype).__name__.lower()} ({dtype})"[:120]


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(_SNIFF)


def _recode(data: bytes | Path, encoding: str) -> bytes:
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    return raw.decode(encoding).encode("utf-8")  # strict: an undecodable byte is an error


def _not_utf8(path: Path, data: bytes | Path) -> str:
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    try:
        raw.decode("utf-8")
        where = ""
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        before = raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start].decode("utf-8", "replace")[-60:]
        where = f" at line {line}, byte {exc.start:,} (after {before!r})"
    return (f"{path}: not UTF-8 text{where}. If the export is Windows-1252 (common in PSA exports) or "
            "Latin-1, give its encoding: --encoding cp1252 (or the preset's `encoding`); nothing is "
            "replaced silently")


def _sniff_separator(head: bytes, table: str) -> str:
    """The separator that splits the header into the most known column names (',' on a tie)."""
    line = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
    known = set(TABLES[table].columns) | set(COLUMN_ALIASES)

    def score(sep: str) -> int:
        return sum(_key(part.strip('"')) in known for part in line.split(sep))

    return max(_SEPARATORS, key=lambda sep: (score(sep), sep == ","))


def _ragged(path: Path, head: bytes, separator: str) -> str:
    line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    hint = _separator_hint(line, separator)
    return (f"{path}: a row has more fields than the header's {len(line.split(separator))} "
            f"(separated by {separator!r})"
            + (hint or "; a text field with the separator in it must be in double quotes"))


def _separator_hint(header: str, separator: str) -> str:
    for sep, name in _SEPARATORS.items():
        if sep != separator and header.count(sep) > header.count(separator):
            return f"; this file looks {name}-separated: use --separator {sep!r} (or the preset's `separator`)"
    return ""


def _has_nul(data: bytes | Path) -> bool:
    if isinstance(data, bytes):
        return b"\x00" in data
    with open(data, "rb") as handle:
        while chunk := handle.read(1 << 24):
            if b"\x00" in chunk:
                return True
    return False


def _first_nul(columns: list[str]) -> pl.Expr:
    """The first of `columns` whose value holds a NUL byte, per row (null for none)."""
    found = pl.lit(None, dtype=pl.String)
    for c in reversed([c for c in columns if c != NUL]):
        found = pl.when(pl.col(c).str.contains("\x00", literal=True)).then(pl.lit(c)).otherwise(found)
    return found.alias(NUL)


def _key(column: str) -> str:
    key = column.strip().lower().replace(" ", "_")
    return COLUMN_ALIASES.get(key, key)


def unknown_columns(frame: pl.DataFrame, table: str) -> list[str]:
    """Columns in a raw frame that the canonical table does not have (they are ignored)."""
    known = set(TABLES[table].columns) | {ROW, SOURCE, NUL}
    return [c for c in frame.columns if c not in known]


def _canonical_columns(frame: pl.DataFrame, path: Path, table: str) -> pl.DataFrame:
    known = set(TABLES[table].columns)
    renames: dict[str, str] = {}
    for column in frame.columns:
        key = column.strip().lower().replace(" ", "_")
        target = key if key in known else COLUMN_ALIASES.get(key, column)
        if target in renames.values():
            raise InputError(f"{path}: column {clip(column, 100)!r} duplicates {clip(target, 100)!r}")
        renames[column] = target
    return frame.rename(renames)
