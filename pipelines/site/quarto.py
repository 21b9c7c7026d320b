"""Publishing with Quarto, when a `quarto` executable is found (PATH or QUARTO_PATH).

Quarto renders an executed `.ipynb` without running it again. The site's dynamic
parts (which notebooks, one sidebar per client, the listing on the home page) depend
on reports/, so each site is a generated staging project: the root `_quarto.yml` is
its base configuration, the executed notebooks are copied in (with their front
matter escaped and a stale notice inserted where needed), the methodology and
data-health pages are written as `.qmd`, and `quarto render` runs there. Each
client bundle is a separate project, so its search index only holds that client.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from pipelines.core import config
from pipelines.core.periods import period_title
from pipelines.metrics import methodology
from pipelines.site.inventory import read_notebook, source_text
from pipelines.site.pages import QUARTO_STYLESHEET, PublishError, PublishJob, environment
from pipelines.validate.health import render_health_html

NAME = "quarto"
QUARTO_ENV = "QUARTO_PATH"
BASE_CONFIG = config.ROOT / "_quarto.yml"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!])")


def available() -> bool:
    """True when a quarto executable is found."""
    return find_quarto() is not None


def find_quarto() -> Path | None:
    """The quarto executable: $QUARTO_PATH when it points to one, else `quarto` on PATH."""
    chosen = os.environ.get(QUARTO_ENV)
    if chosen:
        path = Path(chosen)
        if path.is_dir():
            path = path / "bin" / "quarto"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which("quarto")
    return Path(found) if found else None


def base_config() -> dict:
    """The root `_quarto.yml` (or, if someone removed it, the same defaults)."""
    if BASE_CONFIG.exists():
        return yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8")) or {}
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


def _page(path: Path, meta: dict, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    path.write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")


def stage_notebook(report, target: Path, client_name: str | None, stale: dict | None, label: str) -> None:
    """Copy an executed notebook with escaped front matter and, if stale, a warning callout."""
    nb = read_notebook(report.path)
    cells = [c for c in nb["cells"]
             if not (c.get("cell_type") == "raw" and source_text(c.get("source")).lstrip().startswith("---"))]
    subtitle = report.subtitle or f"{label} · {period_title(report.period)}"
    meta = {"title": plain(report.page_title(client_name)), "subtitle": plain(subtitle),
            "period": report.period, "notebook": report.notebook}
    if client_name:
        meta["client_name"] = plain(client_name)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    new = [{"cell_type": "raw", "metadata": {}, "source": f"---\n{front}---"}]
    if stale:
        since = f" (checked {plain(stale['since'])})" if stale.get("since") else ""
        new.append({"cell_type": "markdown", "metadata": {}, "source": (
            "::: {.callout-warning}\n## This report is not up to date\n"
            f"The latest data{since} did not pass the data-quality checks, so this page still shows the "
            f"last report that did. {plain(stale.get('reason', ''))}\n:::\n")})
    nb["cells"] = new + cells
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb), encoding="utf-8")


def _methodology_md() -> tuple[str, str]:
    lines = methodology.render().splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("# ") else "Methodology"
    return title, "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines)


def _project(folder: Path, title: str, render: list[str], sidebars: list[dict], navbar: list) -> None:
    conf = base_config()
    conf.setdefault("project", {}).update({"type": "website", "output-dir": "_site", "render": render})
    website = conf.setdefault("website", {})
    website.update({"title": plain(title), "navbar": {"left": navbar}})
    if sidebars:
        website["sidebar"] = sidebars
    (folder / "assets").mkdir(parents=True, exist_ok=True)
    shutil.copy2(QUARTO_STYLESHEET, folder / "assets" / "servicereview.css")
    (folder / "_quarto.yml").write_text(yaml.safe_dump(conf, sort_keys=False, allow_unicode=True),
                                        encoding="utf-8")


def _render(quarto: Path, project: Path, out: Path) -> int:
    proc = subprocess.run([str(quarto), "render", str(project)], check=False, cwd=project,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise PublishError(f"quarto render {project} failed (exit code {proc.returncode}):\n{tail}")
    # merged into `out`: a re-rendered bundle keeps the PDFs already placed beside its pages
    shutil.copytree(project / "_site", out, dirs_exist_ok=True)
    shutil.rmtree(project / "_site")
    return sum(1 for _ in out.rglob("*.html"))


def _client_sidebar(client, page_of, health_page: str | None, pdfs: set[str]) -> dict:
    sections = []
    for period, month in client.months.items():
        contents = [{"text": plain(r.label), "href": page_of(period, r.notebook)}
                    for r in month.reports.values()]
        if period in pdfs:
            contents.append({"text": "Monthly report (PDF)", "href": f"{period}/monthly_report.pdf"})
        sections.append({"section": period_title(period), "contents": contents})
    if health_page:
        sections.append({"text": "Data health", "href": health_page})
    return {"id": client.client_id, "title": plain(client.name), "contents": sections}


def _health_body(client, summary, note) -> str:
    if summary:
        return _fence(render_health_html(summary, title=client.name, standalone=False))
    return plain(note or "No data-health result yet.") + "\n"


def build(job: PublishJob) -> int:
    """Render the internal site and every client bundle with Quarto; returns the number of pages."""
    quarto, inventory, health, health_note = _exe(), job.inventory, job.health, job.health_note
    staging = job.layout.publish / "quarto"
    shutil.rmtree(staging, ignore_errors=True)
    method_title, method_md = _methodology_md()

    # the internal site
    root = staging / "_internal"
    render, sidebars = ["index.qmd", "methodology.qmd", "data-health.qmd"], []
    for cid, client in inventory.clients.items():
        def page_of(period, notebook, c=cid):
            return f"{period}/{c}/{notebook}.ipynb"
        for period, month in client.months.items():
            for report in month.reports.values():
                stage_notebook(report, root / page_of(period, report.notebook), client.name, month.stale,
                               report.label)
                render.append(page_of(period, report.notebook))
        health_page = f"data-health/{cid}.qmd" if health.get(cid) else None
        if health_page:
            _page(root / health_page, {"title": plain(f"Data health — {client.name}")},
                  _health_body(client, health[cid], health_note))
            render.append(health_page)
        sidebars.append(_client_sidebar(client, page_of, health_page, set()))
    for period, report in inventory.portfolio.items():
        stage_notebook(report, root / period / "portfolio.ipynb", None, None, "Portfolio (internal)")
        render.append(f"{period}/portfolio.ipynb")
    listings = [{"id": "reports", "contents": "*/*/monthly_report.ipynb", "type": "table",
                 "fields": ["title", "client_name", "period"],
                 "field-display-names": {"client_name": "Client", "period": "Month"},
                 "sort": ["period desc", "client_name"], "sort-ui": True, "filter-ui": True}]
    if inventory.portfolio:
        listings.append({"id": "portfolio", "contents": "*/portfolio.ipynb", "type": "table",
                         "fields": ["title", "period"], "sort": "period desc"})
    _page(root / "index.qmd", {"title": "Service reports", "sidebar": False, "listing": listings},
          "::: {#reports}\n:::\n" + ("\n## Portfolio (internal)\n\n::: {#portfolio}\n:::\n"
                                     if inventory.portfolio else ""))
    _page(root / "methodology.qmd", {"title": method_title, "sidebar": False}, method_md)
    rows = [{"client_id": cid, "name": c.name, "summary": health.get(cid),
             "href": f"data-health/{cid}.html" if health.get(cid) else None,
             "missing": "No validation result for this client."} for cid, c in inventory.clients.items()]
    table = environment().get_template("health_table.html.j2").render(
        rows=rows if not health_note else [], missing=health_note or "", link=lambda t: t)
    _page(root / "data-health.qmd", {"title": "Data health", "sidebar": False}, _fence(table))
    navbar = [{"text": "Home", "href": "index.qmd"}, "methodology.qmd", "data-health.qmd"]
    if inventory.portfolio:
        navbar.insert(1, {"text": "Portfolio", "href": f"{next(iter(inventory.portfolio))}/portfolio.ipynb"})
    _project(root, "servicereview", render, sidebars, navbar)
    pages = _render(quarto, root, job.site_dir)
    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        pages += sum(pool.map(lambda cid: bundle(job, cid), inventory.clients))
    return pages


def bundle(job: PublishJob, cid: str) -> int:
    """Render one client's bundle as its own Quarto project (its search index holds only it)."""
    client, health = job.inventory.clients[cid], job.health.get(cid)
    method_title, method_md = _methodology_md()
    folder = job.layout.publish / "quarto" / cid
    shutil.rmtree(folder, ignore_errors=True)
    render = ["index.qmd", "methodology.qmd", "data-health.qmd"]
    for period, month in client.months.items():
        for report in month.reports.values():
            stage_notebook(report, folder / period / f"{report.notebook}.ipynb", client.name,
                           month.stale, report.label)
            render.append(f"{period}/{report.notebook}.ipynb")
    listing = {"contents": "*/*.ipynb", "type": "table", "fields": ["title", "period"],
               "field-display-names": {"title": "Report", "period": "Month"}, "sort": "period desc"}
    _page(folder / "index.qmd", {"title": plain(client.name), "sidebar": False, "listing": listing}, "")
    _page(folder / "methodology.qmd", {"title": method_title, "sidebar": False}, method_md)
    _page(folder / "data-health.qmd", {"title": plain(f"Data health — {client.name}")},
          _health_body(client, health, job.health_note))
    sidebar = _client_sidebar(client, lambda p, nb: f"{p}/{nb}.ipynb", "data-health.qmd",
                              job.pdf_links.get(cid, set()))
    navbar = [{"text": "Home", "href": "index.qmd"}, "methodology.qmd", "data-health.qmd"]
    _project(folder, client.name, render, [sidebar], navbar)
    return _render(_exe(), folder, job.clients_dir / cid)


def _exe() -> Path:
    quarto = find_quarto()
    if quarto is None:
        raise PublishError(f"no quarto executable on PATH or in {QUARTO_ENV}")
    return quarto
