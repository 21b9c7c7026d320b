"""HTML fragments for notebook outputs: KPI tiles, tables, prose, notes.

Every value is escaped here, once: survey comments, ticket titles and names are
untrusted text, and a notebook output is pasted into the published page as is.
A fragment displays as `text/html` (the site, JupyterLab) with a `text/plain`
fallback. Layout uses classes (styled by the site's CSS) plus a few inline
styles so a fragment also reads well in JupyterLab.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

# Downloads a fragment carries (file name -> text, e.g. the CSV of the tickets behind a figure):
# an output of this type is kept in the executed notebook and written beside the published page,
# in DOWNLOADS_DIR, where the fragment's links point.
FILES_MIME = "application/vnd.servicereview.files+json"
DOWNLOADS_DIR = "tickets"
# Figures a notebook keeps for a later one to read, never shown (a review pack's term figures,
# compared by the next review): kept in the executed notebook, dropped by both publish engines.
DATA_MIME = "application/vnd.servicereview.data+json"
STATUS_COLORS = {"good": "#2e7d32", "bad": "#c62828", "warn": "#ef6c00", "na": "#757575", "info": "#1565c0"}


def esc(value: object) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class Fragment:
    """A displayable piece of a report: escaped HTML plus a plain-text twin."""

    html: str
    text: str = ""
    files: dict[str, str] | None = None  # downloads to publish beside the page (FILES_MIME)
    data: dict | None = None  # figures kept in the notebook for a later one (DATA_MIME)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html, "text/plain": self.text or _strip(self.html)}
        if self.files:
            bundle[FILES_MIME] = dict(self.files)
        if self.data:
            bundle[DATA_MIME] = dict(self.data)
        return bundle

    def __str__(self) -> str:
        return self.text or _strip(self.html)


def _strip(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup)).strip()


def join(*parts: Fragment) -> Fragment:
    """Several fragments as one output."""
    files = {name: text for p in parts for name, text in (p.files or {}).items()}
    data = {key: value for p in parts for key, value in (p.data or {}).items()}
    return Fragment("\n".join(p.html for p in parts), "\n".join(str(p) for p in parts), files or None,
                    data or None)


def paragraph(text: str, css: str = "sr-prose") -> Fragment:
    """A paragraph of plain text (escaped; numbers in it come from code)."""
    return Fragment(f'<p class="{css}">{esc(text)}</p>', text)


def bullets(items: Iterable[str], css: str = "sr-prose") -> Fragment:
    items = list(items)
    body = "".join(f"<li>{esc(i)}</li>" for i in items)
    return Fragment(f'<ul class="{css}">{body}</ul>', "\n".join(f"- {i}" for i in items))


def note(text: str, kind: str = "info") -> Fragment:
    """A highlighted note (kind: info | warn | bad | good)."""
    color = STATUS_COLORS.get(kind, STATUS_COLORS["info"])
    return Fragment(
        f'<div class="sr-note sr-note-{esc(kind)}" style="border-left:4px solid {color};'
        f'padding:.5em .8em;margin:.6em 0;background:#f7f7f7">{esc(text)}</div>',
        text,
    )


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    detail: str = ""  # e.g. "target 95% · n=36"
    status: str = "na"  # good | bad | warn | na | info
    ids_note: str = ""  # where the ticket ids behind the figure are listed


def tiles(items: Iterable[Tile]) -> Fragment:
    """A grid of KPI tiles; the colour says met (good) / missed (bad) / no data (na)."""
    cells, lines = [], []
    for t in items:
        color = STATUS_COLORS.get(t.status, STATUS_COLORS["na"])
        cells.append(
            f'<div class="sr-tile sr-{esc(t.status)}" style="border-top:4px solid {color};'
            'padding:.6em .8em;background:#fafafa;min-width:10em;flex:1 1 10em">'
            f'<div class="sr-tile-label" style="font-size:.85em;color:#555">{esc(t.label)}</div>'
            f'<div class="sr-tile-value" style="font-size:1.6em;font-weight:600;color:{color}">{esc(t.value)}</div>'
            f'<div class="sr-tile-detail" style="font-size:.8em;color:#555">{esc(t.detail)}</div></div>'
        )
        lines.append(f"{t.label}: {t.value} ({t.detail})" if t.detail else f"{t.label}: {t.value}")
    return Fragment(
        '<div class="sr-tiles" style="display:flex;flex-wrap:wrap;gap:.6em">' + "".join(cells) + "</div>",
        "\n".join(lines),
    )


Formatter = Callable[[object], str]


def table(frame: pl.DataFrame, columns: dict[str, str] | None = None,
          formats: dict[str, Formatter] | None = None, caption: str = "",
          empty: str = "Nothing to list.", max_rows: int | None = None) -> Fragment:
    """An escaped HTML table of selected columns with readable labels and formats."""
    columns = columns or {c: c for c in frame.columns}
    formats = formats or {}
    if frame.is_empty():
        return note(empty, "info")
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{esc(label)}</th>" for label in columns.values())
    rows = []
    for record in shown.select(list(columns)).iter_rows(named=True):
        cells = []
        for col in columns:
            value = record[col]
            text = formats[col](value) if col in formats else default_format(value)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(f'<td class="{"num" if numeric else "txt"}">{esc(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if max_rows is not None and frame.height > max_rows:
        more = f'<p class="sr-more">{esc(f"… and {frame.height - max_rows} more rows.")}</p>'
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    markup = (f'<table class="sr-table">{cap}<thead><tr>{head}</tr></thead>'
              f'<tbody>{"".join(rows)}</tbody></table>{more}')
    text = f"{caption}\n" if caption else ""
    text += str(shown.select(list(columns)))
    return Fragment(markup, text)


def default_format(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
