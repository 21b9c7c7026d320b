"""The `servicereview` command line: one verb per pipeline stage (mirrors the Makefile).

Each command is a thin shell over a function of its stage; the stages are imported
inside the commands (deliberately lazy) so `servicereview --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli import display
from pipelines.cli.common import (
    BUILD,
    DataOpt,
    EarliestOpt,
    EncodingOpt,
    EngineOpt,
    ExtractedOpt,
    OutOpt,
    PeriodOpt,
    PeriodsOpt,
    SeparatorOpt,
    app,
    build_of,
    check_engine,
    check_period,
    fail,
    guard,
    locked,
)
from pipelines.cli.display import console
from pipelines.core import config

@app.command()
def sample(
    out: OutOpt = config.SAMPLE_DATA,
    clients: Annotated[int, typer.Option(help="Number of clients.")] = 5,
    months: Annotated[int, typer.Option(help="Number of months, ending with --end.")] = 13,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 7,
    end: Annotated[str, typer.Option(help="Last month YYYY-MM.")] = "2026-10",
    tickets: Annotated[
        int | None, typer.Option(help="Total tickets to aim for (default: from seat counts).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    dirty: Annotated[bool, typer.Option(help="Also write the deliberately dirty set to OUT/dirty.")] = True,
) -> None:
    """Generate a deterministic, realistic sample data set (tables + contracts)."""
    from pipelines.ingest.sample.write import SampleError, write_sample

    try:
        written = write_sample(out, clients=clients, months=months, seed=seed, end=end,
                               tickets=tickets, fmt=fmt, dirty=dirty)
    except SampleError as exc:  # a bad --end, --months, --clients, --tickets or --format
        fail(str(exc))
    for path in written:
        console.print(f"wrote {path}", highlight=False)


def _read_settings(encoding, separator, extracted_at, earliest):
    """(time bounds or None for the defaults, read options) from the options, or a clear exit 2."""
    from datetime import datetime

    from pipelines.clean.fields import TimeBounds
    from pipelines.core.exports import ReadOptions
    from pipelines.core.io import InputError

    moments = {}
    for name, value in (("--extracted-at", extracted_at), ("--earliest", earliest)):
        try:
            if value:
                moments[name] = datetime.fromisoformat(value)
        except ValueError:
            fail(f"{name} {value!r} is not an ISO date or time like 2026-11-01 or 2026-11-01T06:00:00Z")
    try:
        bounds = TimeBounds.of(moments.get("--extracted-at"), moments.get("--earliest")) if moments else None
        return bounds, ReadOptions(encoding, separator)
    except (InputError, ValueError) as exc:
        fail(str(exc))


@app.command()
def clean(data: DataOpt = config.SAMPLE_DATA, out: OutOpt = BUILD.clean, encoding: EncodingOpt = None,
          separator: SeparatorOpt = None, extracted_at: ExtractedOpt = None,
          earliest: EarliestOpt = None) -> None:
    """Ingest raw exports: clean tables + rejects (every row accounted for)."""
    from pipelines.clean.stage import clean_folder

    bounds, options = _read_settings(encoding, separator, extracted_at, earliest)
    with locked(build_of(out)):
        result = guard(clean_folder, data, out, bounds, options)
    console.print(display.clean_table(result.summary))
    console.print(f"clean tables and rejects written to {out}", highlight=False)


@app.command()
def validate(
    data: Annotated[Path, typer.Option("--data", help="Folder with the clean tables.")] = BUILD.clean,
    out: OutOpt = BUILD.validation,
    client: Annotated[list[str] | None, typer.Option("--client", help="Only these clients.")] = None,
    data_docs: Annotated[
        bool, typer.Option("--data-docs/--no-data-docs", help="Also build GX Data Docs (for analysts; online).")
    ] = True,
) -> None:
    """Run the data-quality gate (Great Expectations) per client.

    Writes OUT/<client>.json, OUT/summary.json, a data-health page per client in OUT/health/
    (self-contained, works offline) and GX Data Docs in OUT/data_docs/ (for analysts: they load
    CSS/JS from CDNs). Exit code 1 when any client fails the gate; the others are still validated.
    """
    from pipelines.validate.gate import validate_folder
    from pipelines.validate.health import write_health_pages
    from pipelines.validate.suites import TABLE_NOUNS

    with locked(build_of(out)):
        results = guard(validate_folder, data, out, clients=client, data_docs=data_docs)
        write_health_pages(data, out, list(results), out / "health")
    console.print(display.gate_table(results))
    for client_id, gate in results.items():
        for r in gate.failures:
            examples = f" e.g. {', '.join(r['example_ids'])}" if r["example_ids"] else ""
            noun = TABLE_NOUNS.get(r["table"], "rows")
            count = (f" ({r['unexpected_count']} of {r['rows_checked']} {noun})"
                     if r["unexpected_count"] is not None else "")
            console.print(f"[red]{client_id}[/red] failed {r['check']}{count}: {r['explain']}{examples}",
                          highlight=False, soft_wrap=True)
    from pipelines.core.io import read_json

    summary = read_json(out / "summary.json")
    timings = summary["timings"]
    console.print(f"Great Expectations import {timings['gx_import_seconds']:.1f}s, "
                  f"all clients {sum(timings['per_client_seconds'].values()):.1f}s; "
                  f"results in {out}", highlight=False)
    if summary["data_docs"]:
        console.print(f"Data Docs for analysts (need network for styling): {summary['data_docs']}",
                      highlight=False)
    if not all(gate.publishable for gate in results.values()):
        raise typer.Exit(config.EXIT_FAILED)


@app.command()
def metrics(
    data: Annotated[Path, typer.Option("--data", help="Folder with the clean tables.")] = BUILD.clean,
    out: OutOpt = BUILD.metrics,
    period: PeriodOpt = None,
    tone_min_labels: Annotated[int | None, typer.Option(
        "--tone-min-labels", min=1,
        help="Rated comments needed to train the tone model; fewer use the word list "
             "(default: SERVICEREVIEW_TONE_MIN_LABELS or 2000).")] = None,
) -> None:
    """Compute the per-ticket SLA table, the client x month KPI table and the comment tone."""
    from pipelines.core.periods import month_index
    from pipelines.metrics.stage import metrics_folder

    if period is not None:
        try:
            month_index(period)
        except ValueError as exc:
            fail(f"--period: {exc}")
    try:
        with locked(build_of(out)):
            result = guard(metrics_folder, data, out, period, tone_min_labels=tone_min_labels)
    except ValueError as exc:  # e.g. a ticket whose priority has no target in its contract
        fail(str(exc))
    s = result.summary
    console.print(
        f"metrics for {s['period']}: {s['rows']['ticket_sla']} tickets, {len(s['clients'])} clients, "
        f"{s['rows']['client_kpis']} client-months in {s['timings_s']['total']} s -> {out}",
        highlight=False,
    )
    if s["missing_tables"]:
        console.print(f"not given (their KPIs are n/a): {', '.join(s['missing_tables'])}",
                      highlight=False)
    console.print(display.tone_line(s["tone"]), highlight=False)


@app.command(name="import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Export file(s) to import (CSV or Excel).")],
    preset: Annotated[str, typer.Option("--from", help="Preset name or a mapping YAML file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the canonical tables to.")],
    client_map: Annotated[
        str | None, typer.Option("--client-map", help="A client id for the whole file, or a YAML map.")
    ] = None,
    contracts: Annotated[
        Path | None,
        typer.Option("--contracts", help="Contract file or folder to copy to OUT/contracts (so clean can run)."),
    ] = None,
    history: Annotated[
        list[Path] | None,
        typer.Option("--history", help="The tool's status history (JSON pages as its API returns them, or "
                                       "CSV); repeat for several files."),
    ] = None,
) -> None:
    """Turn a PSA / help-desk export into the canonical tables (presets: servicenow, zendesk,
    jira-service-management, freshdesk, connectwise, autotask, halopsa, or a mapping YAML).
    Exit 2 when no row could be used."""
    from pipelines.ingest.importers import import_files

    result = guard(import_files, files, preset, client_map, out, contracts, history)
    r = result.report
    console.print(
        f"import ({r['preset']}, {r['mode'].replace('_', ' ')}): {r['rows_read']} rows read = "
        f"{r['rows_used']} used + {r['rows_rejected']} rejected -> {r['tickets']} tickets, "
        f"{r['ticket_events']} status events, {r['surveys']} surveys in {r['seconds']:.1f}s",
        highlight=False,
    )
    for reason, count in r["rejected_by_reason"].items():
        console.print(f"  rejected {count}: {reason} (see import_rejects.csv)", highlight=False)
    if "history" in r:
        display.print_history(r["history"])
    if r["unknown_columns"]:
        console.print(f"  unknown columns (not imported): {', '.join(r['unknown_columns'])}", highlight=False)
    for name, values in r["unmapped_values"].items():
        shown = ", ".join(f"{v!r} x{n}" for v, n in list(values.items())[:5])
        more = f" and {len(values) - 5} more" if len(values) > 5 else ""
        policy = r["unmapped_policy"].get(name, "keep")
        console.print(f"  unmapped {name} values ({policy}): {shown}{more}", highlight=False)
    for warning in r["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False, soft_wrap=True)
    console.print(f"canonical tables, import_rejects.csv and import_report.json written to {out}",
                  highlight=False)


@app.command(name="import-contacts")
def import_contacts(
    files: Annotated[list[Path], typer.Argument(help="Call log(s), sent-mail CSV(s) or .mbox file(s).")],
    source: Annotated[str, typer.Option("--from", help="asterisk, call-log, sent-mail, mbox, or a preset YAML.")],
    client: Annotated[str, typer.Option("--client", help="The client whose record this is.")],
    out: Annotated[Path, typer.Option("--out", help="Data folder: contacts.csv is merged there.")],
    provider: Annotated[list[str] | None, typer.Option(
        "--provider", help="The provider's support number, address or @domain (repeatable).")] = None,
    utc: Annotated[bool, typer.Option("--utc", help="Times without an offset are UTC (else the client's zone).")] = False,
) -> None:
    """Turn a client's own record of calls and emails into the contacts table (merged into OUT/contacts.csv)."""
    from pipelines.ingest.contacts import import_contacts as run_import

    r = guard(run_import, files, source, client, provider or [], out, utc=utc)
    console.print(
        f"import-contacts ({r['tool']}): {r['rows_read']} rows read -> {r['contacts']} contacts with the "
        f"provider for {r['client_id']} ({r['not_with_provider']} not with the provider, left out; "
        f"{r['replaced']} earlier rows replaced); {r['contacts_in_file']} rows in {out / 'contacts.csv'}",
        highlight=False,
    )


