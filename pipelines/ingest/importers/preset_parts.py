"""Preset parts for several rows per ticket and for second inputs: derived counts
(reassignment, escalation, touches), history shapes (a tool's audit trail or changelog)
and the tool's own figures to compare with ours.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compared(_Model):
    """An extras column holding the tool's own figure: waiting minutes in some statuses, or an
    SLA verdict (its values for met and for breached)."""

    column: str
    statuses: list[str] = Field(default_factory=list)  # waiting: canonical statuses it counts
    unit: Literal["minutes", "hours"] = "minutes"
    target: Literal["response", "resolution"] | None = None  # verdict: which SLA
    met: list[str] = Field(default_factory=list)
    breached: list[str] = Field(default_factory=list)


class Agreement(_Model):
    """The tool's own waiting times and SLA verdicts, as a cross-check of ours."""

    waiting: list[Compared] = Field(default_factory=list)
    verdicts: list[Compared] = Field(default_factory=list)


class Changes(_Model):
    """A count: the updates at which any of `columns` changes from an earlier non-empty value."""

    columns: list[str] = Field(min_length=1)


class Levels(_Model):
    """A level from a support-group or level column: the highest level over a ticket's rows."""

    column: str
    map: dict[str, int] = Field(default_factory=dict)  # exact value (case-insensitive) -> level
    # regex (searched case-insensitively) -> level; null: the first group is the level ("L(\d)")
    patterns: dict[str, int | None] = Field(default_factory=dict)
    default: int | None = None  # level of a non-empty value nothing matches (null: unknown)

    @field_validator("map", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("patterns")
    @classmethod
    def _regexes(cls, value: dict) -> dict:
        for pattern in value:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
            if value[pattern] is None and compiled.groups < 1:
                raise ValueError(f"{pattern!r}: without a level it needs a group that captures the level")
        return value


class Touches(_Model):
    """Provider touches: the distinct actors among a ticket's rows, without `exclude`."""

    column: str
    exclude: list[str] = Field(default_factory=list)  # system or requester accounts (case-insensitive)


class Derive(_Model):
    """Counts derived from several rows per ticket (filled where the export has no such column)."""

    reassignment_count: Changes | None = None
    escalation_level: Levels | None = None
    provider_touches: Touches | None = None

    def columns(self) -> list[str]:
        """The columns the derivations read."""
        names = list(self.reassignment_count.columns) if self.reassignment_count else []
        names += [self.escalation_level.column] if self.escalation_level else []
        names += [self.provider_touches.column] if self.provider_touches else []
        return list(dict.fromkeys(names))


class HistoryField(_Model):
    """One kind of change in a history record: its value column, which rows carry it, and
    how to read the value out of free text."""

    column: str
    where: dict[str, str | list[str]] = Field(default_factory=dict)  # column -> value(s), case-insensitive
    pattern: str | None = None  # regex; the group named `value` (or the last group) is the value

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if re.compile(value).groups < 1:
                    raise ValueError(f"{value!r}: needs a group that captures the value")
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression ({exc})") from None
        return value


class History(_Model):
    """A second input with the status changes (a tool's audit trail or changelog), joined to
    the ticket export by ticket id. JSON records are flattened to dotted column names."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    format: Literal["json", "csv"]
    description: str = ""
    docs: list[str] = Field(default_factory=list)
    unconfirmed: list[str] = Field(default_factory=list)  # names the vendor's documentation does not show
    records: str | None = None  # JSON: dotted key of a page's records (null: the page is the list)
    explode: list[str] = Field(default_factory=list)  # JSON: nested lists, outer first (dotted, from the record)
    key: str | None = None  # column with the ticket id
    key_from_file: str | None = None  # regex on the file name (first group) when records carry no ticket id
    ticket_column: str | None = None  # ticket-export column the key matches (default: the ticket_id column)
    at: str
    actor: str | None = None
    status: HistoryField
    assignee: HistoryField | None = None
    group: HistoryField | None = None
    date_formats: list[str] = Field(default_factory=list)  # default: the preset's
    utc: bool = False  # offset-less times are UTC
    extracted_at: str | None = None  # JSON: dotted key of a page's "data until" time (unix or text)
    derive: Derive | None = None  # over the history's fields (status, assignee, group, actor)

    @model_validator(mode="after")
    def _keyed(self) -> History:
        if not self.key and not self.key_from_file:
            raise ValueError("history: needs `key` (the ticket id column) or `key_from_file`")
        if self.format == "csv" and (self.records or self.explode or self.extracted_at):
            raise ValueError("history: records / explode / extracted_at are for JSON histories")
        fields = {"status", "assignee", "group", "actor"}
        for column in self.derive.columns() if self.derive else []:
            if column not in fields:
                raise ValueError(f"history.derive: {column!r} is not one of the history's fields "
                                 f"({', '.join(sorted(fields))})")
        return self

    def fields(self) -> dict[str, HistoryField]:
        """The declared kinds of change (status, assignee, group)."""
        named = {"status": self.status, "assignee": self.assignee, "group": self.group}
        return {k: v for k, v in named.items() if v is not None}
