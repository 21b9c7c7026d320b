"""What a notebook works with: one client's (or the portfolio's) data for a period.

Notebooks call `load()` once and hand the context to the section functions. In a
batch run the runner has already written build/ (clean tables, validation,
metrics) and the notebook only reads. Opened in JupyterLab with no parameters
changed, the same call builds what is missing from data/sample first, so every
template runs as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from pipelines.clean.stage import clean_folder
from pipelines.core import config, io
from pipelines.core.contracts import Contract, load_contract, load_contracts
from pipelines.core.layout import Layout
from pipelines.metrics import tone, trace
from pipelines.metrics.stage import OUTPUTS, MetricsResult, compute_metrics
from pipelines.report import charts
from pipelines.validate.gate import validate_one
from pipelines.validate.health import load_health


@dataclass
class ReportContext:
    """One client's tables and metrics for a report month (all months up to it)."""

    client_id: str
    period: str
    contract: Contract
    tables: dict[str, pl.DataFrame | None]  # the client's clean tables (None: not provided)
    ticket_sla: pl.DataFrame
    kpis: pl.DataFrame  # one row per month, oldest first, up to the period
    by_priority: pl.DataFrame
    uptime: pl.DataFrame
    gate: dict | None
    health: dict | None
    build_dir: Path
    coverage: pl.DataFrame  # per month and KPI: what the export supports (metrics.coverage)
    summary: dict  # the metrics run's summary: where the data ends, whether the period is complete
    tone: pl.DataFrame  # this client's comments' estimated tone (pipelines.metrics.tone.COLUMNS)
    tone_fit: dict | None  # the tone model's fit report (figures over every client; no client's rows)

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def zone(self) -> str:
        return self.contract.timezone

    def month(self, month: str | None = None) -> dict:
        """The KPI row of a month (default: the period) as a dict; {} when there is none."""
        month = month or self.period
        rows = self.kpis.filter(pl.col("month") == month)
        return rows.row(0, named=True) if rows.height else {}

    def coverage_of(self, kpi: str, month: str | None = None) -> dict | None:
        """The coverage row of a KPI in a month (None when the KPI needs nothing the export may lack)."""
        rows = self.coverage.filter((pl.col("kpi") == kpi) & (pl.col("month") == (month or self.period)))
        return rows.row(0, named=True) if rows.height else None

    def not_measured(self, kpi: str, month: str | None = None) -> str | None:
        """Why a KPI is not measured in a month, or None when it is."""
        row = self.coverage_of(kpi, month)
        return row["reason"] if row and not row["measured"] else None

    @property
    def data_ends(self) -> str | None:
        """When the data ends (the export's extraction time or latest activity), ISO in UTC."""
        return self.summary.get("export_end")

    def local(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """Timestamps converted from UTC to the client's time zone, for display."""
        return frame.with_columns([pl.col(c).dt.convert_time_zone(self.zone) for c in columns])

    @cached_property
    def facts(self):
        return trace.client_facts(self.client_id, ticket_sla=self.ticket_sla, tables=self.tables,
                                  contracts={self.client_id: self.contract}, period=self.period)

    def ids(self, kpi: str, month: str | None = None) -> dict[str, list[str]]:
        """The ticket ids behind a KPI of a month (default: the period)."""
        return trace.ticket_ids(self.client_id, month or self.period, kpi, ticket_sla=self.ticket_sla,
                                tables=self.tables, contracts={self.client_id: self.contract},
                                period=self.period, facts=self.facts)


@dataclass
class PortfolioContext:
    """Every client's KPIs for the period and the months before it (MSP only)."""

    period: str
    contracts: dict[str, Contract]
    kpis: pl.DataFrame
    gates: dict[str, dict]
    build_dir: Path


def setup() -> None:
    """Notebook set-up: offline chart rendering and readable table output."""
    charts.enable()
    pl.Config.set_tbl_hide_dataframe_shape(True)


def load(client_id: str, period: str | None = None, build_dir: str | Path | None = None,
         data_dir: str | Path | None = None) -> ReportContext:
    """Load a client's report data; builds build/ from data/ first if it is missing.

    A worker's kernel runs several notebooks of one client in turn; the context is
    kept (keyed by the files it was read from) so each is read only once.
    """
    layout, data = _folders(build_dir, data_dir)
    _ensure_built(layout, data, [client_id])
    key = ("client", client_id, period or None, layout.build, _signature(layout, client_id))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _load_client(client_id, period or None, layout)
    return _CACHE[key]


def load_portfolio(period: str | None = None, build_dir: str | Path | None = None,
                   data_dir: str | Path | None = None) -> PortfolioContext:
    """Load every client's KPIs for the portfolio view."""
    layout, data = _folders(build_dir, data_dir)
    _ensure_built(layout, data, None)
    contracts = load_contracts(layout.contracts)
    metrics = _metrics(layout, contracts, period or None, None)
    gates = {c: g for c in contracts if (g := _read_optional(layout.gate(c)))}
    return PortfolioContext(metrics.summary["period"], contracts, metrics.client_kpis, gates, layout.build)


_CACHE: dict[tuple, ReportContext] = {}


def _folders(build_dir, data_dir) -> tuple[Layout, Path]:
    return (Layout(Path(build_dir) if build_dir else config.BUILD),
            Path(data_dir) if data_dir else config.SAMPLE_DATA)


def _ensure_built(layout: Layout, data: Path, clients: list[str] | None) -> list[str]:
    """Clean and validate from the raw data when build/ lacks them (interactive use)."""
    if not (layout.clean / "tickets.parquet").exists():
        clean_folder(data, layout.clean)
    known = sorted(p.stem for p in layout.contracts.glob("*.yml"))
    if clients and clients[0] not in known:
        raise KeyError(f"no client {clients[0]!r}; known: {', '.join(known)}")
    wanted = clients or known
    for client in [c for c in wanted if not layout.gate(c).exists()]:  # the run's summary.json is left alone
        validate_one(layout.clean, layout.validation, client)
    return wanted


def _signature(layout: Layout, client_id: str) -> tuple:
    files = [*sorted(layout.clean.glob("*.parquet")), *sorted(layout.metrics.glob("*")),
             layout.gate(client_id), layout.contract(client_id)]
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())


