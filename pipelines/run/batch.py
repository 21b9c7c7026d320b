"""The monthly batch: clean -> metrics -> per client the data-quality gate and the notebooks
(in parallel worker processes, each with one warm Jupyter kernel) -> portfolio -> publish.

Built for a scheduler: a lock so two runs never overlap, a log file, exit
codes, failures collected per client (the others finish), nothing half-written
replacing a good previous report, and nothing re-executed when the inputs,
templates and code are unchanged (content hashes per client).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.core import config
from pipelines.run import execute
from pipelines.core.io import digest, swap_in, write_json

log = logging.getLogger("servicereview.run")

STATE_FILE = ".state.json"
STALE_FILE = "STALE.json"
FAILED_DIR = "_failed"


class LockedError(RuntimeError):
    """Another run holds the lock."""


@dataclass
class RunOptions:
    period: str | None = None
    clients: list[str] | None = None
    jobs: int | None = None
    data: Path = config.SAMPLE_DATA
    build: Path = config.BUILD
    reports: Path = config.REPORTS
    notebooks: Path = config.NOTEBOOKS
    publish: bool = True
    force: bool = False


@dataclass
class ClientOutcome:
    client_id: str
    status: str  # executed | unchanged | failed | stale
    seconds: float = 0.0
    output: Path | None = None
    notebooks: list[execute.NotebookOutcome] = field(default_factory=list)
    message: str = ""


@dataclass
class BatchResult:
    period: str | None
    outcomes: list[ClientOutcome]
    timings: dict[str, float]

    @property
    def exit_code(self) -> int:
        bad = any(o.status in {"failed", "stale"} for o in self.outcomes)
        return config.EXIT_FAILED if bad else config.EXIT_OK


# ---------------------------------------------------------------- locking and logging


@contextmanager
def run_lock(build: Path):
    """Hold an exclusive lock for the whole run; a second run fails at once (exit 3)."""
    build.mkdir(parents=True, exist_ok=True)
    path = build / ".servicereview.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise LockedError(f"another servicereview run holds {path} ({holder})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
    handle.flush()
    try:
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _log_to_file(build: Path) -> logging.Handler:
    (build / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(build / "logs" / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("servicereview").addHandler(handler)
    logging.getLogger("servicereview").setLevel(logging.INFO)
    return handler


# ---------------------------------------------------------------- fingerprints


def _files_digest(paths: list[Path]) -> str:
    return digest(*[p.name.encode() + p.read_bytes() for p in sorted(paths)])


def code_digest() -> str:
    """Hash of the package's code and data files: a code change re-executes every report."""
    root = Path(__file__).resolve().parents[1]  # the whole pipelines package
    kinds = {".py", ".yml", ".yaml", ".j2", ".html", ".css", ".md"}
    return _files_digest([p for p in root.rglob("*") if p.is_file() and p.suffix in kinds])


def _recipe_digest(templates: list[execute.Template]) -> str:
    """Hash of how reports are made (templates and code): a change re-executes every client."""
    return digest(_files_digest([t.path for t in templates]), code_digest())


def _inputs_digest(options: RunOptions, recipe: str) -> str:
    """Hash of a whole run's inputs: unchanged means there is nothing to do at all."""
    raw = [p for p in options.data.rglob("*") if p.is_file() and "dirty" not in p.relative_to(options.data).parts]
    return digest(_files_digest(raw), recipe, str(options.period), ",".join(sorted(options.clients or [])))


def client_digest(client_id: str, clean_dir: Path, base: str) -> str:
    """Hash of everything a client's gate and reports are computed from."""
    from pipelines.core.io import read_table
    from pipelines.core.schemas import TABLES

    parts = [base, (clean_dir / "contracts" / f"{client_id}.yml").read_bytes()]
    for name in TABLES:
        frame = read_table(clean_dir, name, client_id=client_id)
        parts.append(f"{frame.hash_rows().sum() if frame.height else 0}:{frame.height}")
    return digest(*parts)


# ---------------------------------------------------------------- per-client execution

_KERNEL: execute.Kernel | None = None


