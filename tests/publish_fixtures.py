"""Synthetic executed notebooks and build folders for the publish, isolation and browser tests.

They have the shape the runner leaves in reports/: a raw front-matter cell, hidden code
cells, HTML fragments (KPI tiles, a note, a table with ticket ids and an escaped survey
comment, a ten-column survey review table as wide as the real one, the collapsed ticket
ids behind a figure and their CSV download), an SVG chart with a <title> per mark (plus the Vega-Lite JSON
JupyterLab uses), streams.
"""

from __future__ import annotations

import copy
import html
import json
from pathlib import Path

import polars as pl
import yaml

from pipelines.core import io
from pipelines.core.periods import period_title
from pipelines.core.reports import CLIENT, declared
from pipelines.core.schemas import REJECTS_SCHEMA
from pipelines.report import fragments
from pipelines.report.fragments import FILES_MIME
from tests.conftest import ACME

XSS_COMMENT = '<img src=x onerror="window.__pwned=1">'
XSS_NAME = "Evil <script>window.__pwned=2</script> Co"
CLIENTS = {  # client id -> (name, ticket id prefix)
    "harbor-dental": ("Harbor Dental Group", "HDG"),
    "zenith-law": ("Zenith Law Partners", "ZLP"),
    "evil-co": (XSS_NAME, "EVL"),
}
NOTEBOOKS = tuple(r.name for r in declared(CLIENT, running=True))
TITLES = {"monthly_report": "Monthly service report", "sla_trends": "SLA trends",
          "survey_sentiment": "Survey review", "data_quality": "Data quality"}
SVG = ('<?xml version="1.0" encoding="utf-8"?>\n'
       '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="120" viewBox="0 0 240 120">'
       '<defs><clipPath id="clip1"><rect width="240" height="120"/></clipPath></defs>'
       '<g clip-path="url(#clip1)"><rect x="20" y="20" width="40" height="90" fill="#2e7d32">'
       '<title>{label}</title></rect><rect x="80" y="50" width="40" height="60" fill="#c62828">'
       '<title>breached: 3</title></rect></g></svg>')


def _cell(kind: str, source: str, outputs: list | None = None, tags: list | None = None) -> dict:
    cell = {"cell_type": kind, "metadata": {"tags": tags} if tags else {}, "source": source}
    if kind == "code":
        cell |= {"execution_count": 1, "outputs": outputs or []}
    return cell


