"""Shared tiny fixtures: a contract in the documented shape and a raw-data folder writer."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

ACME = {
    "client_id": "acme",
    "name": "Acme Dental",
    "timezone": "America/New_York",
    "business_hours": {d: ["08:00", "18:00"] for d in ("mon", "tue", "wed", "thu")} | {"fri": ["08:00", "17:00"]},
    "holidays": {"country": "US", "subdivision": "NY", "extra": ["2026-12-24"]},
    "sla": {
        "P1": {"response": "15m", "resolution": "4h", "calendar": "24x7"},
        "P2": {"response": "1h", "resolution": "8h", "calendar": "business"},
        "P3": {"response": "4h", "resolution": "24h", "calendar": "business"},
        "P4": {"response": "8h", "resolution": "72h", "calendar": "business"},
    },
    "priority_map": {"Critical": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
    "statuses": {
        "pause": ["Waiting on Customer", "Waiting on Vendor"],
        "in_progress": ["In Progress"],
        "resolved": ["Resolved", "Closed"],
    },
    "proactive_sources": ["monitoring", "maintenance"],
    "uptime": {"target_pct": 99.9, "services": ["email", "internet"]},
    "monthly_fee": 4200,
    "credits": [{"metric": "uptime_pct", "below": 99.9, "credit_pct": 5}],
    "targets": {"response_sla_pct": 95, "resolution_sla_pct": 90, "csat_pct": 90},
    "survey_scale": "5-point",
}

# Property tests draw the same examples on every run (CI included): a failure found once is
# found again, and a run never fails on an example no earlier run tried. New examples come
# from changing the tests, or from running with --hypothesis-profile=explore.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory):
    """What a publish keeps in the user's cache folder (SERVICEREVIEW_CACHE) goes to this
    session's temporary folder, for the CLI's subprocesses too."""
    os.environ["SERVICEREVIEW_CACHE"] = str(tmp_path_factory.mktemp("user-cache"))


@pytest.fixture
def contract_data() -> dict:
    """A fresh copy of a valid contract mapping (edit it freely in a test)."""
    return copy.deepcopy(ACME)


def write_contract(folder: Path, data: dict) -> Path:
    """Write a contract mapping as `folder/contracts/<client_id>.yml`."""
    path = folder / "contracts" / f"{data['client_id']}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_csv(folder: Path, name: str, text: str) -> Path:
    """Write a raw CSV table (leading indentation removed) into `folder`."""
    path = folder / f"{name}.csv"
    lines = [line.strip() for line in text.strip().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- the real pipeline, once

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
XSS_CLIENT = "harbor-dental"
XSS_TICKET = "HD-44696"  # surveyed in 2026-10; its survey is turned into a hostile complaint


def copy_sample(target: Path, hostile: bool = False) -> Path:
    """data/sample (without the dirty set) copied to `target`; optionally with hostile text
    in a survey comment, a ticket title and a client name (untrusted inputs)."""
    import shutil

    import polars as pl

    from pipelines.core import config

    shutil.copytree(config.SAMPLE_DATA, target, ignore=shutil.ignore_patterns("dirty", "README.md"))
    if hostile:
        surveys = pl.read_csv(target / "surveys.csv", infer_schema=False)
        surveys = surveys.with_columns(
            pl.when(pl.col("ticket_id") == XSS_TICKET).then(pl.lit("1")).otherwise(pl.col("rating")).alias("rating"),
            pl.when(pl.col("ticket_id") == XSS_TICKET).then(pl.lit(f"Awful {XSS}")).otherwise(pl.col("comment"))
            .alias("comment"))
        surveys.write_csv(target / "surveys.csv")
        tickets = pl.read_csv(target / "tickets.csv", infer_schema=False)
        tickets.with_columns(pl.when(pl.col("ticket_id") == XSS_TICKET).then(pl.lit(f"Printer {XSS}"))
                             .otherwise(pl.col("title")).alias("title")).write_csv(target / "tickets.csv")
        contract = target / "contracts" / f"{XSS_CLIENT}.yml"
        data = yaml.safe_load(contract.read_text())
        data["name"] = f"Harbor Dental {XSS} & Co"
        contract.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def servicereview(*args: str, home: Path, timeout: int = 900, engine: str = "builtin"):
    """Run the CLI in a subprocess with its own workspace (SERVICEREVIEW_HOME). It publishes with
    the built-in renderer unless told otherwise: the real Quarto is tested on small sites
    (tests/site/test_publish_quarto.py), not on every end-to-end run."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, SERVICEREVIEW_HOME=str(home), COLUMNS="200", SERVICEREVIEW_ENGINE=engine)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """`servicereview run` on (a hostile copy of) data/sample in a fresh workspace, twice."""
    from types import SimpleNamespace

    root = tmp_path_factory.mktemp("sample-run")
    data = copy_sample(root / "data", hostile=True)
    home = root / "home"
    first = servicereview("run", "--data", str(data), "--jobs", "2", home=home)
    mtimes = {p: p.stat().st_mtime_ns for p in (home / "reports").rglob("*.ipynb")}
    second = servicereview("run", "--data", str(data), "--jobs", "2", home=home)
    return SimpleNamespace(root=root, data=data, home=home, first=first, second=second, mtimes=mtimes)
