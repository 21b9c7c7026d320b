"""Where things live. Paths are anchored at folders, never at the working directory.

- PROJECT: the checkout holding `pyproject.toml` above this package: the code, the
  notebook templates, `_quarto.yml` and the sample data.
- WORKSPACE: where a run writes (build/, reports/, _site/, _site_clients/). It is
  the project folder unless `SERVICEREVIEW_HOME` names another one, so a benchmark
  or a test can run the whole pipeline without touching the project's outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parents[2]
PROJECT = _HERE if (_HERE / "pyproject.toml").exists() else Path.cwd()
WORKSPACE = Path(os.environ["SERVICEREVIEW_HOME"]).resolve() if os.environ.get("SERVICEREVIEW_HOME") else PROJECT
ROOT = PROJECT  # kept for readers of the project's own files (_quarto.yml)

SAMPLE_DATA = PROJECT / "data" / "sample"
NOTEBOOKS = PROJECT / "notebooks"
BUILD = WORKSPACE / "build"  # clean tables, validation results, metrics, logs (git-ignored)
REPORTS = WORKSPACE / "reports"  # executed notebooks (git-ignored)
SITE = WORKSPACE / "_site"
SITE_CLIENTS = WORKSPACE / "_site_clients"

# Exit codes of the CLI (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # a client failed its notebooks or its data-quality gate; the others completed
EXIT_USAGE = 2  # bad arguments or unusable input (a bad contract, a missing required column)
EXIT_LOCKED = 3  # another run holds the lock
