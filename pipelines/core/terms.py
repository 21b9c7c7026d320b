"""When a contract review falls due, and which months a review covers by default.

A contract's optional `term: {start: 2025-10, review_every_months: 12}` starts its first term
in `start`; each term lasts `review_every_months` months and its review falls due in its last
month (2026-09 here, then 2027-09...). The review pack of a term lives with that month's
reports: reports/<last month>/<client>/contract_review.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.core.periods import is_period, month_index, month_label

DEFAULT_MONTHS = 12  # a review without a term covers the last 12 months


class Term(BaseModel):
    """A contract's `term`: the month it started and how often it is formally reviewed (a review
    falls due in the last month of each term: start + review_every_months - 1, and so on).
    `scenarios` are the what-if alternatives the review pack shows (name -> `path=value` list,
    as `servicereview whatif --set`; checked by `pipelines.core.overrides.check_scenarios`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: str
    review_every_months: int = Field(12, ge=1, le=120)
    scenarios: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("start", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        if not is_period(value):
            raise ValueError(f"{str(value)!r} is not a month like 2025-10 (YYYY-MM)")
        return value

    def written(self) -> dict:
        """The block as a contract file spells it (no empty scenarios)."""
        return self.model_dump(mode="json", exclude={"scenarios"} if not self.scenarios else None)


@dataclass(frozen=True)
class Window:
    """The months a review covers (both ends included) and why these."""

    start: str
    end: str
    why: str


def review_due(term: Term | None, period: str) -> str | None:
    """The first month of a contract's term whose review falls due in `period` (its last month),
    else None (also without a term)."""
    if term is None:
        return None
    offset = month_index(period) - month_index(term.start)
    if offset < 0 or (offset + 1) % term.review_every_months:
        return None
    return month_label(month_index(period) - term.review_every_months + 1)


def review_window(term: Term | None, latest: str, start: str | None = None, end: str | None = None) -> Window:
    """The months of a review: the ones given, else the contract's latest `term` that has ended by
    `latest` (the latest complete month), else its current term so far, else the last 12 months."""
    length = term.review_every_months if term else DEFAULT_MONTHS
    if start and end:
        return Window(start, end, "the months asked for")
    if end:
        return Window(month_label(month_index(end) - length + 1), end, f"the {length} months up to {end}")
    if start:
        last = min(month_index(start) + length - 1, month_index(latest))
        return Window(start, month_label(last), f"up to {length} months from {start}")
    if term is None:
        return Window(month_label(month_index(latest) - DEFAULT_MONTHS + 1), latest,
                      "the last 12 months (the contract has no term)")
    first = month_index(term.start)
    done = (month_index(latest) - first + 1) // length  # terms ended by `latest`
    if done == 0:
        return Window(term.start, latest, "the current term so far (its review is not due yet)")
    last = first + done * length - 1
    return Window(month_label(last - length + 1), month_label(last), "the contract's latest term")


def check_window(window: Window, first: str | None, last: str | None) -> None:
    """InputError when the months run backwards or lie outside the data (`first`..`last`, its first
    and last month; None: not known)."""
    from pipelines.core.io import InputError  # io reads tables (polars): only when checking
    if month_index(window.start) > month_index(window.end):
        raise InputError(f"--from {window.start} --to {window.end}: the review ends before it starts")
    if last and window.end > last:
        raise InputError(f"--to {window.end}: the data ends in {last}")
    if first and window.end < first:
        raise InputError(f"--to {window.end}: the data starts in {first}")
