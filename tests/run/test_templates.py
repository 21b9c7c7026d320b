"""The notebook templates: strict parameters, and each one runs as it is on data/sample."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from pipelines.core import config
from pipelines.core.reports import BY_NAME, REPORTS
from pipelines.run import execute


def test_every_template_declares_exactly_what_the_runner_passes():
    templates = execute.load_templates(config.NOTEBOOKS)
    assert sorted(t.name for t in templates) == sorted(r.name for r in REPORTS)
    for template in templates:
        expected = BY_NAME[template.name].parameters
        assert set(execute.parameters_of(template.path)) == set(expected), template.name


def test_templates_are_committed_clean():
    for path in config.NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, 4)
        assert nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("---"), path
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path


@pytest.fixture
def templates(tmp_path):
    return shutil.copytree(config.NOTEBOOKS, tmp_path / "notebooks")


def test_a_template_without_a_parameters_cell_is_refused(templates):
    path = templates / "sla_trends.ipynb"
    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    nbformat.write(nb, path)
    with pytest.raises(execute.TemplateError, match="sla_trends.ipynb: no cell tagged 'parameters'"):
        execute.load_templates(templates)


def test_a_template_declaring_an_unknown_parameter_is_refused(templates):
    path = templates / "portfolio.ipynb"
    nb = nbformat.read(path, 4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += '\nregion: str = "north"  # not something the runner passes'
    nbformat.write(nb, path)
    with pytest.raises(execute.TemplateError, match="portfolio.ipynb: declares parameter.s. region that the runner"):
        execute.load_templates(templates)


def test_a_missing_template_is_named(templates):
    (templates / "survey_sentiment.ipynb").unlink()
    with pytest.raises(execute.TemplateError, match="survey_sentiment.ipynb: template is missing"):
        execute.load_templates(templates)


@pytest.mark.slow
def test_each_template_runs_with_its_defaults_on_the_sample(tmp_path):
    """As an analyst opening it in JupyterLab: defaults only, build/ made from data/sample."""
    kernel = execute.Kernel()
    try:
        for template in execute.load_templates(config.NOTEBOOKS):
            out = tmp_path / f"{template.name}.ipynb"
            outcome = execute.execute(template.path, out, {"build_dir": str(tmp_path / "build")}, kernel)
            assert outcome.ok, outcome.error
            assert execute.error_cells(out) == []
            for cell in nbformat.read(out, 4).cells:
                if cell.cell_type == "code" and "chart(" in cell.source:
                    assert any("image/svg+xml" in o.get("data", {}) for o in cell.outputs), cell.source
                elif cell.cell_type == "code" and cell.source.startswith(("sections.", "portfolio.")):
                    assert any("text/html" in o.get("data", {}) for o in cell.outputs), cell.source
    finally:
        kernel.shutdown()