@app.command()
def run(
    period: PeriodsOpt = None,
    client: Annotated[list[str] | None, typer.Option("--client", help="Only these clients.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", help="Parallel jobs (default: cores).")] = None,
    data: DataOpt = config.SAMPLE_DATA,
    force: Annotated[bool, typer.Option("--force", help="Re-execute even if nothing changed.")] = False,
    engine: EngineOpt = "auto",
    cluster: Annotated[str | None, typer.Option(
        "--cluster", envvar="SERVICEREVIEW_CLUSTER",
        help="Run the clients on Dask: a scheduler address (tcp://HOST:8786) or local:N (N local "
             "workers; --jobs is then not used). Needs the `cluster` extra and folders shared "
             "with every worker.")] = None,
    encoding: EncodingOpt = None,
    separator: SeparatorOpt = None,
    extracted_at: ExtractedOpt = None,
    earliest: EarliestOpt = None,
) -> None:
    """The monthly batch: clean, validate, metrics, notebooks per client, portfolio, publish.

    With a range or 'all' every month is run in one call (the same warm kernels), oldest first,
    and published together: the site and each client's bundle then hold all of those months.

    Exit codes: 0 all clients published; 1 a client failed (its notebook or its data-quality
    gate; the others completed); 2 bad arguments or unusable input; 3 another run holds the lock.
    """
    from pipelines.run.batch import ClusterError, LockedError, RunOptions, run_batch

    check_period(period)
    check_engine(engine)
    if cluster:
        _check_cluster(cluster)
    bounds, read = _read_settings(encoding, separator, extracted_at, earliest)
    options = RunOptions(period=period, clients=client, jobs=jobs, data=data, force=force, engine=engine,
                         cluster=cluster, bounds=bounds, read=read)
    with display.BatchProgress() as progress:
        try:
            result = guard(run_batch, options, progress.on_event)
        except LockedError as exc:
            fail(str(exc), config.EXIT_LOCKED)
        except ClusterError as exc:
            fail(str(exc))
    console.print(display.run_table(result))
    for outcome in result.outcomes:
        if outcome.status in {"failed", "stale"}:
            console.print(f"[red]{outcome.client_id}[/red]: {outcome.message}", highlight=False)
    raise typer.Exit(result.exit_code)


