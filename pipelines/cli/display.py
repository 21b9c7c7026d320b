"""What the commands print: the summary tables, the batch's progress display."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipelines.core import config
from pipelines.metrics.tone import trained_on

console = Console(stderr=True)


def clean_table(summary: dict):
    table = Table(title="clean: every input row is clean or rejected")
    for column in ("table", "source", "rows in", "clean", "rejected", "reasons"):
        table.add_column(column, justify="right" if column in {"rows in", "clean", "rejected"} else "left")
    for name, t in summary["tables"].items():
        reasons = "\n".join(f"{r} {n}" for r, n in t["by_reason"].items())
        table.add_row(name, t["source"], str(t["rows_in"]), str(t["clean"]), str(t["rejected"]), reasons)
    for name in summary["missing_tables"]:
        table.add_row(name, "(no file: section skipped)", "", "", "", "")
    return table


def gate_table(results: dict):
    table = Table(title="validate: data-quality gate per client")
    for column in ("client", "passed", "warnings", "errors", "publishable"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for client_id, gate in results.items():
        c = gate.counts
        verdict = "yes" if gate.publishable else "[red]NO[/red]"
        table.add_row(client_id, str(c["passed"]), str(c["warned"]), str(c["failed"]), verdict)
    return table


def tone_line(tone: dict) -> str:
    if tone["method"] == "lexicon":
        return f"comment tone: word list ({tone['reason']})"
    measured = (f"macro-F1 {tone['macro_f1']:.2f} on {tone['scored_comments']:,} later comments, "
                f"word list {tone['lexicon_macro_f1']:.2f}" if tone["macro_f1"] is not None
                else "agreement not measured: the comments span a single month")
    trained = trained_on(tone["labelled_comments"], tone.get("trained_on"))
    return f"comment tone: model trained on {trained} rated comments ({measured})"


def print_history(h: dict) -> None:
    console.print(
        f"  status history ({', '.join(h['shapes'])}): {h['reconciliation']}; {h['status_events']} status "
        f"events for {h['tickets_with_history']} tickets ({h['tickets_without_history']} without history)",
        highlight=False)
    for reason, count in h["rejected_by_reason"].items():
        console.print(f"  history rejected {count}: {reason} (see import_rejects.csv)", highlight=False)
    if h["unmapped_statuses"]:
        shown = ", ".join(f"{v!r} x{n}" for v, n in list(h["unmapped_statuses"].items())[:5])
        console.print(f"  unmapped history statuses: {shown}", highlight=False)
    if h["agreement"]:
        table = Table(title="the tool's own waiting time vs the imported history (calendar minutes)")
        for column in ("tool column", "statuses", "tickets", "agree (within 1 min)", "tool total", "history total"):
            table.add_column(column)
        for a in h["agreement"]:
            table.add_row(a["column"], ", ".join(a["statuses"]), str(a["tickets"]), str(a["agree"]),
                          f"{a['theirs_minutes']:g}", f"{a['ours_minutes']:g}")
        console.print(table)


class BatchProgress:
    """Draws the batch's events: a line per stage and a progress bar per client."""

    _WORDS = {"executed": "done", "failed": "FAILED", "stale": "HELD BACK (data-quality gate)"}

    def __enter__(self):
        self.progress, self.tasks = None, {}
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress, self.tasks = None, {}

    def on_event(self, event) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        if event.kind == "stage":
            self._stop()
            console.print(f"[bold]{event.text}[/bold] …", highlight=False)
        elif event.kind == "message":
            console.print(event.text, highlight=False, soft_wrap=True)
        elif event.kind == "client":
            if self.progress is None:
                self.progress = Progress(TextColumn("{task.description:<32}"), BarColumn(),
                                         MofNCompleteColumn(), TimeElapsedColumn(), console=console)
                self.progress.start()
            self.tasks[event.client] = self.progress.add_task(event.client, total=event.steps)
        elif event.client in self.tasks:
            task = self.tasks[event.client]
            if event.kind == "step":
                self.progress.update(task, advance=1 if event.ok else 0,
                                     description=f"{event.client} {event.step}{'' if event.ok else ' FAILED'}")
            elif event.kind == "done":
                self.progress.update(task, description=f"{event.client} {self._WORDS.get(event.text, event.text)}")


def short(path) -> str:
    """A path relative to the workspace when it is inside it (keeps the summary table narrow)."""
    if path is None:
        return ""
    try:
        return str(Path(path).relative_to(config.WORKSPACE))
    except ValueError:
        return str(path)


def run_table(result):
    months = result.periods or [result.period]
    span = months[0] if len(months) == 1 else f"{months[0]} to {months[-1]} ({len(months)} months)"
    table = Table(title=f"servicereview run — period {span}")
    for column in ("client", "status", "time", "output"):
        table.add_column(column, justify="right" if column == "time" else "left")
    for o in result.outcomes:
        style = {"failed": "red", "stale": "yellow"}.get(o.status, "")
        table.add_row(o.client_id, f"[{style}]{o.status}[/{style}]" if style else o.status,
                      f"{o.seconds:.1f}s" if o.seconds else "", short(o.output))
    if result.timings:
        table.caption = "stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    return table
