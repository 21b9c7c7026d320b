"""Where a run keeps its work: the folders under one build folder and one reports folder.

These paths are stable (tests and downstream tools read them), so they are spelled once,
here, instead of `build / "clean"` joins in every module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STALE_FILE = "STALE.json"  # in reports/<period>/<client>/: newer data failed the gate
STATE_FILE = ".state.json"  # in reports/<period>/: per-client content hashes of the last run
FAILED_DIR = "_failed"  # in reports/<period>/: notebooks that failed, kept with their error


@dataclass(frozen=True)
class Layout:
    """The folders of one build: clean tables, validation results, metrics, logs, publishing."""

    build: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "build", Path(self.build))

    @property
    def clean(self) -> Path:
        return self.build / "clean"

    @property
    def contracts(self) -> Path:
        """The contracts the clean tables were made with (copied next to them)."""
        return self.clean / "contracts"

    @property
    def validation(self) -> Path:
        return self.build / "validation"

    @property
    def metrics(self) -> Path:
        return self.build / "metrics"

    @property
    def logs(self) -> Path:
        return self.build / "logs"

    @property
    def publish(self) -> Path:
        """Staging and bookkeeping of the publish stage (Quarto projects, PDF digests)."""
        return self.build / "publish"

    @property
    def run_summary(self) -> Path:
        """What the last run did, machine-readable (for schedulers)."""
        return self.build / "run_summary.json"

    @property
    def last_run(self) -> Path:
        """The inputs hash of the last successful run (an unchanged re-run does nothing)."""
        return self.build / "last_run.json"

    def contract(self, client_id: str) -> Path:
        return self.contracts / f"{client_id}.yml"

    def gate(self, client_id: str) -> Path:
        """A client's data-quality gate result."""
        return self.validation / f"{client_id}.json"
