"""The methodology: how every metrics column is computed, for the site's methodology page.

The definitions live in `methodology.yml` next to this module (one entry per column
of the metrics tables); `render()` turns them into Markdown.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from pipelines.metrics import coverage

SOURCE = Path(__file__).with_name("methodology.yml")
TABLE_TITLES = {
    "client_kpis": "Monthly measures (client_kpis)",
    "client_kpis_by_priority": "Per priority (client_kpis_by_priority)",
    "client_uptime": "Uptime per service (client_uptime)",
    "client_kpi_coverage": "What the export supports (client_kpi_coverage)",
    "ticket_sla": "Per ticket (ticket_sla)",
    "comment_tone": "Per survey comment (comment_tone)",
}


@lru_cache(maxsize=1)
def load(path: Path = SOURCE) -> dict:
    """The parsed methodology (title, intro, rules, and column entries per table)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for table in TABLE_TITLES:
        for column, entry in data.get(table, {}).items():
            missing = {"label", "unit", "definition"} - set(entry)
            if missing:
                raise ValueError(f"{path}: {table}.{column}: missing {', '.join(sorted(missing))}")
    return data


def render(data: dict | None = None) -> str:
    """The methodology as a Markdown page: the general rules, then a table per output."""
    data = data or load()
    lines = [f"# {data['title']}", "", data["intro"], ""]
    for rule in data["rules"]:
        lines += [f"## {rule['heading']}", "", rule["text"], ""]
    lines += ["## What each measure needs from the export", "", "| Measure | Needs |", "|---|---|"]
    lines += [f"| `{column}` | {needs} |" for column, needs in coverage.methodology_rows()]
    lines.append("")
    for table, title in TABLE_TITLES.items():
        lines += [f"## {title}", "", "| Measure | Column | Unit | How it is calculated |",
                  "|---|---|---|---|"]
        for column, entry in data[table].items():
            text = " ".join(str(entry["definition"]).split()).replace("|", "\\|")
            lines.append(f"| {entry['label']} | `{column}` | {entry['unit']} | {text} |")
        lines.append("")
    return "\n".join(lines)
