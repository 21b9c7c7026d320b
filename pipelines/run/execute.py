"""Executing notebook templates with papermill, strictly.

papermill only warns about an unknown parameter or a missing `parameters` tag;
here both are errors, found before anything runs. One function executes one
notebook; a failed notebook is saved with its error before the failure is
reported. A worker keeps one Jupyter kernel alive and runs its notebooks in it
(kernel start-up costs ~0.8 s, imports another second), restarting it after a
failure so one broken notebook cannot poison the next.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from jupyter_client.manager import KernelManager

from pipelines.core.reports import CLIENT, PORTFOLIO, REVIEW, declared

log = logging.getLogger(__name__)

KERNEL = "python3"


class TemplateError(ValueError):
    """A notebook template the runner refuses to execute (named, with the reason)."""


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    scope: str  # "client", "portfolio" or "review" (pipelines.core.reports)


@dataclass
class NotebookOutcome:
    template: str
    output: Path
    ok: bool
    seconds: float
    error: str | None = None


def parameters_of(path: Path) -> dict[str, dict]:
    """The parameters a template declares in its `parameters`-tagged cell."""
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise TemplateError(f"{path}: no cell tagged 'parameters' (papermill would only warn)")
    if len(tagged) > 1:
        raise TemplateError(f"{path}: {len(tagged)} cells tagged 'parameters'; expected one")
    import papermill  # lazy: 0.7 s of import, and every CLI command loads this module

    return papermill.inspect_notebook(str(path))


def load_templates(folder: Path) -> list[Template]:
    """Every declared report's template (`pipelines.core.reports`, in batch order), each checked
    for exactly the parameters the runner gives it."""
    templates, problems = [], []
    for scope in (CLIENT, PORTFOLIO, REVIEW):
        for spec in declared(scope, running=True):
            name, expected = spec.name, spec.parameters
            path = folder / f"{name}.ipynb"
            if not path.exists():
                problems.append(f"{path}: template is missing")
                continue
            try:
                given = set(parameters_of(path))
            except TemplateError as exc:
                problems.append(str(exc))
                continue
            unknown = sorted(given - set(expected))
            missing = sorted(set(expected) - given)
            if unknown:
                problems.append(f"{path}: declares parameter(s) {', '.join(unknown)} that the runner "
                                f"does not pass (it passes {', '.join(expected)})")
            if missing:
                problems.append(f"{path}: does not declare parameter(s) {', '.join(missing)} "
                                "that the runner passes")
            templates.append(Template(name, path, scope))
    if problems:
        raise TemplateError("\n".join(problems))
    return templates


class Kernel:
    """One long-lived Jupyter kernel, restarted after a failed notebook."""

    def __init__(self) -> None:
        self._km = None

    def manager(self):
        if self._km is None or not self._km.is_alive():
            self.shutdown()
            self._km = KernelManager(kernel_name=KERNEL)
            # the kernel's "running over TCP without encryption" warning would fill every log
            self._km.start_kernel(extra_arguments=["--IPKernelApp.log_level=ERROR"])
        return self._km

    def reset(self) -> None:
        """Clear the namespace so a notebook never sees the previous one's variables."""
        # A fresh shell-only client each time: papermill's clean-up closes earlier sockets.
        client = self.manager().client()
        client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        try:
            msg_id = client.execute("%reset -f", silent=True)
            while client.get_shell_msg(timeout=60)["parent_header"].get("msg_id") != msg_id:
                pass
        finally:
            client.stop_channels()

    def interrupt(self) -> bool:
        """Interrupt what the kernel is running (a batch stopped with Ctrl-C); False if none."""
        if self._km is None or not self._km.is_alive():
            return False
        self._km.interrupt_kernel()
        return True

    def shutdown(self) -> None:
        if self._km is not None and self._km.is_alive():
            self._km.shutdown_kernel(now=True)
        self._km = None


def execute(template: Path, output: Path, parameters: dict, kernel: Kernel | None = None,
            front_matter: dict | None = None) -> NotebookOutcome:
    """Execute one template into `output` with papermill; the output is kept even on failure."""
    import papermill  # lazy: see parameters_of
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    km = None
    if kernel is not None:
        kernel.reset()
        km = kernel.manager()
    try:
        papermill.execute_notebook(
            str(template), str(output), parameters=parameters, kernel_name=KERNEL,
            progress_bar=False, km=km, cwd=str(template.parent), request_save_on_cell_execute=False,
        )
        error = None
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    except Exception as exc:  # kernel died, timeout, unreadable template
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    if error and kernel is not None:
        kernel.shutdown()
    if front_matter and output.exists():
        set_front_matter(output, front_matter)
    return NotebookOutcome(template.stem, output, error is None, seconds, error)


def set_front_matter(path: Path, values: dict) -> None:
    """Merge values (title, client, period...) into the notebook's raw front-matter cell."""
    nb = nbformat.read(path, as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "raw" and c.source.lstrip().startswith("---")), None)
    if cell is None:
        cell = nbformat.v4.new_raw_cell("---\n---")
        nb.cells.insert(0, cell)
    body = cell.source.strip().strip("-").strip()
    meta = yaml.safe_load(body) or {}
    meta.update(values)
    cell.source = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---"
    nbformat.write(nb, path)


def error_cells(path: Path) -> list[str]:
    """Error outputs in an executed notebook (empty when it ran clean)."""
    nb = nbformat.read(path, as_version=4)
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for c in nb.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]


def cell_text(path: Path, source_prefix: str) -> str:
    """The plain-text outputs of the executed notebook's code cell starting with `source_prefix`."""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        "".join(o.get("data", {}).get("text/plain", "")) for c in nb.cells
        if c.cell_type == "code" and c.source.startswith(source_prefix) for o in c.get("outputs", [])
    )
