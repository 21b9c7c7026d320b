"""Data health: what a client should know about the data behind their report, in plain words.

From the cleaning summary, the client's own rejected rows and the gate's
verdict (`validation/<client_id>.json`) this builds: rows in / clean /
rejected per table, rejected rows by reason, checks passed / warned / failed,
and one sentence per finding saying what it means. The content is a plain dict
(and polars frames) so a notebook can show a short note and the site a page;
`render_health_html` makes a self-contained page (inline CSS, no external
requests, every text escaped). Rejected rows with no client are the provider's
own business and are never shown; neither is another client's data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import polars as pl
from jinja2 import Environment, Template

from pipelines.core import io
from pipelines.core.contracts import load_contracts
from pipelines.core.schemas import REJECT_REASONS, TABLES
from pipelines.validate.suites import TABLE_NOUNS

TABLE_LABELS = {
    "schema": "Data layout",
    "tickets": "Tickets",
    "ticket_volume": "Monthly ticket volume",
    "ticket_events": "Status history",
    "ticket_history": "Status history per ticket",
    "surveys": "Satisfaction surveys",
    "outages": "Outages",
    "time_entries": "Time entries",
    "devices": "Devices",
    "contacts": "Your own record of calls and emails",
    "export": "The export, at import",
    "export_history": "The tool's status history, at import",
}
SECTION_WITHOUT = {  # what the report leaves out when an optional table is not provided
    "ticket_events": "time to 'In Progress' and paused time are not shown",
    "surveys": "satisfaction (CSAT / NPS) is not shown",
    "outages": "uptime and uptime credits are not shown",
    "time_entries": "hours and on-site visits are not shown",
    "devices": "patch compliance is not shown",
    "contacts": "your own record of calls and emails is not compared with the tickets",
}


# ---------------------------------------------------------------- content


def health_summary(validation: dict, clean_summary: dict, rejects: pl.DataFrame,
                   client_id: str) -> dict:
    """Everything the data-health section shows for one client, as plain values."""
    if validation.get("client_id") not in (None, client_id):
        raise ValueError(
            f"validation result is for {validation.get('client_id')!r}, not {client_id!r}"
        )
    mine = rejects.filter(pl.col("client_id") == client_id) if rejects.height else rejects
    by_client = (clean_summary.get("by_client") or {}).get(client_id, {})
    missing = set(clean_summary.get("missing_tables") or [])
    tables = []
    for name in TABLES:
        counts = by_client.get(name, {})
        tables.append({
            "table": name,
            "label": TABLE_LABELS[name],
            "provided": name not in missing,
            "rows_in": counts.get("rows_in", 0),
            "clean": counts.get("clean", 0),
            "rejected": counts.get("rejected", 0),
            "without": SECTION_WITHOUT.get(name) if name in missing else None,
        })
    imported = clean_summary.get("import")
    words = REJECT_REASONS | ((imported or {}).get("reject_reasons") or {})
    rejected = [
        {"table": table, "label": TABLE_LABELS.get(table, table), "reason": reason, "count": count,
         "meaning": _sentence(words.get(reason, reason.replace("_", " ")))}
        for table, reason, count in (
            mine.group_by("table", "reason").len()
            .sort("table", "len", "reason", descending=[False, True, False])
            .iter_rows() if mine.height else []
        )
    ]
    results = validation.get("results") or []
    findings = [finding(r) for r in results if r.get("status") in ("failed", "warned")]
    findings.sort(key=lambda f: f["status"] != "failed")  # stable: suite order within each
    counts = validation.get("counts") or {s: sum(r.get("status") == s for r in results)
                                           for s in ("passed", "warned", "failed")}
    publishable = bool(validation.get("publishable", counts.get("failed", 0) == 0))
    return {
        "client_id": client_id,
        "generated_at": validation.get("generated_at"),
        "checked": _when(validation.get("generated_at")),
        "publishable": publishable,
        "counts": counts,
        "verdict": verdict(counts, publishable),
        "tables": tables,
        "rows_in": sum(t["rows_in"] for t in tables),
        "rows_rejected": sum(t["rejected"] for t in tables),
        "export": _export(imported, client_id),
        "rejected": rejected,
        "findings": findings,
    }


def _export(imported: dict | None, client_id: str) -> dict | None:
    """What happened at import, for this client: the whole export's counts only when the whole
    export is this client's (another client's volume is never shown)."""
    if not imported:
        return None
    own = (imported.get("client_map") or {}).get("client_id") == client_id
    return {"tool": imported.get("tool") or imported.get("preset"), "whole_export": own,
            "files": [Path(f.get("path", "")).name for f in imported.get("files") or []
                      if f.get("role", "tickets") == "tickets"],
            "rows_read": imported.get("rows_read") if own else None,
            "rows_used": imported.get("rows_used") if own else None,
            "rejected": (imported.get("rejected_by_client") or {}).get(client_id, 0)}


def finding(result: dict) -> dict:
    """One warned or failed check, with a sentence saying what it means and how much it hits."""
    table = result.get("table", "")
    noun = TABLE_NOUNS.get(table, "rows")
    count = result.get("unexpected_count")
    total = result.get("rows_checked", result.get("element_count"))
    if count is not None and total:
        share = result.get("unexpected_percent")
        scope = f"{count:,} of {total:,} {noun}" + (f" ({share:.1f}%)" if share is not None else "")
    elif count is not None:
        scope = f"{count:,} {noun}"
    else:
        scope = f"found: {result.get('observed_value')}"
    examples = [str(e) for e in result.get("example_ids") or []]
    tolerated = result.get("tolerated_percent")
    if result.get("status") == "failed":
        effect = "The report is held back until this is corrected in the source system."
    elif result.get("severity") == "error" and tolerated is not None:
        effect = (f"Up to {tolerated:g}% is tolerated, so the report is published; these rows "
                  "may be slightly off.")
    else:
        effect = "The report is published; keep this in mind when reading it."
    return {
        "check": result.get("check", ""),
        "status": result.get("status"),
        "severity": result.get("severity"),
        "table": table,
        "label": TABLE_LABELS.get(table, table),
        "column": result.get("column"),
        "count": count,
        "scope": scope,
        "examples": examples,
        "text": result.get("explain", ""),
        "effect": effect,
    }


def verdict(counts: dict, publishable: bool) -> str:
    """One sentence on the state of the client's data."""
    failed, warned = counts.get("failed", 0), counts.get("warned", 0)
    passed = counts.get("passed", 0)
    total = failed + warned + passed
    if not publishable:
        return (f"{failed} of {total} checks found problems the report's figures depend on, "
                "so this report is held back until the data is corrected.")
    if warned:
        return (f"The data passed the checks the report depends on. {warned} "
                f"{'thing is' if warned == 1 else 'things are'} worth knowing; see below.")
    return f"All {total} checks on the data passed."


