"""`servicereview import-contacts`: a client's call log or sent mail -> `contacts.csv` in a data folder.

The only module of the contact importer that writes files. Rows are merged into the folder's
`contacts.csv`: a row with the same (client_id, contact_id) as one already there replaces it
(re-importing a file changes nothing), every other row is kept, so a client's phone log and
mailbox, and several clients, can be imported one after the other. `contacts_import.json`
records what each import read, kept and left out.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import polars as pl

from pipelines.core import io
from pipelines.core.contracts import CLIENT_ID_PATTERN
from pipelines.ingest.contacts import readers
from pipelines.ingest.contacts.readers import ContactImportError

MBOX = "mbox"
MBOX_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]
REPORT = "contacts_import.json"


def import_contacts(files: list[Path], source: str, client_id: str, provider: list[str], out: Path,
                    *, utc: bool = False) -> dict:
    """Read each file as `source` (a preset name or YAML, or `mbox`), keep the contacts with the
    provider (`provider`: its phone numbers, email addresses or @domains), merge them into
    `out/contacts.csv` and return the import report."""
    started = time.perf_counter()
    if not files:
        raise ContactImportError("no file given")
    if not re.fullmatch(CLIENT_ID_PATTERN, client_id or ""):
        raise ContactImportError(f"--client {client_id!r}: not a client id (letters, digits, - and _)")
    if not provider:
        raise ContactImportError("--provider is required: the provider's support phone number(s) or email "
                                 "address(es) / @domain, so calls and emails with others are left out")
    numbers, mail = readers.provider_parts(provider)
    preset = None if source == MBOX else readers.load_preset(source)
    kind = "mail" if preset is None else preset.kind
    if kind == "calls" and not numbers:
        raise ContactImportError(f"--from {source}: a call log needs the provider's phone number (--provider)")
    if kind == "mail" and not mail:
        raise ContactImportError(f"--from {source}: mail needs the provider's address or @domain (--provider)")
    parts, per_file = [], []
    for path in map(Path, files):
        label = path.stem
        if preset is None:
            rows = readers.mail_to_contacts(readers.read_mbox(path), MBOX_FORMATS, mail, utc, label)
        elif kind == "calls":
            rows = readers.calls_to_contacts(readers.read_csv_source(path, preset), preset, numbers, utc, label)
        else:
            rows = readers.mail_to_contacts(readers.read_csv_source(path, preset), preset.date_formats, mail,
                                            utc, label)
        kept = rows.filter(pl.col("direction").is_not_null())
        per_file.append({"path": str(path), "rows": rows.height, "kept": kept.height,
                         "outbound": kept.filter(pl.col("direction") == "outbound").height,
                         "inbound": kept.filter(pl.col("direction") == "inbound").height,
                         "not_with_provider": rows.height - kept.height})
        parts.append(kept)
    new = pl.concat(parts).with_columns(pl.lit(client_id).alias("client_id")).select(readers.TEXT_COLUMNS)
    new = new.unique(["client_id", "contact_id"], keep="last", maintain_order=True)
    out = Path(out)
    target = out / "contacts.csv"
    existing = (pl.read_csv(target, infer_schema=False) if target.exists()
                else pl.DataFrame(schema={c: pl.String for c in readers.TEXT_COLUMNS}))
    missing = [c for c in ("client_id", "contact_id") if c not in existing.columns]
    if missing:
        raise ContactImportError(f"{target}: no {missing[0]} column, so new contacts cannot be merged into it")
    existing = existing.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in readers.TEXT_COLUMNS
                                      if c not in existing.columns])
    kept_old = existing.join(new.select("client_id", "contact_id"), on=["client_id", "contact_id"], how="anti")
    merged = pl.concat([kept_old.select(readers.TEXT_COLUMNS), new]).sort("client_id", "at", "contact_id",
                                                                            nulls_last=True)
    io.write_csv(merged, target)
    report = {"source": source, "tool": "mbox (headers only)" if preset is None else preset.tool,
              "client_id": client_id, "provider": provider, "files": per_file,
              "rows_read": sum(f["rows"] for f in per_file), "contacts": new.height,
              "replaced": existing.height - kept_old.height, "not_with_provider":
              sum(f["not_with_provider"] for f in per_file), "contacts_in_file": merged.height,
              "seconds": round(time.perf_counter() - started, 3)}
    io.write_json(report, out / REPORT)
    return report