def _check_cluster(address: str) -> None:
    try:
        from pipelines.run import cluster
    except ImportError as exc:
        fail(f"--cluster needs Dask distributed ({exc}): pip install 'servicereview[cluster]'")
    try:
        cluster.parse(address)
    except ValueError as exc:
        fail(str(exc))


@app.command()
def publish(
    reports: Annotated[Path, typer.Option("--reports", help="Folder with the executed notebooks.")] = config.REPORTS,
    build: Annotated[Path, typer.Option("--build", help="Build folder (contracts, validation).")] = config.BUILD,
    site: Annotated[Path, typer.Option("--site", help="Internal website folder.")] = config.SITE,
    site_clients: Annotated[
        Path, typer.Option("--site-clients", help="Folder of the per-client bundles.")
    ] = config.SITE_CLIENTS,
    engine: EngineOpt = "auto",
) -> None:
    """Build the website (_site/) and the per-client bundles from reports/.

    Uses Quarto when a quarto executable is on PATH or in QUARTO_PATH, else the built-in
    renderer. PDFs of the monthly reports need Chromium (SERVICEREVIEW_CHROMIUM or PATH).
    """
    from pipelines.site.publish import PublishError
    from pipelines.site.publish import publish as build_site

    check_engine(engine)
    try:
        with locked(build):
            result = build_site(reports=reports, build=build, site=site, site_clients=site_clients,
                                engine=engine)
    except PublishError as exc:
        fail(str(exc))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    periods = ", ".join(result.periods)
    console.print(f"{result.engine} renderer: {result.pages} pages for {len(result.clients)} clients "
                  f"({periods}) in {result.seconds['total']:.1f}s", highlight=False)
    console.print(f"internal site: {result.site / 'index.html'}", highlight=False)
    console.print(f"client bundles: {len(result.bundles)} in {result.site_clients}", highlight=False)
    console.print(f"PDFs: {len(result.pdfs)} ({result.pdfs_printed} printed, {result.pdfs_reused} unchanged)",
                  highlight=False)
    if result.pdf_skipped:
        console.print(f"[yellow]{result.pdf_skipped}[/yellow]", highlight=False, soft_wrap=True)


@app.command()
def preview(
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 8000,
    site: Annotated[Path, typer.Option("--site", help="Website folder to serve.")] = config.SITE,
) -> None:
    """Serve _site/ on localhost for a quick look."""
    from pipelines.site.preview import serve
    from pipelines.site.publish import PublishError

    try:
        serve(site, port, announce=lambda text: console.print(text, highlight=False))
    except PublishError as exc:
        fail(str(exc))
    except OSError as exc:  # port in use
        fail(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}")


# the contract review commands (review, whatif) register themselves on `app`
from pipelines.cli import contract as _contract  # noqa: E402, F401