def health_frames(summary: dict) -> dict[str, pl.DataFrame]:
    """The summary as polars frames (tables, rejected, findings) for notebooks."""
    export = summary.get("export")
    intake = [{"table": "export", "label": f"The {export['tool']} export ({', '.join(export['files'])})",
               "provided": True, "rows_in": export["rows_read"], "clean": export["rows_used"],
               "rejected": export["rejected"], "without": None}] if export else []
    return {
        "tables": pl.DataFrame(intake + summary["tables"], schema={
            "table": pl.String, "label": pl.String, "provided": pl.Boolean, "rows_in": pl.Int64,
            "clean": pl.Int64, "rejected": pl.Int64, "without": pl.String}),
        "rejected": pl.DataFrame(summary["rejected"], schema={
            "table": pl.String, "label": pl.String, "reason": pl.String, "count": pl.Int64,
            "meaning": pl.String}),
        "findings": pl.DataFrame(
            [{k: f[k] for k in ("status", "label", "column", "count", "scope", "text")}
             | {"examples": ", ".join(f["examples"])} for f in summary["findings"]],
            schema={"status": pl.String, "label": pl.String, "column": pl.String, "count": pl.Int64,
                    "scope": pl.String, "text": pl.String, "examples": pl.String}),
    }


def health_note(summary: dict) -> str:
    """A two-sentence data-health note for the top of a client report."""
    c = summary["counts"]
    rows = (f"{summary['rows_in']:,} rows came in; {summary['rows_rejected']:,} were set aside "
            "because they could not be read or made no sense.")
    export = summary.get("export")
    if export and export["whole_export"]:
        rows = (f"The {export['tool']} export had {export['rows_read']:,} rows: {export['rows_used']:,} were "
                f"used and {export['rejected']:,} set aside at import. From them, {rows}")
    elif export:
        rows = (f"{export['rejected']:,} of your rows in the {export['tool']} export were set aside at import. "
                f"{rows}")
    checks = (f"Checks: {c.get('passed', 0)} passed, {c.get('warned', 0)} warnings, "
              f"{c.get('failed', 0)} failed.")
    return f"{summary['verdict']} {rows} {checks}"


def _when(stamp: str | None) -> str | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp).astimezone(UTC)
    except ValueError:
        return stamp
    return moment.strftime("%-d %b %Y, %H:%M UTC")


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


