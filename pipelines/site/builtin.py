"""The built-in renderer: executed notebooks -> static HTML pages that work offline.

Used when Quarto is absent. Pages come from jinja2 templates in `templates/`
(autoescaped: client names and ids are untrusted) and one local stylesheet; there is
no JavaScript and no external request at all (nbconvert's default template pulls
require.js and MathJax from CDNs, so it is not used). Each page also carries a
Content-Security-Policy that forbids scripts and remote loads, as a second line of
defence behind escaping. A notebook is turned into HTML once (`notebook_html`) and
wrapped twice: for the internal site and for the client's own bundle.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup

from pipelines.core.periods import period_title
from pipelines.site.inventory import read_notebook, source_text
from pipelines.site.pages import (
    STYLESHEET,
    PublishJob,
    attachments,
    client_months,
    embed_bundles,
    environment,
    health_rows,
    home_context,
    markdown_html,
    methodology_html,
    month_nav,
    month_pdfs,
    relative_link,
    write_attachments,
)
from pipelines.validate.health import render_health_html

NAME = "built-in"
# No scripts, nothing remote: styles and images only from the site itself (or data: URIs).
CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'")
# Output priority of the built-in renderer; Vega-Lite JSON is for JupyterLab only.
PRIORITY = ("text/html", "image/svg+xml", "image/png", "image/jpeg", "text/plain")
HIDDEN_TAGS = {"remove-cell", "remove_cell"}
NO_OUTPUT_TAGS = {"remove-output", "remove_output"}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_XML_PROLOGUE = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.IGNORECASE)
_SVG_ID = re.compile(r'\bid="([^"]+)"')


# ---------------------------------------------------------------- notebooks


def notebook_html(nb: dict) -> str:
    """The body of a published page: markdown and outputs; code, prompts and stderr hidden."""
    parts: list[str] = []
    charts = 0
    for cell in nb.get("cells", []):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & HIDDEN_TAGS:
            continue
        kind = cell.get("cell_type")
        if kind == "markdown":
            parts.append(f'<section class="md">\n{markdown_html(source_text(cell.get("source")))}</section>')
        elif kind == "code" and not tags & NO_OUTPUT_TAGS:
            for output in cell.get("outputs", []):
                charts += 1
                rendered = output_html(output, prefix=f"c{charts}-")
                if rendered:
                    parts.append(rendered)
    return "\n".join(parts)


def output_html(output: dict, prefix: str = "") -> str:
    """One cell output as HTML, by priority text/html > SVG > PNG/JPEG > text/plain."""
    kind = output.get("output_type")
    if kind == "stream":
        text = source_text(output.get("text"))
        if output.get("name") != "stdout" or not text.strip():
            return ""
        return f'<pre class="output stdout">{html.escape(text)}</pre>'
    if kind == "error":
        text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return f'<pre class="output error">{html.escape(_ANSI.sub("", text))}</pre>'
    data = output.get("data") or {}
    mime = next((m for m in PRIORITY if m in data), None)
    if mime is None:
        return ""
    value = source_text(data[mime])
    if mime == "text/html":  # built by the package's own code, already escaped
        return f'<div class="output html">\n{value}\n</div>'
    if mime == "image/svg+xml":
        return f'<figure class="output chart">\n{inline_svg(value, prefix)}\n</figure>'
    if mime.startswith("image/"):
        b64 = "".join(value.split())
        return f'<figure class="output chart"><img alt="chart" src="data:{mime};base64,{b64}"></figure>'
    return f'<pre class="output text">{html.escape(value)}</pre>'


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG ready to inline: no XML prologue, ids prefixed so two charts never share one."""
    svg = _XML_PROLOGUE.sub("", svg, count=1)
    ids = set(_SVG_ID.findall(svg))
    if not ids or not prefix:
        return svg
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    for old in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f"url(#{old})", f"url(#{prefix}{old})")
        svg = svg.replace(f'href="#{old}"', f'href="#{prefix}{old}"')
    return svg


# ---------------------------------------------------------------- pages


@dataclass
class Sidebar:
    """Per-client navigation: that client's pages for one month, and its other months."""

    name: str
    period_title: str
    pages: list[tuple[str, str]]
    periods: list[tuple[str, str]] = field(default_factory=list)


class PageWriter:
    """Writes pages under one site folder; every link is made relative to the page."""

    def __init__(self, root: Path, site_title: str, topnav: list[tuple[str, str]]):
        self.root = Path(root)
        self.site_title = site_title
        self.topnav = topnav
        self.written: list[Path] = []

    def path_of(self, rel: str) -> Path:
        """The file for a site-relative path; refuses anything that would leave the folder."""
        parts = rel.split("/")
        if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"unsafe page path {rel!r}: expected plain folder/file names")
        return self.root.joinpath(*parts)

    def render(self, rel: str, template: str, *, title: str, sidebar: Sidebar | None = None,
               **context) -> str:
        """The HTML of one page at site-relative path `rel`."""
        link = relative_link(rel)
        if "body" in context:
            context["body"] = Markup(context["body"])
        return environment().get_template(template).render(
            link=link, here=rel, title=title, sidebar=sidebar, site_title=self.site_title,
            topnav=self.topnav, csp=Markup(CSP), **context)

    def write(self, rel: str, template: str, **context) -> Path:
        """Render and write one page."""
        path = self.path_of(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(rel, template, **context), encoding="utf-8")
        self.written.append(path)
        return path

    def copy_assets(self) -> None:
        """The local stylesheet (the only asset: no fonts, no scripts)."""
        target = self.path_of("assets/site.css")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(STYLESHEET.read_bytes())


