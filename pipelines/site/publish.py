"""Publish: executed notebooks in reports/ -> the internal website and one bundle per client.

`publish()` is the last stage of `servicereview run` (and the `publish` command):
- `_site/`: every client and period, the portfolio, methodology and data health;
- `_site_clients/<client_id>/`: a standalone site with only that client's pages, its own
  data health, the methodology and the monthly report as PDF (headless Chromium).
Quarto renders the pages when a `quarto` executable is found (PATH or QUARTO_PATH);
otherwise the built-in renderer (`pipelines.site.builtin`) does, offline and without JavaScript.

Everything is built in staging folders and swapped in at the end, so a half-built site
is never served. Client ids and names come from files and are untrusted: an id must be
a plain path segment (anything else is skipped with a warning) and names are escaped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipelines.core import config, io
from pipelines.core.contracts import CLIENT_ID_PATTERN

log = logging.getLogger(__name__)

PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SAFE_SEGMENT = re.compile(CLIENT_ID_PATTERN)
# Client pages in navigation order, with their sidebar labels.
NOTEBOOKS = {"monthly_report": "Monthly report", "sla_trends": "SLA trends",
             "survey_sentiment": "Survey review", "data_quality": "Data quality"}
PORTFOLIO = "portfolio"
STALE_FILE = "STALE.json"
MARKER = ".servicereview-site"  # says "publish built this folder; it may replace it"


class PublishError(ValueError):
    """Publishing cannot start or would overwrite something it did not build (message says what)."""


# ---------------------------------------------------------------- what reports/ holds


@dataclass
class Report:
    """One executed notebook."""

    period: str
    owner: str  # client id, or "portfolio"
    notebook: str
    path: Path
    meta: dict

    @property
    def label(self) -> str:
        """The page's name in navigation ("Monthly report", ...)."""
        return NOTEBOOKS.get(self.notebook) or str(self.meta.get("title") or self.notebook)

    def page_title(self, client_name: str | None = None) -> str:
        """The notebook's own title, else '<client or Portfolio> — <Month Year>'."""
        return str(self.meta.get("title") or f"{client_name or 'Portfolio'} — {period_title(self.period)}")

    @property
    def subtitle(self) -> str | None:
        """Whose report and which month (front matter `subtitle`): the page header and the PDF
        must say it, the sidebar that also does is not printed."""
        return str(self.meta["subtitle"]) if self.meta.get("subtitle") else None


@dataclass
class ClientMonth:
    period: str
    reports: dict[str, Report]  # navigation order
    stale: dict | None = None  # STALE.json: the latest data failed the gate; this is older


@dataclass
class Client:
    client_id: str
    name: str
    months: dict[str, ClientMonth]  # latest first


@dataclass
class Inventory:
    """Every publishable notebook under reports/, by client and period."""

    clients: dict[str, Client]  # sorted by name
    portfolio: dict[str, Report]  # period -> portfolio notebook
    periods: list[str]  # latest first
    warnings: list[str] = field(default_factory=list)


def period_title(period: str) -> str:
    """'2026-10' -> 'October 2026'."""
    return datetime.strptime(period, "%Y-%m").strftime("%B %Y")


def safe_segment(value: object) -> bool:
    """True for a plain path segment usable as a client id (no '..', '/', spaces, dots)."""
    return isinstance(value, str) and SAFE_SEGMENT.fullmatch(value) is not None


