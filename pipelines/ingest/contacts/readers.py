"""Reading what clients actually keep of their calls and emails into contact rows.

Three sources, one output shape (the canonical `contacts` columns, as text):
- a phone system's call detail records, through a preset (`presets/*.yml`: `asterisk` for the
  cdr_csv Master.csv, `call-log` for a CSV with a header, or a user's own YAML of the same form);
- sent mail exported as CSV (the `sent-mail` preset);
- a mailbox file (`.mbox`), read with the standard library, headers only (no body is read).

Only contacts with the provider are kept: a call to one of its numbers or an email to one of its
addresses is `outbound` (the client's request), one from them `inbound`; anything else is
counted as not with the provider and left out. Times are passed on as ISO text without an
offset when the source has none (cleaning reads them in the client's time zone), so a value no
format reads reaches cleaning as it was and is rejected there with its reason.
"""

from __future__ import annotations

import mailbox
import re
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.core.io import InputError

PRESETS_DIR = Path(__file__).parent / "presets"
TEXT_COLUMNS = ("client_id", "contact_id", "at", "channel", "direction", "requester", "subject",
                "ticket_ref")
CALL_FIELDS = ("at", "caller", "caller_name", "callee", "duration", "call_id")
MAIL_FIELDS = ("at", "from", "to", "cc", "subject", "message_id")
# A ticket number in a subject: "[HD-12345]", "Ticket #12345", "Case: INC0012345", "#12345".
TICKET_REF = (r"\[#?([A-Za-z]{0,8}-?\d{3,})\]|(?i:ticket|case|incident|request)\s*(?i:no\.?|number)?"
              r"\s*[:#]?\s*#?([A-Za-z]{0,8}-?\d{3,})\b|(?:^|\s)#(\d{3,})\b")


class ContactImportError(InputError):
    """A contact source that cannot be read; the message names the file and what to fix."""


class ContactPreset(BaseModel):
    """A call-log or sent-mail CSV format: which columns hold which field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    tool: str
    kind: Literal["calls", "mail"]
    header: bool = True
    column_order: list[str] = Field(default_factory=list)  # the columns of a file without a header
    separator: str = Field(",", min_length=1, max_length=1)
    fields: dict[str, list[str]]  # field -> candidate column names (case-insensitive), first found wins
    date_formats: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> ContactPreset:
        allowed = CALL_FIELDS if self.kind == "calls" else MAIL_FIELDS
        unknown = sorted(set(self.fields) - set(allowed))
        if unknown:
            raise ValueError(f"fields: {', '.join(unknown)} not one of {', '.join(allowed)}")
        if "at" not in self.fields:
            raise ValueError("fields: 'at' (the time of the call or email) is required")
        if not self.header and not self.column_order:
            raise ValueError("column_order: required when the file has no header row")
        return self


def available_presets() -> list[str]:
    """Names of the shipped contact presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yml"))


def load_preset(spec: str | Path) -> ContactPreset:
    """A shipped preset by name, or a user's YAML file of the same form."""
    path = Path(spec)
    if path.suffix not in {".yml", ".yaml"}:
        path = PRESETS_DIR / f"{spec}.yml"
        if not path.exists():
            raise ContactImportError(f"--from {spec!r}: no such contact source (one of mbox, "
                                     f"{', '.join(available_presets())}, or a preset YAML file)")
    try:
        return ContactPreset.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ContactImportError(f"{path}: file not found") from None
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
                 f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ContactImportError("\n".join(lines)) from None


# ---------------------------------------------------------------- the provider


def digits(text: pl.Expr) -> pl.Expr:
    return text.str.replace_all(r"\D", "")


def provider_parts(provider: list[str]) -> tuple[list[str], list[str]]:
    """--provider values as phone numbers (digits) and email addresses or @domains (lower case)."""
    numbers = [re.sub(r"\D", "", p) for p in provider if "@" not in p]
    mail = [p.strip().lower() for p in provider if "@" in p]
    bad = [p for p, n in zip([p for p in provider if "@" not in p], numbers) if len(n) < 3]
    if bad:
        raise ContactImportError(f"--provider {bad[0]!r}: not a phone number or an email address")
    return numbers, mail


