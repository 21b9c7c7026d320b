"""Client contract files: one YAML per client, loaded into typed models.

A contract says what the provider promised: business hours and holidays in the
client's time zone, per-priority SLA targets, which statuses pause the clock,
uptime and KPI targets, the monthly fee and the service-credit rules. Every
error names the file, the field and what was expected.
"""

from __future__ import annotations

import re
from datetime import date, time
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import holidays
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipelines.core.durations import (
    MAX_TARGET_DAYS,
    format_clock,
    format_duration,
    parse_duration,
    parse_windows,
)
from pipelines.core.limits import MAX_ERRORS, read_yaml_file, shown, usable_zone
from pipelines.core.overrides import check_scenarios
from pipelines.core.terms import Term

PRIORITIES = ("P1", "P2", "P3", "P4")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOSE_CODES = ("resolved", "merged", "cancelled", "duplicate")
CLIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Names the outputs use for other things: the portfolio report, the run summary's publish
# outcome, the site's own folders. A client with one of them would collide with it.
RESERVED_CLIENT_IDS = ("portfolio", "site", "assets", "site_libs")
SURVEY_SCALES = ("3-point", "5-point", "0-10")

_BUSINESS_DAYS = re.compile(r"^\s*(\d+)\s*bd\s*$")


class ContractError(ValueError):
    """A contract file that cannot be used; the message names file, field and expectation."""