def discover(reports: Path, names: dict[str, str] | None = None) -> Inventory:
    """Find the executed notebooks of every client and period under `reports`.

    Skips, with a warning: folders that are not a period or a safe client id, notebooks
    that cannot be read, and notebooks whose front matter names another client.
    Ignores the runner's `_failed/`, `.tmp-*`, `.old-*` and `.state.json`.
    """
    from pipelines.site.builtin import front_matter, read_notebook

    names = names or {}
    warnings: list[str] = []
    months: dict[str, dict[str, ClientMonth]] = {}
    front_names: dict[str, str] = {}
    portfolio: dict[str, Report] = {}
    for period_dir in sorted(Path(reports).iterdir()) if Path(reports).is_dir() else []:
        if period_dir.name.startswith((".", "_")) or not period_dir.is_dir():
            continue
        if not PERIOD.fullmatch(period_dir.name):
            warnings.append(f"{period_dir}: not a period folder (YYYY-MM); skipped")
            continue
        period = period_dir.name
        for owner_dir in sorted(period_dir.iterdir()):
            if owner_dir.name.startswith((".", "_")) or not owner_dir.is_dir():
                continue
            if not safe_segment(owner_dir.name):
                warnings.append(f"{owner_dir}: {owner_dir.name!r} is not a safe client id "
                                "(letters, digits, - and _ only); skipped")
                continue
            found = _notebooks(owner_dir, period, warnings, read_notebook, front_matter)
            if owner_dir.name == PORTFOLIO:
                if PORTFOLIO in found:
                    portfolio[period] = found[PORTFOLIO]
                continue
            if not found:
                continue
            for report in found.values():
                if report.meta.get("client_name"):
                    front_names.setdefault(owner_dir.name, str(report.meta["client_name"]))
            months.setdefault(owner_dir.name, {})[period] = ClientMonth(
                period, found, _read_stale(owner_dir / STALE_FILE, warnings))
    clients = {
        cid: Client(cid, names.get(cid) or front_names.get(cid) or cid,
                    dict(sorted(by_period.items(), reverse=True)))
        for cid, by_period in months.items()
    }
    clients = dict(sorted(clients.items(), key=lambda kv: (kv[1].name.casefold(), kv[0])))
    periods = sorted({p for c in clients.values() for p in c.months} | set(portfolio), reverse=True)
    return Inventory(clients, dict(sorted(portfolio.items(), reverse=True)), periods, warnings)


def _notebooks(folder: Path, period: str, warnings: list[str], read_notebook, front_matter) -> dict:
    found = {}
    for path in sorted(folder.glob("*.ipynb")):
        if not safe_segment(path.stem):
            warnings.append(f"{path}: not a plain notebook name; skipped")
            continue
        try:
            meta = front_matter(read_notebook(path))
        except (OSError, ValueError) as exc:
            warnings.append(f"{path}: cannot be read ({exc}); skipped")
            continue
        declared = meta.get("client_id")
        if folder.name != PORTFOLIO and declared is not None and declared != folder.name:
            warnings.append(f"{path}: front matter says client_id {str(declared)!r} but the folder is "
                            f"{folder.name!r}; skipped (never publish a report under another client)")
            continue
        if meta.get("period") not in (None, period):
            warnings.append(f"{path}: front matter period {meta.get('period')!r} is not the folder's "
                            f"{period!r}; published under {period}")
        found[path.stem] = Report(period, folder.name, path.stem, path, meta)
    order = list(NOTEBOOKS)
    return dict(sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0])))


def _read_stale(path: Path, warnings: list[str]) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        warnings.append(f"{path}: unreadable ({exc}); the report is still marked as stale")
        data = {}
    since = str(data.get("stale_since") or "")
    try:
        since = datetime.fromisoformat(since).strftime("%-d %b %Y") if since else ""
    except ValueError:
        pass
    return {"since": since, "reason": str(data.get("reason") or ""),
            "failed_checks": data.get("failed_checks") or []}


def client_names(build: Path, warnings: list[str]) -> dict[str, str]:
    """Client id -> display name from the cleaned contracts (a bad file is skipped, not fatal)."""
    from pipelines.core.contracts import ContractError, load_contract

    folder = Path(build) / "clean" / "contracts"
    names = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            contract = load_contract(path)
        except ContractError as exc:
            warnings.append(f"client name not used: {exc}")
            continue
        names[contract.client_id] = contract.name
    return names


def load_health(build: Path, clients: list[str], warnings: list[str]) -> tuple[dict, str | None]:
    """Data-health summary per client (None where there is no validation result) and a note."""
    from pipelines.validate import health

    clean_dir, validation_dir = Path(build) / "clean", Path(build) / "validation"
    if not (clean_dir / "clean_summary.json").exists():
        return {c: None for c in clients}, (f"No data-health information: {clean_dir / 'clean_summary.json'} "
                                            "not found (run `servicereview clean` and `validate`).")
    summaries = {}
    for client in clients:
        if not (validation_dir / f"{client}.json").exists():
            summaries[client] = None
            continue
        try:
            summaries[client] = health.load_health(client, clean_dir, validation_dir)
        except Exception as exc:  # noqa: BLE001 - one client's broken result must not stop the site
            warnings.append(f"data health of {client} not shown: {type(exc).__name__}: {exc}")
            summaries[client] = None
    return summaries, None