# ---------------------------------------------------------------- page

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:0;background:#f7f8fa}
main{max-width:56rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:0 0 .25rem} h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
.muted{color:#616e7c;font-size:.9rem}
.verdict{padding:.75rem 1rem;border-radius:.4rem;margin:1rem 0;border-left:.35rem solid}
.ok{background:#e3f9e5;border-color:#31a051} .warn{background:#fff8e1;border-color:#d9a400}
.fail{background:#fdecec;border-color:#d64545}
.badges span{display:inline-block;margin-right:.75rem;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #e4e7eb;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.finding{background:#fff;border:1px solid #e4e7eb;border-left:.35rem solid;border-radius:.3rem;padding:.6rem .9rem;margin:.6rem 0}
.finding.failed{border-left-color:#d64545} .finding.warned{border-left-color:#d9a400}
.tag{font-size:.75rem;font-weight:700;text-transform:uppercase;letter-spacing:.04em}
.failed .tag{color:#b42318} .warned .tag{color:#8a6100}
code{font-size:.85em;background:#f0f2f4;padding:0 .25em;border-radius:.2em}
"""

_TEMPLATE = """\
{%- if standalone %}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data health – {{ title }}</title>
<style>{{ css | safe }}</style></head><body><main>
{%- endif %}
<section class="data-health">
{% if heading %}<h1>Data health{% if title %} – {{ title }}{% endif %}</h1>{% endif %}
{% if s.checked %}<p class="muted">Data checked {{ s.checked }}</p>{% endif %}
<div class="verdict {{ 'fail' if not s.publishable else ('warn' if s.counts.warned else 'ok') }}">
<p>{{ s.verdict }}</p>
<p class="badges"><span>{{ s.counts.passed }} passed</span><span>{{ s.counts.warned }} warnings</span>
<span>{{ s.counts.failed }} failed</span></p></div>

{% if s.findings %}<h2>What we found</h2>
{% for f in s.findings %}<div class="finding {{ f.status }}">
<div class="tag">{{ 'Problem' if f.status == 'failed' else 'Worth knowing' }} · {{ f.label }}{% if f.column %} · <code>{{ f.column }}</code>{% endif %}</div>
<p>{{ f.text }} <strong>{{ f.scope }}</strong>.{% if f.examples %} For example: {{ f.examples | join(', ') }}.{% endif %}</p>
<p class="muted">{{ f.effect }}</p></div>
{% endfor %}{% endif %}

<h2>Rows received</h2>
<p class="muted">Every row of the export is either used in the report or set aside with a reason.</p>
<table><thead><tr><th>Data</th><th class="n">Rows in</th><th class="n">Used</th><th class="n">Set aside</th></tr></thead>
<tbody>{% for t in s.tables %}<tr><td>{{ t.label }}</td>
{% if t.provided %}<td class="n">{{ "{:,}".format(t.rows_in) }}</td><td class="n">{{ "{:,}".format(t.clean) }}</td><td class="n">{{ "{:,}".format(t.rejected) }}</td>
{% else %}<td colspan="3" class="muted">Not provided: {{ t.without }}</td>{% endif %}</tr>
{% endfor %}</tbody></table>

{% if s.rejected %}<h2>Why rows were set aside</h2>
<table><thead><tr><th>Data</th><th>Reason</th><th class="n">Rows</th></tr></thead><tbody>
{% for r in s.rejected %}<tr><td>{{ r.label }}</td><td>{{ r.meaning }}</td><td class="n">{{ "{:,}".format(r.count) }}</td></tr>
{% endfor %}</tbody></table>{% endif %}
</section>
{%- if standalone %}</main></body></html>{% endif %}
"""


def render_health_html(summary: dict, *, title: str | None = None, standalone: bool = True,
                       heading: bool = True) -> str:
    """The data-health page (or, with standalone=False, a fragment to embed); works offline.
    heading=False leaves out the <h1>, for a page whose own title block already says it."""
    return _template().render(s=summary, title=title or summary["client_id"], css=_CSS,
                              standalone=standalone, heading=heading)


@cache
def _template() -> Template:
    return Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(_TEMPLATE)


# ---------------------------------------------------------------- wiring


def load_health(client_id: str, clean_dir: Path, validation_dir: Path) -> dict:
    """Read the cleaning summary, the client's rejects and its gate verdict; build the summary."""
    clean_dir, validation_dir = Path(clean_dir), Path(validation_dir)
    validation = io.read_json(validation_dir / f"{client_id}.json")
    clean_summary = io.read_json(clean_dir / "clean_summary.json")
    rejects = io.read_table(clean_dir, "rejects")
    return health_summary(validation, clean_summary, rejects, client_id)


def write_health_pages(clean_dir: Path, validation_dir: Path, clients: list[str],
                       out_dir: Path) -> list[Path]:
    """Write `out_dir/<client_id>.html`, one self-contained data-health page per client."""
    names = {c: k.name for c, k in load_contracts(Path(clean_dir) / "contracts").items()}
    written = []
    for client in clients:
        summary = load_health(client, clean_dir, validation_dir)
        page = render_health_html(summary, title=names.get(client, client))
        written.append(io.write_text(Path(out_dir) / f"{client}.html", page))
    return written
