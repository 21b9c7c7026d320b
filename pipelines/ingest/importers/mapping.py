"""The mapping model: a preset says how one tool's export becomes the canonical tables.

A preset is a small YAML file (see `presets/*.yml` and README.md in this folder):
source columns -> canonical fields, value maps, date formats, null markers,
boolean spellings, the client column, how to derive status events from an
update log (or from milestone timestamps), how to collapse several rows per
ticket, and `extras` passed through to a side file. Users can write their own
file and pass its path to `servicereview import --from`.

Loading is strict: an unknown key or canonical field fails naming the file and
the field, so a typo never silently drops a column.
"""

from __future__ import annotations

import codecs

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from pipelines.core.contracts import CLIENT_ID_PATTERN
from pipelines.core.limits import MAX_ERRORS, read_yaml_file
from pipelines.core.io import InputError
from pipelines.core.schemas import TICKETS
from pipelines.ingest.importers.preset_parts import Agreement, Derive, History, _Model

PRESETS_DIR = Path(__file__).parent / "presets"

# Canonical fields a source column can feed: every raw ticket column (client_id
# comes from --client-map, priority_raw is derived by clean) plus the survey fields.
TICKET_FIELDS = tuple(c for c in TICKETS.columns if c not in {"client_id", "priority_raw"})
SURVEY_FIELDS = ("responded_at", "rating", "comment")
FIELDS = TICKET_FIELDS + SURVEY_FIELDS
TIMESTAMP_FIELDS = ("created_at", "first_response_at", "resolved_at", "closed_at", "responded_at")
BOOLEAN_FIELDS = ("fcr",)
DEFAULT_REQUIRED = ("ticket_id", "created_at", "priority")


class MappingError(InputError):
    """A preset, client map or export that cannot be used; the message says what to fix."""


def header_key(name: str) -> str:
    """How column names are matched: case-insensitive, trimmed, single spaces, and
    without a leading `[required]` marker (Autotask import-format exports) or a BOM."""
    text = name.replace("\ufeff", "").strip()
    text = re.sub(r"^\[required\]\s*", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).casefold()


