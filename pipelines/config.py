"""Where things live. Paths are anchored at the project folder, never the working directory.

The project folder is the one holding `pyproject.toml` above this package (an
editable install or a checkout); `SERVICEREVIEW_HOME` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path


def _project_root() -> Path:
    if os.environ.get("SERVICEREVIEW_HOME"):
        return Path(os.environ["SERVICEREVIEW_HOME"]).resolve()
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


ROOT = _project_root()
SAMPLE_DATA = ROOT / "data" / "sample"
BUILD = ROOT / "build"  # clean tables, validation results, metrics (git-ignored)
NOTEBOOKS = ROOT / "notebooks"
REPORTS = ROOT / "reports"  # executed notebooks (git-ignored)
SITE = ROOT / "_site"
SITE_CLIENTS = ROOT / "_site_clients"

# Exit codes of the CLI (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # a client failed its notebooks or its data-quality gate; the others completed
EXIT_USAGE = 2  # bad arguments or unusable input (a bad contract, a missing required column)
EXIT_LOCKED = 3  # another run holds the lock
