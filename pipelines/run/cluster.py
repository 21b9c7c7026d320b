"""`servicereview run --cluster`: the per-client fan-out on Dask distributed.

One Dask task per client (its data-quality gate and notebooks: `workers.process_client`,
exactly what a local worker process runs), then one for the portfolio. `--cluster
tcp://HOST:8786` uses an existing scheduler; `--cluster local:N` starts a `LocalCluster` of
N worker processes on this machine (they die with the batch, like the local pool). Each Dask
worker process keeps one warm Jupyter kernel (`KernelPlugin`), so it must run one thread.

Data never travels through Dask: a task carries paths, and every worker reads the clean
tables and writes its client's notebooks in the shared build and reports folders (which must
be the same paths on every host, e.g. NFS). Only the process that holds the run lock submits.

A client whose task raises, or whose worker dies, is tried once more, then reported failed
(its previous report stays). Every start of a task is recorded in the build folder, so a
client is never started more than twice even when the scheduler re-runs a task on its own
after a worker died (`distributed.scheduler.allowed-failures`). A task swaps its notebooks
into reports/ only while the batch still wants that attempt: its Dask task is still running
(not released because the batch died, or cancelled) and it is the client's latest start.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
from distributed import Client, LocalCluster, get_worker, wait
from distributed.diagnostics.plugin import WorkerPlugin

from pipelines.core.layout import Layout
from pipelines.core.processes import die_with_parent
from pipelines.run import fingerprints, workers
from pipelines.run.fanout import ClusterError, Job, Tracker

PLUGIN = "servicereview-kernel"
MAX_STARTS = 2  # a client is tried once more after its task failed or its worker died
NO_WORKER_GRACE_S = 30.0  # a cluster without any worker for this long fails the remaining clients
STOP_WAIT_S = 3.0  # on Ctrl-C: how long interrupted tasks get to return before the cluster closes


class KernelPlugin(WorkerPlugin):
    """One warm Jupyter kernel per Dask worker process, shut down with the worker.

    The plugin is pickled and sent to every worker (also to workers that join later), so it
    carries only its settings. `owner_pid`: the batch process that started the workers
    (local:N); a worker whose parent it is dies with it, as the local pool's workers do."""

    idempotent = True  # registering it again (the next batch on the same cluster) keeps the kernel

    def __init__(self, owner_pid: int | None = None) -> None:
        self.owner_pid = owner_pid
        self.lock = threading.Lock()  # one job at a time per kernel, even on a misconfigured worker

    def __getstate__(self) -> dict:
        return {"owner_pid": self.owner_pid}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def setup(self, worker) -> None:
        if worker.state.nthreads != 1:
            raise ClusterError(f"worker {worker.address} runs {worker.state.nthreads} threads; servicereview "
                               "workers need one thread each (dask worker --nthreads 1): one kernel per process")
        if self.owner_pid is not None and os.getppid() == self.owner_pid:
            die_with_parent(self.owner_pid)
        workers.worker_kernel().manager()  # start it now: the first client does not wait for it

    def teardown(self, worker) -> None:
        workers.worker_kernel().shutdown()


class _Progress:
    """A client's steps, as Dask worker events on the batch's topic (see workers.serve)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def put(self, item) -> None:
        get_worker().log_event(self.topic, list(item))


def _ledger(layout: Layout, run_id: str, client: str) -> Path:
    """Where a client's starts in this batch are recorded (in the shared build folder)."""
    return layout.build / ".cluster" / run_id / client


def _starts(ledger: Path) -> int:
    return len(list(ledger.glob("start-*"))) if ledger.exists() else 0


