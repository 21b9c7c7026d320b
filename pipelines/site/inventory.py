"""What reports/ holds: every executed notebook, by client and period, read safely.

Both publish engines and the PDF step work from this one inventory. Client ids, names
and front matter come from files and are untrusted: an id must be a plain path segment
(anything else is skipped with a warning), and a notebook whose front matter names
another client is never published under this one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


from pipelines.core.contracts import CLIENT_ID_PATTERN, ContractError, load_contract
from pipelines.core.layout import STALE_FILE, Layout
from pipelines.core.notebooks import front_matter, read_notebook, source_text  # noqa: F401 - re-exported
from pipelines.core.periods import is_period, period_title
from pipelines.core.reports import CLIENT, PORTFOLIO, REVIEW, declared, label

SAFE_SEGMENT = re.compile(CLIENT_ID_PATTERN)


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
        return label(self.notebook) or str(self.meta.get("title") or self.notebook)

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

    @property
    def partial(self) -> str | None:
        """'data ends 23 May 2026' when the month is not covered to its end (front matter)."""
        metas = [r.meta.get("partial") for r in self.reports.values() if r.meta.get("partial")]
        return str(metas[0]) if metas else None


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


def safe_segment(value: object) -> bool:
    """True for a plain path segment usable as a client id (no '..', '/', spaces, dots)."""
    return isinstance(value, str) and SAFE_SEGMENT.fullmatch(value) is not None


def discover(reports: Path, names: dict[str, str] | None = None) -> Inventory:
    """Find the executed notebooks of every client and period under `reports`.

    Skips, with a warning: folders that are not a period or a safe client id, notebooks
    that cannot be read, and notebooks whose front matter names another client.
    Ignores the runner's `_failed/`, `.tmp-*`, `.old-*` and `.state.json`.
    """
    names = names or {}
    warnings: list[str] = []
    months: dict[str, dict[str, ClientMonth]] = {}
    front_names: dict[str, str] = {}
    portfolio: dict[str, Report] = {}
    for period_dir in sorted(Path(reports).iterdir()) if Path(reports).is_dir() else []:
        if period_dir.name.startswith((".", "_")) or not period_dir.is_dir():
            continue
        if not is_period(period_dir.name):
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
            found = _notebooks(owner_dir, period, warnings)
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


def _notebooks(folder: Path, period: str, warnings: list[str]) -> dict:
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
        owner = meta.get("client_id")
        if folder.name != PORTFOLIO and owner is not None and owner != folder.name:
            warnings.append(f"{path}: front matter says client_id {str(owner)!r} but the folder is "
                            f"{folder.name!r}; skipped (never publish a report under another client)")
            continue
        if meta.get("period") not in (None, period):
            warnings.append(f"{path}: front matter period {meta.get('period')!r} is not the folder's "
                            f"{period!r}; published under {period}")
        found[path.stem] = Report(period, folder.name, path.stem, path, meta)
    order = {r.name: r.order for r in (*declared(CLIENT), *declared(REVIEW))}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))


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
    folder = Layout(build).contracts
    names = {}
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            contract = load_contract(path)
        except ContractError as exc:
            warnings.append(f"client name not used: {exc}")
            continue
        names[contract.client_id] = contract.name
    return names
