"""What every command shares: the typer app, the option types, and the wrappers that turn a
stage's errors into a message and an exit code (and take the run lock)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.display import console
from pipelines.core import config
from pipelines.core.layout import Layout

app = typer.Typer(
    help="servicereview: SLA compliance and support KPIs per client, published as a website.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
BUILD = Layout(config.BUILD)

DataOpt = Annotated[Path, typer.Option("--data", help="Folder with the raw exports and contracts/.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder to write to.")]
PeriodOpt = Annotated[
    str | None, typer.Option("--period", help="Report month YYYY-MM (default: latest complete month).")
]
EncodingOpt = Annotated[str | None, typer.Option(
    "--encoding", help="Encoding of CSV files that are not UTF-8, e.g. cp1252 (UTF-8 files stay UTF-8).")]
SeparatorOpt = Annotated[str | None, typer.Option(
    "--separator", help="CSV separator, e.g. ';' (default: read from each file's header).")]
ExtractedOpt = Annotated[str | None, typer.Option(
    "--extracted-at", help="When the export was taken (ISO date/time; default: as the import recorded it, "
                           "else now): timestamps over a day later are implausible, months up to it complete.")]
EarliestOpt = Annotated[str | None, typer.Option(
    "--earliest", help="Timestamps before this date are implausible (default 1990-01-01).")]
PeriodsOpt = Annotated[
    str | None, typer.Option("--period", help="Report month YYYY-MM, a range YYYY-MM:YYYY-MM (every month "
                             "in it) or 'all' (every month in the data); default: latest complete month.")
]
EngineOpt = Annotated[
    str, typer.Option("--engine", envvar="SERVICEREVIEW_ENGINE",
                      help="Publish with 'quarto', the 'builtin' renderer, or 'auto' (Quarto when found).")
]


def fail(message: str, code: int = config.EXIT_USAGE) -> None:
    from rich.markup import escape  # a message may hold [brackets] (YAML lists, field paths)

    console.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def build_of(out: Path) -> Path:
    """The build folder a stage's output belongs to: the workspace's build/ when it is in there
    (the folder a run locks), else the output's own parent (another workspace, e.g. a test's)."""
    out, build = Path(out).resolve(), config.BUILD.resolve()
    return config.BUILD if out == build or build in out.parents else out.parent


@contextmanager
def locked(build: Path = config.BUILD):
    """Hold the run lock of the workspace while a command writes into it (exit 3 when taken)."""
    from pipelines.core.io import describe_os_error
    from pipelines.run.lock import LockedError, run_lock

    try:
        with run_lock(build):
            yield
    except LockedError as exc:
        fail(str(exc), config.EXIT_LOCKED)
    except OSError as exc:  # a full disk, a folder that cannot be written: a message, not a traceback
        fail(describe_os_error(exc))


def guard(func, *args, **kwargs):
    """Run a stage; turn input errors into a clear message and exit code 2."""
    from pipelines.core.contracts import ContractError
    from pipelines.core.io import InputError, describe_os_error
    from pipelines.core.overrides import OverrideError
    from pipelines.run.execute import TemplateError

    try:
        return func(*args, **kwargs)
    except (ContractError, InputError, TemplateError, OverrideError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(describe_os_error(exc))


def check_period(period: str | None) -> None:
    from pipelines.core.periods import parse_periods

    try:
        parse_periods(period)
    except ValueError as exc:
        fail(str(exc))


def check_engine(engine: str) -> None:
    from pipelines.site.publish import ENGINES

    if engine not in ("auto", *ENGINES):
        fail(f"--engine {engine!r} is not one of auto, {', '.join(ENGINES)}")
