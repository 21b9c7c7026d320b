"""Executed notebooks as plain JSON: their cells, outputs and raw front-matter cell.

Read without nbformat's schema validation (it costs ~50 ms a notebook): publishing reads every
executed notebook, and a review pack reads the figures an earlier pack kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipelines.core.limits import load_yaml


def read_notebook(path: Path) -> dict:
    """An executed notebook as plain JSON (no schema validation: it costs ~50 ms a notebook)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not a Jupyter notebook (no list of cells)")  # noqa: TRY004 - bad input file
    return nb


def source_text(value) -> str:
    """A notebook cell's source or an output's text (a string or a list of lines) as one string."""
    return "".join(value) if isinstance(value, list) else str(value or "")


def front_matter(nb: dict) -> dict:
    """The YAML of the notebook's raw front-matter cell (`---` ... `---`), or {} when absent."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "raw":
            continue
        source = source_text(cell.get("source")).strip()
        if not source.startswith("---"):
            continue
        body = source[3:].rsplit("---", 1)[0] if source.endswith("---") else source[3:]
        try:
            meta = load_yaml(body)
        except yaml.YAMLError:
            return {}
        return meta if isinstance(meta, dict) else {}
    return {}
