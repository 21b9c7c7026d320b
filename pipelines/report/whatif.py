"""What-if targets on past data: the term's tickets re-evaluated under other contract terms.

A scenario is a list of overrides (`sla.P2.resolution=6h`, `business_hours.fri=08:00-18:00`,
see `pipelines.core.overrides`). Each is applied to the client's contract, validated like a
contract file, and the client's own clean tables go through the same engine as the monthly run
(`pipelines.metrics.stage.compute_metrics`), so a scenario's figures are exactly what the reports
would have shown under those terms: SLA compliance per priority over the term, the months each
SLA target was met, and the service credits owed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.clean.stage import clean_folder
from pipelines.core import io
from pipelines.core.contracts import Contract, load_contracts
from pipelines.core.overrides import apply_overrides
from pipelines.core.periods import months_between
from pipelines.core.terms import Window, check_window, review_window
from pipelines.metrics.stage import READ_COLUMNS, compute_metrics, data_ends, default_period
from pipelines.report import narrative as say
from pipelines.report.term import credits_owed, in_term, sla_by_priority

ACTUAL = "Actual contract"


@dataclass(frozen=True)
class Figures:
    """What a contract gives over the term: SLA per priority (`term.sla_by_priority`) and credits."""

    name: str
    overrides: tuple[str, ...]
    sla: pl.DataFrame
    credits: pl.DataFrame  # month, credit_pct, amount
    currency: str

    @property
    def credits_total(self) -> float:
        return float(self.credits["amount"].fill_null(0).sum())

    @property
    def credit_months(self) -> int:
        return self.credits.filter(pl.col("credit_pct") > 0).height

    def row(self, target: str, priority: str = "All") -> dict:
        rows = self.sla.filter((pl.col("target") == target) & (pl.col("priority") == priority))
        return rows.row(0, named=True) if rows.height else {}


def figures(name: str, kpis: pl.DataFrame, by_priority: pl.DataFrame, contract: Contract, months: list[str],
            overrides: tuple[str, ...] = ()) -> Figures:
    """A contract's term figures from the metrics tables (all months; the term's are taken)."""
    term_kpis = in_term(kpis, months)
    return Figures(name, overrides, sla_by_priority(term_kpis, in_term(by_priority, months), contract),
                   credits_owed(term_kpis, contract), contract.currency)


def evaluate(name: str, overrides: list[str] | tuple[str, ...], contract: Contract,
             tables: dict[str, pl.DataFrame | None], months: list[str],
             extracted_at: datetime | None = None) -> Figures:
    """One scenario: the contract with `overrides`, the client's tables through the metrics
    engine up to the term's last month. OverrideError names a bad override."""
    changed = apply_overrides(contract, list(overrides), f"scenario {name!r}")
    result = compute_metrics(tables, {changed.client_id: changed}, months[-1], extracted_at=extracted_at)
    return figures(name, result.client_kpis, result.client_kpis_by_priority, changed, months, tuple(overrides))


def comparison(actual: Figures, scenarios: list[Figures]) -> pl.DataFrame:
    """Side by side: one row per figure (SLA % per target and priority, months met, credits),
    one column per contract (the actual one first), as text."""
    columns = [actual, *scenarios]
    rows = []
    for target in ("response", "resolution"):
        for priority in actual.sla.filter(pl.col("target") == target)["priority"]:
            label = f"{target.title()} SLA, {'all priorities' if priority == 'All' else priority}"
            rows.append([label, *(_pct(f.row(target, priority)) for f in columns)])
        rows.append([f"Months the {target} SLA target was met",
                     *(_months(f.row(target)) for f in columns)])
    rows.append(["Service credits owed", *(f"{say.money(f.credits_total, f.currency)} "
                                           f"({say.plural(f.credit_months, 'month')})" for f in columns)])
    names = ["Figure", *(f.name for f in columns)]
    return pl.DataFrame(rows, schema=names, orient="row")


def _pct(row: dict) -> str:
    return say.pct(row.get("pct"), row.get("n")) + (f" (n={row['n']})" if row.get("n") else "")


def _months(row: dict) -> str:
    return f"{row['months_met']} of {row['months_judged']}" if row.get("months_judged") else "n/a"


def sentences(actual: Figures, scenario: Figures, contract: Contract) -> list[str]:
    """The scenario in words, against the actual contract: what changes for each SLA target."""
    lines = []
    for target in ("response", "resolution"):
        now, then = actual.row(target), scenario.row(target)
        goal = getattr(contract.targets, f"{target}_sla_pct")
        if not then.get("months_judged"):
            continue
        missed = then["months_judged"] - then["months_met"]
        lines.append(f"{target.title()} SLA: met in {then['months_met']} of {then['months_judged']} months "
                     f"(actual {now['months_met']}), so the {goal:g}% target would have been missed in "
                     f"{missed} of {then['months_judged']} months; {say.pct(then['pct'], then['n'])} on time "
                     f"over the term (actual {say.pct(now['pct'], now['n'])}).")
    for priority in [p for p in scenario.sla["priority"].unique(maintain_order=True) if p != "All"]:
        for target in ("response", "resolution"):
            now, then = actual.row(target, priority), scenario.row(target, priority)
            if then and now and then["n"] and then["pct"] is not None and now["pct"] is not None \
                    and abs(then["pct"] - now["pct"]) >= 0.05:
                lines.append(f"{priority} {target}: {say.pct(then['pct'], then['n'])} on time (actual "
                             f"{say.pct(now['pct'], now['n'])}); the contract's percentage reached in "
                             f"{then['months_met']} of {then['months_judged']} judged months "
                             f"(actual {now['months_met']}).")
    lines.append(f"Service credits owed over the term: {say.money(scenario.credits_total, scenario.currency)} "
                 f"(actual {say.money(actual.credits_total, actual.currency)}).")
    return lines


@dataclass(frozen=True)
class WhatIf:
    """A what-if run: the contract, the months, the actual figures and each scenario's."""

    contract: Contract
    window: Window
    actual: Figures
    scenarios: list[Figures]


def run_whatif(client_id: str, scenarios: dict[str, list[str]], data_dir: Path, clean_dir: Path,
               start: str | None = None, end: str | None = None) -> WhatIf:
    """Clean the raw data, then evaluate the client's term (default: its contract's latest term)
    under the actual contract and each scenario, with the export's end as the run sees it."""
    clean_folder(data_dir, clean_dir)
    tables = io.read_clean(clean_dir, columns=READ_COLUMNS)
    contracts = load_contracts(Path(clean_dir) / "contracts")
    if client_id not in contracts:
        raise io.InputError(f"--client {client_id}: no such client (known: {', '.join(sorted(contracts))})")
    contract = contracts[client_id]
    stated = (io.read_json(Path(clean_dir) / "clean_summary.json").get("import") or {}).get("extracted_at")
    ends = data_ends(tables)
    export_end = datetime.fromisoformat(stated).astimezone(UTC) if stated else max(ends.values(), default=None)
    mine = {name: None if frame is None else frame.filter(pl.col("client_id") == client_id)
            for name, frame in tables.items()}
    window = review_window(contract.term, default_period(export_end, {client_id: contract}), start, end)
    created = mine["tickets"]["created_at"].min()
    check_window(window, created and created.strftime("%Y-%m"), export_end and export_end.strftime("%Y-%m"))
    months = months_between(window.start, window.end)
    actual = evaluate(ACTUAL, [], contract, mine, months, export_end)
    return WhatIf(contract, window, actual,
                  [evaluate(name, sets, contract, mine, months, export_end) for name, sets in scenarios.items()])
