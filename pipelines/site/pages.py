"""What both publish engines share: the page templates and stylesheets, Markdown, the
methodology body, and the job an engine is given.

An engine (built-in or Quarto) is handed one `PublishJob` and writes the internal site
and every client bundle into the job's staging folders; it never imports another engine.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mistune
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipelines.core import io
from pipelines.core.layout import Layout
from pipelines.core.periods import period_title
from pipelines.core.reports import printed
from pipelines.metrics import methodology
from pipelines.report.fragments import DOWNLOADS_DIR, FILES_MIME
from pipelines.site.inventory import Inventory

TEMPLATES = Path(__file__).with_name("templates")
STYLESHEET = TEMPLATES / "site.css"  # the built-in renderer's only asset
QUARTO_STYLESHEET = TEMPLATES / "quarto.css"
SAFE_FILE = re.compile(r"[a-z0-9][a-z0-9-]{0,80}\.csv")
CLIENTS_DIR = "clients"  # the internal site holds every client's bundle here, as the client sees it


class PublishError(ValueError):
    """Publishing cannot start or would overwrite something it did not build (message says what)."""


@dataclass
class PublishJob:
    """Everything an engine needs to build the sites, and where to write them."""

    inventory: Inventory
    health: dict  # client id -> data-health summary (None: no validation result)
    health_note: str | None  # why there is no data-health information at all, if so
    site_dir: Path  # staging folder of the internal site
    clients_dir: Path  # staging folder of the client bundles
    layout: Layout
    pdf_links: dict[str, set[tuple[str, str]]]  # client id -> (period, notebook) whose PDF its bundle links


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


@lru_cache(maxsize=1)
def methodology_html() -> str:
    """The methodology page body (KPI definitions) as HTML."""
    return markdown_html(methodology.render())


def template_files() -> list[Path]:
    """The templates and stylesheets pages are made with (a change re-prints the PDFs)."""
    return sorted(p for p in TEMPLATES.iterdir() if p.is_file())


# ---------------------------------------------------------------- what both engines put on pages


def in_bundle(client_id: str, page: str = "index.html") -> str:
    """Where a page of a client's bundle is in the internal site (site-relative)."""
    return f"{CLIENTS_DIR}/{client_id}/{page}"


def embed_bundles(job: PublishJob) -> None:
    """Copy each finished client bundle (pages, downloads, PDFs) into the internal site under
    clients/<client_id>/, so a client's pages are rendered once for both sites. Called once
    the PDFs are in the bundles. The copies are hard links where the file system allows: both
    staging trees are new for each publish and nothing changes their files from here on."""
    for client_id in job.inventory.clients:
        shutil.copytree(job.clients_dir / client_id, job.site_dir / in_bundle(client_id, ""), dirs_exist_ok=True,
                        copy_function=_link)


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not supported
        shutil.copy2(source, target)


def home_context(inventory) -> dict:
    """The internal home page's clients x months table, its links site-relative: a client's
    reports in the copy of its bundle, the portfolio's at <period>/portfolio.html."""

    def page_of(period: str, client_id: str | None, notebook: str) -> str:
        return in_bundle(client_id, f"{period}/{notebook}.html") if client_id else f"{period}/{notebook}.html"

    periods = [{"period": p, "title": period_title(p)} for p in inventory.periods]
    rows = [{"client_id": cid, "name": c.name,
             "cells": {p: {"href": page_of(p, cid, next(iter(m.reports))), "stale": m.stale is not None,
                           "partial": m.partial}
                       for p, m in c.months.items()}}
            for cid, c in inventory.clients.items()]
    return {"clients": rows, "periods": periods,
            "portfolio": {p: page_of(p, None, "portfolio") for p in inventory.portfolio}}


def health_rows(inventory, health: dict) -> list[dict]:
    """The data-health index table: one row per client, linking the page in its bundle where
    there is a result."""
    return [{"client_id": cid, "name": c.name, "summary": health.get(cid),
             "href": in_bundle(cid, "data-health.html") if health.get(cid) else None,
             "missing": "No validation result for this client."} for cid, c in inventory.clients.items()]


def month_pdfs(client, period: str, links: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The PDFs a client's month links in its bundle (reports declared with a `pdf`, in navigation
    order): (label, site-relative href)."""
    month = client.months[period]
    return [(f"{spec.label} (PDF)", f"{period}/{spec.name}.pdf") for spec in printed()
            if (period, spec.name) in links and spec.name in month.reports]


def client_months(client, page_of, pdfs_of) -> list[dict]:
    """A client's months for its bundle's home page, latest first, with each month's pages and PDFs."""
    return [{"title": period_title(p), "stale": m.stale is not None, "partial": m.partial, "pdfs": pdfs_of(p),
             "pages": [(r.label, page_of(p, r.notebook)) for r in m.reports.values()]}
            for p, m in client.months.items()]


def month_nav(client, period: str, notebook: str, page_of, all_href: str) -> dict:
    """Links to the same report in the previous and the next month (None at either end) and to
    the page listing all of the client's reports. `page_of(period, notebook)` -> href."""
    periods = list(client.months)  # latest first

    def target(p: str) -> dict:
        reports = client.months[p].reports
        return {"title": period_title(p), "href": page_of(p, notebook if notebook in reports else next(iter(reports)))}

    i = periods.index(period)
    return {"previous": target(periods[i + 1]) if i + 1 < len(periods) else None,
            "next": target(periods[i - 1]) if i > 0 else None, "all": all_href}


def relative_link(here: str):
    """A function making site-relative paths relative to the page at site-relative `here`."""
    here_dir = posixpath.dirname(here) or "."
    return lambda target: posixpath.relpath(target, here_dir)


def attachments(nb: dict) -> dict[str, str]:
    """The downloads a notebook's outputs carry (file name -> text): the CSV of the tickets
    behind each figure. Names come from a file, so only plain ones are kept."""
    found: dict[str, str] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs") or []:
            files = (output.get("data") or {}).get(FILES_MIME)
            if isinstance(files, dict):
                found |= {n: t for n, t in files.items() if SAFE_FILE.fullmatch(str(n)) and isinstance(t, str)}
    return found


def write_attachments(page_dir: Path, files: dict[str, str]) -> int:
    """Write a page's downloads beside it (`<page dir>/tickets/<name>`), where its links point."""
    for name, text in files.items():
        io.write_text(Path(page_dir) / DOWNLOADS_DIR / name, text)
    return len(files)