def _is_number(column: pl.Expr, numbers: list[str]) -> pl.Expr:
    """The same number: equal digits, or the shorter is the end of the longer and has at least 7
    digits (+44 20 7946 0000 and 020 7946 0000; an internal extension must match exactly)."""
    d = digits(column)
    hit = pl.lit(False)
    for n in numbers:
        hit = hit | (d == n)
        if len(n) >= 7:
            hit = hit | (d.str.ends_with(n))
        hit = hit | ((d.str.len_chars() >= 7) & pl.lit(n).str.ends_with(d))
    return hit.fill_null(False)


def _has_address(column: pl.Expr, mail: list[str]) -> pl.Expr:
    addresses = column.str.to_lowercase()
    hit = pl.lit(False)
    for a in mail:
        hit = hit | (addresses.str.contains(re.escape(a) + (r"\b" if a.startswith("@") else ""), literal=False))
    return hit.fill_null(False)


# ---------------------------------------------------------------- CSV sources


def read_csv_source(path: Path, preset: ContactPreset) -> pl.DataFrame:
    """One call log or sent-mail CSV as text columns named by the preset's fields, plus `__row`."""
    try:
        frame = pl.read_csv(path, infer_schema=False, has_header=preset.header, separator=preset.separator,
                            encoding="utf8-lossy", raise_if_empty=True, truncate_ragged_lines=True)
    except FileNotFoundError:
        raise ContactImportError(f"{path}: file not found") from None
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as exc:
        raise ContactImportError(f"{path}: cannot be read as a {preset.tool} CSV ({exc})".replace("\n", " ")) from None
    if not preset.header:
        names = preset.column_order[:frame.width] + [f"extra_{i}" for i in range(frame.width - len(preset.column_order))]
        frame = frame.rename(dict(zip(frame.columns, names)))
    by_key = {c.strip().lower(): c for c in frame.columns}
    picked = {}
    for field, candidates in preset.fields.items():
        found = next((by_key[c.lower()] for c in candidates if c.lower() in by_key), None)
        if found:
            picked[field] = pl.col(found).str.strip_chars().replace("", None)
    if "at" not in picked:
        raise ContactImportError(f"{path}: no column for the time of the {'call' if preset.kind == 'calls' else 'email'} "
                                 f"(expected one of {', '.join(preset.fields['at'])})")
    fields = CALL_FIELDS if preset.kind == "calls" else MAIL_FIELDS
    return frame.select(*[picked.get(f, pl.lit(None, dtype=pl.String)).alias(f) for f in fields],
                        pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("__row"))