class ValueMap(_Model):
    """Source value -> canonical value (matched case-insensitively); null drops the value."""

    map: dict[str, str | None] = Field(default_factory=dict)
    # What happens to a value the map does not know: keep it as it is (clean or the
    # contract may still map it), drop it (leave the field empty), or reject the row.
    unmapped: Literal["keep", "drop", "reject"] = "keep"

    @field_validator("map", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        if isinstance(value, dict):  # YAML reads 1, true, ... as numbers / booleans
            return {str(k): (None if v is None else str(v)) for k, v in value.items()}
        return value


COLLAPSE_RULES = ("first", "last", "first_non_null", "last_non_null", "count_distinct", "changes", "max",
                  "min")
TEMPLATE_PART = re.compile(r"\{([^{}]+)\}")


class UpdateLog(_Model):
    """Several rows per ticket, one per update: events where the status changes."""

    key: str  # source column that identifies the ticket
    order_by: list[str]  # source columns giving the update order (numbers, timestamps or text)
    at: str  # source column with the time of the update
    actor: str | None = None  # source column with who made the update
    # How to collapse a ticket's rows: the last row (by order_by) wins unless said otherwise
    # (created_at: the first row); counts and extremes over all rows are also possible.
    collapse: dict[str, Literal[COLLAPSE_RULES]] = Field(default_factory=dict)
    derive: Derive | None = None  # reassignment / escalation / touches from the rows (source columns)
    # Fill empty timestamps from the status history (canonical statuses after the value map):
    first_response_leaves: list[str] = Field(default_factory=list)  # first move out of these
    resolved_enters: list[str] = Field(default_factory=list)  # last entry into these
    closed_enters: list[str] = Field(default_factory=list)  # last entry into these

    def columns(self) -> list[str]:
        """Source columns the update-log form needs besides the key."""
        return list(dict.fromkeys([*self.order_by, self.at]))


class Milestones(_Model):
    """One row per ticket: status events from its timestamp columns."""

    created_at: str | None = "New"
    resolved_at: str | None = "Resolved"
    closed_at: str | None = "Closed"
    # A source column with the last-update time: the current status is emitted there.
    current_status_at: str | None = None


class AddMinutes(_Model):
    """A timestamp computed as another timestamp plus a column of minutes (when it is empty)."""

    base: str  # canonical timestamp field
    minutes: str  # source column holding a number of minutes


class Subtract(_Model):
    """A count computed as a source column's whole number minus `value`, floored at 0."""

    column: str  # source column holding a whole number
    value: int = 1  # subtracted, floored at 0 (e.g. Zendesk stations count the first assignment)


class Preset(_Model):
    """One export format (see README.md in this folder for every key)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    tool: str
    description: str = ""
    docs: list[str] = Field(default_factory=list)  # where the column names come from
    separator: str = Field(",", min_length=1, max_length=1)
    # of an export that is not UTF-8 (cp1252, latin-1, …); UTF-8 files are read as UTF-8
    encoding: str = "utf8"
    null_values: list[str] = Field(default_factory=lambda: [""])
    booleans: dict[Literal["true", "false"], list[str]] = Field(
        default_factory=lambda: {"true": ["true", "yes", "y", "1"], "false": ["false", "no", "n", "0"]}
    )
    date_formats: list[str] = Field(min_length=1)
    utc_columns: list[str] = Field(default_factory=list)  # naive values here are UTC
    columns: dict[str, str | list[str]]  # source column -> canonical field(s)
    templates: dict[str, str] = Field(default_factory=dict)  # canonical field -> "{Column}/{Column}"
    required: list[str] = Field(default_factory=lambda: list(DEFAULT_REQUIRED))
    values: dict[str, ValueMap] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)  # canonical field -> value when empty
    client_column: str | None = None
    update_log: UpdateLog | None = None
    milestones: Milestones | None = None
    add_minutes: dict[str, AddMinutes] = Field(default_factory=dict)  # canonical field -> rule
    subtract: dict[str, Subtract] = Field(default_factory=dict)  # canonical field -> rule
    extras: list[str] = Field(default_factory=list)  # source columns copied to extras.csv
    # extras the tool computed itself, compared with the imported history (waiting time) and,
    # by bench/preset_agreement.py, with our SLA verdicts
    agreement: Agreement | None = None
    history: list[History] = Field(default_factory=list)  # second inputs with the status changes
    ignore: list[str] = Field(default_factory=list)  # known columns deliberately not used

    @model_validator(mode="before")
    @classmethod
    def _booleans_as_text(cls, data: object) -> object:
        # YAML turns the keys `true:` / `false:` and values like yes/no into booleans.
        if isinstance(data, dict) and isinstance(data.get("booleans"), dict):
            data = dict(data)
            data["booleans"] = {
                str(k).lower(): [str(v).lower() if isinstance(v, bool) else str(v) for v in vals]
                for k, vals in data["booleans"].items()
            }
        if isinstance(data, dict) and isinstance(data.get("null_values"), list):
            data = dict(data, null_values=[str(v) for v in data["null_values"]])
        return data

    @model_validator(mode="after")
    def _known_fields(self) -> Preset:
        def check(where: str, name: str) -> None:
            if name not in FIELDS:
                raise ValueError(
                    f"{where}: {name!r} is not a canonical field (one of {', '.join(FIELDS)})"
                )

        for source, targets in self.columns.items():
            for target in [targets] if isinstance(targets, str) else targets:
                check(f"columns.{source}", target)
        for name, template in self.templates.items():
            check("templates", name)
            if not TEMPLATE_PART.search(template):
                raise ValueError(f"templates.{name}: {template!r} names no column (write {{Column}})")
            if name in {t for v in self.columns.values() for t in ([v] if isinstance(v, str) else v)}:
                raise ValueError(f"templates.{name}: {name!r} is also mapped under columns; use one")
        mapped = set(self.mapped_fields())
        for name in self.required:
            check("required", name)
        for name in self.values:
            check("values", name)
            if name not in mapped:
                raise ValueError(f"values.{name}: no column is mapped to {name!r}")
        for name in self.defaults:
            check("defaults", name)
        for name, rule in self.add_minutes.items():
            check("add_minutes", name)
            if name not in TIMESTAMP_FIELDS or rule.base not in TIMESTAMP_FIELDS:
                raise ValueError(f"add_minutes.{name}: both the field and its base must be timestamps")
        for name in self.subtract:
            check("subtract", name)
        if self.update_log:
            for name in self.update_log.collapse:
                check("update_log.collapse", name)
            if "status" not in mapped:
                raise ValueError("update_log: no column is mapped to 'status'")
        if self.agreement:
            for item in self.agreement.waiting + self.agreement.verdicts:
                if item.column not in self.extras:
                    raise ValueError(f"agreement: {item.column!r} must be listed under extras")
        if len({h.name for h in self.history}) < len(self.history):
            raise ValueError("history: two shapes with the same name")
        return self

    def template_columns(self) -> dict[str, list[str]]:
        """Canonical field -> the source columns its template names."""
        return {name: TEMPLATE_PART.findall(t) for name, t in self.templates.items()}

    def sources(self, canonical: str) -> list[str]:
        """Source columns feeding a canonical field, in priority order."""
        return [s for s, t in self.columns.items() if canonical == t or (isinstance(t, list) and canonical in t)]

    def mapped_fields(self) -> list[str]:
        """Canonical fields this preset can fill, in schema order."""
        targets = {t for v in self.columns.values() for t in ([v] if isinstance(v, str) else v)}
        targets |= set(self.add_minutes) | set(self.subtract) | set(self.templates)
        if self.update_log and self.update_log.derive:
            targets |= {n for n in Derive.model_fields if getattr(self.update_log.derive, n)}
        return [f for f in FIELDS if f in targets]

    def known_columns(self) -> list[str]:
        """Every source column the preset refers to (used, passed through or ignored)."""
        names = [*self.columns, *self.extras, *self.ignore, *self.utc_columns]
        names += [r.minutes for r in self.add_minutes.values()]
        names += [r.column for r in self.subtract.values()]
        names += [c for cols in self.template_columns().values() for c in cols]
        names += [h.ticket_column for h in self.history if h.ticket_column]
        if self.client_column:
            names.append(self.client_column)
        if self.update_log:
            names += [self.update_log.key, *self.update_log.columns()]
            names += [self.update_log.actor] if self.update_log.actor else []
            names += self.update_log.derive.columns() if self.update_log.derive else []
        if self.milestones and self.milestones.current_status_at:
            names.append(self.milestones.current_status_at)
        return list(dict.fromkeys(names))

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value.replace("-", "").lower() == "utf8lossy":
            raise ValueError("utf8-lossy would replace characters silently; give the export's encoding "
                             "(e.g. cp1252) or leave it out for UTF-8")
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"{value[:50]!r} is not an encoding Python knows (like cp1252, latin-1)") from None
        return value


@dataclass(frozen=True)
class ClientMap:
    """Which client each row belongs to: one id for the whole file, or a column map."""

    client_id: str | None = None
    column: str | None = None
    map: dict[str, str] = field(default_factory=dict)
    default: str | None = None

    def describe(self) -> dict:
        """How rows get their client, for the import report."""
        if self.client_id:
            return {"mode": "one client for the whole file", "client_id": self.client_id}
        return {"mode": "by column", "column": self.column, "clients": sorted(set(self.map.values())),
                "default": self.default}


def available_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yml"))


def load_preset(spec: str | Path) -> Preset:
    """A shipped preset by name, or a user's mapping YAML by path."""
    text = str(spec)
    path = Path(text)
    if not (path.suffix in {".yml", ".yaml"} or path.is_file()):  # a folder named zendesk is no preset
        path = PRESETS_DIR / f"{text}.yml"
        if not path.exists():
            raise MappingError(
                f"--from {text!r}: no such preset (shipped: {', '.join(available_presets())}) "
                "and no such mapping file"
            )
    return parse_preset(_read_yaml(path), str(path))


def parse_preset(data: object, source: str = "<preset>") -> Preset:
    """Validate already-loaded YAML; errors name the file and the field."""
    if not isinstance(data, dict):
        raise MappingError(f"{source}: expected a mapping of preset fields, got {type(data).__name__}")
    try:
        return Preset.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:MAX_ERRORS]:  # every echoed part capped: the file may be hostile
            loc = ".".join(str(p)[:100] for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")[:300]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; README.md in pipelines/ingest/importers lists the keys)"
            elif err["type"] == "missing":
                msg = "required key is missing"
            lines.append(f"{source}: {loc}: {msg}")
        if len(exc.errors()) > MAX_ERRORS:
            lines.append(f"{source}: … and {len(exc.errors()) - MAX_ERRORS} more problems")
        raise MappingError("\n".join(lines)) from None


def load_presets() -> dict[str, Preset]:
    """Every shipped preset, keyed by name (to tell a user which one their file looks like)."""
    return {name: load_preset(name) for name in available_presets()}


def load_client_map(spec: str | None, preset: Preset) -> ClientMap:
    """`--client-map`: a client id for the whole file, or a YAML file
    `{column: Company, map: {"Harbor Dental Group": harbor-dental}, default: null}`."""
    if not spec:
        hint = (f"or a YAML map of the {preset.client_column!r} column's values to client ids"
                if preset.client_column else "or a YAML map of a column's values to client ids")
        raise MappingError(f"--client-map is required: give one client id for the whole file {hint}")
    path = Path(spec)
    if path.suffix not in {".yml", ".yaml"} and not path.is_file():  # a folder named like the client too
        return ClientMap(client_id=_client_id(spec, "--client-map"))
    data = _read_yaml(path)
    where = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("map", {}), dict):
        raise MappingError(f"{where}: expected {{column: ..., map: {{value: client-id}}, default: ...}}")
    unknown = set(data) - {"column", "map", "default"}
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (expected column, map, default)")
    column = data.get("column") or preset.client_column
    if not column:
        raise MappingError(f"{where}: column: required (the {preset.name} preset has no client column)")
    mapping = {str(k): _client_id(v, f"{where}: map.{k}") for k, v in (data.get("map") or {}).items()}
    default = data.get("default")
    default = _client_id(default, f"{where}: default") if default is not None else None
    if not mapping and default is None:
        raise MappingError(f"{where}: map is empty and there is no default: no row could get a client")
    return ClientMap(column=str(column), map=mapping, default=default)


def _client_id(value: object, where: str) -> str:
    if value is None:  # `Riverside Vets:` with nothing after it would otherwise be client "None"
        raise MappingError(f"{where}: empty; expected a client id (leave the entry out to reject its rows)")
    text = str(value).strip()
    if not re.fullmatch(CLIENT_ID_PATTERN, text):
        raise MappingError(
            f"{where}: {text!r} is not a client id (letters, digits, - and _; it names contracts/<id>.yml)"
        )
    return text


def _read_yaml(path: Path) -> object:
    return read_yaml_file(path, str(path), MappingError)  # no aliases: no "billion laughs"
