"""Writing the sample's tables and contracts as a data folder (`<table>.csv|parquet`, contracts/)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import io
from pipelines.core.contracts import Contract, contract_to_yaml


def write_frames(frames: dict[str, pl.DataFrame], out: Path, fmt: str = "csv") -> list[Path]:
    """Write each raw table as `<name>.csv` (LF, header) or typed `<name>.parquet`,
    removing the other format's file so a folder never holds a table twice."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        for suffix in io.RAW_SUFFIXES:
            stale = out / f"{name}{suffix}"
            if suffix != f".{fmt}" and stale.exists():
                stale.unlink()
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            io.write_table(frame, path)
        else:
            io.write_csv(frame, path)
        written.append(path)
    return written


def write_contracts(contracts: dict[str, Contract], folder: Path) -> list[Path]:
    """One `<client_id>.yml` per contract; older sample contracts in the folder are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in sorted(folder.glob("*.yml")):
        if stale.stem not in contracts:
            stale.unlink()
    return [
        io.write_text(folder / f"{cid}.yml", contract_to_yaml(k))
        for cid, k in sorted(contracts.items())
    ]