Minutes = Annotated[float, BeforeValidator(parse_duration)]
Windows = Annotated[list[tuple[time, time]], BeforeValidator(parse_windows)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Holidays(_Model):
    """Days the business calendar is closed: a country's (and region's) holidays plus extra dates."""

    country: str | None = None
    subdivision: str | None = None
    extra: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_country(self) -> Holidays:
        if self.country:
            problem = _holiday_problem(self.country, self.subdivision)
            if problem:
                raise ValueError(problem)
        return self


@cache
def _holiday_problem(country: str, subdivision: str | None) -> str | None:
    try:
        holidays.country_holidays(country, subdiv=subdivision, years=2026)
    except NotImplementedError as exc:
        if "subdivision" in str(exc):
            return f"{shown(subdivision)} is not a subdivision of {shown(country)[1:-1]} the holidays package knows"
        return f"{shown(country)} is not a country code the holidays package knows (like US, GB)"
    return None


class SlaTarget(_Model):
    """One priority's response and resolution targets and the calendar they run on.

    A target is a duration on the clock (`90m`, `4h`, `1h30m`, minutes), or on a business
    calendar a number of business days (`3bd`: as much working time as the 3 business days
    that follow the day the ticket was logged). `2d` means 48 hours, so it is only allowed
    on the 24x7 calendar: on a business calendar it is ambiguous and refused.
    """

    calendar: Literal["business", "24x7"] = "business"
    response: float | None = None  # minutes; None when the target is in business days
    resolution: float | None = None
    response_days: int | None = None  # business days (`bd`), else None
    resolution_days: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        calendar = data.get("calendar", "business")
        for name in ("response", "resolution"):
            if name not in data:
                raise ValueError(f"{name}: required field is missing")
            if f"{name}_days" in data:
                raise ValueError(f"{name}_days: unknown field (write {name}: 3bd for business days)")
            value = data[name]
            days = _BUSINESS_DAYS.match(value) if isinstance(value, str) else None
            if days and calendar != "business":
                raise ValueError(f"{name}: {value!r} counts business days, but this priority runs on the "
                                 f"{calendar} calendar (write {int(days.group(1))}d for {int(days.group(1))} x 24 hours)")
            if days:
                if int(days.group(1)) < 1:
                    raise ValueError(f"{name}: {value!r} is not a positive number of business days")
                data[name], data[f"{name}_days"] = None, int(days.group(1))
                continue
            try:
                data[name] = parse_duration(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if calendar == "business" and isinstance(value, str) and "d" in value.lower():
                days = value.lower().split("d")[0].strip()
                raise ValueError(f"{name}: {value!r} is ambiguous on a business calendar (a day of 24 hours "
                                 f"or a working day?): write {data[name] / 60:g}h for that many working hours, "
                                 f"or {days}bd for {days} business days")
        return data

    def minutes(self, target: str) -> float | None:
        """The target's duration in clock minutes (None when it is in business days)."""
        return getattr(self, target)

    def business_days(self, target: str) -> int | None:
        return getattr(self, f"{target}_days")


class Statuses(_Model):
    """Which canonical statuses pause the SLA clock, mean work started, or mean resolved."""

    pause: list[str] = Field(default_factory=lambda: ["Waiting on Customer"])
    in_progress: list[str] = Field(default_factory=lambda: ["In Progress"])
    resolved: list[str] = Field(default_factory=lambda: ["Resolved", "Closed"])
    # Source spellings -> canonical status (e.g. "Awaiting User Info": "Waiting on Customer").
    aliases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _disjoint(self) -> Statuses:
        sets = {"pause": self.pause, "in_progress": self.in_progress, "resolved": self.resolved}
        seen: dict[str, str] = {}
        for name, values in sets.items():
            for status in values:
                key = status.casefold()
                if key in seen:
                    raise ValueError(f"status {shown(status)} is in both {seen[key]} and {name}")
                seen[key] = name
        return self


class Uptime(_Model):
    """The uptime target and the services it is measured for."""

    target_pct: float = Field(99.9, ge=0, le=100)
    services: list[str] = Field(default_factory=list)


CreditMetric = Literal[
    "uptime_pct", "response_sla_pct", "resolution_sla_pct", "csat_pct", "fcr_pct",
    "patch_compliance_pct",
]


class CreditRule(_Model):
    """A service credit: `credit_pct` of the fee when `metric` is below `below` in a month."""

    metric: CreditMetric
    below: float
    credit_pct: float = Field(gt=0, le=100)


class Targets(_Model):
    """The KPI targets a report compares the month's values with."""

    response_sla_pct: float = Field(95, ge=0, le=100)
    resolution_sla_pct: float = Field(90, ge=0, le=100)
    csat_pct: float = Field(90, ge=0, le=100)
    fcr_pct: float = Field(70, ge=0, le=100)
    proactive_pct: float = Field(30, ge=0, le=100)
    onsite_visits: int = Field(0, ge=0)
    patch_compliance_pct: float = Field(95, ge=0, le=100)


class Quality(_Model):
    """Per-client plausibility thresholds for the data-quality gate."""

    max_no_response_share: float = Field(0.25, ge=0, le=1)
    max_p1_share: float = Field(0.15, ge=0, le=1)
    volume_ratio: float = Field(3.0, gt=1)  # a month's volume vs the client's own median
    error_tolerance: float = Field(0.01, ge=0, le=1)  # share of rows an ordering error may hit
    # share of a KPI's tickets that must carry the fields it needs, else it is "not measured"
    min_input_coverage: float = Field(0.9, ge=0, le=1)


class ContactMatching(_Model):
    """How the client's own record of calls and emails is matched to the provider's tickets."""

    window: Minutes = 240  # a ticket logged within this much working time after the contact
    early: Minutes = 10  # ... or up to this long (clock time) before it: the two clocks may differ
    min_score: float = Field(0.5, ge=0, le=1)  # weaker evidence is "not matched"
    same_person: float = Field(0.8, gt=0, le=1)  # requester similarity from which it is one person


class Contract(_Model):
    """One client's contract (`contracts/<client_id>.yml`)."""

    client_id: str = Field(pattern=CLIENT_ID_PATTERN)
    name: str = Field(min_length=1)
    timezone: str
    business_hours: dict[Literal[WEEKDAYS], Windows]  # type: ignore[valid-type]
    holidays: Holidays = Holidays()
    sla: dict[Literal[PRIORITIES], SlaTarget]  # type: ignore[valid-type]
    priority_map: dict[str, Literal[PRIORITIES]] = Field(default_factory=dict)  # type: ignore[valid-type]
    statuses: Statuses = Statuses()
    proactive_sources: list[str] = Field(default_factory=lambda: ["monitoring", "maintenance"])
    uptime: Uptime = Uptime()
    monthly_fee: float = Field(0, ge=0)
    currency: str = "USD"
    credits: list[CreditRule] = Field(default_factory=list)
    targets: Targets = Targets()
    # None: read from the survey ratings by `clean` when they tell (see pipelines.core.scales)
    survey_scale: Literal[SURVEY_SCALES] | None = None  # type: ignore[valid-type]
    patch_window_days: int = Field(30, gt=0)
    recurrence_days: int = Field(14, gt=0)
    excluded_close_codes: list[Literal[CLOSE_CODES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["merged", "cancelled", "duplicate"]
    )
    quality: Quality = Quality()
    contact_matching: ContactMatching = ContactMatching()
    term: Term | None = None

    @field_validator("client_id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.casefold() in RESERVED_CLIENT_IDS:
            raise ValueError(f"{value!r} is reserved (the outputs use it for "
                             f"{'the portfolio report' if value.casefold() == 'portfolio' else 'their own files'}); "
                             "choose another client id")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not usable_zone(value):  # right/UTC loads in zoneinfo, but Polars refuses it
            raise ValueError(f"{shown(value)} is not an IANA time zone like Europe/London")
        return value

    @field_validator("business_hours")
    @classmethod
    def _some_hours(cls, value: dict) -> dict:
        if not any(value.values()):
            raise ValueError("no business hours on any weekday")
        return value

    @model_validator(mode="after")
    def _targets_fall_due_within_a_year(self) -> Contract:
        weekly = sum(_minutes(end) - _minutes(start) for windows in self.business_hours.values()
                     for start, end in windows)
        open_days = sum(1 for windows in self.business_hours.values() if windows)
        for priority, target in self.sla.items():
            if target.calendar != "business":
                continue  # a 24x7 duration is bounded by parse_duration
            for name in ("response", "resolution"):
                minutes, days = target.minutes(name), target.business_days(name)
                length, per_week = (f"{days}bd", open_days) if minutes is None else (
                    f"{format_duration(minutes)} of business hours", weekly)
                took = (days if minutes is None else minutes) / per_week * 7
                if took > MAX_TARGET_DAYS:
                    raise ValueError(
                        f"sla.{priority}.{name}: {length} takes {took:,.0f} days to fall due with "
                        f"{format_duration(weekly)} of business hours a week; a target must fall due within "
                        f"{MAX_TARGET_DAYS} days")
        return self

    @model_validator(mode="after")
    def _every_priority_has_a_target(self) -> Contract:
        for source_value, priority in self.priority_map.items():
            if priority not in self.sla:
                raise ValueError(
                    f"priority_map.{source_value} maps to {priority}, which has no target in sla"
                )
        return self

    @model_validator(mode="after")
    def _scenarios_apply(self) -> Contract:
        return check_scenarios(self)

    def documented(self) -> dict:
        """This contract as data in its documented shape (what `contract_to_yaml` writes)."""
        return yaml.safe_load(contract_to_yaml(self))

    @staticmethod
    def parse(data: object, source: str) -> Contract:
        """`parse_contract`, for what builds on a contract without importing this module."""
        return parse_contract(data, source)

    @property
    def zone(self) -> ZoneInfo:
        """The client's time zone."""
        return ZoneInfo(self.timezone)

    def priority_of(self, value: str | None) -> str | None:
        """Source priority value -> P1..P4 (case-insensitive), or None when unmapped."""
        if value is None:
            return None
        text = value.strip()
        lookup = self._priority_lookup()
        return lookup.get(text.casefold())

    def _priority_lookup(self) -> dict[str, str]:
        lookup = {p.casefold(): p for p in self.sla}
        lookup.update({k.strip().casefold(): v for k, v in self.priority_map.items()})
        return lookup

    def status_lookup(self) -> dict[str, str]:
        """casefolded source status -> canonical spelling (known statuses and aliases)."""
        known = [*self.statuses.pause, *self.statuses.in_progress, *self.statuses.resolved]
        lookup = {s.casefold(): s for s in known}
        lookup.update({k.casefold(): v for k, v in self.statuses.aliases.items()})
        return lookup


def _minutes(moment: time) -> float:
    return 1440.0 if moment == time.max else moment.hour * 60 + moment.minute


def _format_location(loc: tuple) -> str:
    parts = [str(p)[:100] for p in loc if not str(p).startswith(("function-", "literal[", "tuple[")) and p != "[key]"]
    return ".".join(parts)


def _format_error(err: dict) -> str:
    loc = _format_location(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    field = re.match(r"([\w.]+): (.*)", msg, re.S)
    if field and err["type"] == "value_error":  # a model check naming one of its fields
        loc, msg = f"{loc}.{field.group(1)}" if loc else field.group(1), field.group(2)
    if err["type"] == "missing":
        return f"{loc}: required field is missing"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown field (check the spelling)"
    if err["type"] == "literal_error":
        return f"{loc}: {shown(err['input'])} is not allowed; {msg[0].lower()}{msg[1:]}"
    if err["type"] == "string_pattern_mismatch":
        return f"{loc}: {shown(err['input'])} is not a safe id (letters, digits, - and _ only)"
    return f"{loc}: {msg[:300]}" if loc else msg[:300]  # a whole-contract rule names its fields


def parse_contract(data: object, source: str = "<contract>") -> Contract:
    """Validate already-loaded YAML data; errors are raised as ContractError."""
    if not isinstance(data, dict):
        raise ContractError(f"{source}: expected a mapping of contract fields, got {type(data).__name__}")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        lines = [f"{source}: {_format_error(err)}" for err in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            lines.append(f"{source}: … and {len(errors) - MAX_ERRORS} more problems")
        raise ContractError("\n".join(lines)) from None


def load_contract(path: str | Path, source: str | None = None) -> Contract:
    """Load one contract file with safe YAML; the file name must match its client_id.
    `source`: how messages name the file (default: its path from the working folder)."""
    path = Path(path)
    source = source or _display(path)
    contract = parse_contract(read_yaml_file(path, source, ContractError), source)
    if contract.client_id != path.stem:
        raise ContractError(
            f"{source}: client_id: {contract.client_id!r} does not match the file name "
            f"(expected {shown(path.stem)})"
        )
    return contract


def load_contracts(folder: str | Path) -> dict[str, Contract]:
    """All `*.yml` contracts in a folder, keyed by client_id; all errors reported together."""
    folder = Path(folder)
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    if not files:
        raise ContractError(f"{_display(folder)}: no contract files (*.yml) found")
    contracts: dict[str, Contract] = {}
    sources: dict[str, str] = {}
    errors = []
    shown_folder = Path(_display(folder))  # resolved once, not per file (2,000 files: 0.1 s)
    for path in files:
        source = str(shown_folder / path.name)
        try:
            contract = load_contract(path, source)
        except ContractError as exc:
            errors.append(str(exc))
            continue
        if contract.client_id in sources:  # acme.yml and acme.yaml: neither may win silently
            errors.append(f"{source}: client_id: {contract.client_id!r} is also defined in "
                          f"{sources[contract.client_id]} (expected one contract file per client)")
            continue
        contracts[contract.client_id] = contract
        sources[contract.client_id] = source
    if errors:
        raise ContractError("\n".join(errors))
    return contracts


def contract_to_yaml(contract: Contract) -> str:
    """Serialise a contract back to YAML in the documented shape."""
    data = contract.model_dump(mode="json")
    if contract.contact_matching == ContactMatching():
        del data["contact_matching"]  # the defaults, spelled nowhere: files stay as they were
    if data.pop("term") is not None:  # an optional block: left out rather than written as null
        data["term"] = contract.term.written()
    data["business_hours"] = {
        day: [[format_clock(a), format_clock(b)] for a, b in windows] if len(windows) > 1
        else [format_clock(windows[0][0]), format_clock(windows[0][1])]
        for day, windows in contract.business_hours.items() if windows
    }
    data["sla"] = {
        p: {name: format_duration(t.minutes(name)) if t.minutes(name) is not None else f"{t.business_days(name)}bd"
            for name in ("response", "resolution")} | {"calendar": t.calendar}
        for p, t in contract.sla.items()
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
