"""What the contract review pack works with: one client's data over a term, its figures, the
provider's other clients (only ever as an anonymous distribution), and the last review's figures.

`load_review` reads the same build as the monthly reports (the run's metrics up to the term's
last month, each month as it stood at its end) and keeps the figures every section uses in one
place, so the summary, the agenda and the what-if comparison cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

import polars as pl

from pipelines.core import config
from pipelines.core.notebooks import front_matter, read_notebook
from pipelines.core.periods import month_index, months_between, period_title
from pipelines.core.reports import REVIEW_REPORT
from pipelines.core.terms import review_window
from pipelines.report import context, term, whatif
from pipelines.report.context import ReportContext
from pipelines.report.fragments import DATA_MIME


@dataclass
class ReviewContext:
    """A client's term: the months with data, the per-month verdicts and the pooled figures."""

    report: ReportContext  # the client's data and metrics up to the term's last month
    start: str
    end: str
    months: list[str]  # the term's months the data covers, oldest first
    before_data: list[str]  # the term's months before the client's first data
    scenarios: dict[str, list[str]] = field(default_factory=dict)  # the contract's term.scenarios + the analyst's
    peers: pl.DataFrame | None = None  # other clients' KPIs over the months (shown only pooled, anonymously)
    previous: dict | None = None  # the last published review's figures ({} when none was)

    @property
    def contract(self):
        return self.report.contract

    @property
    def name(self) -> str:
        return self.report.name

    @property
    def zone(self) -> str:
        return self.report.zone

    @property
    def title(self) -> str:
        """'October 2025 to September 2026'."""
        return f"{period_title(self.months[0])} to {period_title(self.months[-1])}" if self.months else \
            f"{period_title(self.start)} to {period_title(self.end)}"

    @cached_property
    def kpis(self) -> pl.DataFrame:
        return term.in_term(self.report.kpis, self.months)

    @cached_property
    def by_priority(self) -> pl.DataFrame:
        return term.in_term(self.report.by_priority, self.months)

    @cached_property
    def uptime(self) -> pl.DataFrame:
        return term.in_term(self.report.uptime, self.months)

    @cached_property
    def coverage(self) -> pl.DataFrame:
        return term.in_term(self.report.coverage, self.months)

    @cached_property
    def verdicts(self) -> pl.DataFrame:
        return term.verdicts(self.kpis, self.contract, self.coverage)

    @property
    def complete(self) -> list[str]:
        """The term's months that are complete (the only ones judged or compared)."""
        return [m for m, ok in self.kpis.select("month", "month_complete").iter_rows() if ok]

    def pooled(self, key: str, months: list[str] | None = None) -> term.Pooled:
        rows = self.kpis if months is None else self.kpis.filter(pl.col("month").is_in(months))
        return term.pooled(rows, term.BY_KEY[key], self.contract)

    def not_measured(self, key: str) -> str | None:
        """Why a KPI is not measured in any month of the term, or None when it is in some."""
        rows = self.coverage.filter(pl.col("kpi") == key)
        if rows.is_empty() or rows["measured"].any():
            return None
        return rows["reason"][0]

    @cached_property
    def actual(self) -> whatif.Figures:
        """The SLA figures and credits of the term under the actual contract (as the run computed them)."""
        return whatif.figures(whatif.ACTUAL, self.report.kpis, self.report.by_priority, self.contract, self.months)

    @cached_property
    def whatifs(self) -> list[whatif.Figures]:
        """Each scenario's figures: the term's tickets re-evaluated by the same engine under it."""
        if not self.months:
            return []
        ends = self.report.summary.get("export_end")
        extracted = datetime.fromisoformat(ends) if ends else None
        return [whatif.evaluate(name, sets, self.contract, self.report.tables, self.months, extracted)
                for name, sets in self.scenarios.items()]

    def ticket_month(self, column: str = "created_month") -> pl.Expr:
        """Tickets (ticket_sla / facts rows) whose `column` month is in the term."""
        return pl.col(column).is_in(self.months)


def load_review(client_id: str, start: str | None = None, period: str | None = None, *,
                build_dir: str | Path | None = None, data_dir: str | Path | None = None,
                reports_dir: str | Path | None = None, scenarios: dict[str, list[str]] | None = None) -> ReviewContext:
    """Load a client's review of `start`..`period` (months YYYY-MM, both included); a month not
    given comes from the contract's term (`pipelines.core.terms.review_window`)."""
    if not (start and period):
        latest = context.load(client_id, None, build_dir=build_dir, data_dir=data_dir)
        window = review_window(latest.contract.term, latest.period, start or None, period or None)
        start, period = window.start, window.end
    if month_index(start) > month_index(period):
        raise ValueError(f"the review starts in {start}, after its last month {period}")
    report = context.load(client_id, period, build_dir=build_dir, data_dir=data_dir)
    first = report.kpis["month"].min() if report.kpis.height else period
    window = months_between(start, period)
    months = [m for m in window if m >= first]
    everyone = context.load_portfolio(period, build_dir=build_dir, data_dir=data_dir).kpis
    peers = everyone.filter((pl.col("client_id") != client_id) & pl.col("month").is_in(months))
    reports = Path(reports_dir) if reports_dir else config.REPORTS
    configured = report.contract.term.scenarios if report.contract.term else {}
    return ReviewContext(report, start, period, months, [m for m in window if m < first],
                         {**configured, **(scenarios or {})}, peers, previous_review(reports, client_id, start))


def previous_review(reports: Path, client_id: str, before: str) -> dict:
    """The figures of the client's latest published review pack that ended before `before`
    (read from the pack's own notebook, as it was issued), or {} when there is none."""
    best: tuple[str, dict] | None = None
    for path in sorted(Path(reports).glob(f"*/{client_id}/{REVIEW_REPORT}.ipynb")):
        try:
            nb = read_notebook(path)
        except (OSError, ValueError):
            continue
        meta = front_matter(nb)
        end = str(meta.get("review_to") or path.parent.parent.name)
        if meta.get("client_id") not in (None, client_id) or end >= before:
            continue
        figures = next((o["data"][DATA_MIME] for c in nb["cells"] for o in c.get("outputs") or []
                        if DATA_MIME in (o.get("data") or {})), None)
        if figures and (best is None or end > best[0]):
            best = (end, figures)
    return best[1] if best else {}
