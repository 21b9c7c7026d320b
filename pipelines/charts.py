"""Charts: functions that return `alt.Chart`, and an offline renderer for them.

Builders aggregate in Polars first (Altair refuses > 5,000 rows) and return a
chart; display is the caller's business. The `servicereview` Altair renderer
gives every chart two representations:
- `application/vnd.vegalite.v5+json`: JupyterLab draws it interactively (tooltips,
  the priority selector) with the Vega it ships, no network;
- `image/svg+xml`: a static SVG made offline by vl-convert, with a `<title>` on
  every mark so hovering a point in the published page shows its value, and which
  prints. Quarto and the built-in renderer use this one.
"""

from __future__ import annotations

import re

import altair as alt
import polars as pl

VEGALITE_MIME = "application/vnd.vegalite.v5+json"
VEGALITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
PALETTE = {"met": "#2e7d32", "breached": "#c62828", "pending": "#9e9e9e", "target": "#555555"}
PRIORITY_COLORS = alt.Scale(domain=["P1", "P2", "P3", "P4"], range=["#c62828", "#ef6c00", "#1565c0", "#78909c"])
WIDTH = 560

_MARK = re.compile(
    r'<(path|rect|circle|line|text|image)\b([^>]*?aria-label="([^"]*)"[^>]*?'
    r'aria-roledescription="(?!line mark|area mark|axis|legend|title)[^"]*"[^>]*?)(/?)>'
)


def _spec(chart: alt.TopLevelMixin | dict) -> dict:
    return dict(chart) if isinstance(chart, dict) else chart.to_dict()


def to_svg(chart: alt.TopLevelMixin | dict) -> str:
    """Static SVG of a chart (offline, vl-convert) with a hover `<title>` on every mark."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(_spec(chart))

    def titled(match: re.Match) -> str:
        tag, attrs, label, selfclosing = match.groups()
        if selfclosing:
            return f"<{tag}{attrs}><title>{label}</title></{tag}>"
        return f"<{tag}{attrs}><title>{label}</title>"

    return _MARK.sub(titled, svg)


def mimebundle(chart: alt.TopLevelMixin | dict) -> dict:
    """The display bundle for one chart: interactive Vega-Lite plus static SVG and a text fallback."""
    spec = _spec(chart)
    spec["$schema"] = VEGALITE_SCHEMA
    title = spec.get("title") or spec.get("description") or "chart"
    if isinstance(title, dict):
        title = title.get("text", "chart")
    return {VEGALITE_MIME: spec, "image/svg+xml": to_svg(spec), "text/plain": f"<chart: {title}>"}


def _renderer(spec: dict, **_):
    return mimebundle(spec)


def enable() -> None:
    """Make every Altair chart in this kernel display with `mimebundle` (offline)."""
    alt.renderers.register("servicereview", _renderer)
    alt.renderers.enable("servicereview")
    alt.data_transformers.disable_max_rows()  # builders aggregate first; see module docstring


def _frame(frame: pl.DataFrame) -> pl.DataFrame:
    if frame.height > 5000:
        raise ValueError(f"{frame.height} rows handed to a chart; aggregate in Polars first")
    return frame