def _worker_kernel() -> execute.Kernel:
    global _KERNEL
    if _KERNEL is None:
        import multiprocessing.util

        _KERNEL = execute.Kernel()
        multiprocessing.util.Finalize(_KERNEL, _KERNEL.shutdown, exitpriority=10)
    return _KERNEL


def run_client(client_id: str, period: str, templates: list[execute.Template], data: Path, build: Path,
               target: Path, front_matter: dict, progress=None) -> ClientOutcome:
    """Execute a client's (or the portfolio's) notebooks into a scratch folder, then swap it in.

    On any failure the previous output stays untouched and the failed notebooks
    are kept with their errors under `<period>/_failed/<client>/`.
    """
    start = time.perf_counter()
    scratch = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    kernel = _worker_kernel()
    params = {"period": period, "data_dir": str(data), "build_dir": str(build)}
    if client_id != "portfolio":
        params["client_id"] = client_id
    outcomes = []
    for template in templates:
        outcome = execute.execute(template.path, scratch / template.path.name, params, kernel,
                                  front_matter | {"notebook": template.name})
        outcomes.append(outcome)
        if progress is not None:
            progress.put((client_id, template.name, outcome.ok))
        if not outcome.ok:
            break
    seconds = time.perf_counter() - start
    if all(o.ok for o in outcomes):
        _swap_in(scratch, target)
        return ClientOutcome(client_id, "executed", seconds, target, outcomes)
    failed_dir = target.parent / FAILED_DIR / target.name
    shutil.rmtree(failed_dir, ignore_errors=True)
    failed_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch.rename(failed_dir)
    bad = next(o for o in outcomes if not o.ok)
    return ClientOutcome(client_id, "failed", seconds, failed_dir / bad.output.name, outcomes,
                         f"{bad.template}: {bad.error}")


def process_client(client_id: str, period: str, templates: list[execute.Template], data: Path, build: Path,
                   target: Path, front_matter: dict, now: datetime, progress=None) -> ClientOutcome:
    """A worker's job for one client: the data-quality gate, then (if it passes) the notebooks.

    Each worker process imports Great Expectations once and validates its clients
    in parallel with the other workers. A client failing the gate keeps its
    previous report, marked stale."""
    from pipelines.validate.gate import validate_one

    start = time.perf_counter()
    gate = validate_one(build / "clean", build / "validation", client_id, now)
    if progress is not None:
        progress.put((client_id, "gate", gate.publishable))
    if not gate.publishable:
        outcome = _mark_stale(target, client_id, gate)
        outcome.seconds = time.perf_counter() - start
        return outcome
    outcome = run_client(client_id, period, templates, data, build, target, front_matter, progress)
    outcome.seconds = time.perf_counter() - start
    return outcome


def _write_gate_summary(validation_dir: Path, clean_dir: Path, clients: list[str], missing: list[str]) -> None:
    from pipelines.validate.gate import GateResult, write_summary

    results = {c: GateResult.from_json(_read_json(validation_dir / f"{c}.json")) for c in clients
               if (validation_dir / f"{c}.json").exists()}
    write_summary(validation_dir, results, datetime.now(UTC), not_provided=missing, clean_dir=clean_dir)


def _swap_in(scratch: Path, target: Path) -> None:
    swap_in(scratch, target)
    shutil.rmtree(target.parent / FAILED_DIR / target.name, ignore_errors=True)


# ---------------------------------------------------------------- the batch


def run_batch(options: RunOptions, console=None) -> BatchResult:
    """Run the whole monthly batch; see the module docstring. Raises LockedError when locked."""
    from rich.console import Console

    console = console or Console(stderr=True)
    handler = _log_to_file(options.build)
    try:
        with run_lock(options.build):
            return _run_locked(options, console)
    finally:
        logging.getLogger("servicereview").removeHandler(handler)
        handler.close()


