"""The monthly batch: clean -> metrics -> per client the data-quality gate and the notebooks
(in parallel worker processes, each with one warm Jupyter kernel) -> portfolio -> publish.

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
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.clean.fields import TimeBounds
from pipelines.clean.stage import clean_folder
from pipelines.core import config
from pipelines.core.contracts import ContractError, load_contracts
from pipelines.core.exports import ReadOptions
from pipelines.core.io import InputError, describe_os_error, digest, sweep_staging, write_json
from pipelines.core.layout import STALE_FILE, STATE_FILE, Layout
from pipelines.core.periods import period_title
from pipelines.core.reports import CLIENT, PORTFOLIO
from pipelines.metrics.stage import metrics_folder
from pipelines.report.narrative import date_of
from pipelines.run import execute, fingerprints
from pipelines.run.lock import LockedError, run_lock
from pipelines.run.workers import ClientOutcome, init_worker, process_client, run_client
from pipelines.site.publish import PublishError, publish
from pipelines.validate.gate import GateResult, write_summary

log = logging.getLogger("servicereview.run")

__all__ = ["BatchResult", "ClientOutcome", "Event", "LockedError", "RunOptions", "run_batch", "run_lock"]


@dataclass
class RunOptions:
    """What to run: the period, the clients, how many workers, and the folders."""

    period: str | None = None
    clients: list[str] | None = None
    jobs: int | None = None
    data: Path = config.SAMPLE_DATA
    build: Path = config.BUILD
    reports: Path = config.REPORTS
    notebooks: Path = config.NOTEBOOKS
    publish: bool = True
    force: bool = False
    bounds: TimeBounds | None = None  # plausible timestamps (default: 1990 to now plus a day)
    read: ReadOptions = ReadOptions()  # encoding and separator of the CSV files


@dataclass
class BatchResult:
    """Every client's outcome and the stages' timings."""

    period: str | None
    outcomes: list[ClientOutcome]
    timings: dict[str, float]

    @property
    def exit_code(self) -> int:
        bad = any(o.status in {"failed", "stale"} for o in self.outcomes)
        return config.EXIT_FAILED if bad else config.EXIT_OK


@dataclass(frozen=True)
class Event:
    """Something the batch did, for whoever draws progress.

    kind: "stage" (a stage starts: `text`), "client" (a client is queued with `steps`
    steps), "step" (a client's step finished: `step`, `ok`), "done" (a client finished:
    `text` is its status), "message" (a line to show: `text`)."""

    kind: str
    client: str = ""
    step: str = ""
    ok: bool = True
    steps: int = 0
    text: str = ""


OnEvent = Callable[[Event], None]


def run_batch(options: RunOptions, on_event: OnEvent | None = None) -> BatchResult:
    """Run the whole monthly batch; see the module docstring. Raises LockedError when locked.

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
        outcomes = [ClientOutcome(c, "unchanged", output=options.reports / last["period"] / c)
                    for c in last["clients"]]
        result = BatchResult(last["period"], outcomes, timings)
        write_json(_summary(result), layout.run_summary)
        return result

    with _timed(timings, "clean", on_event):
        cleaned = clean_folder(options.data, layout.clean, options.bounds, options.read)
    clients = _select_clients(cleaned.summary["by_client"], options.clients)
    with _timed(timings, "metrics", on_event):
        metrics = metrics_folder(layout.clean, layout.metrics, period=options.period)
    period = metrics.summary["period"]
    period_dir = options.reports / period
    state = _read_json(period_dir / STATE_FILE)
    base = digest(recipe, period)
    contracts = load_contracts(layout.contracts)
    front = {c: _front_matter(c, contracts[c], period, metrics.summary) for c in clients}

    outcomes: list[ClientOutcome] = []
    digests = {client: fingerprints.client_digest(client, layout.clean, base) for client in clients}
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

    with _timed(timings, "validate + notebooks", on_event):
        executed = _execute_all(todo, period, templates, options, front, on_event, portfolio_due)
    _write_gate_summary(layout, clients, cleaned.summary["missing_tables"])
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

    result = BatchResult(period, sorted(outcomes, key=lambda o: o.client_id), timings)
    if options.publish:
        with _timed(timings, "publish", on_event):
            _publish(options, result, on_event)
    write_json(_summary(result), layout.run_summary)
    if result.exit_code == config.EXIT_OK:
        write_json({"key": key, "period": period, "clients": [*clients, PORTFOLIO],
                    "finished_at": datetime.now(UTC).isoformat(timespec="seconds")},
                   layout.last_run)
    else:
        (layout.last_run).unlink(missing_ok=True)
    return result


def _write_gate_summary(layout: Layout, clients: list[str], missing: list[str]) -> None:
    results = {c: GateResult.from_json(_read_json(layout.gate(c))) for c in clients if layout.gate(c).exists()}
    write_summary(layout.validation, results, datetime.now(UTC), not_provided=missing, clean_dir=layout.clean)


def _publish(options: RunOptions, result: BatchResult, on_event: OnEvent) -> None:
    try:
        published = publish(reports=options.reports, build=options.build)
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
        "period": result.period, "exit_code": result.exit_code, "timings_s": result.timings,
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


def _execute_all(todo, period, templates, options, front: dict[str, dict], on_event: OnEvent,
                 portfolio: bool) -> list[ClientOutcome]:
    """Clients in parallel (gate, then notebooks), then the portfolio in a warm worker."""
    if not todo and not portfolio:
        return []
    client_templates = [t for t in templates if t.scope == CLIENT]
    jobs = max(1, min(options.jobs or os.cpu_count() or 1, max(len(todo), 1)))
    context = multiprocessing.get_context("spawn")  # never fork a process holding polars threads
    outcomes = []
    events = context.Queue()  # handed to each worker at spawn: no manager process to orphan
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init_worker,
                             initargs=(os.getpid(), events)) as pool:
        now = datetime.now(UTC)
        for client in todo:
            on_event(Event("client", client, steps=len(client_templates) + 1))
        futures = {
            pool.submit(process_client, client, period, client_templates, options.data, options.build,
                        options.reports / period / client, front[client], now): client
            for client in todo
        }
        pending = set(futures)
        while True:
            if not pending and portfolio:
                portfolio = False
                on_event(Event("client", PORTFOLIO, steps=1))
                future = pool.submit(run_client, PORTFOLIO, period,
                                     [t for t in templates if t.scope == PORTFOLIO], options.data,
                                     options.build, options.reports / period / PORTFOLIO,
                                     {"period": period, "subtitle": period_title(period)})
                futures[future] = PORTFOLIO
                pending = {future}
            if not pending:
                break
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    client, step, ok = events.get_nowait()
                except queue.Empty:
                    break
                on_event(Event("step", client, step, ok))
            for future in finished:
                client = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker process died; the others go on
                    outcome = ClientOutcome(client, "failed", message=f"{type(exc).__name__}: {exc}")
                on_event(Event("done", client, text=outcome.status))
                level = logging.INFO if outcome.status == "executed" else logging.WARNING
                log.log(level, "%s: %s in %.1fs %s", client, outcome.status, outcome.seconds, outcome.message)
                outcomes.append(outcome)
    return outcomes


@contextmanager
def _timed(timings: dict, name: str, on_event: OnEvent):
    start = time.perf_counter()
    on_event(Event("stage", text=name))
    yield
    timings[name] = round(time.perf_counter() - start, 2)
    log.info("%s took %.2fs", name, timings[name])


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
    return all((reports / last["period"] / c).exists() for c in last.get("clients", []))