# ---------------------------------------------------------------- the two kinds of site


def available() -> bool:
    """The built-in renderer needs nothing outside this package."""
    return True


def build(job: PublishJob) -> int:
    """Write the internal site and every client bundle; returns the number of pages."""
    inventory = job.inventory
    reports = [r for c in inventory.clients.values() for m in c.months.values() for r in m.reports.values()]
    bodies = {r.path: _page_parts(r.path) for r in [*reports, *inventory.portfolio.values()]}
    pages = build_internal(inventory, job.health, job.health_note, methodology_html(), job.site_dir, bodies)
    for client_id in inventory.clients:
        pages += bundle(job, client_id, bodies)
    return pages


def finish(job: PublishJob) -> None:
    """Once the bundles are complete (PDFs too): put them in the internal site."""
    embed_bundles(job)


def bundle(job: PublishJob, client_id: str, bodies: dict | None = None) -> int:
    """(Re)build one client's bundle, e.g. after a PDF could not be made (its link is dropped)."""
    return build_bundle(job.inventory.clients[client_id], job.health.get(client_id), methodology_html(),
                        job.clients_dir / client_id, job.pdf_links.get(client_id, set()), bodies,
                        job.health_note)


def _sidebar(client, period: str, page_of, pdfs: list[tuple[str, str]]) -> Sidebar:
    """A bundle page's sidebar: the month's reports and PDFs, data health, the other months."""
    month = client.months[period]
    pages = [(r.label, page_of(period, r.notebook)) for r in month.reports.values()] + pdfs
    pages.append(("Data health", "data-health.html"))
    periods = [(period_title(p), page_of(p, next(iter(m.reports)))) for p, m in client.months.items()]
    return Sidebar(client.name, period_title(period), pages, periods)


def _page_parts(path: Path) -> tuple[str, dict[str, str]]:
    nb = read_notebook(path)
    return notebook_html(nb), attachments(nb)


def _client_pages(writer: PageWriter, client, page_of, bodies: dict, pdfs_of) -> None:
    for period, month in client.months.items():
        sidebar = _sidebar(client, period, page_of, pdfs_of(period))
        for report in month.reports.values():
            body, files = bodies.get(report.path) or _page_parts(report.path)
            path = writer.write(page_of(period, report.notebook), "notebook.html.j2",
                                title=report.page_title(client.name), subtitle=report.subtitle,
                                label=report.label, stale=month.stale, body=body, sidebar=sidebar,
                                nav=month_nav(client, period, report.notebook, page_of, "index.html"))
            write_attachments(path.parent, files)


def build_internal(inventory, health: dict, health_note: str | None, methodology: str,
                   out: Path, bodies: dict) -> int:
    """The internal site: the clients x months table, the portfolio, methodology, data health.
    The clients' pages are their bundles, copied in under clients/ (`pages.embed_bundles`)."""
    topnav = [("Home", "index.html")]
    if inventory.portfolio:
        topnav.append(("Portfolio", f"{next(iter(inventory.portfolio))}/portfolio.html"))
    topnav += [("Methodology", "methodology.html"), ("Data health", "data-health.html")]
    writer = PageWriter(out, "servicereview", topnav)
    writer.copy_assets()
    for period, report in inventory.portfolio.items():
        writer.write(f"{period}/portfolio.html", "notebook.html.j2", title=report.page_title(),
                     subtitle=report.subtitle, label="Portfolio (internal)", stale=None, nav=None,
                     body=bodies[report.path][0])
    writer.write("index.html", "home.html.j2", title="Service reports", **home_context(inventory))
    writer.write("methodology.html", "page.html.j2", title="Methodology", body=methodology)
    writer.write("data-health.html", "health_index.html.j2", title="Data health",
                 rows=health_rows(inventory, health) if not health_note else [], missing=health_note or "")
    return len(writer.written)


def build_bundle(client, health_summary: dict | None, methodology: str, out: Path,
                 pdf_links: set[tuple[str, str]], bodies: dict | None = None, health_note: str | None = None) -> int:
    """One client's standalone site: only its own pages, health, methodology and PDF links."""
    writer = PageWriter(out, client.name, [("Home", "index.html"), ("Methodology", "methodology.html"),
                                           ("Data health", "data-health.html")])
    writer.copy_assets()

    def page_of(period: str, notebook: str) -> str:
        return f"{period}/{notebook}.html"

    def pdf_of(period: str) -> list[tuple[str, str]]:
        return month_pdfs(client, period, pdf_links)

    _client_pages(writer, client, page_of, bodies or {}, pdf_of)
    if health_summary:
        body = render_health_html(health_summary, title=client.name, standalone=False)
    else:
        body = f"<h1>Data health</h1>\n<p>{html.escape(health_note or 'No data-health result yet.')}</p>"
    latest = next(iter(client.months))
    writer.write("data-health.html", "page.html.j2", title=f"Data health — {client.name}", body=body,
                 sidebar=_sidebar(client, latest, page_of, pdf_of(latest)))
    writer.write("methodology.html", "page.html.j2", title="Methodology", body=methodology)
    writer.write("index.html", "client_home.html.j2", title=client.name, name=client.name,
                 periods=client_months(client, page_of, pdf_of))
    return len(writer.written)
