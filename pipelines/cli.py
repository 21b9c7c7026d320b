"""The `servicereview` command line: one verb per pipeline stage (mirrors the Makefile).

Each command is a thin shell over a function in its domain module; heavy
imports happen inside the command so `servicereview --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from pipelines import config

app = typer.Typer(
    help="servicereview: SLA compliance and support KPIs per client, published as a website.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

DataOpt = Annotated[Path, typer.Option("--data", help="Folder with the raw exports and contracts/.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder to write to.")]
PeriodOpt = Annotated[
    Optional[str], typer.Option("--period", help="Report month YYYY-MM (default: latest complete month).")
]


def _fail(message: str, code: int = config.EXIT_USAGE) -> None:
    console.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _guard(func, *args, **kwargs):
    """Run a stage; turn input errors into a clear message and exit code 2."""
    from pipelines.contracts import ContractError
    from pipelines.io import InputError

    try:
        return func(*args, **kwargs)
    except (ContractError, InputError) as exc:
        _fail(str(exc))


def _clean_table(summary: dict):
    from rich.table import Table

    table = Table(title="clean: every input row is clean or rejected")
    for column in ("table", "source", "rows in", "clean", "rejected", "reasons"):
        table.add_column(column, justify="right" if column in {"rows in", "clean", "rejected"} else "left")
    for name, t in summary["tables"].items():
        reasons = "\n".join(f"{r} {n}" for r, n in t["by_reason"].items())
        table.add_row(name, t["source"], str(t["rows_in"]), str(t["clean"]), str(t["rejected"]), reasons)
    for name in summary["missing_tables"]:
        table.add_row(name, "(no file: section skipped)", "", "", "", "")
    return table


@app.command()
def sample(
    out: OutOpt = config.SAMPLE_DATA,
    clients: Annotated[int, typer.Option(help="Number of clients.")] = 5,
    months: Annotated[int, typer.Option(help="Number of months, ending with --end.")] = 13,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 7,
    end: Annotated[str, typer.Option(help="Last month YYYY-MM.")] = "2026-10",
    tickets: Annotated[
        Optional[int], typer.Option(help="Total tickets to aim for (default: from seat counts).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    dirty: Annotated[bool, typer.Option(help="Also write the deliberately dirty set to OUT/dirty.")] = True,
) -> None:
    """Generate a deterministic, realistic sample data set (tables + contracts)."""
    from pipelines.sample import write_sample

    written = write_sample(out, clients=clients, months=months, seed=seed, end=end,
                           tickets=tickets, fmt=fmt, dirty=dirty)
    for path in written:
        console.print(f"wrote {path}", highlight=False)


@app.command()
def clean(data: DataOpt = config.SAMPLE_DATA, out: OutOpt = config.BUILD / "clean") -> None:
    """Ingest raw exports: clean tables + rejects (every row accounted for)."""
    from pipelines.clean import clean_folder

    result = _guard(clean_folder, data, out)
    console.print(_clean_table(result.summary))
    console.print(f"clean tables and rejects written to {out}", highlight=False)


@app.command()
def validate(
    data: Annotated[Path, typer.Option("--data", help="Folder with the clean tables.")] = config.BUILD / "clean",
    out: OutOpt = config.BUILD / "validation",
    client: Annotated[Optional[list[str]], typer.Option("--client", help="Only these clients.")] = None,
) -> None:
    """Run the data-quality gate (Great Expectations) per client."""
    _fail("validate is not built yet")


@app.command()
def metrics(
    data: Annotated[Path, typer.Option("--data", help="Folder with the clean tables.")] = config.BUILD / "clean",
    out: OutOpt = config.BUILD / "metrics",
    period: PeriodOpt = None,
) -> None:
    """Compute the per-ticket SLA table and the client x month KPI table."""
    _fail("metrics is not built yet")


@app.command(name="import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Export file(s) to import.")],
    preset: Annotated[str, typer.Option("--from", help="Preset name or a mapping YAML file.")],
    out: OutOpt = Path("imported"),
    client_map: Annotated[
        Optional[str], typer.Option("--client-map", help="A client id for the whole file, or a YAML map.")
    ] = None,
) -> None:
    """Turn a PSA / help-desk export into the canonical tables."""
    _fail("import is not built yet")


@app.command()
def run(
    period: PeriodOpt = None,
    client: Annotated[Optional[list[str]], typer.Option("--client", help="Only these clients.")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", help="Parallel jobs (default: cores).")] = None,
    data: DataOpt = config.SAMPLE_DATA,
) -> None:
    """The monthly batch: clean, validate, metrics, notebooks per client, publish."""
    from pipelines.clean import clean_folder

    _guard(clean_folder, data, config.BUILD / "clean")
    console.print(f"cleaned {data} into {config.BUILD / 'clean'}", highlight=False)


@app.command()
def publish() -> None:
    """Build the website (_site/) and the per-client bundles from reports/."""
    _fail("publish is not built yet")


@app.command()
def preview(port: Annotated[int, typer.Option(help="Port on localhost.")] = 8000) -> None:
    """Serve _site/ on localhost for a quick look."""
    _fail("preview is not built yet")


if __name__ == "__main__":
    app()
