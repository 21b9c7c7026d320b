"""The monthly batch (`servicereview run`): outputs, incremental re-runs, failures, locking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import polars as pl
import pytest
import yaml

from pipelines.core import config
from pipelines.core.notebooks import front_matter, read_notebook
from pipelines.core.reports import CLIENT, declared
from pipelines.run import execute
from pipelines.run.batch import LockedError, RunOptions, run_batch, run_lock
from tests.conftest import copy_sample, servicereview

pytestmark = pytest.mark.slow

CLIENTS = sorted(p.stem for p in (config.SAMPLE_DATA / "contracts").glob("*.yml"))
PERIOD = "2026-10"


def test_run_executes_every_client_and_the_portfolio(sample_run):
    assert sample_run.first.returncode == 0, sample_run.first.stderr[-3000:]
    period_dir = sample_run.home / "reports" / PERIOD
    for client in CLIENTS:
        for name in (r.name for r in declared(CLIENT)):
            path = period_dir / client / f"{name}.ipynb"
            assert path.exists(), path
            assert execute.error_cells(path) == []
    assert execute.error_cells(period_dir / "portfolio" / "portfolio.ipynb") == []
    summary = json.loads((sample_run.home / "build" / "run_summary.json").read_text())
    assert summary["period"] == PERIOD and summary["exit_code"] == 0


def test_run_builds_the_contract_review_pack_in_the_month_it_falls_due(sample_run):
    """Thameside's term started 2025-11 (12 months): its review falls due in 2026-10; Harbor's and
    Lakeside's fell due in 2026-09, Bondi's term runs on and Pacific Crest has no term."""
    packs = sorted(p.parent.name for p in (sample_run.home / "reports" / PERIOD).glob("*/contract_review.ipynb"))
    assert packs == ["thameside-architects"]
    pack = sample_run.home / "reports" / PERIOD / "thameside-architects" / "contract_review.ipynb"
    assert execute.error_cells(pack) == []
    front = front_matter(read_notebook(pack))
    assert (front["review_from"], front["review_to"]) == ("2025-11", "2026-10")
    bundle = sample_run.home / "_site_clients" / "thameside-architects" / PERIOD
    assert (bundle / "contract_review.html").exists()
    assert "Contract review" in (bundle / "monthly_report.html").read_text()  # in the month's navigation


def test_executed_notebooks_carry_front_matter_for_publishing(sample_run):
    nb = nbformat.read(sample_run.home / "reports" / PERIOD / "bondi-physio" / "monthly_report.ipynb", 4)
    raw = nb.cells[0]
    assert raw.cell_type == "raw"
    meta = yaml.safe_load(raw.source.strip().strip("-"))
    assert meta["title"] == "Monthly service report"
    assert meta["client_id"] == "bondi-physio" and meta["period"] == PERIOD
    assert meta["client_name"] == "Bondi Physio Clinics"


def test_notebook_numbers_come_from_the_metrics(sample_run):
    kpis = pl.read_parquet(sample_run.home / "build" / "metrics" / "client_kpis.parquet")
    row = kpis.filter((pl.col("client_id") == "bondi-physio") & (pl.col("month") == PERIOD)).row(0, named=True)
    nb = nbformat.read(sample_run.home / "reports" / PERIOD / "bondi-physio" / "monthly_report.ipynb", 4)
    text = "\n".join(o.get("data", {}).get("text/plain", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs)
    assert f"{row['tickets_created']} tickets were logged" in text


def test_second_run_re_executes_nothing(sample_run):
    assert sample_run.second.returncode == 0, sample_run.second.stderr[-3000:]
    assert "0 notebooks executed" in sample_run.second.stderr
    after = {p: p.stat().st_mtime_ns for p in (sample_run.home / "reports").rglob("*.ipynb")}
    assert after == sample_run.mtimes


def test_run_publishes_the_site_and_a_bundle_per_client(sample_run):
    assert (sample_run.home / "_site" / "index.html").exists()
    for client in CLIENTS:
        assert (sample_run.home / "_site_clients" / client / "index.html").exists(), client


def test_run_refuses_to_overlap(tmp_path):
    home = tmp_path / "home"
    with run_lock(home / "build"):
        result = servicereview("run", "--data", str(config.SAMPLE_DATA), home=home, timeout=120)
    assert result.returncode == config.EXIT_LOCKED
    assert "another servicereview run holds" in result.stderr


def test_lock_is_released_after_a_run(tmp_path):
    with run_lock(tmp_path):
        pass
    with run_lock(tmp_path):  # would raise LockedError if the first had leaked
        pass
    with run_lock(tmp_path), pytest.raises(LockedError):
        with run_lock(tmp_path):
            pass


def test_unknown_client_and_bad_period_are_usage_errors(tmp_path):
    bad_client = servicereview("run", "--client", "nobody", home=tmp_path / "h1", timeout=120)
    assert bad_client.returncode == config.EXIT_USAGE
    assert "--client nobody: no such client" in bad_client.stderr
    bad_period = servicereview("run", "--period", "2026-13", home=tmp_path / "h2", timeout=60)
    assert bad_period.returncode == config.EXIT_USAGE
    assert "--period '2026-13' is not a month" in bad_period.stderr
    backwards = servicereview("run", "--period", "2026-10:2026-08", home=tmp_path / "h3", timeout=60)
    assert backwards.returncode == config.EXIT_USAGE and "the range ends before it starts" in backwards.stderr


def test_period_all_backfills_every_month_in_one_call(tmp_path):
    """A small data set of three months: `--period all` runs each month (warm workers, the gate
    once per client) and publishes them together, with month-to-month links."""
    data = tmp_path / "data"
    made = servicereview("sample", "--clients", "1", "--months", "3", "--tickets", "240", "--out", str(data),
                         "--no-dirty", home=tmp_path / "home")
    assert made.returncode == 0, made.stderr[-2000:]
    client = next(p.stem for p in (data / "contracts").glob("*.yml"))
    done = servicereview("run", "--data", str(data), "--period", "all", "--jobs", "1", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "home" / "build" / "run_summary.json").read_text())
    months = summary["periods"]
    assert len(months) >= 2 and months == sorted(months) and summary["period"] == months[-1]
    assert "validate + notebooks" in summary["timings_s"]
    executed = {(o["client_id"], Path(o["output"]).parent.name) for o in summary["outcomes"]
                if o["status"] == "executed"}
    assert executed == {(c, m) for c in (client, "portfolio") for m in months}
    bundle = tmp_path / "home" / "_site_clients" / client
    assert sorted(p.name for p in bundle.iterdir() if p.is_dir() and p.name[0].isdigit()) == months
    page = (bundle / months[-1] / "monthly_report.html").read_text()
    assert f'href="../{months[-2]}/monthly_report.html"' in page  # the previous month
    home = (tmp_path / "home" / "_site" / "index.html").read_text()
    assert all(f'href="clients/{client}/{m}/' in home for m in months)  # the clients x months table
    again = servicereview("run", "--data", str(data), "--period", "all", "--jobs", "1", home=tmp_path / "home")
    assert again.returncode == 0 and "0 notebooks executed" in again.stderr


# ---------------------------------------------------------------- fault injection

FAULT = "FAULT-INJECTED"


def _strict_templates(target: Path) -> Path:
    """The real templates, with one extra check in the monthly report that a ticket title trips."""
    shutil.copytree(config.NOTEBOOKS, target)
    path = target / "monthly_report.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells.append(nbformat.v4.new_code_cell(
        f'assert not ctx.tables["tickets"]["title"].str.contains("{FAULT}").any(), "a ticket title says {FAULT}"'))
    nbformat.write(nb, path)
    return target


def _options(root: Path, data: Path, notebooks: Path) -> RunOptions:
    return RunOptions(clients=["bondi-physio", "thameside-architects"], jobs=2, data=data,
                      build=root / "build", reports=root / "reports", notebooks=notebooks, publish=False)


def test_a_broken_client_fails_alone_and_keeps_its_previous_report(tmp_path):
    data = copy_sample(tmp_path / "data")
    options = _options(tmp_path, data, _strict_templates(tmp_path / "notebooks"))
    good = run_batch(options)
    assert good.exit_code == config.EXIT_OK
    previous = (tmp_path / "reports" / PERIOD / "bondi-physio" / "monthly_report.ipynb").read_bytes()

    tickets = pl.read_csv(data / "tickets.csv", infer_schema=False)
    first_bondi = tickets.filter(pl.col("client_id") == "bondi-physio")["ticket_id"][0]
    tickets.with_columns(pl.when(pl.col("ticket_id") == first_bondi).then(pl.lit(FAULT))
                         .otherwise(pl.col("title")).alias("title")).write_csv(data / "tickets.csv")
    broken = run_batch(options)

    assert broken.exit_code == config.EXIT_FAILED
    status = {o.client_id: o for o in broken.outcomes}
    assert status["bondi-physio"].status == "failed"
    assert f"a ticket title says {FAULT}" in status["bondi-physio"].message
    assert status["thameside-architects"].status == "unchanged"
    assert status["portfolio"].status == "executed"
    # the good report is untouched; the failed notebook is kept with its error
    assert (tmp_path / "reports" / PERIOD / "bondi-physio" / "monthly_report.ipynb").read_bytes() == previous
    failed = tmp_path / "reports" / PERIOD / "_failed" / "bondi-physio" / "monthly_report.ipynb"
    assert any(FAULT in e for e in execute.error_cells(failed))


def test_a_client_failing_the_quality_gate_is_held_back_and_marked_stale(tmp_path):
    data = copy_sample(tmp_path / "data")
    options = _options(tmp_path, data, config.NOTEBOOKS)
    assert run_batch(options).exit_code == config.EXIT_OK
    tickets = pl.read_csv(data / "tickets.csv", infer_schema=False)
    bondi = tickets.filter(pl.col("client_id") == "bondi-physio")
    # first responses recorded a day after the resolution, on half of the client's tickets
    late = bondi.filter(pl.col("resolved_at").is_not_null()).head(bondi.height // 2)["ticket_id"]
    a_day_later = (pl.col("resolved_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%z").dt.offset_by("1d")
                   .dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    tickets.with_columns(
        pl.when(pl.col("ticket_id").is_in(late.implode())).then(a_day_later)
        .otherwise(pl.col("first_response_at")).alias("first_response_at")).write_csv(data / "tickets.csv")
    result = run_batch(options)
    status = {o.client_id: o for o in result.outcomes}
    assert result.exit_code == config.EXIT_FAILED
    assert status["bondi-physio"].status == "stale"
    assert "data-quality gate failed" in status["bondi-physio"].message
    stale = json.loads((tmp_path / "reports" / PERIOD / "bondi-physio" / "STALE.json").read_text())
    assert stale["failed_checks"]
    assert status["thameside-architects"].status == "unchanged"


# ---------------------------------------------------------------- kill -9

def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc: children of children too)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _reports_state(reports: Path) -> dict[str, int]:
    return {str(p.relative_to(reports)): p.stat().st_mtime_ns for p in reports.rglob("*")} if reports.exists() else {}


@pytest.mark.slow
def test_kill_9_of_run_leaves_no_process_behind_and_nothing_is_swapped_afterwards(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    data = copy_sample(tmp_path / "data")
    home = tmp_path / "home"
    env = dict(os.environ, SERVICEREVIEW_HOME=str(home))
    run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--data", str(data), "--jobs", "2"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        kernels = set()
        while time.monotonic() < deadline and run.poll() is None:
            family = _descendants(run.pid)
            kernels = {p for p in family if b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes()} \
                if family else set()
            if len(kernels) >= 2:  # both workers are executing notebooks
                break
            time.sleep(0.2)
        assert len(kernels) >= 2, "the run never reached its notebooks"
        kill_9_leaves_nothing_behind(run, home)
    finally:
        if run.poll() is None:
            run.kill()
        for pid in _descendants(run.pid):
            os.kill(pid, signal.SIGKILL)


def kill_9_leaves_nothing_behind(run, home: Path) -> None:
    """kill -9 the batch `run`: within 5 s none of its processes is alive, the lock is free and
    for 8 s more nothing is swapped into reports/."""
    import os
    import signal
    import time

    family = _descendants(run.pid)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    killed_at = time.monotonic()
    while time.monotonic() < killed_at + 5 and any(_alive(p) for p in family):
        time.sleep(0.1)
    assert [p for p in family if _alive(p)] == [], "processes of the killed run are still alive after 5 s"
    before = _reports_state(home / "reports")
    with run_lock(home / "build"):  # the lock is free the moment the run is gone
        pass
    time.sleep(8)
    assert _reports_state(home / "reports") == before, "something was swapped into reports/ after the kill"


def test_stage_commands_wait_for_no_one_and_refuse_while_a_run_holds_the_lock(tmp_path):
    with run_lock(tmp_path / "build"):
        for command in (["clean"], ["metrics"], ["validate", "--no-data-docs"], ["publish"]):
            done = servicereview(*command, home=tmp_path, timeout=60)
            assert done.returncode == config.EXIT_LOCKED, (command, done.stderr)
            assert "another servicereview run holds" in done.stderr
