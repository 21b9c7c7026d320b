"""Executing notebook templates with papermill, strictly.

papermill only warns about an unknown parameter or a missing `parameters` tag;
here both are errors, found before anything runs. One function executes one
notebook; a failed notebook is saved with its error before the failure is
reported. A worker keeps one Jupyter kernel alive and runs its notebooks in it
(kernel start-up costs ~0.8 s, imports another second), with one client kept
connected to it, restarting it after a failure so one broken notebook cannot
poison the next.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from jupyter_client.blocking.client import BlockingKernelClient
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


# How a worker's kernel starts. cache_size=0: no Out history, so clearing the namespace between
# notebooks skips IPython's full gc.collect (0.1-0.2 s a notebook); execute_result outputs are the same.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR",  # its "TCP without encryption" warning would fill every log
                    "--InteractiveShell.cache_size=0"]


class _KeptClient(BlockingKernelClient):
    """The one client of a kernel, connected and checked once. nbclient asks the kernel manager
    for a new client for every notebook, and never closes it when the manager is not its own;
    a new client's readiness check also waits ~0.2 s for its IOPub socket to join."""

    _ready = False

    def start_channels(self, *args, **kwargs) -> None:
        if not self.channels_running:
            super().start_channels()  # every channel, whoever asks first

    def wait_for_ready(self, timeout: float | None = None) -> None:
        if not self._ready:
            super().wait_for_ready(timeout)
            self._ready = True


class _Manager(KernelManager):
    """A kernel manager whose `client()` is always the same `_KeptClient`."""

    _kept: _KeptClient | None = None

    def client(self, **kwargs) -> _KeptClient:
        if self._kept is None:
            self._kept = super().client(**kwargs)
        return self._kept

    def close_client(self) -> None:
        if self._kept is not None:
            self._kept.stop_channels()
            self._kept = None


class Kernel:
    """One long-lived Jupyter kernel, restarted after a failed notebook."""

    def __init__(self) -> None:
        self._km: _Manager | None = None

    def manager(self) -> _Manager:
        if self._km is None or not self._km.is_alive():
            self.shutdown()
            self._km = _Manager(kernel_name=KERNEL, client_factory=_KeptClient)
            self._km.start_kernel(extra_arguments=KERNEL_ARGUMENTS)
        return self._km

    def reset(self) -> None:
        """Clear the namespace so a notebook never sees the previous one's variables."""
        client = self.manager().client()
        client.start_channels()
        msg_id = client.execute("get_ipython().reset(new_session=False)", silent=True, allow_stdin=False)
        while client.get_shell_msg(timeout=60)["parent_header"].get("msg_id") != msg_id:
            pass

    def interrupt(self) -> bool:
        """Interrupt what the kernel is running (a batch stopped with Ctrl-C); False if none."""
        if self._km is None or not self._km.is_alive():
            return False
        self._km.interrupt_kernel()
        return True

    def shutdown(self) -> None:
        if self._km is not None:
            self._km.close_client()
            if self._km.is_alive():
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