def run_job(job: Job, layout: Layout, run_id: str, topic: str) -> workers.ClientOutcome:
    """A Dask task: one client's job on this worker, in its warm kernel."""
    worker = get_worker()
    key = worker.get_current_task()
    ledger = _ledger(layout, run_id, job.client)
    ledger.mkdir(parents=True, exist_ok=True)
    start = f"start-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    (ledger / start).touch()
    _write(ledger / "latest", start)
    if _starts(ledger) > MAX_STARTS:  # the scheduler re-ran it after its workers died
        (ledger / start).unlink()
        raise RuntimeError(f"not started again: its {MAX_STARTS} starts ended with their worker dying "
                           "or the task failing")
    plugin = worker.plugins.get(PLUGIN)
    if plugin is None or worker.state.nthreads != 1:
        raise ClusterError(f"worker {worker.address} is not set up for servicereview "
                           "(one thread per worker, the kernel plugin registered)")

    def owned() -> bool:
        task = worker.state.tasks.get(key)
        return (task is not None and task.state == "executing" and worker.status.name == "running"
                and (ledger / "latest").read_text() == start)

    with plugin.lock:
        workers.serve(owned, _Progress(topic))
        try:
            return job.func(*job.args)
        finally:
            workers.serve(None)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _interrupt(dask_worker) -> bool:
    """Interrupt the kernel of a worker that is executing a task (Ctrl-C of the batch)."""
    return bool(dask_worker.state.executing) and workers.worker_kernel().interrupt()


def dashboard_url(client: Client, timeout: float = 1.0) -> str | None:
    """The Dask dashboard's address, when a dashboard really answers there (it needs bokeh on
    the scheduler; Dask gives a link even when there is none)."""
    link = client.dashboard_link
    if not link:
        return None
    try:
        with urllib.request.urlopen(link, timeout=timeout) as response:  # noqa: S310 - the scheduler's own link
            body = response.read(4096)
    except (urllib.error.URLError, OSError):
        return None
    return None if b"needs bokeh" in body else link


def parse(address: str) -> int | None:
    """The number of workers of `local:N`, None for a scheduler address; a bad one is an error."""
    if not address.startswith("local:"):
        if not address.strip():
            raise ValueError("--cluster: give a scheduler address (tcp://HOST:8786) or local:N")
        return None
    count = address.removeprefix("local:")
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"--cluster {address!r}: local:N needs a number of workers N >= 1")
    return int(count)