def _run_locked(options: RunOptions, console) -> BatchResult:
    timings: dict[str, float] = {}
    templates = execute.load_templates(options.notebooks)
    recipe = _recipe_digest(templates)
    key = _inputs_digest(options, recipe)
    last = _read_json(options.build / "last_run.json")
    if not options.force and last.get("key") == key and _outputs_exist(options.reports, last):
        console.print(f"nothing changed since the last run ({last['finished_at']}): "
                      f"{len(last['clients'])} clients up to date, 0 notebooks executed")
        log.info("unchanged inputs, templates and code: nothing re-executed")
        outcomes = [ClientOutcome(c, "unchanged", output=options.reports / last["period"] / c)
                    for c in last["clients"]]
        result = BatchResult(last["period"], outcomes, timings)
        write_json(_summary(result), options.build / "run_summary.json")
        return result

    clean_dir, validation_dir, metrics_dir = (options.build / n for n in ("clean", "validation", "metrics"))
    with _timed(timings, "clean", console):
        from pipelines.clean.stage import clean_folder

        cleaned = clean_folder(options.data, clean_dir)
    clients = _select_clients(cleaned.summary["by_client"], options.clients)
    with _timed(timings, "metrics", console):
        from pipelines.metrics.stage import metrics_folder

        metrics = metrics_folder(clean_dir, metrics_dir, period=options.period)
    period = metrics.summary["period"]
    period_dir = options.reports / period
    state = _read_json(period_dir / STATE_FILE)
    base = digest(recipe, period)
    names = _client_names(clean_dir)

    outcomes: list[ClientOutcome] = []
    digests = {client: client_digest(client, clean_dir, base) for client in clients}
    todo: list[str] = []
    for client, fingerprint in digests.items():
        unchanged = (state.get(client) == fingerprint and (period_dir / client).exists()
                     and (validation_dir / f"{client}.json").exists())
        if unchanged and not options.force:
            outcomes.append(ClientOutcome(client, "unchanged", output=period_dir / client))
        else:
            todo.append(client)
    portfolio_key = digest(base, *sorted(f"{c}={v}" for c, v in digests.items()))
    portfolio_due = (options.force or state.get("portfolio") != portfolio_key
                     or not (period_dir / "portfolio").exists())

    with _timed(timings, "validate + notebooks", console):
        executed = _execute_all(todo, period, templates, options, names, console, portfolio_due)
    _write_gate_summary(validation_dir, clean_dir, clients, cleaned.summary["missing_tables"])
    for outcome in executed:
        outcomes.append(outcome)
        if outcome.status == "executed":
            state[outcome.client_id] = portfolio_key if outcome.client_id == "portfolio" \
                else digests[outcome.client_id]
            (period_dir / outcome.client_id / STALE_FILE).unlink(missing_ok=True)
        else:
            state.pop(outcome.client_id, None)
    if not portfolio_due:
        outcomes.append(ClientOutcome("portfolio", "unchanged", output=period_dir / "portfolio"))
    write_json(state, period_dir / STATE_FILE)

    result = BatchResult(period, sorted(outcomes, key=lambda o: o.client_id), timings)
    if options.publish:
        with _timed(timings, "publish", console):
            _publish(options, result, console)
    write_json(_summary(result), options.build / "run_summary.json")
    if result.exit_code == config.EXIT_OK:
        write_json({"key": key, "period": period, "clients": [*clients, "portfolio"],
                    "finished_at": datetime.now(UTC).isoformat(timespec="seconds")},
                   options.build / "last_run.json")
    else:
        (options.build / "last_run.json").unlink(missing_ok=True)
    return result


def _publish(options: RunOptions, result: BatchResult, console) -> None:
    from pipelines.site.publish import PublishError, publish

    try:
        published = publish(reports=options.reports, build=options.build)
    except PublishError as exc:
        result.outcomes.append(ClientOutcome("site", "failed", message=f"publish: {exc}"))
        return
    if published.pdf_skipped:
        console.print(f"PDFs skipped: {published.pdf_skipped}", highlight=False)
    for warning in published.warnings:
        console.print(f"publish: {warning}", highlight=False)
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


