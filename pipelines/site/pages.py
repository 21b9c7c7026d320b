"""What both publish engines share: the page templates and stylesheets, Markdown, the
methodology body, and the job an engine is given.

An engine (built-in or Quarto) is handed one `PublishJob` and writes the internal site
and every client bundle into the job's staging folders; it never imports another engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mistune
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipelines.core.layout import Layout
from pipelines.metrics import methodology
from pipelines.site.inventory import Inventory

TEMPLATES = Path(__file__).with_name("templates")
STYLESHEET = TEMPLATES / "site.css"  # the built-in renderer's only asset
QUARTO_STYLESHEET = TEMPLATES / "quarto.css"


class PublishError(ValueError):
    """Publishing cannot start or would overwrite something it did not build (message says what)."""


@dataclass
class PublishJob:
    """Everything an engine needs to build the sites, and where to write them."""

    inventory: Inventory
    health: dict  # client id -> data-health summary (None: no validation result)
    health_note: str | None  # why there is no data-health information at all, if so
    methodology: str  # the methodology page body, HTML
    site_dir: Path  # staging folder of the internal site
    clients_dir: Path  # staging folder of the client bundles
    layout: Layout
    pdf_links: dict[str, set[str]]  # client id -> periods whose bundle links a PDF


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The jinja2 environment of the site templates (autoescape on: names are untrusted)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                       lstrip_blocks=True, undefined=StrictUndefined)


@lru_cache(maxsize=1)
def _markdown():
    # Markdown cells are static text from the templates (trusted), so inline HTML is kept.
    return mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])


def markdown_html(text: str) -> str:
    """Markdown (trusted template text) to HTML."""
    return _markdown()(text)


def methodology_html() -> str:
    """The methodology page body (KPI definitions) as HTML."""
    return markdown_html(methodology.render())


def template_files() -> list[Path]:
    """The templates and stylesheets pages are made with (a change re-prints the PDFs)."""
    return sorted(p for p in TEMPLATES.iterdir() if p.is_file())
