"""The methodology page stays in step with the metrics tables' columns."""

from __future__ import annotations

import pytest

from pipelines.metrics import methodology, tone
from pipelines.metrics.service_kpis import UPTIME_COLUMNS
from pipelines.metrics.sla import TICKET_SLA_COLUMNS
from pipelines.metrics.stage import BY_PRIORITY_COLUMNS, CLIENT_KPI_COLUMNS
from pipelines.metrics.tone import COLUMNS as COMMENT_TONE_COLUMNS


@pytest.mark.parametrize("table, columns", [
    ("ticket_sla", TICKET_SLA_COLUMNS),
    ("client_kpis", CLIENT_KPI_COLUMNS),
    ("client_uptime", UPTIME_COLUMNS),
    ("comment_tone", list(COMMENT_TONE_COLUMNS)),
])
def test_every_column_has_an_entry_and_every_entry_a_column(table, columns):
    entries = methodology.load()[table]
    assert sorted(set(columns) - set(entries)) == [], "columns without a definition"
    assert sorted(set(entries) - set(columns)) == [], "definitions without a column"


def test_by_priority_columns_are_defined_once():
    data = methodology.load()
    extra = set(BY_PRIORITY_COLUMNS) - set(CLIENT_KPI_COLUMNS)
    assert extra == set(data["client_kpis_by_priority"])


def test_render_is_markdown_with_every_column():
    text = methodology.render()
    assert text.startswith("# How the numbers are calculated")
    for column in [*CLIENT_KPI_COLUMNS, *TICKET_SLA_COLUMNS]:
        assert f"`{column}`" in text
    assert "Wilson" in text and "9 or 10" in text  # the CSAT and interval rules are stated
    assert "macro-F1" in text and "never later" in text and "`mismatch`" in text  # the tone model too
    for figure in (f"{tone.CROSS_FOLDS}-fold", f"{tone.MIN_LABELS:,} rated", f"at most a {tone.UNLIKELY:.0%} chance",
                   f"latest months (about {tone.TEST_SHARE:.0%}", f"{tone.MISMATCH_WORDS} words or more",
                   f"at least {tone.TRUSTED_RECALL:.0%} of the comments"):
        assert figure in " ".join(text.split()), figure


def test_an_entry_without_a_definition_is_reported(tmp_path):
    path = tmp_path / "m.yml"
    path.write_text("title: t\nintro: i\nrules: []\nclient_kpis:\n  month: {label: Month, unit: m}\n")
    with pytest.raises(ValueError, match=r"client_kpis.month: missing definition"):
        methodology.load(path)
