"""The portfolio view (MSP only): every client for the period, ranked by risk.

Risk score = SLA points below target (response + resolution, judged only on
months with enough tickets) + CSAT points lost against the client's previous
three months + the service credit owed (% of the monthly fee). Each part is
shown, so the ranking can be argued with.
"""

from __future__ import annotations

import polars as pl

from pipelines.core.periods import period_title, previous_month
from pipelines.report import charts
from pipelines.report import narrative as say
from pipelines.report.context import PortfolioContext
from pipelines.report.fragments import Fragment, bullets
from pipelines.report.fragments import table as html_table

RISK_PARTS = ("sla_risk", "csat_risk", "credit_risk")


def _judgeable(pct: str, n: str, kind: str) -> pl.Expr:
    return pl.when(pl.col(n) >= say.MIN_N[kind]).then(pl.col(pct))


def ranking(pctx: PortfolioContext) -> pl.DataFrame:
    """One row per client for the period with the KPIs and the parts of the risk score."""
    contracts = pctx.contracts
    history = pctx.kpis.filter(pl.col("month") <= pctx.period)
    previous = [pctx.period]
    for _ in range(3):
        previous.append(previous_month(previous[-1]))
    csat_before = (history.filter(pl.col("month").is_in(previous[1:]))
                   .group_by("client_id").agg((pl.col("csat_pct") * pl.col("csat_n")).sum().alias("_hits"),
                                              pl.col("csat_n").sum().alias("_n"))
                   .with_columns(pl.when(pl.col("_n") >= say.MIN_N["csat"])
                                 .then(pl.col("_hits") / pl.col("_n")).alias("csat_before")))
    meta = pl.DataFrame({
        "client_id": list(contracts),
        "client": [k.name for k in contracts.values()],
        "response_target": [k.targets.response_sla_pct for k in contracts.values()],
        "resolution_target": [k.targets.resolution_sla_pct for k in contracts.values()],
        "monthly_fee": [float(k.monthly_fee) for k in contracts.values()],
    })
    now = history.filter(pl.col("month") == pctx.period)
    frame = (meta.join(now, on="client_id", how="left")
             .join(csat_before.select("client_id", "csat_before"), on="client_id", how="left"))
    response = _judgeable("response_sla_pct", "response_sla_n", "sla")
    resolution = _judgeable("resolution_sla_pct", "resolution_sla_n", "sla")
    csat = _judgeable("csat_pct", "csat_n", "csat")
    return frame.with_columns(
        ((pl.col("response_target") - response).clip(lower_bound=0).fill_null(0)
         + (pl.col("resolution_target") - resolution).clip(lower_bound=0).fill_null(0)).alias("sla_risk"),
        (pl.col("csat_before") - csat).clip(lower_bound=0).fill_null(0).alias("csat_risk"),
        pl.col("service_credit_pct").fill_null(0).alias("credit_risk"),
        (pl.col("service_credit_pct").fill_null(0) * pl.col("monthly_fee") / 100).alias("credit_owed"),
    ).with_columns(pl.sum_horizontal(RISK_PARTS).alias("risk")).sort(["risk", "client"],
                                                                       descending=[True, False])


def summary(pctx: PortfolioContext) -> Fragment:
    """The portfolio in a few sentences."""
    ranked = ranking(pctx)
    missed = ranked.filter(pl.col("sla_risk") > 0)
    owed = ranked["credit_owed"].sum()
    top = ranked.row(0, named=True) if ranked.height else None
    lines = [
        f"{ranked.height} clients in {period_title(pctx.period)}; "
        f"{missed.height} missed an SLA target (judged on months with at least {say.MIN_N['sla']} tickets).",
        f"Service credits owed this month: {say.money(owed)} in total.",
    ]
    if top and top["risk"] > 0:
        lines.append(f"Highest risk: {top['client']} (score {top['risk']:.1f}: SLA {top['sla_risk']:.1f}, "
                     f"CSAT drop {top['csat_risk']:.1f}, credit {top['credit_risk']:.1f}).")
    thin = ranked.filter(pl.col("response_sla_n").fill_null(0) < say.MIN_N["sla"])["client"].to_list()
    if thin:
        lines.append(f"Too few tickets to judge SLA this month: {', '.join(thin)}.")
    return bullets(lines)


def risk_chart(pctx: PortfolioContext):
    return charts.risk_bars(ranking(pctx))


def table(pctx: PortfolioContext) -> Fragment:
    """All clients side by side for the period."""
    ranked = ranking(pctx)
    fmt = {
        "response_sla_pct": lambda v: say.pct(v), "resolution_sla_pct": lambda v: say.pct(v),
        "csat_pct": lambda v: say.pct(v), "csat_before": lambda v: say.pct(v),
        "fcr_pct": lambda v: say.pct(v), "uptime_pct": lambda v: say.pct(v),
        "credit_owed": say.money, "risk": lambda v: f"{v:.1f}",
    }
    return html_table(ranked, {
        "client": "Client", "tickets_created": "Tickets", "response_sla_pct": "Response SLA",
        "response_sla_n": "n", "resolution_sla_pct": "Resolution SLA", "resolution_sla_n": "n",
        "csat_pct": "CSAT", "csat_n": "n", "csat_before": "CSAT prev. 3 mo.", "fcr_pct": "FCR",
        "uptime_pct": "Uptime", "credit_owed": "Credit owed", "risk": "Risk",
    }, formats=fmt, caption=f"All clients, {period_title(pctx.period)}")


def gates(pctx: PortfolioContext) -> Fragment:
    """Each client's data-quality gate: publishable or held back, with counts."""
    rows = [
        {"client": pctx.contracts[c].name, "publishable": g.get("publishable"),
         **{k: (g.get("counts") or {}).get(k, 0) for k in ("passed", "warned", "failed")}}
        for c, g in sorted(pctx.gates.items())
    ]
    frame = pl.DataFrame(rows, schema={"client": pl.String, "publishable": pl.Boolean, "passed": pl.Int64,
                                       "warned": pl.Int64, "failed": pl.Int64})
    return html_table(frame, {"client": "Client", "publishable": "Published", "passed": "Checks passed",
                              "warned": "Warnings", "failed": "Failed"}, empty="No gate results.")
