"""Publishing with Quarto, when a `quarto` executable is found (QUARTO_PATH, PATH, or the
virtualenv's bin/ where `pip install '.[quarto]'` puts it).

Quarto renders an executed `.ipynb` without running it again. The site's dynamic parts
(which notebooks, one sidebar per client and month, the home page's clients x months table)
depend on reports/, so each site is a generated staging project under
build/publish/quarto/<project>/: the root `_quarto.yml` is its base configuration, the
executed notebooks are copied in (see `stage_notebook`), the home, methodology and
data-health pages are written as `.qmd`. Each client bundle is a separate project, so its
search index only holds that client; the internal project holds the home table, the
portfolio, methodology and data health, and the finished bundles are copied into the
internal site (`finish`), so each client page is rendered once. `pipelines.site.quarto_render`
renders them: only the pages whose inputs changed, several projects (or parts of one) at a time.

Navigation is laid out so that a new month leaves the older pages as they were (and so they
are not rendered again): a page's sidebar lists its own month's reports (one sidebar per
client and month), and the links to the previous and next month and to all of a client's
reports are in the page itself. Every link names the page's output (`.html`), not its source,
so a page renders the same whichever other pages are rendered with it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipelines.core import config
from pipelines.core.limits import load_yaml
from pipelines.core.periods import period_title
from pipelines.metrics import methodology
from pipelines.report.fragments import DATA_MIME, FILES_MIME
from pipelines.site import quarto_render
from pipelines.site.inventory import read_notebook, source_text
from pipelines.site.pages import (
    QUARTO_STYLESHEET,
    PublishError,
    PublishJob,
    attachments,
    client_months,
    embed_bundles,
    environment,
    health_rows,
    home_context,
    in_bundle,
    month_nav,
    month_pdfs,
    relative_link,
)
from pipelines.site.quarto_render import Project, dump_yaml, html_of
from pipelines.validate.health import render_health_html

NAME = "quarto"
QUARTO_ENV = "QUARTO_PATH"
BASE_CONFIG = config.ROOT / "_quarto.yml"
CODE = quarto_render.CODE  # how a page is made from a notebook (part of a PDF's digest)
INTERNAL = "_internal"  # the internal site's staging project (client ids never start with "_")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!])")
# the classes Quarto's table processing gives a notebook's HTML table, which staging adds itself
_TABLE_TAG = ('<table class="sr-table">', '<table class="sr-table caption-top table table-sm table-striped small">')
_TABLE_PART_END = re.compile(r"(</(?:th|td|tr|caption)>)")


def available() -> bool:
    """True when a quarto executable is found."""
    return find_quarto() is not None


def find_quarto() -> Path | None:
    """The quarto executable: $QUARTO_PATH when it points to one (the file or its install
    folder), else `quarto` on PATH, else beside this Python (a virtualenv's bin/)."""
    chosen = os.environ.get(QUARTO_ENV)
    if chosen:
        path = Path(chosen)
        if path.is_dir():
            path = path / "bin" / "quarto"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("quarto") or shutil.which("quarto", path=str(Path(sys.executable).parent))
    return Path(found) if found else None


def base_config() -> dict:
    """The root `_quarto.yml` (or, if someone removed it, the same defaults)."""
    if BASE_CONFIG.exists():
        return load_yaml(BASE_CONFIG.read_text(encoding="utf-8")) or {}
    return {"project": {"type": "website", "output-dir": "_site", "render": []},
            "website": {"title": "servicereview", "search": True},
            "execute": {"enabled": False, "echo": False, "warning": False},
            "format": {"html": {"toc": True, "html-math-method": "plain",
                                "css": "assets/servicereview.css"}}}


def plain(text: object) -> str:
    """Untrusted text made inert for Markdown/HTML (Quarto treats metadata as Markdown)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def _fence(content: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", content)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{{=html}}\n{content}\n{ticks}\n"


def _lines(text: str) -> list[str]:
    """A cell's `source` as Quarto reads it: a list of lines, each keeping its newline.

    Quarto splits a one-string `source` into lines *without* their newlines and joins them
    with "", so the front matter would print as text ("---title: ...---") and a callout
    would stay ":::" markup."""
    return text.splitlines(keepends=True)


def _stage_outputs(cell: dict) -> None:
    """text/html outputs become text/markdown holding the same HTML as a raw `{=html}` block.

    Quarto turns text/html into exactly that raw block, but any text/html output also makes
    it add require.js and jQuery from a public CDN (for "JavaScript widgets"); text/markdown
    does not. The downloads an output carries are written beside the page, not rendered.

    Notebook pages are staged with `html-table-processing: none`: otherwise Quarto parses
    every HTML table back into a Pandoc table (about a third of a page's render time) only to
    give it Bootstrap's classes and a line break between cells, which is done here instead
    (the line breaks keep the cells apart in the search index's text)."""
    for output in cell.get("outputs") or []:
        data = output.get("data")
        if output.get("output_type") not in ("display_data", "execute_result") or not data:
            continue
        data.pop(FILES_MIME, None)
        data.pop(DATA_MIME, None)
        if "text/html" in data:
            markup = source_text(data.pop("text/html")).replace(*_TABLE_TAG)
            data["text/markdown"] = _lines(_fence(_TABLE_PART_END.sub("\\1\n", markup)))


def stage_notebook(report, nb: dict, client_name: str | None, stale: dict | None, label: str,
                   nav: str | None = None, sidebar: str | None = None) -> dict:
    """An executed notebook (`nb`, read from report.path; changed in place) as Quarto should
    publish it: escaped front matter, the stale notice as a callout, the month navigation,
    outputs that pull nothing from a CDN."""
    cells = [c for c in nb["cells"]
             if not (c.get("cell_type") == "raw" and source_text(c.get("source")).lstrip().startswith("---"))]
    subtitle = report.subtitle or f"{label} · {period_title(report.period)}"
    meta = {"title": plain(report.page_title(client_name)), "subtitle": plain(subtitle),
            "period": report.period, "notebook": report.notebook, "html-table-processing": "none"}
    if client_name:
        meta["client_name"] = plain(client_name)
    meta["sidebar"] = sidebar or False
    front = dump_yaml(meta)
    new = [{"cell_type": "raw", "metadata": {}, "source": _lines(f"---\n{front}---")}]
    if stale:
        since = f" (checked {plain(stale['since'])})" if stale.get("since") else ""
        new.append({"cell_type": "markdown", "metadata": {}, "source": _lines(
            "::: {.callout-warning}\n## This report is not up to date\n"
            f"The latest data{since} did not pass the data-quality checks, so this page still shows the "
            f"last report that did. {plain(stale.get('reason', ''))}\n:::\n")})
    if nav:
        new.append({"cell_type": "markdown", "metadata": {}, "source": _lines(_fence(nav))})
    for cell in cells:
        _stage_outputs(cell)
        # papermill's timings and ids would be copied onto every cell <div> as data- attributes
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k == "tags"}
    nb["cells"] = new + cells
    return nb


def _page(meta: dict, body: str) -> bytes:
    front = dump_yaml(meta)
    return f"---\n{front}---\n\n{body}".encode()


def _methodology_page() -> bytes:
    lines = methodology.render().splitlines()
    heading = bool(lines) and lines[0].startswith("# ")
    title = lines[0].lstrip("# ").strip() if heading else "Methodology"
    return _page({"title": title, "sidebar": False}, "\n".join(lines[1:] if heading else lines))


def _config(title: str, render: list[str], sidebars: list[dict], navbar: list) -> dict:
    conf = base_config()
    conf.setdefault("project", {}).update({"type": "website", "output-dir": "_site", "render": render})
    website = conf.setdefault("website", {})
    website.update({"title": plain(title), "navbar": {"left": navbar}})
    website.pop("sidebar", None)
    if sidebars:
        website["sidebar"] = sidebars
    return conf


def _month_sidebar(client, period: str, page_of, pdfs: list[tuple[str, str]]) -> dict:
    contents = [{"text": plain(r.label), "href": html_of(page_of(period, r.notebook))}
                for r in client.months[period].reports.values()]
    contents += [{"text": label, "href": href} for label, href in pdfs]
    return {"id": f"{client.client_id}-{period}", "title": plain(client.name),
            "contents": [{"section": period_title(period), "contents": contents}]}


def _client_notebooks(project: Project, client, page_of, pdf_of) -> None:
    """Stage every notebook of a client (pages at page_of(period, notebook)) with its sidebar."""
    for period, month in client.months.items():
        sidebar = _month_sidebar(client, period, page_of, pdf_of(period))
        project.sidebars.append(sidebar)
        for report in month.reports.values():
            page = page_of(period, report.notebook)
            nav = environment().get_template("month_nav.html.j2").render(
                nav=month_nav(client, period, report.notebook, lambda p, nb: html_of(page_of(p, nb)), "index.html"),
                link=relative_link(page))
            nb = read_notebook(report.path)
            downloads = attachments(nb)  # before staging, which takes them out of the outputs
            nb = stage_notebook(report, nb, client.name, month.stale, report.label, nav, sidebar["id"])
            project.add(page, json.dumps(nb).encode(), downloads=downloads)


def _health_body(client, summary, note) -> str:
    if summary:
        return _fence(render_health_html(summary, title=client.name, standalone=False, heading=False))
    return plain(note or "No data-health result yet.") + "\n"


def _assets(project: Project) -> None:
    project.add("assets/servicereview.css", QUARTO_STYLESHEET.read_bytes(), page=False)


def internal_project(job: PublishJob) -> Project:
    """The internal site: the clients x months table, the portfolio, methodology and data health.
    The clients' pages are their bundles, copied in under clients/ once they are complete
    (`finish`): each page is rendered once, in its client's own project."""
    inventory = job.inventory
    project = Project(INTERNAL, job.layout.publish / "quarto" / INTERNAL, job.site_dir)
    _assets(project)
    for period, report in inventory.portfolio.items():
        nb = stage_notebook(report, read_notebook(report.path), None, None, "Portfolio (internal)")
        project.add(f"{period}/portfolio.ipynb", json.dumps(nb).encode())
    table = environment().get_template("home_table.html.j2").render(link=lambda t: t, **home_context(inventory))
    project.add("index.qmd", _page({"title": "Service reports", "sidebar": False, "toc": False}, _fence(table)))
    project.add("methodology.qmd", _methodology_page())
    table = environment().get_template("health_table.html.j2").render(
        rows=health_rows(inventory, job.health) if not job.health_note else [], missing=job.health_note or "",
        link=lambda t: t)
    project.add("data-health.qmd", _page({"title": "Data health", "sidebar": False}, _fence(table)))
    project.config = _config("servicereview", project.pages, project.sidebars, _navbar())
    return project


def _navbar() -> list[dict]:
    return [{"text": "Home", "href": "index.html"}, {"text": "Methodology", "href": "methodology.html"},
            {"text": "Data health", "href": "data-health.html"}]


def bundle_project(job: PublishJob, cid: str) -> Project:
    """One client's bundle as its own project: its pages only (so its search index is its own)."""
    client, pdfs = job.inventory.clients[cid], job.pdf_links.get(cid, set())
    project = Project(cid, job.layout.publish / "quarto" / cid, job.clients_dir / cid)
    _assets(project)

    def pdf_of(period: str) -> list[tuple[str, str]]:
        return month_pdfs(client, period, pdfs)

    _client_notebooks(project, client, lambda p, nb: f"{p}/{nb}.ipynb", pdf_of)
    months = environment().get_template("client_months.html.j2").render(
        periods=client_months(client, lambda p, nb: f"{p}/{nb}.html", pdf_of), link=lambda t: t)
    intro = ("How each figure is computed is on the [methodology](methodology.html) page; the state of "
             "the data behind them on the [data health](data-health.html) page.\n\n")
    project.add("index.qmd", _page({"title": plain(client.name), "sidebar": False, "toc": False},
                                   intro + _fence(months)))
    project.add("methodology.qmd", _methodology_page())
    project.add("data-health.qmd", _page({"title": plain(f"Data health — {client.name}"), "sidebar": False},
                                         _health_body(client, job.health.get(cid), job.health_note)))
    project.config = _config(client.name, project.pages, project.sidebars, _navbar())
    return project


def build(job: PublishJob) -> int:
    """Render the internal site and every client bundle; returns the number of pages.

    All projects are staged first, then rendered one per core (largest first: each `quarto
    render` keeps about one core busy). When fewer projects than cores have pages to render
    (one client's month re-run), their pages are split so that every core works."""
    quarto = _exe()
    projects = [internal_project(job), *(bundle_project(job, cid) for cid in job.inventory.clients)]
    quarto_render.forget_others(job.layout.publish / "quarto", {p.name for p in projects})
    todo = {p.name: quarto_render.prepare(quarto, p) for p in projects}
    projects.sort(key=lambda p: len(todo[p.name][1]), reverse=True)
    cores = os.cpu_count() or 1
    shards = max(1, cores // max(1, sum(how != "none" for how, _ in todo.values())))
    with ThreadPoolExecutor(max_workers=max(1, min(cores, len(projects)))) as pool:
        return sum(pool.map(lambda p: quarto_render.render(quarto, p, todo[p.name], shards), projects))


def finish(job: PublishJob) -> None:
    """Once the bundles are complete (PDFs too): copy them into the internal site and add their
    pages to its search index (the bundles keep their own, with only their client)."""
    embed_bundles(job)
    quarto_render.merge_search(job.site_dir, {in_bundle(cid, ""): job.clients_dir / cid for cid in job.inventory.clients})


def bundle(job: PublishJob, cid: str) -> int:
    """(Re)render one client's bundle, e.g. after a PDF could not be made (its link is dropped)."""
    quarto, project = _exe(), bundle_project(job, cid)
    return quarto_render.render(quarto, project, quarto_render.prepare(quarto, project))


def _exe() -> Path:
    quarto = find_quarto()
    if quarto is None:
        raise PublishError(f"no quarto executable on PATH or in {QUARTO_ENV}")
    return quarto
