"""Child processes that never outlive the process that started them (and worker processes
that compute a list of jobs: `start_workers`).

A batch's worker processes, their Jupyter kernels and the browser that prints PDFs must
not keep writing after the run that owns the lock is gone (`kill -9` of `servicereview
run` included). On Linux the kernel delivers SIGKILL to a child when its parent dies
(PR_SET_PDEATHSIG); everywhere a watchdog thread also checks the parent once a second.
Jupyter kernels poll their parent themselves (ipykernel's parent poller).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
WORKER = "import sys; from pipelines.core.processes import serve; serve(*sys.argv[1:])"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # what a worker imports `pipelines` from


def die_with_parent(parent_pid: int) -> None:
    """Make this process die as soon as `parent_pid` (its parent) is gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="watch-parent").start()


def parent_alive(parent_pid: int) -> bool:
    """True while this process's parent is still `parent_pid`."""
    return os.getppid() == parent_pid


def _watch(parent_pid: int) -> None:
    while parent_alive(parent_pid):
        time.sleep(1.0)
    os._exit(1)


def start_workers(target: str, jobs: list[tuple], workers: int, scratch: Path,
                  env: dict[str, str] | None = None) -> list[tuple]:
    """Start `workers` fresh Python processes that call `target` ("module:function") on the jobs
    (argument tuples), each taking the next job no worker has taken yet when it is done with its
    last, so one that finishes early takes more; jobs and results pass through pickles in
    `scratch`, and each worker dies with this process. Plain subprocesses, not multiprocessing:
    a caller's script needs no `if __name__ == "__main__"` guard. `env`: variables to set for them."""
    from pipelines.core import io

    for i, job in enumerate(jobs):
        io.write_pickle(job, scratch / f"job-{i:05d}.pickle")
    path = os.pathsep.join([str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    environ = os.environ | (env or {}) | {"PYTHONPATH": path}
    running = []
    for w in range(workers):
        done = scratch / f"results-{w}.pickle"
        log = (scratch / f"worker-{w}.log").open("w+b")
        process = subprocess.Popen([sys.executable, "-c", WORKER, target, str(scratch), str(done), str(os.getpid())],
                                   env=environ, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        running.append((process, done, log))
    return running


def finish_workers(running: list[tuple], jobs: int) -> list:
    """Wait for the workers of `start_workers`: the results in job order, or the error a
    worker raised (the first worker's), or a RuntimeError with the output of one that died."""
    from pipelines.core import io

    results: dict[int, object] = {}
    for process, done, log in running:
        code = process.wait()
        outcome = io.read_pickle(done) if code == 0 and done.exists() else None
        if outcome is None:
            log.seek(0)
            raise RuntimeError(f"a worker process ended with exit code {code}: "
                               f"{log.read()[-3000:].decode(errors='replace')}")
        if isinstance(outcome, BaseException):
            raise outcome
        results |= outcome
    return [results[i] for i in range(jobs)]


def stop_workers(running: list[tuple]) -> None:
    """End the workers of `start_workers` still running (after an error) and close their logs."""
    for process, _, log in running:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def serve(target: str, scratch: str, done: str, parent: str) -> None:
    """A worker process's work (see `start_workers`): `target` on each job it takes, then the
    results by job number, or the first error, pickled to `done`."""
    from pipelines.core import io

    die_with_parent(int(parent))
    module, name = target.split(":")
    function = getattr(importlib.import_module(module), name)
    results = {}
    try:
        while (taken := _take(Path(scratch), Path(done).stem)) is not None:
            number, job = taken
            results[number] = function(*io.read_pickle(job))
        outcome = results
    except Exception as exc:  # handed to the parent, which raises it
        outcome = exc
    io.write_pickle(outcome, Path(done))


def _take(scratch: Path, worker: str) -> tuple[int, Path] | None:
    """The next job no worker has taken (renamed for `worker`, atomically), or None."""
    for job in sorted(scratch.glob("job-*.pickle")):
        taken = job.with_suffix(f".{worker}")
        try:
            job.rename(taken)
        except FileNotFoundError:  # another worker took it first
            continue
        return int(job.stem.removeprefix("job-")), taken
    return None
