"""The real pipeline's site, as a client and a browser see it (hostile copy of data/sample)."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipelines.core import config
from tests.conftest import XSS_CLIENT, XSS_TICKET

pytestmark = pytest.mark.slow
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and Path(p).exists()), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TICKET_ID = re.compile(r"\b[A-Z]{2}-\d{4,6}\b")


def _clients(sample_run) -> dict[str, str]:
    return {p.stem: yaml.safe_load(p.read_text())["name"] for p in (sample_run.data / "contracts").glob("*.yml")}


def test_each_bundle_holds_only_its_own_clients_data(sample_run):
    tickets = pl.read_csv(sample_run.data / "tickets.csv", infer_schema=False).select("ticket_id", "client_id")
    owner = dict(tickets.iter_rows())
    names = _clients(sample_run)
    for client in names:
        bundle = sample_run.home / "_site_clients" / client
        texts = {p: p.read_bytes().decode("utf-8", "replace") for p in bundle.rglob("*") if p.is_file()
                 and p.suffix != ".pdf"}
        assert texts, client
        seen_own = False
        for path, text in texts.items():
            ids = set(TICKET_ID.findall(text))
            foreign = sorted(t for t in ids if owner.get(t, client) != client)
            assert foreign == [], f"{path}: other clients' tickets {foreign[:5]}"
            seen_own |= any(owner.get(t) == client for t in ids)
            for other, other_name in names.items():
                if other != client:
                    for marker in {other, other_name, html.escape(other_name), html.escape(other_name, quote=False)}:
                        assert marker not in text, f"{path}: names {other}"
        assert seen_own, f"{client}: its own bundle lists none of its tickets"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[dev]')")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 900})
        try:
            yield context
        finally:
            context.close()


def test_a_client_report_in_a_browser_offline(sample_run, browser):
    page = browser.new_page()
    remote, errors = [], []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "about:")):
            r.continue_()
        else:
            remote.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto((sample_run.home / "_site" / "index.html").as_uri())
    name = _clients(sample_run)[XSS_CLIENT]
    page.locator("tr", has_text=name).get_by_role("link", name="Report").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/2026-10/{XSS_CLIENT}/monthly_report.html")
    assert page.title().startswith("Monthly report")
    assert name in page.locator("body").inner_text()  # shown as text, escaped
    assert page.evaluate("typeof window.__pwned") == "undefined"

    tiles = page.locator(".sr-tile")
    assert tiles.count() >= 12
    assert "Responses on time" in tiles.nth(5).inner_text()
    charts = page.locator("main svg")
    assert charts.count() >= 3
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, f"chart {i} is empty"
        assert charts.nth(i).locator("path, rect").count() > 5
    assert page.locator("main svg title").count() > 20  # hover values, offline
    review = page.locator("table.sr-table", has_text=XSS_TICKET)
    assert "<script>window.__pwned=1</script>" in review.inner_text()

    artifacts = config.PROJECT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "monthly-report.png"), full_page=True)
    assert remote == [] and errors == []
    page.close()
