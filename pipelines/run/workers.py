"""What a worker process does for one client: the data-quality gate, then its notebooks.

Each worker keeps one warm Jupyter kernel for all the notebooks it runs. A client's
notebooks are executed into a scratch folder and swapped in whole only when all of them
succeed; otherwise the previous report stays and the failed notebooks are kept with their
errors under `<period>/_failed/<client>/`. Steps are reported on a queue as they finish.

A worker dies with the batch that started it, and checks that the batch (which holds the
run lock) is still alive before it swaps anything into reports/. On a Dask cluster
(`pipelines.run.cluster`) the same functions run in Dask workers, which `serve` the batch.
"""

from __future__ import annotations

import functools
import multiprocessing.util
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.core.io import swap_in, write_json
from pipelines.core.processes import die_with_parent, parent_alive
from pipelines.core.layout import FAILED_DIR, STALE_FILE, Layout
from pipelines.core.reports import BY_NAME, PORTFOLIO
from pipelines.run import execute
from pipelines.validate.gate import validate_one

GATE_STEP = "gate"  # the step reported before a client's notebooks
SCRATCH_PREFIX = ".tmp-"  # reports/<period>/.tmp-<client>-<host>-<pid>: a client's notebooks being made


@dataclass
class ClientOutcome:
    """What happened to one client (or the portfolio, or the site) in a run."""

    client_id: str
    status: str  # executed | unchanged | failed | stale
    seconds: float = 0.0
    output: Path | None = None
    notebooks: list[execute.NotebookOutcome] = field(default_factory=list)
    message: str = ""


_KERNEL: execute.Kernel | None = None
_OWNED: Callable[[], bool] | None = None  # whether the batch holding the run lock still wants this work
_PROGRESS = None  # where steps are reported (a queue, or anything with `put`), if anywhere


class LockLost(RuntimeError):
    """The batch that owns this worker (and the run lock) is gone: nothing may be swapped in."""


def init_worker(parent_pid: int, progress=None) -> None:
    """Initialise a worker process: die with the batch, report steps on `progress`."""
    serve(functools.partial(parent_alive, parent_pid), progress)
    die_with_parent(parent_pid)


def serve(owned: Callable[[], bool] | None, progress=None) -> None:
    """Who this worker works for: `owned()` says whether the batch still wants the work (it is
    asked before anything is swapped into reports/), steps are reported on `progress.put`."""
    global _OWNED, _PROGRESS
    _OWNED, _PROGRESS = owned, progress


def _report(client_id: str, step: str, ok: bool) -> None:
    if _PROGRESS is not None:
        _PROGRESS.put((client_id, step, ok))


def _still_owned() -> None:
    if _OWNED is not None and not _OWNED():
        raise LockLost("the batch that started this worker is gone (or gave this attempt up); "
                       "nothing is swapped in")


def worker_kernel() -> execute.Kernel:
    """This process's warm kernel, started on first use and shut down when the process ends."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = execute.Kernel()
        multiprocessing.util.Finalize(_KERNEL, _KERNEL.shutdown, exitpriority=10)
    return _KERNEL


def run_client(client_id: str, period: str, templates: list[execute.Template], data: Path, build: Path,
               target: Path, front_matter: dict, extra: dict[str, dict] | None = None) -> ClientOutcome:
    """Execute a client's (or the portfolio's) notebooks into a scratch folder, then swap it in.

    `extra`: per template name, parameters beyond the common ones (a review's months, scenarios)
    and front matter (`front_matter` key). The declared reports already in the folder that are not
    executed now (a review pack when the monthly reports run, or the other way round) are kept."""
    extra = extra or {}
    start = time.perf_counter()
    scratch = target.parent / f"{SCRATCH_PREFIX}{target.name}-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    kernel = worker_kernel()
    params = {"period": period, "data_dir": str(data), "build_dir": str(build)}
    if client_id != PORTFOLIO:
        params["client_id"] = client_id
    outcomes = []
    for template in templates:
        more = dict(extra.get(template.name, {}))
        front = front_matter | more.pop("front_matter", {}) | {"notebook": template.name}
        outcome = execute.execute(template.path, scratch / template.path.name, params | more, kernel, front)
        outcomes.append(outcome)
        _report(client_id, template.name, outcome.ok)
        if not outcome.ok:
            break
    seconds = time.perf_counter() - start
    _still_owned()
    if all(o.ok for o in outcomes):
        _keep_others(target, scratch)
        swap_in(scratch, target)
        shutil.rmtree(target.parent / FAILED_DIR / target.name, ignore_errors=True)
        return ClientOutcome(client_id, "executed", seconds, target, outcomes)
    failed_dir = target.parent / FAILED_DIR / target.name
    shutil.rmtree(failed_dir, ignore_errors=True)
    failed_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch.rename(failed_dir)
    bad = next(o for o in outcomes if not o.ok)
    return ClientOutcome(client_id, "failed", seconds, failed_dir / bad.output.name, outcomes,
                         f"{bad.template}: {bad.error}")


def _keep_others(target: Path, scratch: Path) -> None:
    """Copy into `scratch` the declared reports (and the stale notice) of `target` it does not hold."""
    if not target.is_dir():
        return
    for kept in sorted(target.iterdir()):
        declared = kept.suffix == ".ipynb" and kept.stem in BY_NAME
        if (declared or kept.name == STALE_FILE) and not (scratch / kept.name).exists():
            shutil.copy2(kept, scratch / kept.name)


def process_client(client_id: str, period: str, templates: list[execute.Template], data: Path, build: Path,
                   target: Path, front_matter: dict, now: datetime, extra: dict[str, dict] | None = None,
                   ) -> ClientOutcome:
    """A worker's job for one client: the data-quality gate, then (if it passes) the notebooks.

    Each worker process imports Great Expectations once and validates its clients
    in parallel with the other workers. A client failing the gate keeps its
    previous report, marked stale."""
    start = time.perf_counter()
    layout = Layout(build)
    gate = validate_one(layout.clean, layout.validation, client_id, now)
    _report(client_id, GATE_STEP, gate.publishable)
    if gate.publishable:
        outcome = run_client(client_id, period, templates, data, build, target, front_matter, extra)
    else:
        _still_owned()
        outcome = mark_stale(target, client_id, gate)
    outcome.seconds = time.perf_counter() - start
    return outcome


def mark_stale(target: Path, client: str, gate) -> ClientOutcome:
    """Keep a client's previous report, marked stale with the checks its new data failed."""
    failed = [r for r in gate.results if not r["success"] and r["severity"] == "error"]
    reasons = [f"{r['table']}.{r.get('column') or ''} {r['expectation']}: {r.get('unexpected_count')} rows"
               for r in failed]
    message = "data-quality gate failed: " + "; ".join(reasons)
    if target.exists():
        write_json({"stale_since": datetime.now(UTC).isoformat(timespec="seconds"),
                    "reason": message, "failed_checks": failed}, target / STALE_FILE)
    return ClientOutcome(client, "stale", output=target if target.exists() else None, message=message)
