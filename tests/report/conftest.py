"""Shared by the section tests: a client's report context on the real pipeline's output."""

from __future__ import annotations

import pytest

from pipelines.report import context as report

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def load(sample_run):
    """client id -> its ReportContext for PERIOD, from the session's sample run."""
    build = sample_run.home / "build"
    return lambda client: report.load(client, PERIOD, build_dir=build, data_dir=sample_run.data)
