"""`servicereview run --cluster`: the batch on Dask distributed (a real scheduler and workers)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from pipelines.core import config
from pipelines.run.batch import RunOptions, run_batch
from tests.conftest import copy_sample, servicereview
from tests.run import dask_harness
from tests.run.test_run import PERIOD, _descendants, kill_9_leaves_nothing_behind

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_address(tmp_path_factory):
    """A `dask scheduler` and two `dask worker`s on 127.0.0.1, stopped after the module."""
    with dask_harness.dask_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


def test_the_default_path_imports_no_dask():
    code = ("import sys, pipelines.cli, pipelines.run.batch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_bad_cluster_addresses_are_usage_errors(tmp_path):
    no_workers = servicereview("run", "--cluster", "local:0", home=tmp_path / "a", timeout=60)
    assert no_workers.returncode == config.EXIT_USAGE
    assert "local:N needs a number of workers N >= 1" in no_workers.stderr
    nobody = servicereview("run", "--cluster", "tcp://127.0.0.1:9", home=tmp_path / "b", timeout=120)
    assert nobody.returncode == config.EXIT_USAGE
    assert "cannot reach the Dask scheduler" in nobody.stderr
    assert not (tmp_path / "b" / "build" / "metrics").exists()  # refused before the metrics and notebooks


def _notebook(path: Path, home: Path) -> list:
    """An executed notebook's cells and outputs, without timings, cell ids or the workspace path."""
    nb = nbformat.read(path, 4)
    cells = []
    for cell in nb.cells:
        outputs = [{k: v for k, v in o.items() if k != "execution_count"} for o in cell.get("outputs", [])]
        text = cell.cell_type + cell.source + json.dumps(outputs, sort_keys=True)
        cells.append(text.replace(str(home), "HOME"))
    return cells


def _untimed(path: Path) -> bytes:
    """A site file without the time its data was checked ("Data checked 1 Dec 2026, 10:38 UTC")."""
    return re.sub(rb"\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC", b"TIME", path.read_bytes())


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def test_a_cluster_run_gives_exactly_the_outputs_of_a_local_run(sample_run, cluster_address, tmp_path):
    assert sample_run.first.returncode == 0, sample_run.first.stderr[-3000:]
    home = tmp_path / "home"
    done = servicereview("run", "--data", str(sample_run.data), "--cluster", cluster_address, home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Dask cluster {cluster_address}: 2 workers" in done.stderr
    local = sample_run.home
    for folder in ("build/clean", "build/metrics"):
        mine, theirs = _files(home / folder), _files(local / folder)
        parquet = sorted(name for name in theirs if name.endswith(".parquet"))
        assert parquet and sorted(n for n in mine if n.endswith(".parquet")) == parquet
        for name in parquet:
            assert mine[name].read_bytes() == theirs[name].read_bytes(), f"{folder}/{name}"
    mine, theirs = _files(home / "reports"), _files(local / "reports")
    notebooks = sorted(n for n in theirs if n.endswith(".ipynb"))
    assert len(notebooks) >= 5 * 4 + 1 and sorted(n for n in mine if n.endswith(".ipynb")) == notebooks
    for name in notebooks:
        assert _notebook(mine[name], home) == _notebook(theirs[name], local), name
    for site in ("_site", "_site_clients"):
        mine, theirs = _files(home / site), _files(local / site)
        assert sorted(mine) == sorted(theirs)
        for name, path in theirs.items():
            if path.suffix != ".pdf":  # a PDF carries the time it was printed
                assert _untimed(mine[name]) == _untimed(path), f"{site}/{name}"
    summary = json.loads((home / "build" / "run_summary.json").read_text())
    assert summary["exit_code"] == 0 and {o["status"] for o in summary["outcomes"]} == {"executed"}
    assert not list((home / "build").glob(".cluster/*")), "the attempts ledger is left behind"
    again = servicereview("run", "--data", str(sample_run.data), "--cluster", cluster_address, home=home)
    assert again.returncode == 0 and "0 notebooks executed" in again.stderr, again.stderr[-3000:]


def _killing_templates(target: Path, marks: Path) -> Path:
    """The real templates; the monthly report's last cell kills its Dask worker (the kernel's
    parent) when a mark file names the client: `<client>.once` once, `<client>.always` always."""
    shutil.copytree(config.NOTEBOOKS, target)
    path = target / "monthly_report.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os, pathlib, signal\n"
        f"_marks = pathlib.Path({str(marks)!r})\n"
        "if (_marks / f'{client_id}.once').exists():\n"
        "    (_marks / f'{client_id}.once').unlink()\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "if (_marks / f'{client_id}.always').exists():\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"))
    nbformat.write(nb, path)
    return target


def test_a_client_whose_worker_dies_is_retried_once_then_failed_and_the_others_finish(
        cluster_address, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    clients = ["bondi-physio", "lakeside-accounting", "thameside-architects"]
    options = RunOptions(clients=clients, data=copy_sample(tmp_path / "data"), build=tmp_path / "build",
                         reports=tmp_path / "reports", publish=False, cluster=cluster_address,
                         notebooks=_killing_templates(tmp_path / "notebooks", marks))
    assert run_batch(options).exit_code == config.EXIT_OK
    previous = (tmp_path / "reports" / PERIOD / "thameside-architects" / "monthly_report.ipynb").read_bytes()

    (marks / "bondi-physio.once").touch()  # its worker is killed mid-run once: the retry succeeds
    (marks / "thameside-architects.always").touch()  # kills every worker it runs on
    options.force = True
    events = []
    started = time.monotonic()
    result = run_batch(options, events.append)
    assert time.monotonic() - started < 600

    assert result.exit_code == config.EXIT_FAILED
    status = {o.client_id: o for o in result.outcomes}
    assert {c: o.status for c, o in status.items()} == {
        "bondi-physio": "executed", "lakeside-accounting": "executed", "portfolio": "executed",
        "thameside-architects": "failed"}
    assert not (marks / "bondi-physio.once").exists()  # it was killed once indeed
    assert "(started 2 times)" in status["thameside-architects"].message
    assert (tmp_path / "reports" / PERIOD / "thameside-architects" / "monthly_report.ipynb").read_bytes() \
        == previous  # the previous report stays
    assert {e.client for e in events if e.kind == "step"} >= {"bondi-physio", "lakeside-accounting"}
    assert not list((tmp_path / "reports" / PERIOD).glob(".tmp-*")), "a dead attempt's scratch is left"


def test_kill_9_of_a_local_cluster_run_leaves_no_process_behind(tmp_path):
    data = copy_sample(tmp_path / "data")
    home = tmp_path / "home"
    env = dict(os.environ, SERVICEREVIEW_HOME=str(home))
    run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--data", str(data),
                            "--cluster", "local:2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        busy = False
        while time.monotonic() < deadline and run.poll() is None and not busy:
            # both workers are executing notebooks: each has written into a scratch folder
            busy = len(list((home / "reports" / PERIOD).glob(".tmp-*"))) >= 2
            time.sleep(0.2)
        assert busy, "the run never reached its notebooks"
        kernels = {p for p in _descendants(run.pid) if b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes()}
        assert len(kernels) >= 2, "no kernels below the batch"
        kill_9_leaves_nothing_behind(run, home)
    finally:
        if run.poll() is None:
            run.kill()
        for pid in _descendants(run.pid):
            os.kill(pid, signal.SIGKILL)
