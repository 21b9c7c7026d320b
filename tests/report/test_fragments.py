from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.report.fragments import Tile, bullets, esc, note, paragraph, table, tiles

HOSTILE = '<img src=x onerror=alert(1)>'


def test_everything_shown_is_escaped():
    for fragment in (paragraph(HOSTILE), note(HOSTILE), bullets([HOSTILE]),
                     tiles([Tile(HOSTILE, HOSTILE, HOSTILE)]),
                     table(pl.DataFrame({"comment": [HOSTILE]}), {"comment": HOSTILE})):
        markup = fragment._repr_mimebundle_()["text/html"]
        assert "<img" not in markup
        assert "&lt;img src=x onerror=alert(1)&gt;" in markup


def test_fragment_has_a_plain_text_twin():
    bundle = tiles([Tile("Responses on time", "91.7%", "target 95% · n=36", "bad")])._repr_mimebundle_()
    assert bundle["text/plain"] == "Responses on time: 91.7% (target 95% · n=36)"
    assert 'class="sr-tile sr-bad"' in bundle["text/html"]


def test_table_formats_values_and_labels_columns():
    frame = pl.DataFrame({"id": ["T1", "T2"], "n": [1200, None], "pct": [93.14, 50.0],
                          "at": [datetime(2026, 10, 2, 9, 5), None], "ok": [True, False]})
    markup = table(frame, {"id": "Ticket", "n": "Count", "pct": "Share", "at": "When", "ok": "OK"},
                   formats={"pct": lambda v: f"{v:.0f}%"}).html
    assert "<th>Ticket</th>" in markup and "<th>Share</th>" in markup
    assert "1,200" in markup and "93%" in markup and "2026-10-02 09:05" in markup and "—" in markup
    assert ">yes<" in markup and ">no<" in markup


def test_empty_table_says_so_and_long_tables_say_how_many_more():
    assert "Nothing here" in table(pl.DataFrame({"a": []}), empty="Nothing here").html
    markup = table(pl.DataFrame({"a": list(range(12))}), max_rows=10).html
    assert markup.count("<tr>") == 11 and "… and 2 more rows." in markup


def test_esc_handles_none_and_quotes():
    assert esc(None) == ""
    assert esc('a "b" & c') == "a &quot;b&quot; &amp; c"
