"""Publish: executed notebooks in reports/ -> the internal website and one bundle per client.

`publish()` is the last stage of `servicereview run` (and the `publish` command):
- `_site_clients/<client_id>/`: a standalone site with only that client's pages, its own
  data health, the methodology and the monthly report as PDF (headless Chromium);
- `_site/`: the internal site: a clients x months table, the portfolio, methodology and data
  health, and every client's bundle under `clients/<client_id>/` (each page is rendered once,
  for its client's bundle, and the internal site links to exactly what the client sees).
The pages are built by an engine chosen by name (`ENGINES`): Quarto when a `quarto`
executable is found (PATH or QUARTO_PATH), otherwise the built-in renderer
(`pipelines.site.builtin`), offline and without JavaScript.

Everything is built in staging folders and swapped in at the end, so a half-built site
is never served.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core import config, io
from pipelines.core.layout import Layout
from pipelines.site import builtin, pdf, quarto
from pipelines.site.inventory import client_names, discover
from pipelines.site.pages import PublishError, PublishJob
from pipelines.validate import health as data_health

log = logging.getLogger(__name__)

MARKER = ".servicereview-site"  # says "publish built this folder; it may replace it"
# Publish engines by name (the papermill engines pattern): each module has NAME,
# available(), build(job), bundle(job, client_id) and finish(job).
ENGINES = {"builtin": builtin, "quarto": quarto}

__all__ = ["ENGINES", "PublishError", "PublishResult", "choose_engine", "load_health", "publish"]


def choose_engine(name: str = "auto"):
    """The engine module for `name`: "auto" is Quarto when it is found, else the built-in one."""
    if name == "auto":
        name = "quarto" if quarto.available() else "builtin"
    if name not in ENGINES:
        raise PublishError(f"engine {name!r} is not one of {', '.join(['auto', *ENGINES])}")
    engine = ENGINES[name]
    if not engine.available():
        raise PublishError(f"engine {name!r} asked for, but no quarto executable on PATH or in QUARTO_PATH")
    return engine


def load_health(layout: Layout, clients: list[str], warnings: list[str]) -> tuple[dict, str | None]:
    """Data-health summary per client (None where there is no validation result) and a note."""
    if not (layout.clean / "clean_summary.json").exists():
        return {c: None for c in clients}, (f"No data-health information: {layout.clean / 'clean_summary.json'} "
                                            "not found (run `servicereview clean` and `validate`).")
    summaries = {}
    for client in clients:
        if not layout.gate(client).exists():
            summaries[client] = None
            continue
        try:
            summaries[client] = data_health.load_health(client, layout.clean, layout.validation)
        except Exception as exc:  # noqa: BLE001 - one client's broken result must not stop the site
            warnings.append(f"data health of {client} not shown: {type(exc).__name__}: {exc}")
            summaries[client] = None
    return summaries, None


# ---------------------------------------------------------------- result


@dataclass
class PublishResult:
    """What `publish` built, for the CLI and the runner."""

    engine: str  # "built-in" or "quarto"
    site: Path
    site_clients: Path
    pages: int = 0
    clients: list[str] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    bundles: dict[str, Path] = field(default_factory=dict)
    pdfs: list[Path] = field(default_factory=list)  # in the bundles, after the swap
    pdfs_printed: int = 0
    pdfs_reused: int = 0
    pdf_skipped: str | None = None  # why no PDF was made, when none could be
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- publish


def publish(reports: Path = config.REPORTS, build: Path = config.BUILD, site: Path = config.SITE,
            site_clients: Path = config.SITE_CLIENTS, *, chromium: str | Path | None = None,
            engine: str = "auto") -> PublishResult:
    """Build `site` (internal) and `site_clients/<client_id>/` (one bundle each) from `reports`.

    engine: "auto" (Quarto when found, else built-in), "quarto" or "builtin". chromium: the
    browser used for PDFs (default: SERVICEREVIEW_CHROMIUM, then chromium on PATH).
    """
    start = time.perf_counter()
    reports, build, site, site_clients = (Path(p) for p in (reports, build, site, site_clients))
    warnings: list[str] = []
    layout = Layout(build)
    names = client_names(build, warnings)
    inventory = discover(reports, names)
    warnings += inventory.warnings
    if not inventory.clients and not inventory.portfolio:
        raise PublishError(f"{reports}: no executed notebooks found (expected "
                           "<period>/<client_id>/*.ipynb; run `servicereview run` first)")
    for target in (site, site_clients):
        _check_replaceable(target)
    chosen = choose_engine(engine)
    result = PublishResult(chosen.NAME, site, site_clients, clients=list(inventory.clients),
                           periods=inventory.periods)
    health, health_note = load_health(layout, list(inventory.clients), warnings)
    result.seconds["inputs"] = round(time.perf_counter() - start, 2)

    site_tmp, clients_tmp = _staging(site), _staging(site_clients)
    try:
        mark = time.perf_counter()
        browser, no_browser = pdf.find_chromium(chromium)
        plan = pdf.plan(inventory, site_clients, layout, chosen, can_print=browser is not None)
        job = PublishJob(inventory, health, health_note, site_tmp, clients_tmp, layout,
                         {cid: {key for key, pj in months.items() if pj.action != "none"}
                          for cid, months in plan.items()})
        result.pages = chosen.build(job)
        result.seconds["pages"] = round(time.perf_counter() - mark, 2)

        mark = time.perf_counter()
        outcome = pdf.produce(plan, clients_tmp, browser)
        result.pdfs_printed, result.pdfs_reused, result.pdf_skipped = (
            outcome.printed, outcome.reused, no_browser)
        warnings += outcome.warnings
        for cid, failed in outcome.failed.items():  # drop the links to PDFs that could not be made
            job.pdf_links[cid] -= failed
            chosen.bundle(job, cid)
        result.seconds["pdf"] = round(time.perf_counter() - mark, 2)
        chosen.finish(job)  # the finished bundles into the internal site

        for folder in (site_tmp, clients_tmp):
            (folder / MARKER).write_text("built by servicereview publish; replaced on every publish\n")
        io.swap_in(site_tmp, site)
        io.swap_in(clients_tmp, site_clients)
        # only now, and with the bytes of the PDFs really published: a crash before this point
        # leaves the old digests, so the next publish prints again rather than keep a stale PDF
        pdf.save_digests(layout, outcome.digests, site_clients)
    finally:
        shutil.rmtree(site_tmp, ignore_errors=True)
        shutil.rmtree(clients_tmp, ignore_errors=True)
    result.bundles = {cid: site_clients / cid for cid in inventory.clients}
    result.pdfs = sorted(site_clients.glob("*/*/*.pdf"))
    result.warnings = warnings
    result.seconds["total"] = round(time.perf_counter() - start, 2)
    for warning in warnings:
        log.warning("%s", warning)
    log.info("published %d pages (%s) in %.2fs", result.pages, result.engine, result.seconds["total"])
    return result


def _staging(target: Path) -> Path:
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _check_replaceable(target: Path) -> None:
    ours = target.is_dir() and (not any(target.iterdir()) or (target / MARKER).exists())
    if target.exists() and not ours:
        raise PublishError(f"{target}: exists and was not built by servicereview publish (no {MARKER}); "
                           "refusing to replace it. Move it away or choose another folder.")