@contextmanager
def connect(address: str):
    """A Dask client for `address`: an existing scheduler, or a LocalCluster for local:N
    (closed afterwards, leaving this process's environment as it was)."""
    n = parse(address)
    if n is None:
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            raise ClusterError(f"--cluster {address}: cannot reach the Dask scheduler ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    environ = dict(os.environ)  # the nannies write their pre-spawn environment into ours
    # Its scheduler is ours: a worker's death is re-run once by the scheduler at most, and a
    # one-thread worker holds only the task it runs (no bystander dies with a killed worker).
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0")
    try:
        with Client(cluster) as client:
            yield client
    finally:
        # The kernels are down already; a worker slow to exit (a loaded machine) is killed by
        # its nanny after 4 s, which it reports as a warning that would only alarm.
        nanny_log = logging.getLogger("distributed.nanny")
        level = nanny_log.level
        nanny_log.setLevel(logging.ERROR)
        try:
            cluster.close()
        finally:
            nanny_log.setLevel(level)
            os.environ.clear()
            os.environ.update(environ)


def _check(client: Client, address: str) -> None:
    """The scheduler and the workers must run this code (the scheduler unpickles the tasks)."""
    mine = fingerprints.code_digest()
    try:
        theirs = {"the scheduler": client.run_on_scheduler(fingerprints.code_digest)}
        theirs |= client.run(fingerprints.code_digest)
    except Exception as exc:  # noqa: BLE001 - typically ModuleNotFoundError on the scheduler
        raise ClusterError(f"--cluster {address}: the scheduler or a worker cannot import servicereview "
                           f"({type(exc).__name__}: {exc}); install the same version everywhere") from None
    stale = sorted(where for where, digest in theirs.items() if digest != mine)
    if stale:
        raise ClusterError(f"--cluster {address}: {', '.join(stale)} run(s) other servicereview code than "
                           "this batch; install the same version and restart the workers")


class Session:
    """A batch's connection to a cluster, set up to run servicereview jobs (see `session`)."""

    def __init__(self, client: Client, address: str, layout: Layout) -> None:
        self.client, self.address, self.layout = client, address, layout
        dashboard = dashboard_url(client)
        self.messages = [f"Dask cluster {address}: {len(client.nthreads())} workers"
                         + (f", dashboard {dashboard}" if dashboard else "")]

    def fan_out(self, jobs: list[Job], last: Job | None, tracker: Tracker) -> None:
        """Run the jobs on the cluster (then `last`), reporting to `tracker` as they finish."""
        run = _Run(self.client, self.layout, tracker)
        try:
            run.all(jobs)
            if last is not None:
                run.all([last])
        finally:
            run.close()


@contextmanager
def session(address: str, layout: Layout) -> Iterator[Session]:
    """Connect to the cluster at `address` (or start local:N), check it runs this code, and
    give every worker its kernel; everything started here is stopped afterwards."""
    local = parse(address) is not None
    with connect(address) as client:
        if not local:
            _check(client, address)
        try:
            client.register_plugin(KernelPlugin(os.getpid() if local else None), name=PLUGIN)
        except Exception as exc:  # noqa: BLE001 - a worker's setup failed (threads, no kernel)
            raise ClusterError(f"--cluster {address}: {exc}") from None
        try:
            yield Session(client, address, layout)
        finally:
            if local:  # kernels shut down by their plugin first: the nannies need not kill workers
                client.unregister_worker_plugin(PLUGIN)


class _Run:
    """One batch's tasks on a cluster: submit, retry once, report as they finish."""

    def __init__(self, client: Client, layout: Layout, tracker: Tracker) -> None:
        self.client, self.layout, self.tracker = client, layout, tracker
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.topic = f"servicereview-{self.id}"
        self.events: queue.Queue = queue.Queue()
        client.subscribe_topic(self.topic, lambda event: self.events.put(event[1]))  # in Dask's IO thread
        self.futures: dict = {}  # future -> (job, submission)

    def submit(self, job: Job, n: int) -> None:
        future = self.client.submit(run_job, job, self.layout, self.id, self.topic, pure=False, retries=0,
                                    key=f"servicereview-{self.id}-{job.client}-{n}")
        self.futures[future] = (job, n)

    def all(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.tracker.queued(job)
            self.submit(job, 1)
        seen_workers, checked = time.monotonic(), 0.0
        while self.futures:
            try:  # unlike concurrent.futures.wait, distributed.wait raises when nothing finished
                finished = wait(list(self.futures), timeout=0.2, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                finished = set()
            self._drain()
            for future in finished:
                self._finished(future)
            if time.monotonic() - checked > 1.0:  # all workers gone (without nannies) would wait forever
                checked = time.monotonic()
                if self.client.nthreads():
                    seen_workers = checked
                elif checked - seen_workers > NO_WORKER_GRACE_S:
                    self._give_up(f"the cluster has had no worker for {NO_WORKER_GRACE_S:.0f} s")
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                client, step, ok = self.events.get_nowait()
            except queue.Empty:
                return
            self.tracker.step(client, step, ok)

    def _finished(self, future) -> None:
        job, n = self.futures.pop(future)
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - the task raised, its worker died, or it was cancelled
            started = _starts(_ledger(self.layout, self.id, job.client))
            error = f"{type(exc).__name__}: {exc}"
            if started < MAX_STARTS and n <= MAX_STARTS:
                self.tracker.message(f"{job.client}: {error}; trying once more")
                self.submit(job, n + 1)
                return
            outcome = workers.ClientOutcome(job.client, "failed", message=f"{error} (started {started} times)")
        finally:
            future.release()
        self.tracker.done(job.client, outcome)

    def _give_up(self, reason: str) -> None:
        self.client.cancel(list(self.futures))
        for job, _ in self.futures.values():
            self.tracker.done(job.client, workers.ClientOutcome(job.client, "failed", message=reason))
        self.futures.clear()

    def close(self) -> None:
        """Stop what is still running (Ctrl-C, an error): cancel, interrupt the kernels, wait a little."""
        try:
            if self.futures:
                self.client.cancel(list(self.futures))
                self.client.run(_interrupt)
                stop = time.monotonic() + STOP_WAIT_S
                while time.monotonic() < stop and any(self.client.run(_executing).values()):
                    time.sleep(0.1)
        finally:
            self.client.unsubscribe_topic(self.topic)
            shutil.rmtree(self.layout.build / ".cluster" / self.id, ignore_errors=True)


def _executing(dask_worker) -> int:
    return len(dask_worker.state.executing)
