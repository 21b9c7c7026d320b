"""A contract term's figures from the monthly KPI tables: every target month by month, pooled
over the term (counts added up, with a 95% interval), its two halves, and the months that were
clearly worse than the rest of the term.

Pure functions over the metrics frames (`client_kpis`, `client_kpis_by_priority`,
`client_uptime`, `client_kpi_coverage`) restricted to the term's months, so the review pack,
the what-if comparison and the tests all read the same numbers. A month is judged only when it
is complete, measured and not too thin (`narrative.MIN_N`); pooling never adds up a month whose
KPI is not measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from pipelines.core.contracts import Contract
from pipelines.core.periods import month_index, period_title
from pipelines.metrics.kpis import wilson
from pipelines.report import narrative as say

MET, MISSED, THIN, NOT_MEASURED, NA, PARTIAL = "met", "missed", "too few", "not measured", "n/a", "partial"


@dataclass(frozen=True)
class Target:
    """A contract target judged month by month: its KPI column, the count behind it, and the
    thin-sample rule (`narrative.MIN_N` kind; '' for a figure that is not a share of tickets)."""

    key: str
    label: str
    kind: str = ""
    n: str | None = None
    unit: str = "%"

    def goal(self, contract: Contract) -> float:
        return contract.uptime.target_pct if self.key == "uptime_pct" else getattr(contract.targets, self.key)

    @property
    def interval(self) -> bool:
        """Pooled as hits out of n, with a Wilson interval (the shares of tickets and surveys)."""
        return self.n is not None and self.kind in ("sla", "csat", "fcr", "share")


TARGETS = (
    Target("response_sla_pct", "Response SLA", "sla", "response_sla_n"),
    Target("resolution_sla_pct", "Resolution SLA", "sla", "resolution_sla_n"),
    Target("csat_pct", "CSAT", "csat", "csat_n"),
    Target("fcr_pct", "First-contact resolution", "fcr", "fcr_n"),
    Target("proactive_pct", "Proactive share", "share", "proactive_n"),
    Target("uptime_pct", "Uptime (worst service)"),
    Target("patch_compliance_pct", "Patch compliance", "patch", "patch_compliance_n"),
    Target("onsite_visits", "On-site visits", unit=""),
)
BY_KEY = {t.key: t for t in TARGETS}
SERVICE = ("response_sla_pct", "resolution_sla_pct", "csat_pct", "fcr_pct")  # what "degraded" is judged on


def in_term(frame: pl.DataFrame, months: list[str]) -> pl.DataFrame:
    """The rows of the term's months, oldest first."""
    return frame.filter(pl.col("month").is_in(months)).sort("month")


