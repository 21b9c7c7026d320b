"""The contract review commands: `servicereview review` (a review pack for a client's term) and
`servicereview whatif` (the term's tickets under other contract terms, side by side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.cli.common import BUILD, DataOpt, EngineOpt, app, check_engine, fail, guard, locked
from pipelines.cli.display import BatchProgress, console, short
from pipelines.core import config

FromOpt = Annotated[str | None, typer.Option("--from", help="First month YYYY-MM (default: the contract's latest "
                                                            "term, else the last 12 months).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last month YYYY-MM (default: see --from).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="An alternative contract term, e.g. "
                                                  "sla.P2.resolution=6h or business_hours.fri=08:00-18:00; repeat "
                                                  "for several (together one scenario, 'What-if').")]
ScenariosOpt = Annotated[Path | None, typer.Option("--scenarios", help="A YAML file with a scenarios: block "
                                                   "(name: [override, ...]).")]


def _scenarios(sets: list[str] | None, path: Path | None) -> dict[str, list[str]]:
    from pipelines.core.overrides import read_scenarios

    found = guard(read_scenarios, path) if path else {}
    if sets:
        found["What-if"] = list(sets)
    return found


def _check_months(*months: str | None) -> None:
    from pipelines.core.periods import month_index

    for option, month in zip(("--from", "--to"), months, strict=True):
        if month is not None:
            try:
                month_index(month)
            except ValueError as exc:
                fail(f"{option}: {exc}")


@app.command()
def review(
    client: Annotated[str, typer.Option("--client", help="The client to review.")],
    start: FromOpt = None,
    end: ToOpt = None,
    sets: SetOpt = None,
    scenarios: ScenariosOpt = None,
    data: DataOpt = config.SAMPLE_DATA,
    engine: EngineOpt = "auto",
) -> None:
    """A contract review pack for a client's term: every target month by month, service levels per
    priority, proactive work, surveys, recurring problems, effort and value, security, the changes
    since the last review, what-if scenarios, fair comparisons and a suggested agenda.

    Runs the data-quality gate like `run`, executes notebooks/contract_review.ipynb and publishes it
    (internal site, the client's bundle, PDF). The pack is kept with its last month's reports:
    reports/<to>/<client>/contract_review.ipynb. Exit codes as for `run`.
    """
    from pipelines.run.batch import LockedError
    from pipelines.run.review import ReviewOptions, run_review

    _check_months(start, end)
    check_engine(engine)
    options = ReviewOptions(client=client, start=start, end=end, scenarios=_scenarios(sets, scenarios), data=data,
                            engine=engine)
    with BatchProgress() as progress:
        try:
            result = guard(run_review, options, progress.on_event)
        except LockedError as exc:
            fail(str(exc), config.EXIT_LOCKED)
    for outcome in result.batch.outcomes:
        if outcome.status in {"failed", "stale"}:
            console.print(f"[red]{outcome.client_id}[/red]: {escape(outcome.message)}", highlight=False, soft_wrap=True)
    if result.pack:
        from pipelines.run.execute import cell_text

        Console(soft_wrap=True).print(cell_text(result.pack, "review.summary("), highlight=False, markup=False)
        console.print(f"review pack: {short(result.pack)}", highlight=False)
        bundle = config.SITE_CLIENTS / client / result.window.end
        if (bundle / "contract_review.pdf").exists():
            console.print(f"PDF: {short(bundle / 'contract_review.pdf')}", highlight=False)
    raise typer.Exit(result.exit_code)


@app.command()
def whatif(
    client: Annotated[str, typer.Option("--client", help="The client.")],
    start: FromOpt = None,
    end: ToOpt = None,
    sets: SetOpt = None,
    scenarios: ScenariosOpt = None,
    data: DataOpt = config.SAMPLE_DATA,
) -> None:
    """Re-evaluate a term's tickets under other contract terms (the same engine as the reports) and
    print them side by side with the actual contract: SLA % per priority, months met, credits owed."""
    from pipelines.report.whatif import comparison, run_whatif, sentences

    _check_months(start, end)
    found = _scenarios(sets, scenarios)
    if not found:
        fail("give at least one --set (or --scenarios FILE): the what-if's other contract terms")
    with locked():
        done = guard(run_whatif, client, found, data, BUILD.clean, start, end)
    frame = comparison(done.actual, done.scenarios)
    window = done.window
    table = Table(title=f"what-if for {client}, {window.start} to {window.end} ({window.why})")
    for column in frame.columns:
        table.add_column(column, justify="left" if column == "Figure" else "right")
    for row in frame.iter_rows():
        table.add_row(*row)
    out = Console(width=max(100, 34 + 24 * len(frame.columns)))  # stdout: the command's result
    out.print(table)
    for figures in done.scenarios:
        out.print(f"{figures.name} ({', '.join(figures.overrides)}):", highlight=False, markup=False)
        for line in sentences(done.actual, figures, done.contract):
            out.print(f"  - {line}", highlight=False, soft_wrap=True, markup=False)
