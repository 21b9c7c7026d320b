"""Worker processes (`start_workers`): a worker that is free takes the next job."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipelines.core.processes import finish_workers, start_workers, stop_workers


def wait_for_the_last_job(marker: str, number: int) -> tuple[int, int]:
    """A job (run in a worker): the first waits until the last has run, up to 60 s."""
    if number == 0:
        deadline = time.monotonic() + 60
        while not Path(marker).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    elif number == 4:
        Path(marker).write_text("done")
    return number, os.getpid()


def test_a_free_worker_takes_the_jobs_a_busy_one_has_not_started(tmp_path):
    marker = tmp_path / "last-job-ran"
    jobs = [(str(marker), n) for n in range(5)]
    running = start_workers("tests.core.test_processes:wait_for_the_last_job", jobs, 2, tmp_path)
    try:
        results = finish_workers(running, len(jobs))
    finally:
        stop_workers(running)
    assert [number for number, _ in results] == [0, 1, 2, 3, 4]  # in job order
    # one worker waited in the first job while the other ran all the rest (given out in turn,
    # the first worker would have waited for a job it had still to run itself)
    pids = [pid for _, pid in results]
    assert pids[0] not in pids[1:] and len(set(pids[1:])) == 1
