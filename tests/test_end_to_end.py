"""The real pipeline's site, as a client and a browser see it (hostile copy of data/sample)."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

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


def test_the_tone_model_and_other_clients_tones_never_leave_the_internal_build(sample_run):
    assert (sample_run.home / "build" / "metrics" / "tone_model.joblib").exists()
    for site in ("_site", "_site_clients"):
        names = [p.name for p in (sample_run.home / site).rglob("*")]
        assert not [n for n in names if n.endswith(".joblib") or "tone" in n], site


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
    assert page.url.endswith(f"/clients/{XSS_CLIENT}/2026-10/monthly_report.html")
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
    review = page.locator("table.sr-table", has_text=XSS_TICKET).filter(has_text="Comment tone")
    assert "<script>window.__pwned=1</script>" in review.inner_text()

    artifacts = config.PROJECT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "monthly-report.png"), full_page=True)
    assert remote == [] and errors == []
    page.close()


def test_an_update_log_without_fcr_inputs_and_a_partial_month_say_so_on_every_page(tmp_path):
    """Import a ServiceNow update log that has no source, reassignment or reopen columns, then
    run its month, which the data does not cover to its end (the log ends in mid-March)."""
    from tests.conftest import ACME, servicereview, write_contract

    export = tmp_path / "export.csv"
    log = pl.read_csv(Path(__file__).parent / "fixtures" / "importers" / "servicenow_event_log.csv", infer_schema=False)
    log.drop("contact_type", "reassignment_count", "reopen_count").write_csv(export)
    imported = tmp_path / "imported"
    write_contract(imported, ACME | {"timezone": "America/Sao_Paulo",
                                     "priority_map": {"5 - Planning": "P4"} | ACME["priority_map"]})
    done = servicereview("import", "--from", "servicenow", str(export), "--client-map", "acme", "--out",
                         str(imported), home=tmp_path / "home", timeout=120)
    assert done.returncode == 0, done.stderr
    run = servicereview("run", "--data", str(imported), "--period", "2026-03", "--jobs", "1",
                        home=tmp_path / "home", timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

    home = tmp_path / "home"
    clean = home / "build" / "clean"
    last = max(pl.read_parquet(clean / "tickets.parquet").select(
        pl.max_horizontal("created_at", "first_response_at", "resolved_at", "closed_at").max()).item(),
        pl.read_parquet(clean / "ticket_events.parquet")["at"].max())
    ends = last.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert ends.month == 3  # the log stops in March
    notebooks = sorted((home / "reports" / "2026-03" / "acme").glob("*.ipynb"))
    pages = [home / "_site" / "clients" / "acme" / "2026-03" / f"{p.stem}.html" for p in notebooks] + \
            [home / "_site_clients" / "acme" / "2026-03" / f"{p.stem}.html" for p in notebooks]
    assert len(notebooks) == 4
    for path in [*notebooks, *pages]:
        text = html.unescape(path.read_text())
        assert f"Partial month: the data ends {ends.day} March 2026" in text, path
    for path in (notebooks[[p.stem for p in notebooks].index("monthly_report")], pages[1], pages[5]):
        text = html.unescape(path.read_text())
        assert "Fixed at first contact: not measured" in text or (
            "Fixed at first contact" in text and "not in this export: no first-contact flag" in text), path
        assert "not in this export: no ticket source" in text, path
    assert "partial" in (home / "_site" / "index.html").read_text()
    kpis = pl.read_parquet(home / "build" / "metrics" / "client_kpis.parquet").filter(pl.col("month") == "2026-03")
    assert kpis["fcr_pct"].to_list() == [None] and kpis["proactive_pct"].to_list() == [None]
    assert kpis["month_complete"].to_list() == [False]


def test_a_5000_ticket_month_stays_a_small_page_with_its_tickets_in_csvs(tmp_path):
    """One client with ~5,000 tickets in the month: the monthly report names only the exceptions
    (its HTML stays under 300 KB) and the CSVs hold every ticket behind each figure."""
    from tests.conftest import servicereview

    data = tmp_path / "data"
    made = servicereview("sample", "--clients", "1", "--months", "2", "--tickets", "10000", "--out", str(data),
                         "--no-dirty", home=tmp_path / "home")
    assert made.returncode == 0, made.stderr[-2000:]
    done = servicereview("run", "--data", str(data), "--jobs", "1", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    client = next(p.stem for p in (data / "contracts").glob("*.yml"))
    month = json.loads((tmp_path / "home" / "build" / "run_summary.json").read_text())["period"]
    folder = tmp_path / "home" / "_site_clients" / client / month
    logged = pl.read_csv(folder / "tickets" / f"{month}-tickets-logged.csv", infer_schema=False)
    assert logged.height >= 4000
    for page in (folder / "monthly_report.html",
                 tmp_path / "home" / "_site" / "clients" / client / month / "monthly_report.html"):
        size = page.stat().st_size
        assert size < 300_000, f"{page}: {size / 1000:.0f} KB"
    assert f'href="tickets/{month}-tickets-logged.csv"' in (folder / "monthly_report.html").read_text()
