"""The contract review pack prints (PDF) without cutting a chart, a table row or a note across
pages: the print stylesheet applies to every one of the pack's blocks, and no chart is taller
than the printable page (A4 less the margins)."""

from __future__ import annotations

import pytest

from tests.site.conftest import REVIEWED

pytestmark = pytest.mark.slow
PRINTABLE = {"width": round((210 - 24) / 25.4 * 96), "height": round((297 - 28) / 25.4 * 96)}  # CSS px

BLOCKS = """() => {
  const avoid = el => [getComputedStyle(el).breakInside, getComputedStyle(el).pageBreakInside].includes('avoid');
  const all = sel => [...document.querySelectorAll(sel)];
  return {
    charts: all('figure.chart').map(el => [avoid(el), el.getBoundingClientRect().height]),
    rows: all('table.sr-table tr').filter(el => !avoid(el)).length + '/' + all('table.sr-table tr').length,
    tables: all('table.sr-table').length,
    heads: all('table.sr-table thead').filter(el => getComputedStyle(el).display !== 'table-header-group').length,
    notes: all('.sr-note').filter(el => !avoid(el)).length,
    agenda: all('ol.sr-agenda > li').length,
  };
}"""


def test_the_review_pack_prints_without_cutting_charts_or_table_rows(browser, peer_pack):
    _, home = peer_pack
    path = home / "_site_clients" / REVIEWED / "2026-10" / "contract_review.html"
    page = browser.new_page()
    page.set_viewport_size(PRINTABLE)
    try:
        page.goto(path.as_uri())
        page.emulate_media(media="print")
        found = page.evaluate(BLOCKS)
    finally:
        page.close()
    assert len(found["charts"]) >= 4 and found["tables"] >= 8 and found["agenda"] >= 1, found
    assert all(avoid and 0 < height < PRINTABLE["height"] for avoid, height in found["charts"]), found["charts"]
    assert found["rows"].startswith("0/") and found["heads"] == 0 and found["notes"] == 0, found
    assert (path.parent / "contract_review.pdf").stat().st_size > 10_000