def verdicts(kpis: pl.DataFrame, contract: Contract, coverage: pl.DataFrame) -> pl.DataFrame:
    """One row per month and target: value, n, goal and the verdict (met, missed, too few,
    not measured, n/a, partial). `kpis` holds the term's months only."""
    off = set(coverage.filter(~pl.col("measured")).select("month", "kpi").iter_rows())
    rows = []
    for k in kpis.iter_rows(named=True):
        for t in TARGETS:
            value, n, goal = k[t.key], k[t.n] if t.n else None, t.goal(contract)
            if not k["month_complete"]:
                verdict = PARTIAL
            elif (k["month"], t.key) in off:
                verdict = NOT_MEASURED
            elif say.is_missing(value) or n == 0:
                verdict = NA
            elif t.kind and say.thin(n, t.kind):
                verdict = THIN
            else:
                verdict = MET if value >= goal else MISSED
            rows.append((k["month"], t.key, t.label, None if say.is_missing(value) else float(value), n,
                         float(goal), verdict))
    schema = {"month": pl.String, "key": pl.String, "label": pl.String, "value": pl.Float64, "n": pl.Int64,
              "goal": pl.Float64, "verdict": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


@dataclass(frozen=True)
class Pooled:
    """A figure over several months: value (None when nothing was measured), the count it rests on
    (tickets, surveys, device-months; months for uptime and visits) and a 95% interval for shares."""

    value: float | None
    n: int
    low: float | None = None
    high: float | None = None
    goal_total: float | None = None  # on-site visits: the visits the contract includes over the months

    def text(self, kind: str = "sla", unit: str = "%", target: float | None = None) -> str:
        if unit != "%":
            return say.number(self.value)
        return say.pct(self.value, self.n, kind, target) if kind else say.pct(self.value, target=target)


def pooled(kpis: pl.DataFrame, target: Target, contract: Contract | None = None) -> Pooled:
    """The target's KPI over the given months: hits and counts added up for shares (only months
    where it was measured), the mean for uptime, the total for on-site visits."""
    rows = kpis.filter(pl.col(target.key).is_not_null())
    if target.key == "onsite_visits":
        goal = contract.targets.onsite_visits * rows.height if contract else None
        return Pooled(float(rows[target.key].sum()) if rows.height else None, rows.height, goal_total=goal)
    if target.n is None:
        return Pooled(rows[target.key].mean() if rows.height else None, rows.height)
    hits = int(sum(round(v * n / 100) for v, n in rows.select(target.key, target.n).iter_rows()))
    return share(hits, int(rows[target.n].sum() or 0), interval=target.interval)


def share(hits: int, n: int, interval: bool = True) -> Pooled:
    """hits of n as a percentage with its Wilson 95% interval (None when n = 0)."""
    if n <= 0:
        return Pooled(None, 0)
    if not interval:
        return Pooled(100 * hits / n, n)
    low, high = wilson(pl.lit(hits, pl.Float64), pl.lit(n, pl.Float64))
    low, high = pl.select(low.alias("low"), high.alias("high")).row(0)
    return Pooled(100 * hits / n, n, low, high)


def halves(months: list[str]) -> tuple[list[str], list[str]]:
    """The first and second half of the term (the middle month of an odd term is in neither)."""
    half = len(months) // 2
    return months[:half], months[len(months) - half:]


def trend_words(label: str, first: Pooled, second: Pooled, kind: str, unit: str = "%",
                higher_is_better: bool = True) -> str:
    """'Response SLA fell from 95.1% in the first half of the term to 71.3% in the second.'"""
    thin = any(p.value is None or (kind and say.thin(p.n, kind)) for p in (first, second))
    if thin:
        return f"{label}: too few figures in one half of the term to compare the halves."
    a, b = first.value, second.value
    points = "points" if unit == "%" else unit.strip() or "units"
    if abs(b - a) < 1:
        return f"{label} held steady ({a:.1f}{unit} in the first half, {b:.1f}{unit} in the second)."
    better = (b > a) == higher_is_better
    verb = ("improved" if better else "worsened")
    return (f"{label} {verb} from {a:.1f}{unit} in the first half of the term to {b:.1f}{unit} in the second "
            f"({'+' if b > a else '−'}{abs(b - a):.1f} {points}).")


def clearly_worse(kpis: pl.DataFrame, judged: pl.DataFrame) -> dict[str, list[tuple[str, float, float]]]:
    """Months in which a service target (SLA, CSAT, FCR) was missed AND the month was clearly
    worse than the rest of the term: the upper end of its 95% interval is below the value of the
    other months pooled. month -> [(target label, month value, rest of term value)]."""
    found: dict[str, list[tuple[str, float, float]]] = {}
    for key in SERVICE:
        t = BY_KEY[key]
        missed = judged.filter((pl.col("key") == key) & (pl.col("verdict") == MISSED))
        for month, value, n in missed.select("month", "value", "n").iter_rows():
            rest = pooled(kpis.filter(pl.col("month") != month), t)
            upper = share(round(value * n / 100), n).high
            if rest.value is not None and not say.thin(rest.n, t.kind) and upper < rest.value:
                found.setdefault(month, []).append((t.label, value, rest.value))
    return dict(sorted(found.items()))


def and_list(items: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def month_list(months: list[str]) -> str:
    """['2026-05', '2026-06', '2026-07'] -> 'May 2026, June 2026 and July 2026'."""
    return and_list([period_title(m) for m in months])


# ---------------------------------------------------------------- SLA per priority, credits


def sla_by_priority(kpis: pl.DataFrame, by_priority: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """Response and resolution SLA pooled over the months per priority (and All): met, n, pct,
    95% interval, and in how many of the judged months the contract's percentage was reached."""
    whole = kpis.select("month", "month_complete", pl.lit("All").alias("priority"),
                        *[pl.col(c) for t in ("response", "resolution") for c in (f"{t}_met", f"{t}_sla_n")])
    complete = dict(kpis.select("month", "month_complete").iter_rows())
    per = by_priority.select("month", pl.col("month").replace_strict(complete, default=False)
                             .alias("month_complete"), "priority",
                             *[pl.col(c) for t in ("response", "resolution") for c in (f"{t}_met", f"{t}_sla_n")])
    both = pl.concat([whole, per.cast(whole.schema)])
    rows = []
    for target in ("response", "resolution"):
        goal = getattr(contract.targets, f"{target}_sla_pct")
        for priority, group in both.group_by("priority", maintain_order=True):
            met, n = int(group[f"{target}_met"].sum()), int(group[f"{target}_sla_n"].sum())
            p = share(met, n)
            judged = group.filter(pl.col("month_complete") & (pl.col(f"{target}_sla_n") >= say.MIN_N["sla"]))
            months_met = judged.filter(100 * pl.col(f"{target}_met") / pl.col(f"{target}_sla_n") >= goal).height
            rows.append((target, priority[0], met, n, p.value, p.low, p.high, months_met, judged.height))
    schema = {"target": pl.String, "priority": pl.String, "met": pl.Int64, "n": pl.Int64, "pct": pl.Float64,
              "low": pl.Float64, "high": pl.Float64, "months_met": pl.Int64, "months_judged": pl.Int64}
    order = {p: i for i, p in enumerate(["All", *contract.sla])}
    return (pl.DataFrame(rows, schema=schema, orient="row")
            .sort(pl.col("target").replace_strict({"response": 0, "resolution": 1}, return_dtype=pl.Int64),
                  pl.col("priority").replace_strict(order, default=99, return_dtype=pl.Int64)))


def credits_owed(kpis: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """Per month the service credit owed (percentage of the fee and amount), months with none too."""
    return kpis.select("month", pl.col("service_credit_pct").alias("credit_pct"),
                       (pl.col("service_credit_pct") * contract.monthly_fee / 100).alias("amount"))


# ---------------------------------------------------------------- uptime over the term


def month_minutes(month: str, zone: str) -> float:
    """Minutes in a local calendar month (daylight-saving changes included)."""
    index = month_index(month)
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=ZoneInfo(zone))
    nxt = index + 1
    end = datetime(nxt // 12, nxt % 12 + 1, 1, tzinfo=ZoneInfo(zone))
    return (end.timestamp() - start.timestamp()) / 60


def uptime_by_service(uptime: pl.DataFrame, zone: str, goal: float) -> pl.DataFrame:
    """Per service over the months: unplanned and planned minutes, uptime (1 - unplanned / (minutes
    - planned)) and the months below the target."""
    if uptime.is_empty():
        return pl.DataFrame(schema={"service": pl.String, "unplanned_minutes": pl.Float64,
                                    "planned_minutes": pl.Float64, "uptime_pct": pl.Float64,
                                    "months_below": pl.Int64, "months": pl.Int64})
    minutes = {m: month_minutes(m, zone) for m in uptime["month"].unique().to_list()}
    return (uptime.with_columns(pl.col("month").replace_strict(minutes, return_dtype=pl.Float64).alias("__minutes"))
            .group_by("service", maintain_order=True)
            .agg(pl.col("unplanned_minutes").sum(), pl.col("planned_minutes").sum(),
                 (pl.col("__minutes") - pl.col("planned_minutes")).sum().alias("__base"),
                 (pl.col("uptime_pct") < goal).sum().cast(pl.Int64).alias("months_below"),
                 pl.len().cast(pl.Int64).alias("months"))
            .with_columns(pl.when(pl.col("__base") > 0)
                          .then(100 * (1 - pl.col("unplanned_minutes") / pl.col("__base"))).alias("uptime_pct"))
            .select("service", "unplanned_minutes", "planned_minutes", "uptime_pct", "months_below", "months")
            .sort("service"))


def finite(value: float | None) -> float | None:
    """A float for JSON: None for a missing or non-finite value."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)