def methodology_html() -> str:
    """The methodology page body (KPI definitions) as HTML."""
    from pipelines.metrics import methodology
    from pipelines.site.builtin import markdown_html

    return markdown_html(methodology.render())


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
    from pipelines.site import pdf, quarto
    from pipelines.site import builtin

    start = time.perf_counter()
    reports, build, site, site_clients = (Path(p) for p in (reports, build, site, site_clients))
    warnings: list[str] = []
    names = client_names(build, warnings)
    inventory = discover(reports, names)
    warnings += inventory.warnings
    if not inventory.clients and not inventory.portfolio:
        raise PublishError(f"{reports}: no executed notebooks found (expected "
                           "<period>/<client_id>/*.ipynb; run `servicereview run` first)")
    for target in (site, site_clients):
        _check_replaceable(target)
    quarto_exe = None if engine == "builtin" else quarto.find_quarto()
    if engine == "quarto" and quarto_exe is None:
        raise PublishError("engine 'quarto' asked for, but no quarto executable on PATH or in QUARTO_PATH")
    result = PublishResult("quarto" if quarto_exe else "built-in", site, site_clients,
                           clients=list(inventory.clients), periods=inventory.periods)
    health, health_note = load_health(build, list(inventory.clients), warnings)
    method = methodology_html()
    result.seconds["inputs"] = round(time.perf_counter() - start, 2)

    site_tmp, clients_tmp = _staging(site), _staging(site_clients)
    try:
        mark = time.perf_counter()
        browser, no_browser = pdf.find_chromium(chromium)
        plan = pdf.plan(inventory, site_clients, build, result.engine, can_print=browser is not None)
        links = {cid: {p for p, job in months.items() if job.action != "none"}
                 for cid, months in plan.items()}
        if quarto_exe:
            result.pages = quarto.build(quarto_exe, inventory, health, health_note, method, site_tmp,
                                        clients_tmp, build, links)
        else:
            result.pages = builtin.build(inventory, health, health_note, method, site_tmp, clients_tmp,
                                         links)
        result.seconds["pages"] = round(time.perf_counter() - mark, 2)

        mark = time.perf_counter()
        outcome = pdf.produce(plan, clients_tmp, browser)
        result.pdfs_printed, result.pdfs_reused, result.pdf_skipped = (
            outcome.printed, outcome.reused, no_browser)
        warnings += outcome.warnings
        if outcome.failed and not quarto_exe:  # drop the links to PDFs that could not be made
            for cid in outcome.failed:
                builtin.build_bundle(inventory.clients[cid], health.get(cid), method,
                                     clients_tmp / cid, links[cid] - outcome.failed[cid],
                                     health_note=health_note)
        pdf.save_digests(build, outcome.digests)
        result.seconds["pdf"] = round(time.perf_counter() - mark, 2)

        for folder in (site_tmp, clients_tmp):
            (folder / MARKER).write_text("built by servicereview publish; replaced on every publish\n")
        io.swap_in(site_tmp, site)
        io.swap_in(clients_tmp, site_clients)
    finally:
        shutil.rmtree(site_tmp, ignore_errors=True)
        shutil.rmtree(clients_tmp, ignore_errors=True)
    result.bundles = {cid: site_clients / cid for cid in inventory.clients}
    result.pdfs = sorted(site_clients.glob("*/*/monthly_report.pdf"))
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


# ---------------------------------------------------------------- preview


def preview_server(site: Path = config.SITE, port: int = 8000):
    """An HTTP server for `site` bound to 127.0.0.1 only (port 0: any free port)."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site = Path(site)
    if not (site / "index.html").exists():
        raise PublishError(f"{site}: no index.html (run `servicereview publish` first)")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            log.debug("preview: " + format, *args)

    return ThreadingHTTPServer(("127.0.0.1", port), partial(Quiet, directory=str(site)))


def serve(site: Path = config.SITE, port: int = 8000, announce=print) -> None:
    """Serve `site` on http://127.0.0.1:<port>/ until interrupted (localhost only)."""
    with preview_server(site, port) as server:
        announce(f"serving {site} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