def display(data: dict) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def executed_notebook(client_id: str, name: str, period: str, notebook: str, tickets: list[str]) -> dict:
    """One executed client notebook in the runner's shape (nbformat 4 JSON)."""
    front = {"title": TITLES[notebook], "description": "How IT support performed this month.",
             "client_id": client_id, "client_name": name, "period": period,
             "subtitle": f"{name} — {period_title(period)}", "notebook": notebook}
    tiles = fragments.tiles([
        fragments.Tile("Responses on time", "96.0%", "target 95% · n=36", "good"),
        fragments.Tile("Satisfied customers", "n/a", "no surveys this month", "na"),
    ]).html
    table = fragments.table(pl.DataFrame({"ticket_id": tickets, "comment": [XSS_COMMENT] * len(tickets)}),
                            {"ticket_id": "Ticket", "comment": "Comment"}, caption="Survey comments").html
    review = fragments.table(pl.DataFrame({  # the survey review: ten columns, like the real report's
        "ticket_id": tickets, "title": ["Locked out of my account after the password change"] * len(tickets),
        "priority": ["P3"] * len(tickets), "rating": ["negative"] * len(tickets),
        "rated": ["negative"] * len(tickets),
        "comment": ["Had to explain the issue three times to different people."] * len(tickets),
        "tone": ["neutral"] * len(tickets), "response": ["met"] * len(tickets),
        "resolution": ["missed"] * len(tickets), "reopens": [0] * len(tickets)}),
        {"ticket_id": "Ticket", "title": "Title", "priority": "Priority", "rating": "Rating",
         "rated": "Rated", "comment": "Comment", "tone": "Comment tone", "response": "Response SLA",
         "resolution": "Resolution SLA", "reopens": "Reopens"}).html
    csv_name = f"{period}-tickets-logged.csv"
    traces = (f'<div class="sr-traces"><details class="sr-trace"><summary>Tickets logged</summary>'
              f'<p><b>{len(tickets)} tickets:</b> {", ".join(tickets)} '
              f'<a class="sr-csv" href="tickets/{csv_name}">CSV</a></p></details></div>')
    csv = "ticket_id,title\n" + "".join(f"{t},=HYPERLINK(\"x\") {name}\n" for t in tickets)
    vegalite = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "mark": "bar"}
    chart = {"application/vnd.vegalite.v5+json": vegalite,
             "image/svg+xml": SVG.replace("{label}", f"{period}: 96%"),
             "text/plain": "<chart: SLA>"}
    cells = [
        _cell("raw", "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---"),
        _cell("code", "client_id = 'x'  # the client\nperiod = '2026-10'", tags=["parameters"]),
        _cell("code", f"client_id = {client_id!r}", tags=["injected-parameters"]),
        _cell("markdown", "## Service levels\n\nHow support did this month against the contract."),
        _cell("code", "kpi_tiles(kpis)", [display({"text/html": tiles, "text/plain": "tiles"})]),
        _cell("code", "credits(kpis)", [display({"text/html": fragments.note("No service credit is owed.").html,
                                                 "text/plain": "note"})]),
        _cell("code", "sla_chart(kpis)", [display(chart)]),
        _cell("code", "print('done')", [
            {"output_type": "stream", "name": "stderr", "text": "SECRET-STDERR warning\n"},
            {"output_type": "stream", "name": "stdout", "text": f"{len(tickets)} tickets <b>\n"}]),
        _cell("code", "ticket_table(tickets)", [display({"text/html": table, "text/plain": "table"})]),
        _cell("code", "survey_review(ctx)", [display({"text/html": review, "text/plain": "review"})]),
        _cell("code", "tickets_behind(ctx)", [display({"text/html": traces, "text/plain": "ids",
                                                      FILES_MIME: {csv_name: csv}})]),
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def portfolio_notebook(period: str) -> dict:
    """The internal portfolio notebook: names every client."""
    names = "".join(f"<li>{html.escape(n)}</li>" for n, _ in CLIENTS.values())
    return {"cells": [
        _cell("raw", f"---\ntitle: Portfolio\nperiod: '{period}'\nsubtitle: {period_title(period)}\n"
                     "notebook: portfolio\n---"),
        _cell("code", "overview()", [display({"text/html": f"<ul class='portfolio'>{names}</ul>"})]),
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def tickets_of(client_id: str, period: str) -> list[str]:
    prefix = CLIENTS[client_id][1]
    return [f"{prefix}-{period.replace('-', '')}-{n}" for n in (1, 2, 3)]


def write_reports(reports: Path, periods=("2026-09", "2026-10"), clients=tuple(CLIENTS),
                  notebooks=NOTEBOOKS) -> Path:
    """reports/<period>/<client>/*.ipynb and the portfolio, like a runner would leave them."""
    for period in periods:
        for client_id in clients:
            name = CLIENTS[client_id][0]
            for notebook in notebooks:
                nb = executed_notebook(client_id, name, period, notebook, tickets_of(client_id, period))
                write_notebook(reports / period / client_id / f"{notebook}.ipynb", nb)
        write_notebook(reports / period / "portfolio" / "portfolio.ipynb", portfolio_notebook(period))
        (reports / period / ".state.json").write_text("{}")
        write_notebook(reports / period / "_failed" / "zenith-law" / "monthly_report.ipynb",
                       executed_notebook("zenith-law", "FAILED-COPY", period, "monthly_report", ["FAILED-1"]))
    return reports


def write_notebook(path: Path, nb: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def publish_synthetic(root: Path, periods=("2026-09", "2026-10")) -> Path:
    """Synthetic reports + build folder under `root`, published with the built-in renderer and no
    PDFs (see test_publish_pdf for those); returns `root`."""
    import pytest

    from pipelines.site.publish import publish

    write_reports(root / "reports", periods=periods)
    write_build(root / "build")
    mp = pytest.MonkeyPatch()
    mp.setenv("SERVICEREVIEW_CHROMIUM", str(root / "no-chromium"))
    try:
        publish(reports=root / "reports", build=root / "build", site=root / "_site",
                site_clients=root / "_site_clients", engine="builtin")
    finally:
        mp.undo()
    return root


def write_build(build: Path, clients=tuple(CLIENTS)) -> Path:
    """build/clean (contracts, clean summary, rejects) and build/validation for the clients."""
    contracts = build / "clean" / "contracts"
    contracts.mkdir(parents=True, exist_ok=True)
    for client_id in clients:
        data = copy.deepcopy(ACME) | {"client_id": client_id, "name": CLIENTS[client_id][0]}
        (contracts / f"{client_id}.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    by_client = {c: {"tickets": {"rows_in": 10, "clean": 9, "rejected": 1}} for c in clients}
    io.write_json({"missing_tables": ["devices"], "tables": {}, "by_client": by_client},
                  build / "clean" / "clean_summary.json")
    rejects = pl.DataFrame({"client_id": list(clients), "table": ["tickets"] * len(clients),
                            "reason": ["unparseable_timestamp"] * len(clients)})
    rejects = rejects.with_columns(*(pl.lit(None, dtype=d).alias(c) for c, d in REJECTS_SCHEMA.items()
                                     if c not in rejects.columns)).select(list(REJECTS_SCHEMA))
    io.write_table(rejects.cast(REJECTS_SCHEMA), build / "clean" / "rejects.parquet")
    for client_id in clients:
        io.write_json({"client_id": client_id, "generated_at": "2026-11-02T06:00:00+00:00",
                       "publishable": True, "counts": {"passed": 5, "warned": 1, "failed": 0},
                       "results": [{"check": "tickets.closed_after_resolved", "table": "tickets",
                                    "column": "closed_at", "severity": "warning", "status": "warned",
                                    "unexpected_count": 1, "rows_checked": 9, "unexpected_percent": 11.1,
                                    "example_ids": [tickets_of(client_id, "2026-10")[0]],
                                    "explain": "A ticket was closed before it was resolved."}]},
                      build / "validation" / f"{client_id}.json")
    return build