def _load_client(client_id: str, period: str | None, layout: Layout) -> ReportContext:
    contract = load_contract(layout.contract(client_id))
    mine = io.read_clean(layout.clean, client_id)
    metrics = _metrics(layout, {client_id: contract}, period, client_id, mine)
    gate = _read_optional(layout.gate(client_id))
    health = load_health(client_id, layout.clean, layout.validation) if gate is not None else None
    comments, fit = _tone(layout, metrics.summary["period"], client_id, mine.get("surveys") is not None)
    return ReportContext(
        client_id=client_id,
        period=metrics.summary["period"],
        contract=contract,
        tables=mine,
        ticket_sla=metrics.ticket_sla,
        kpis=metrics.client_kpis.sort("month"),
        by_priority=metrics.client_kpis_by_priority,
        uptime=metrics.client_uptime,
        gate=gate,
        health=health,
        build_dir=layout.build,
        coverage=metrics.client_kpi_coverage,
        summary=metrics.summary,
        tone=comments,
        tone_fit=fit,
    )


def _metrics(layout: Layout, contracts: dict[str, Contract], period: str | None, client_id: str | None,
             tables: dict[str, pl.DataFrame | None] | None = None) -> MetricsResult:
    """The run's metrics when they are for this period, else computed here in memory."""
    summary = _read_optional(layout.metrics / "metrics_summary.json", {})
    if summary and (period is None or summary.get("period") == period):
        frames = {name: io.read_table(layout.metrics, name, client_id=client_id) for name in OUTPUTS}
        return MetricsResult(**frames, summary=summary)
    return compute_metrics(tables or io.read_clean(layout.clean, client_id), contracts, period)


def _tone(layout: Layout, period: str, client_id: str, surveys: bool) -> tuple[pl.DataFrame, dict | None]:
    """The run's comment tone for this client when it is for this period; else estimated here
    from every client's surveys (interactive use for another month: trains in this kernel)."""
    empty = pl.DataFrame(schema=tone.COLUMNS)
    if not surveys:
        return empty, None
    fit = tone.read_fit(layout.metrics)
    if fit is not None and fit["period"] == period:
        rows = io.read_table(layout.metrics, tone.OUTPUT, client_id=client_id)
        return (rows if rows.columns else empty), fit
    everyone = io.read_table(layout.clean, "surveys", columns=["ticket_id", "client_id", "responded_at",
                                                                "sentiment", "comment"])
    found = tone.estimate_tone(everyone, load_contracts(layout.contracts), period, tone.min_labels_setting())
    return found.predictions.filter(pl.col("client_id") == client_id), found.fit


def _read_optional(path: Path, default=None):
    return io.read_json(path) if path.exists() else default
