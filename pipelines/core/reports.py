"""The reports the project publishes, declared once.

Each report is a notebook template in `notebooks/`. The runner executes them (in
`run_order`, checking each template declares exactly `parameters`), the site lists them
(in `order`, under `label`), and the tests read the same table, so adding a report is
one line here and one template.
"""

from __future__ import annotations

from dataclasses import dataclass

CLIENT = "client"  # run once per client and period; published in the client's bundle
PORTFOLIO = "portfolio"  # run once per period over every client; internal site only

CLIENT_PARAMETERS = ("client_id", "period", "data_dir", "build_dir")
PORTFOLIO_PARAMETERS = ("period", "data_dir", "build_dir")


@dataclass(frozen=True)
class ReportSpec:
    """One report: its template, how it is labelled, who it is for and what it is given."""

    name: str  # the template is notebooks/<name>.ipynb; the page is <name>.html
    label: str  # its name in navigation
    scope: str  # CLIENT or PORTFOLIO
    parameters: tuple[str, ...]  # exactly what the runner passes
    order: int  # position in a client's navigation
    run_order: int  # position in a client's batch (data quality first: it explains the rest)


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec("monthly_report", "Monthly report", CLIENT, CLIENT_PARAMETERS, order=0, run_order=3),
    ReportSpec("sla_trends", "SLA trends", CLIENT, CLIENT_PARAMETERS, order=1, run_order=1),
    ReportSpec("survey_sentiment", "Survey review", CLIENT, CLIENT_PARAMETERS, order=2, run_order=2),
    ReportSpec("data_quality", "Data quality", CLIENT, CLIENT_PARAMETERS, order=3, run_order=0),
    ReportSpec("portfolio", "Portfolio (internal)", PORTFOLIO, PORTFOLIO_PARAMETERS, order=0,
               run_order=0),
)
BY_NAME = {r.name: r for r in REPORTS}


def declared(scope: str, *, running: bool = False) -> list[ReportSpec]:
    """The reports of a scope, in navigation order (or batch order with `running`)."""
    key = (lambda r: r.run_order) if running else (lambda r: r.order)
    return sorted((r for r in REPORTS if r.scope == scope), key=key)


def label(name: str) -> str | None:
    """The navigation label of a known report, None for a notebook that is not declared."""
    spec = BY_NAME.get(name)
    return spec.label if spec else None
