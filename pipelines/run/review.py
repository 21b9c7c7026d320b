"""`servicereview review`: one client's contract review pack, on demand, then publish.

The same steps as the batch for one client and one template: clean, the metrics up to the
review's last month, the client's data-quality gate and the review notebook in a worker with a
warm kernel (the strict runner), then the site and the client's bundle with the pack's PDF.
The pack is kept with the reports of its last month (reports/<to>/<client>/contract_review.ipynb)
beside that month's monthly reports, which stay as they are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.clean.stage import clean_folder
from pipelines.core import config
from pipelines.core.contracts import load_contracts
from pipelines.core.io import InputError, write_json
from pipelines.core.layout import Layout
from pipelines.core.overrides import OverrideError, apply_overrides
from pipelines.core.reports import REVIEW
from pipelines.core.terms import Window, check_window, review_window
from pipelines.metrics.stage import default_period, metrics_folder
from pipelines.run import execute
from pipelines.run.batch import (
    BatchResult,
    RunOptions,
    _front_matter,
    _log_to_file,
    _publish,
    _summary,
    _timed,
    _workers,
    review_parameters,
)
from pipelines.run.fanout import Event, Job, OnEvent, Tracker
from pipelines.run.lock import run_lock
from pipelines.run.workers import ClientOutcome, process_client

log = logging.getLogger("servicereview.review")


@dataclass
class ReviewOptions:
    """Which client and months (None: from the contract's term), scenarios, and the folders."""

    client: str
    start: str | None = None
    end: str | None = None
    scenarios: dict[str, list[str]] = field(default_factory=dict)  # besides the contract's term.scenarios
    data: Path = config.SAMPLE_DATA
    build: Path = config.BUILD
    reports: Path = config.REPORTS
    notebooks: Path = config.NOTEBOOKS
    publish: bool = True
    engine: str = "auto"


@dataclass
class ReviewResult:
    """The months reviewed and what happened (the client's outcome, and the site's if publishing failed)."""

    window: Window
    batch: BatchResult

    @property
    def exit_code(self) -> int:
        return self.batch.exit_code

    @property
    def outcome(self) -> ClientOutcome:
        return self.batch.outcomes[0]

    @property
    def pack(self) -> Path | None:
        """The executed pack, when the gate passed and it ran."""
        out = self.outcome
        return out.output / "contract_review.ipynb" if out.status == "executed" and out.output else None


def run_review(options: ReviewOptions, on_event: OnEvent | None = None) -> ReviewResult:
    """Build and publish one review pack; raises LockedError when another run holds the lock,
    InputError / ContractError / OverrideError for a bad client, month or scenario."""
    on_event = on_event or (lambda event: None)
    handler = _log_to_file(Layout(options.build))
    try:
        with run_lock(options.build):
            return _review_locked(options, on_event)
    finally:
        logging.getLogger("servicereview").removeHandler(handler)
        handler.close()


def _review_locked(options: ReviewOptions, on_event: OnEvent) -> ReviewResult:
    timings: dict[str, float] = {}
    layout = Layout(options.build)
    template = next(t for t in execute.load_templates(options.notebooks) if t.scope == REVIEW)
    with _timed(timings, "clean", on_event):
        cleaned = clean_folder(options.data, layout.clean)
    known = sorted(cleaned.summary["by_client"])
    if options.client not in known:
        raise InputError(f"--client {options.client}: no such client (known: {', '.join(known)})")
    contract = load_contracts(layout.contracts)[options.client]
    for name, sets in options.scenarios.items():  # a bad override stops here, before anything runs
        apply_overrides(contract, sets, f"scenario {name!r}")
    with _timed(timings, "metrics", on_event):
        try:
            metrics = metrics_folder(layout.clean, layout.metrics, period=options.end)
        except InputError as exc:  # the month given is the review's last: say so by its option
            raise InputError(str(exc).replace("--period", "--to", 1)) from None
        latest = _latest(metrics.summary, options.end, contract)
        window = review_window(contract.term, latest, options.start, options.end)
        check_window(window, metrics.summary["first_month"], (metrics.summary.get("export_end") or "")[:7] or None)
        if metrics.summary["period"] != window.end:
            metrics = metrics_folder(layout.clean, layout.metrics, period=window.end)
    on_event(Event("message", text=f"review of {options.client}: {window.start} to {window.end} ({window.why})"))
    target = options.reports / window.end / options.client
    front = _front_matter(options.client, contract, window.end, metrics.summary)
    extra = {template.name: review_parameters(contract, window.start, window.end, options.reports, options.scenarios)}
    run = RunOptions(jobs=1, data=options.data, build=options.build, reports=options.reports, engine=options.engine)
    tracker = Tracker(on_event, window.end)
    job = Job(options.client, process_client, (options.client, window.end, [template], options.data, options.build,
                                                target, front, datetime.now(UTC), extra), 2)
    with _timed(timings, "validate + review", on_event), _workers(run, 1) as workers:
        workers.fan_out([job], None, tracker)
    outcome = tracker.outcomes[0]
    batch = BatchResult(window.end, [outcome], timings, [window.end])
    if options.publish and outcome.status == "executed":
        with _timed(timings, "publish", on_event):
            _publish(run, batch, on_event)
    write_json(_summary(batch), layout.run_summary)
    log.info("review %s %s..%s: %s %s", options.client, window.start, window.end, outcome.status, outcome.message)
    return ReviewResult(window, batch)


def _latest(summary: dict, end: str | None, contract) -> str:
    """The latest complete month of the data (what a default review window ends by)."""
    if end is None:
        return summary["period"]
    return default_period(datetime.fromisoformat(summary["export_end"]), {contract.client_id: contract}) \
        if summary.get("export_end") else end


__all__ = ["OverrideError", "ReviewOptions", "ReviewResult", "run_review"]
