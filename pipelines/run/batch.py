"""The monthly batch: clean -> metrics -> per client the data-quality gate and the notebooks
(in parallel worker processes, each with one warm Jupyter kernel: a local pool, or the
workers of a Dask cluster with `--cluster`) -> portfolio -> publish.

Built for a scheduler: a lock so two runs never overlap, a log file, exit
codes, failures collected per client (the others finish), nothing half-written
replacing a good previous report, and nothing re-executed when the inputs,
templates and code are unchanged (content hashes per client).

The batch reports what it does as `Event`s to a callback; drawing them (the CLI's
progress bars) is the caller's business.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.clean.fields import TimeBounds
from pipelines.clean.stage import clean_folder
from pipelines.core import config
from pipelines.core.contracts import ContractError, load_contracts
from pipelines.core.exports import ReadOptions
from pipelines.core.io import InputError, describe_os_error, digest, sweep_staging, write_json
from pipelines.core.layout import STALE_FILE, STATE_FILE, Layout
from pipelines.core.periods import ALL, months_between, parse_periods, period_title
from pipelines.core.reports import CLIENT, PORTFOLIO, REVIEW
from pipelines.core.terms import review_due
from pipelines.metrics.stage import metrics_folder
from pipelines.report.narrative import date_of
from pipelines.run import execute, fingerprints
from pipelines.run.fanout import ClusterError, Event, Job, OnEvent, Tracker
from pipelines.run.lock import LockedError, run_lock
from pipelines.run.workers import (
    SCRATCH_PREFIX,
    ClientOutcome,
    init_worker,
    mark_stale,
    process_client,
    run_client,
)
from pipelines.site.publish import PublishError, publish
from pipelines.validate.gate import GateResult, write_summary

log = logging.getLogger("servicereview.run")

__all__ = ["BatchResult", "ClientOutcome", "ClusterError", "Event", "Job", "LockedError", "RunOptions",
           "Tracker", "run_batch", "run_lock"]


@dataclass
class RunOptions:
    """What to run: the month(s), the clients, how many workers, and the folders."""

    period: str | None = None  # YYYY-MM, a range YYYY-MM:YYYY-MM, "all", or None (latest complete)
    clients: list[str] | None = None
    jobs: int | None = None
    data: Path = config.SAMPLE_DATA
    build: Path = config.BUILD
    reports: Path = config.REPORTS
    notebooks: Path = config.NOTEBOOKS
    publish: bool = True
    force: bool = False
    cluster: str | None = None  # a Dask scheduler address or local:N (pipelines.run.cluster)
    bounds: TimeBounds | None = None  # plausible timestamps (default: 1990 to now plus a day)
    read: ReadOptions = ReadOptions()  # encoding and separator of the CSV files
    engine: str = "auto"  # publish engine: auto, quarto or builtin


@dataclass
class BatchResult:
    """Every client's outcome and the stages' timings."""

    period: str | None  # the latest month run
    outcomes: list[ClientOutcome]  # one per client (and the portfolio) and month
    timings: dict[str, float]
    periods: list[str] = field(default_factory=list)  # every month run, oldest first

    @property
    def exit_code(self) -> int:
        bad = any(o.status in {"failed", "stale"} for o in self.outcomes)
        return config.EXIT_FAILED if bad else config.EXIT_OK


def run_batch(options: RunOptions, on_event: OnEvent | None = None) -> BatchResult:
    """Run the whole monthly batch; see the module docstring. Raises LockedError when locked,
    ClusterError when the cluster cannot run it.

    A run that stops on an error (bad input, a full disk, a folder it cannot write) still
    leaves its own `run_summary.json` (exit code 2 and the error), never the previous run's,
    and no staging folders; those a killed run left are removed at the start."""
    layout = Layout(options.build)
    started = datetime.now(UTC)
    handler = _log_to_file(layout)
    try:
        with run_lock(options.build):
            for path in sweep_staging(_work_folders(options)):
                log.info("removed %s, left by an interrupted run", path)
            try:
                return _run_locked(options, on_event or (lambda event: None))
            except (InputError, ContractError, execute.TemplateError, OSError) as exc:
                _record_failure(layout, started, exc)
                raise
    finally:
        logging.getLogger("servicereview").removeHandler(handler)
        handler.close()


def _work_folders(options: RunOptions) -> list[Path]:
    """Where a run stages its work (the folders `sweep_staging` cleans)."""
    reports = [options.reports, *(p for p in options.reports.glob("*") if p.is_dir())] \
        if options.reports.is_dir() else []
    build = [options.build, *(p for p in options.build.glob("*") if p.is_dir())]
    return [*build, *reports, config.SITE.parent, config.SITE_CLIENTS.parent]


def _record_failure(layout: Layout, started: datetime, exc: Exception) -> None:
    """The failed run's summary (best effort: the disk may be full) and no stale "unchanged" key."""
    message = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
    log.error("run stopped: %s", message)
    summary = {"period": None, "exit_code": config.EXIT_USAGE, "error": message, "timings_s": {},
               "started_at": started.isoformat(timespec="seconds"),
               "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "outcomes": []}
    for path in (layout.last_run, layout.run_summary):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
    try:
        write_json(summary, layout.run_summary)
    except OSError:
        log.error("run summary not written either: %s", layout.run_summary)


def _log_to_file(layout: Layout) -> logging.Handler:
    layout.logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(layout.logs / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("servicereview").addHandler(handler)
    logging.getLogger("servicereview").setLevel(logging.INFO)
    return handler


def _run_locked(options: RunOptions, on_event: OnEvent) -> BatchResult:
    timings: dict[str, float] = {}
    layout = Layout(options.build)
    templates = execute.load_templates(options.notebooks)
    # how the data is read is part of the recipe: another --encoding or --extracted-at redoes the run
    reading = repr((options.bounds.key if options.bounds else None, options.read))
    recipe = digest(fingerprints.recipe_digest([t.path for t in templates]), reading)
    key = fingerprints.inputs_digest(options.data, recipe, options.period, options.clients)
    last = _read_json(layout.last_run)
    if not options.force and last.get("key") == key and _outputs_exist(options.reports, last):
        on_event(Event("message", text=f"nothing changed since the last run ({last['finished_at']}): "
                                       f"{len(last['clients'])} clients up to date, 0 notebooks executed"))
        log.info("unchanged inputs, templates and code: nothing re-executed")
        periods = last.get("periods") or [last["period"]]
        outcomes = [ClientOutcome(c, "unchanged", output=options.reports / p / c)
                    for p in periods for c in last["clients"]]
        result = BatchResult(periods[-1], outcomes, timings, periods)
        write_json(_summary(result), layout.run_summary)
        return result

    with _timed(timings, "clean", on_event):
        cleaned = clean_folder(options.data, layout.clean, options.bounds, options.read)
    clients = _select_clients(cleaned.summary["by_client"], options.clients)
    wanted = parse_periods(options.period) or [None]
    outcomes: list[ClientOutcome] = []
    gated: set[str] = set()  # clients whose data-quality gate ran in this run (the data is the same)
    with _workers(options, len(clients)) as workers:
        for text in workers.messages:
            on_event(Event("message", text=text))
        with _timed(timings, "metrics", on_event):
            metrics = metrics_folder(layout.clean, layout.metrics,
                                     period=None if wanted[0] in (None, ALL) else wanted[0])
        periods = _resolve(wanted, metrics.summary)
        for period in periods:  # oldest first, the metrics of each month in turn
            if metrics.summary["period"] != period:
                with _timed(timings, "metrics", on_event):
                    metrics = metrics_folder(layout.clean, layout.metrics, period=period)
            label = f"validate + notebooks {period}" if len(periods) > 1 else "validate + notebooks"
            with _timed(timings, "validate + notebooks", on_event, label):
                outcomes += _run_period(period, clients, templates, options, layout, recipe, metrics,
                                        on_event, workers, gated)
    _write_gate_summary(layout, clients, cleaned.summary["missing_tables"])

    result = BatchResult(periods[-1], sorted(outcomes, key=lambda o: (o.client_id, str(o.output))), timings,
                         periods)
    if options.publish:
        with _timed(timings, "publish", on_event):
            _publish(options, result, on_event)
    write_json(_summary(result), layout.run_summary)
    if result.exit_code == config.EXIT_OK:
        write_json({"key": key, "period": periods[-1], "periods": periods, "clients": [*clients, PORTFOLIO],
                    "finished_at": datetime.now(UTC).isoformat(timespec="seconds")},
                   layout.last_run)
    else:
        (layout.last_run).unlink(missing_ok=True)
    return result


def _resolve(wanted: list, summary: dict) -> list[str]:
    """The months to run, oldest first: the default month, a range checked against the data,
    or (ALL) every month from the first in the data to the default (latest complete) one."""
    first, latest = summary["first_month"], summary["period"]
    if wanted == [None]:
        return [latest]
    if wanted == [ALL]:
        return months_between(first, latest)
    if wanted[0] < first:
        raise InputError(f"--period {wanted[0]}:{wanted[-1]}: the data starts in {first}")
    return wanted


def _run_period(period, clients, templates, options, layout, recipe, metrics, on_event, workers,
                gated: set[str]) -> list[ClientOutcome]:
    """Gate and notebooks of every client (that changed) for one month, then the portfolio."""
    period_dir = options.reports / period
    state = _read_json(period_dir / STATE_FILE)
    base = digest(recipe, period)
    contracts = load_contracts(layout.contracts)
    front = {c: _front_matter(c, contracts[c], period, metrics.summary) for c in clients}
    reviews = {c: review_parameters(contracts[c], start, period, options.reports)
               for c in clients if (start := review_due(contracts[c].term, period))}

    outcomes: list[ClientOutcome] = []
    digests = {client: fingerprints.client_digest(client, layout.clean, base, layout.metrics)
               for client in clients}
    todo: list[str] = []
    for client, fingerprint in digests.items():
        unchanged = (state.get(client) == fingerprint and (period_dir / client).exists()
                     and layout.gate(client).exists())
        if unchanged and not options.force:
            outcomes.append(ClientOutcome(client, "unchanged", output=period_dir / client))
        else:
            todo.append(client)
    portfolio_key = digest(base, *sorted(f"{c}={v}" for c, v in digests.items()))
    portfolio_due = (options.force or state.get(PORTFOLIO) != portfolio_key
                     or not (period_dir / PORTFOLIO).exists())

    executed = _execute_all(todo, period, templates, options, front, on_event, portfolio_due, workers, gated,
                            reviews)
    for outcome in executed:
        outcomes.append(outcome)
        if outcome.status == "executed":
            state[outcome.client_id] = portfolio_key if outcome.client_id == PORTFOLIO \
                else digests[outcome.client_id]
            (period_dir / outcome.client_id / STALE_FILE).unlink(missing_ok=True)
        else:
            state.pop(outcome.client_id, None)
    if not portfolio_due:
        outcomes.append(ClientOutcome(PORTFOLIO, "unchanged", output=period_dir / PORTFOLIO))
    write_json(state, period_dir / STATE_FILE)
    return outcomes


def _write_gate_summary(layout: Layout, clients: list[str], missing: list[str]) -> None:
    results = {c: GateResult.from_json(_read_json(layout.gate(c))) for c in clients if layout.gate(c).exists()}
    write_summary(layout.validation, results, datetime.now(UTC), not_provided=missing, clean_dir=layout.clean)


def _publish(options: RunOptions, result: BatchResult, on_event: OnEvent) -> None:
    try:
        published = publish(reports=options.reports, build=options.build, engine=options.engine)
    except PublishError as exc:
        result.outcomes.append(ClientOutcome("site", "failed", message=f"publish: {exc}"))
        return
    if published.pdf_skipped:
        on_event(Event("message", text=published.pdf_skipped))
    for warning in published.warnings:
        on_event(Event("message", text=f"publish: {warning}"))
        log.warning("publish: %s", warning)


def _summary(result: BatchResult) -> dict:
    """What the run did, machine-readable (build/run_summary.json): for schedulers and benchmarks."""
    return {
        "period": result.period, "periods": result.periods, "exit_code": result.exit_code,
        "timings_s": result.timings,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "outcomes": [{"client_id": o.client_id, "status": o.status, "seconds": round(o.seconds, 2),
                      "output": str(o.output) if o.output else None, "message": o.message}
                     for o in result.outcomes],
    }


def _front_matter(client: str, contract, period: str, summary: dict) -> dict:
    """What every page of a client's month says about itself (name, month, partial or not)."""
    front = {"client_id": client, "client_name": contract.name, "period": period,
             "subtitle": f"{contract.name} — {period_title(period)}"}
    if not summary.get("period_complete", True):
        front["partial"] = f"data ends {date_of(summary.get('export_end'), contract.timezone)}"
        front["subtitle"] += f" (partial: {front['partial']})"
    return front


def review_parameters(contract, start: str, period: str, reports: Path,
                      scenarios: dict[str, list[str]] | None = None) -> dict:
    """The review template's own parameters (beyond client, period and folders) and front matter
    for a client's term `start`..`period`."""
    span = f"{period_title(start)} to {period_title(period)}"
    return {"start": start, "scenarios": scenarios or {}, "reports_dir": str(reports),
            "front_matter": {"subtitle": f"{contract.name} — contract review, {span}", "review_from": start,
                             "review_to": period}}


@contextmanager
def _workers(options: RunOptions, clients: int):
    """Where a run's jobs run, kept for all its months: a pool of local worker processes (each
    with a warm kernel), or the workers of a Dask cluster with `options.cluster`."""
    if options.cluster:
        from pipelines.run import cluster  # imports Dask: only on this path

        with cluster.session(options.cluster, Layout(options.build)) as session:
            yield session
        return
    jobs = max(1, min(options.jobs or os.cpu_count() or 1, max(clients, 1)))
    context = multiprocessing.get_context("spawn")  # never fork a process holding polars threads
    events = context.Queue()  # handed to each worker at spawn: no manager process to orphan
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init_worker,
                             initargs=(os.getpid(), events)) as pool:
        yield _Pool(pool, events)


@dataclass
class _Pool:
    """The local engine: spawned worker processes of this machine (`--jobs`, default: cores)."""

    pool: ProcessPoolExecutor
    events: object  # the queue the workers report their steps on
    messages = ()

    def fan_out(self, jobs: list[Job], last: Job | None, tracker: Tracker) -> None:
        """The jobs in parallel, then `last`, reporting to `tracker` as they finish."""
        for job in jobs:
            tracker.queued(job)
        futures = {self.pool.submit(job.func, *job.args): job.client for job in jobs}
        pending = set(futures)
        while True:
            if not pending and last is not None:
                tracker.queued(last)
                future = self.pool.submit(last.func, *last.args)
                futures[future], pending, last = last.client, {future}, None
            if not pending:
                break
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    tracker.step(*self.events.get_nowait())
                except queue.Empty:
                    break
            for future in finished:
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker process died; the others go on
                    outcome = exc
                tracker.done(futures[future], outcome)


def _execute_all(todo, period, templates, options, front: dict[str, dict], on_event: OnEvent,
                 portfolio: bool, workers, gated: set[str], reviews: dict[str, dict]) -> list[ClientOutcome]:
    """Clients in parallel (gate, then notebooks, then the review pack when one falls due), then the
    portfolio in a warm worker. A client whose gate already ran in this run (an earlier month) goes
    straight to its notebooks."""
    if not todo and not portfolio:
        return []
    client_templates = [t for t in templates if t.scope == CLIENT]
    review = [t for t in templates if t.scope == REVIEW]
    layout = Layout(options.build)
    tracker = Tracker(on_event, period)
    now = datetime.now(UTC)
    jobs = []
    for client in todo:
        target = options.reports / period / client
        mine = [*client_templates, *review] if client in reviews else client_templates
        extra = {t.name: reviews[client] for t in review} if client in reviews else None
        if client not in gated:
            jobs.append(Job(client, process_client, (client, period, mine, options.data, options.build, target,
                                                     front[client], now, extra), len(mine) + 1))
            gated.add(client)
            continue
        gate = GateResult.from_json(_read_json(layout.gate(client)))
        if not gate.publishable:
            tracker.outcomes.append(mark_stale(target, client, gate))
            continue
        jobs.append(Job(client, run_client, (client, period, mine, options.data, options.build,
                                             target, front[client], extra), len(mine)))
    last = Job(PORTFOLIO, run_client,
               (PORTFOLIO, period, [t for t in templates if t.scope == PORTFOLIO], options.data,
                options.build, options.reports / period / PORTFOLIO,
                {"period": period, "subtitle": period_title(period)}), 1) if portfolio else None
    workers.fan_out(jobs, last, tracker)
    for stray in (options.reports / period).glob(f"{SCRATCH_PREFIX}*"):  # left by a worker that died
        shutil.rmtree(stray, ignore_errors=True)
    return tracker.outcomes


@contextmanager
def _timed(timings: dict, name: str, on_event: OnEvent, label: str | None = None):
    """Time a stage (adding up when it runs once a month) and announce it."""
    start = time.perf_counter()
    on_event(Event("stage", text=label or name))
    yield
    seconds = time.perf_counter() - start
    timings[name] = round(timings.get(name, 0) + seconds, 2)
    log.info("%s took %.2fs", label or name, seconds)


def _select_clients(by_client: dict, wanted: list[str] | None) -> list[str]:
    known = sorted(by_client)
    if not wanted:
        return known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise InputError(f"--client {', '.join(unknown)}: no such client (known: {', '.join(known)})")
    return sorted(set(wanted))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _outputs_exist(reports: Path, last: dict) -> bool:
    return all((reports / p / c).exists() for p in last.get("periods") or [last["period"]]
               for c in last.get("clients", []))