def iso_time(column: str, formats: list[str], utc: bool = False) -> pl.Expr:
    """Text in any of `formats` -> ISO 8601 text (with the offset when the source has one, 'Z'
    with `utc`); a value no format reads is passed on as it was (cleaning rejects it)."""
    text = pl.col(column).str.strip_chars()
    parts = []
    for f in formats:
        if "%z" in f:
            parts.append(text.str.to_datetime(f, strict=False).dt.convert_time_zone("UTC")
                         .dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        else:
            parts.append(text.str.to_datetime(f, strict=False).dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ" if utc else "%Y-%m-%dT%H:%M:%S"))
    return pl.coalesce(*parts, text)


def calls_to_contacts(frame: pl.DataFrame, preset: ContactPreset, numbers: list[str], utc: bool,
                      label: str) -> pl.DataFrame:
    """Call rows -> contact rows: calls to the provider are outbound, from it inbound."""
    to_provider, from_provider = _is_number(pl.col("callee"), numbers), _is_number(pl.col("caller"), numbers)
    direction = pl.when(to_provider).then(pl.lit("outbound")).when(from_provider).then(pl.lit("inbound"))
    name = pl.col("caller_name").str.replace(r'^\s*"?([^"<]*?)"?\s*<[^>]*>\s*$', "$1").str.strip_chars()
    name = pl.when(name.str.contains(r"[A-Za-z]")).then(name)  # a caller id that is only a number is no name
    return frame.select(
        pl.coalesce(pl.col("call_id"), pl.format("{}:{}", pl.lit(label), pl.col("__row"))).alias("contact_id"),
        iso_time("at", preset.date_formats, utc).alias("at"),
        pl.lit("phone").alias("channel"),
        direction.alias("direction"),
        pl.when(direction == "inbound").then(pl.col("callee")).otherwise(pl.coalesce(name, pl.col("caller")))
        .alias("requester"),
        pl.lit(None, dtype=pl.String).alias("subject"),
        pl.lit(None, dtype=pl.String).alias("ticket_ref"),
    )


def mail_to_contacts(frame: pl.DataFrame, formats: list[str], mail: list[str], utc: bool, label: str,
                     ref_pattern: str = TICKET_REF) -> pl.DataFrame:
    """Email rows (at, from, to, cc, subject, message_id) -> contact rows: mail to the provider's
    addresses is outbound, mail from them inbound; a ticket number in the subject is its ticket_ref."""
    recipients = pl.concat_str([pl.col("to").fill_null(""), pl.col("cc").fill_null("")], separator=",")
    direction = (pl.when(_has_address(recipients, mail)).then(pl.lit("outbound"))
                 .when(_has_address(pl.col("from"), mail)).then(pl.lit("inbound")))
    sender = pl.col("from").str.replace(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$', "$1|$2")
    requester = pl.when(sender.str.contains(r"^[^|]+\|")).then(sender.str.extract(r"^([^|]+)\|"))\
        .otherwise(sender.str.replace(r"^.*\|", "")).str.strip_chars()
    ref = pl.col("subject").str.extract_groups(ref_pattern)
    return frame.select(
        pl.coalesce(pl.col("message_id").str.strip_chars("<> "), pl.format("{}:{}", pl.lit(label), pl.col("__row")))
        .alias("contact_id"),
        iso_time("at", formats, utc).alias("at"),
        pl.lit("email").alias("channel"),
        direction.alias("direction"),
        pl.when(direction == "inbound").then(pl.col("to")).otherwise(requester).alias("requester"),
        pl.col("subject"),
        pl.coalesce([ref.struct.field(str(i)) for i in range(1, re.compile(ref_pattern).groups + 1)])
        .str.to_uppercase().alias("ticket_ref"),
    )


# ---------------------------------------------------------------- mbox


def read_mbox(path: Path) -> pl.DataFrame:
    """A mailbox file's messages as (at, from, to, cc, subject, message_id, __row): headers only,
    encoded words decoded; the Date header as ISO 8601 with its offset (as it was if unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise ContactImportError(f"{path}: file not found (expected an mbox file)")
    box = mailbox.mbox(path, create=False)
    parser = BytesHeaderParser()
    rows = []
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            with box.get_file(key) as handle:
                headers = parser.parse(handle)
            rows.append({"at": _date(headers.get("Date")), "from": _text(headers.get("From")),
                         "to": _addresses(headers.get_all("To")), "cc": _addresses(headers.get_all("Cc")),
                         "subject": _text(headers.get("Subject")), "message_id": _text(headers.get("Message-ID")),
                         "__row": number})
    finally:
        box.close()
    if not rows and path.stat().st_size and not path.read_bytes()[:5] == b"From ":
        raise ContactImportError(f"{path}: not an mbox file (it does not start with a 'From ' line)")
    return pl.DataFrame(rows, schema={**{f: pl.String for f in MAIL_FIELDS}, "__row": pl.Int64})


def _text(value) -> str | None:
    if value is None:
        return None
    try:
        return str(make_header(decode_header(str(value)))).strip() or None
    except (ValueError, LookupError):
        return str(value).strip() or None


def _addresses(values) -> str | None:
    if not values:
        return None
    pairs = getaddresses([_text(v) or "" for v in values])
    return ", ".join(f"{n} <{a}>" if n else a for n, a in pairs if a) or None


def _date(value) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return text
    return moment.isoformat() if moment.tzinfo else moment.replace(tzinfo=None).isoformat()
