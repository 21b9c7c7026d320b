"""The fan-out's vocabulary, shared by the batch and its engines (the local pool in `batch`,
Dask in `cluster`): a client's `Job`, the `Event`s the batch reports, the `Tracker` that turns
what an engine reports into events, log lines and outcomes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.run.workers import ClientOutcome

log = logging.getLogger("servicereview.run")


@dataclass(frozen=True)
class Event:
    """Something the batch did, for whoever draws progress.

    kind: "stage" (a stage starts: `text`), "client" (a client is queued with `steps`
    steps), "step" (a client's step finished: `step`, `ok`), "done" (a client finished:
    `text` is its status), "message" (a line to show: `text`)."""

    kind: str
    client: str = ""
    step: str = ""
    ok: bool = True
    steps: int = 0
    text: str = ""


OnEvent = Callable[[Event], None]


class ClusterError(RuntimeError):
    """`--cluster` cannot run this batch: unreachable, other code there, a worker with threads."""


@dataclass(frozen=True)
class Job:
    """One client's (or the portfolio's) work for a worker: `func(*args)` -> ClientOutcome,
    reported in `steps` steps."""

    client: str
    func: Callable[..., ClientOutcome]
    args: tuple
    steps: int


class Tracker:
    """What the fan-out engines report, turned into events, log lines and outcomes."""

    def __init__(self, on_event: OnEvent, period: str) -> None:
        self.on_event, self.period, self.outcomes = on_event, period, []

    def message(self, text: str) -> None:
        self.on_event(Event("message", text=text))
        log.info("%s", text)

    def queued(self, job: Job) -> None:
        self.on_event(Event("client", job.client, steps=job.steps))

    def step(self, client: str, step: str, ok: bool) -> None:
        self.on_event(Event("step", client, step, ok))

    def done(self, client: str, outcome: ClientOutcome | BaseException) -> None:
        """A job finished, or its worker failed it (an exception: the client failed)."""
        if isinstance(outcome, BaseException):
            outcome = ClientOutcome(client, "failed", message=f"{type(outcome).__name__}: {outcome}")
        self.on_event(Event("done", client, text=outcome.status))
        level = logging.INFO if outcome.status == "executed" else logging.WARNING
        log.log(level, "%s %s: %s in %.1fs %s", client, self.period, outcome.status, outcome.seconds,
                outcome.message)
        self.outcomes.append(outcome)
