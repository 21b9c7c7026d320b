"""A worker's warm kernel: one process for its notebooks, never their variables, a fresh one
after a failure."""

from __future__ import annotations

import nbformat
import pytest

from pipelines.run import execute


def _notebook(path, *sources: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 0")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": execute.KERNEL, "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _printed(path) -> str:
    cells = nbformat.read(path, 4).cells
    return "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)


@pytest.fixture
def kernel():
    kernel = execute.Kernel()
    yield kernel
    kernel.shutdown()


def test_notebooks_share_the_kernel_process_but_never_its_variables(tmp_path, kernel):
    first = _notebook(tmp_path / "first.ipynb", "import os\nsecret = 41\nprint(os.getpid())")
    second = _notebook(tmp_path / "second.ipynb", "import os\nprint(os.getpid())",
                       "assert 'secret' not in globals(), 'saw the previous notebook'\nprint(x)", "x * 3")
    pids = []
    for n, template in enumerate([first, second, first, second]):
        out = tmp_path / f"out{n}.ipynb"
        outcome = execute.execute(template, out, {"x": n}, kernel)
        assert outcome.ok, outcome.error
        pids.append(_printed(out).split()[0])
    assert len(set(pids)) == 1
    last = nbformat.read(tmp_path / "out3.ipynb", 4).cells
    assert _printed(tmp_path / "out3.ipynb").split()[1] == "3"  # the injected parameter, not the default
    assert last[-1].outputs[0]["data"]["text/plain"] == "9"  # results are still shown (no Out history kept)


def test_after_a_failed_notebook_the_next_one_runs_in_a_fresh_kernel(tmp_path, kernel):
    ok = _notebook(tmp_path / "ok.ipynb", "import os\nprint(os.getpid())")
    broken = _notebook(tmp_path / "broken.ipynb", "import os\nprint(os.getpid())", "raise ValueError('no data')")
    assert execute.execute(ok, tmp_path / "a.ipynb", {}, kernel).ok
    failed = execute.execute(broken, tmp_path / "b.ipynb", {}, kernel)
    assert not failed.ok and failed.error.startswith("ValueError: no data")
    assert execute.execute(ok, tmp_path / "c.ipynb", {}, kernel).ok
    before, during, after = (_printed(tmp_path / f"{n}.ipynb").split()[0] for n in "abc")
    assert before == during != after