def _execute_all(todo, period, templates, options, names, console, portfolio: bool) -> list[ClientOutcome]:
    """Clients in parallel (gate, then notebooks), then the portfolio in a warm worker."""
    if not todo and not portfolio:
        return []
    import multiprocessing
    import queue
    from concurrent.futures import FIRST_COMPLETED, wait

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    client_templates = [t for t in templates if t.scope == "client"]
    jobs = max(1, min(options.jobs or os.cpu_count() or 1, max(len(todo), 1)))
    context = multiprocessing.get_context("spawn")  # never fork a process holding polars threads
    columns = (TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    outcomes = []
    with Progress(*columns, console=console) as progress, context.Manager() as manager, \
            ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        events = manager.Queue()
        now = datetime.now(UTC)
        tasks = {c: progress.add_task(c, total=len(client_templates) + 1) for c in todo}
        futures = {
            pool.submit(process_client, client, period, client_templates, options.data, options.build,
                        options.reports / period / client,
                        {"client_id": client, "client_name": names.get(client, client), "period": period,
                         "subtitle": f"{names.get(client, client)} — {_month_title(period)}"},
                        now, events): client
            for client in todo
        }
        pending = set(futures)
        while True:
            if not pending and portfolio:
                portfolio = False
                tasks["portfolio"] = progress.add_task("portfolio", total=1)
                future = pool.submit(run_client, "portfolio", period,
                                     [t for t in templates if t.scope == "portfolio"], options.data,
                                     options.build, options.reports / period / "portfolio",
                                     {"period": period, "subtitle": _month_title(period)}, events)
                futures[future] = "portfolio"
                pending = {future}
            if not pending:
                break
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    client, notebook, ok = events.get_nowait()
                except queue.Empty:
                    break
                progress.update(tasks[client], advance=1 if ok else 0,
                                description=f"{client} {notebook}{'' if ok else ' FAILED'}")
            for future in finished:
                client = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker process died; the others go on
                    outcome = ClientOutcome(client, "failed", message=f"{type(exc).__name__}: {exc}")
                progress.update(tasks[client], description=f"{client} {_STATUS_WORD[outcome.status]}")
                log.info("%s: %s in %.1fs %s", client, outcome.status, outcome.seconds, outcome.message)
                outcomes.append(outcome)
    return outcomes


_STATUS_WORD = {"executed": "done", "failed": "FAILED", "stale": "HELD BACK (data-quality gate)"}


def _mark_stale(target: Path, client: str, gate) -> ClientOutcome:
    failed = [r for r in gate.results if not r["success"] and r["severity"] == "error"]
    reasons = [f"{r['table']}.{r.get('column') or ''} {r['expectation']}: {r.get('unexpected_count')} rows"
               for r in failed]
    message = "data-quality gate failed: " + "; ".join(reasons)
    if target.exists():
        write_json({"stale_since": datetime.now(UTC).isoformat(timespec="seconds"),
                    "reason": message, "failed_checks": failed}, target / STALE_FILE)
    log.warning("%s: %s", client, message)
    return ClientOutcome(client, "stale", output=target if target.exists() else None, message=message)


@contextmanager
def _timed(timings: dict, name: str, console):
    start = time.perf_counter()
    console.print(f"[bold]{name}[/bold] …", highlight=False)
    yield
    timings[name] = round(time.perf_counter() - start, 2)
    log.info("%s took %.2fs", name, timings[name])


def _select_clients(by_client: dict, wanted: list[str] | None) -> list[str]:
    known = sorted(by_client)
    if not wanted:
        return known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        from pipelines.core.io import InputError

        raise InputError(f"--client {', '.join(unknown)}: no such client (known: {', '.join(known)})")
    return sorted(set(wanted))


def _client_names(clean_dir: Path) -> dict[str, str]:
    from pipelines.core.contracts import load_contracts

    return {c: k.name for c, k in load_contracts(clean_dir / "contracts").items()}


def _month_title(period: str) -> str:
    return datetime.strptime(period, "%Y-%m").strftime("%B %Y")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _outputs_exist(reports: Path, last: dict) -> bool:
    return all((reports / last["period"] / c).exists() for c in last.get("clients", []))
