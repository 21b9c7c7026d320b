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
REVIEW = "review"  # run per client for a term (`servicereview review`, or `run` in the month it falls
# due), kept with the reports of the term's last month; published in the client's bundle

CLIENT_PARAMETERS = ("client_id", "period", "data_dir", "build_dir")
PORTFOLIO_PARAMETERS = ("period", "data_dir", "build_dir")
# period: the term's last month; start: its first; scenarios: what-if name -> overrides;
# reports_dir: where an earlier review pack is looked for
REVIEW_PARAMETERS = ("client_id", "start", "period", "scenarios", "data_dir", "build_dir", "reports_dir")
PDF_LATEST, PDF_EACH = "latest", "each"  # a PDF of the client's latest month only, or of every one


@dataclass(frozen=True)
class ReportSpec:
    """One report: its template, how it is labelled, who it is for and what it is given."""

    name: str  # the template is notebooks/<name>.ipynb; the page is <name>.html
    label: str  # its name in navigation
    scope: str  # CLIENT or PORTFOLIO
    parameters: tuple[str, ...]  # exactly what the runner passes
    order: int  # position in a client's navigation
    run_order: int  # position in a client's batch (data quality first: it explains the rest)
    pdf: str = ""  # printed to PDF in the client's bundle: PDF_LATEST, PDF_EACH, or "" (not printed)


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec("monthly_report", "Monthly report", CLIENT, CLIENT_PARAMETERS, order=0, run_order=3,
               pdf=PDF_LATEST),
    ReportSpec("sla_trends", "SLA trends", CLIENT, CLIENT_PARAMETERS, order=1, run_order=1),
    ReportSpec("survey_sentiment", "Survey review", CLIENT, CLIENT_PARAMETERS, order=2, run_order=2),
    ReportSpec("data_quality", "Data quality", CLIENT, CLIENT_PARAMETERS, order=3, run_order=0),
    ReportSpec("portfolio", "Portfolio (internal)", PORTFOLIO, PORTFOLIO_PARAMETERS, order=0,
               run_order=0),
    ReportSpec("contract_review", "Contract review", REVIEW, REVIEW_PARAMETERS, order=4, run_order=4,
               pdf=PDF_EACH),
)
REVIEW_REPORT = "contract_review"
BY_NAME = {r.name: r for r in REPORTS}


def declared(scope: str, *, running: bool = False) -> list[ReportSpec]:
    """The reports of a scope, in navigation order (or batch order with `running`)."""
    key = (lambda r: r.run_order) if running else (lambda r: r.order)
    return sorted((r for r in REPORTS if r.scope == scope), key=key)


def printed() -> list[ReportSpec]:
    """The reports a client's bundle carries as PDF, in navigation order."""
    return sorted((r for r in REPORTS if r.pdf), key=lambda r: r.order)


def label(name: str) -> str | None:
    """The navigation label of a known report, None for a notebook that is not declared."""
    spec = BY_NAME.get(name)
    return spec.label if spec else None
