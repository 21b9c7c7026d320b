"""The built site as a person sees it: headless Chromium, from disk, with the network cut off.

Skips (with the reason) where there is no Chromium or no Playwright. Playwright drives
Debian's Chromium (`executable_path`); it never downloads a browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core import config
from tests.publish_fixtures import XSS_COMMENT, XSS_NAME, publish_synthetic
from tests.site.conftest import CHROMIUM, NO_CHROMIUM, Watch, visit_all

ARTIFACTS = config.ROOT / "test-artifacts"
A4_TEXT_WIDTH = round((210 - 2 * 12) / 25.4 * 96)  # CSS px between the @page side margins (12 mm)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return publish_synthetic(tmp_path_factory.mktemp("browser")) / "_site"


def test_home_to_monthly_report(site, browser):
    page = browser.new_page()
    watch = Watch(page)
    page.goto((site / "index.html").as_uri())
    assert page.title() == "Service reports · servicereview"
    row = page.locator("tr", has_text="Harbor Dental Group")
    row.get_by_role("link", name="Report").first.click()
    page.wait_for_load_state("load")

    assert page.url.endswith("/clients/harbor-dental/2026-10/monthly_report.html")  # the client's bundle
    assert page.title() == "Monthly report — Harbor Dental Group — October 2026 · Harbor Dental Group"
    assert page.locator("h1").inner_text() == "Monthly service report"
    assert page.locator("h1 + .subtitle").inner_text() == "Harbor Dental Group — October 2026"
    tiles = page.locator(".sr-tile")
    assert tiles.count() == 2 and "96.0%" in tiles.first.inner_text()
    charts = page.locator("figure.chart")
    assert charts.count() >= 1
    for i in range(charts.count()):
        chart = charts.nth(i)
        drawn = chart.evaluate(
            """fig => { const el = fig.querySelector('svg, img'); if (!el) return 0;
                        const box = el.getBoundingClientRect();
                        const marks = el.tagName === 'IMG' ? el.naturalWidth
                                                           : el.querySelectorAll('rect, path').length;
                        return box.width * box.height > 0 && marks > 0 ? 1 : 0; }""")
        assert drawn == 1, f"chart {i} is empty"
    assert page.locator("figure.chart svg title").first.text_content() == "2026-10: 96%"  # hover value
    assert page.locator("aside.sidebar").get_by_role("link", name="SLA trends").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)

    assert watch.remote == []
    assert watch.errors == []
    page.close()


def test_injected_markup_shows_as_text_and_never_runs(site, browser):
    page = browser.new_page()
    watch = Watch(page)
    page.goto((site / "index.html").as_uri())
    page.get_by_role("link", name="Report").first.click()  # the first row is the client named <script>
    page.wait_for_load_state("load")
    assert page.url.endswith("/clients/evil-co/2026-10/monthly_report.html")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("h1 + .subtitle").inner_text() == f"{XSS_NAME} — October 2026"
    assert XSS_COMMENT in page.locator("table.sr-table", has_text="Survey comments").inner_text()
    assert page.locator("main img").count() == 0 and page.locator("script").count() == 0
    assert watch.remote == [] and watch.errors == []
    page.close()


def test_every_page_of_the_site_and_of_a_bundle_loads_offline_without_errors(site, browser):
    def styled(page, path):
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(247, 248, 250)", \
            f"{path}: the local stylesheet did not load"

    pages, watch = visit_all(browser, site, styled)
    bundle, bundle_watch = visit_all(browser, site.parent / "_site_clients" / "harbor-dental", styled)
    assert pages > 30 and bundle > 8
    assert watch.remote == [] and watch.errors == []
    assert bundle_watch.remote == [] and bundle_watch.errors == []


def test_a_report_links_the_other_month_and_all_reports(site, browser):
    page = browser.new_page()
    page.goto((site.parent / "_site_clients" / "zenith-law" / "2026-10" / "sla_trends.html").as_uri())
    months = page.locator("nav.sr-months")
    assert "latest month" in months.inner_text()
    months.get_by_role("link", name="September 2026").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/zenith-law/2026-09/sla_trends.html")
    page.locator("nav.sr-months").get_by_role("link", name="All reports").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/zenith-law/index.html")
    page.close()


def test_a_wide_table_scrolls_on_screen_and_wraps_in_print(site, browser):
    """Ten columns: a phone scrolls the table, not the page; on paper it must fit the page,
    or Chromium shrinks the whole PDF to fit it."""
    page = browser.new_page()
    page.set_viewport_size({"width": 480, "height": 900})
    page.goto((site / "clients" / "harbor-dental" / "2026-10" / "monthly_report.html").as_uri())
    table = page.locator("table.sr-table", has_text="Resolution SLA")
    assert table.locator("thead th").count() == 10
    widths = """t => ({table: t.getBoundingClientRect().width, box: t.parentElement.clientWidth,
                      boxScroll: t.parentElement.scrollWidth, page: document.documentElement.scrollWidth})"""
    screen = table.evaluate(widths)
    assert screen["table"] > screen["box"] and screen["boxScroll"] > screen["box"], screen
    assert screen["page"] == 480, screen

    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_TEXT_WIDTH, "height": 1100})
    paper = table.evaluate(widths)
    assert paper["table"] <= A4_TEXT_WIDTH and paper["page"] <= A4_TEXT_WIDTH, paper
    for selector in (".sr-tiles", ".sr-note", "figure.chart svg"):
        assert page.locator(selector).first.bounding_box()["width"] <= A4_TEXT_WIDTH, selector
    assert page.locator("details.sr-trace p").first.is_visible()  # ticket ids print expanded
    assert page.locator("h1 + .subtitle").is_visible()  # whose report and which month, on paper too
    page.close()
