"""A real Dask cluster for the tests: `dask scheduler` and `dask worker` subprocesses on
127.0.0.1, every wait bounded, everything stopped on exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def _scheduler_file(path: Path, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {proc.returncode}")
        try:
            return json.loads(path.read_text())  # may be half written: retry
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    raise TimeoutError(f"no scheduler file after {timeout} s")


def stop(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each process group, SIGKILL what is left after `grace` seconds."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:  # the whole group: a nanny's worker may outlive its nanny
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


@contextmanager
def dask_cluster(folder: Path, workers: int = 2, timeout: float = 60.0):
    """Yield the address of a scheduler with `workers` one-thread workers (with nannies)."""
    folder.mkdir(parents=True, exist_ok=True)
    sched_file = folder / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = []
    local = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]  # else :8787 / 0.0.0.0
    try:
        logs.append(open(folder / "scheduler.log", "w"))  # noqa: SIM115 - closed in finally
        procs.append(subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--port", "0", "--scheduler-file", str(sched_file), *local],
            stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True))
        info = _scheduler_file(sched_file, procs[0], timeout)
        for i in range(workers):
            logs.append(open(folder / f"worker{i}.log", "w"))  # noqa: SIM115
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                 "--nworkers", "1", "--name", f"w{i}", "--nanny", "--death-timeout", "60", *local],
                stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True))
        from distributed import Client

        with Client(info["address"], timeout="30s") as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield info["address"]
    finally:
        stop(list(reversed(procs)))  # workers first, then the scheduler
        for log in logs:
            log.close()


def venv_processes(pattern: str) -> set[int]:
    """Pids of this venv's processes whose command line contains `pattern` (other sessions
    on the machine run kernels too: never count theirs)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(BIN) in text and pattern in text:
            found.add(int(cmdline.parent.name))
    return found
