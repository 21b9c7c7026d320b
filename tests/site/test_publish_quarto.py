"""The Quarto path: the staging projects Quarto is asked to render (with a stand-in `quarto`),
and real renders of small synthetic sites where Quarto is installed (QUARTO_PATH or PATH;
`.ci/run` builds it), checked in the files and in a browser with the network cut."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.site import quarto
from pipelines.site.publish import publish
from pipelines.site.quarto import find_quarto, plain
from pipelines.site.quarto_render import last_render, seed_of
from tests.publish_fixtures import CLIENTS, XSS_NAME, tickets_of, write_build, write_reports
from tests.site.conftest import Watch, visit_all

# stand-in for `quarto render [PAGE ...] --log-level=warning` in a project folder: records the folder and
# the pages rendered (the render list without PAGEs) and writes an HTML file for each
FAKE_QUARTO = f"""#!{sys.executable}
import sys, pathlib, yaml
args = [a for a in sys.argv[1:] if not a.startswith("-")]
assert args[0] == "render", args
pages = args[1:] or yaml.safe_load(open("_quarto.yml"))["project"]["render"]
with open(pathlib.Path(sys.argv[0]).parent / "calls.txt", "a") as calls:
    calls.write(pathlib.Path.cwd().name + " " + " ".join(pages) + "\\n")
for page in pages:
    out = pathlib.Path("_site") / page.rsplit(".", 1)[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".html").write_text("<html><body>rendered</body></html>")
"""


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVICEREVIEW_CHROMIUM", str(tmp_path / "no-chromium"))
    p = {"reports": tmp_path / "reports", "build": tmp_path / "build", "site": tmp_path / "_site",
         "site_clients": tmp_path / "_site_clients"}
    write_reports(p["reports"])
    write_build(p["build"])
    return p


@pytest.fixture
def fake_quarto(tmp_path, monkeypatch):
    exe = tmp_path / "bin" / "quarto"
    exe.parent.mkdir()
    exe.write_text(FAKE_QUARTO)
    exe.chmod(0o755)
    monkeypatch.setenv("QUARTO_PATH", str(exe))
    return exe


def calls(fake_quarto) -> list[str]:
    """The renders since the last call: "<project> <page> ...", a render of some of a project's
    pages (in a project of their own, `.<project>.part<i>`) as "<project>: <page> ..."."""
    path = fake_quarto.parent / "calls.txt"
    calls = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return sorted(re.sub(r"^\.(.+)\.part\d+ ", r"\1: ", call) for call in calls)


def front(path) -> dict:
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "".join(json.loads(text)["cells"][0]["source"])
    return yaml.safe_load(text.split("---")[1])


def test_quarto_path_env_is_found(fake_quarto):
    assert find_quarto() == fake_quarto


def test_site_project_has_an_explicit_render_list_and_a_sidebar_per_client_and_month(paths, fake_quarto):
    result = publish(**paths)
    assert result.engine == "quarto"
    staging = paths["build"] / "publish" / "quarto"
    conf = yaml.safe_load((staging / "_internal" / "_quarto.yml").read_text())
    # the internal project renders its own pages only: a client's pages are rendered once, in its bundle
    assert sorted(conf["project"]["render"]) == sorted(["2026-10/portfolio.ipynb", "2026-09/portfolio.ipynb",
                                                        "index.qmd", "methodology.qmd", "data-health.qmd"])
    assert conf["project"]["type"] == "website" and conf["website"]["search"] is True
    assert conf["execute"] == {"enabled": False, "echo": False, "warning": False}
    assert conf["format"]["html"]["html-math-method"] == "plain"
    # the navbar names its pages (a bare entry would show a page title such as "Data health — X")
    assert [n["text"] for n in conf["website"]["navbar"]["left"]] == ["Home", "Methodology", "Data health"]
    home = (staging / "_internal" / "index.qmd").read_text()
    assert "listing" not in front(staging / "_internal" / "index.qmd")  # a clients x months table, not a listing
    assert 'href="clients/harbor-dental/2026-09/monthly_report.html"' in home
    assert 'href="2026-10/portfolio.html"' in home
    for cid in CLIENTS:
        conf = yaml.safe_load((staging / cid / "_quarto.yml").read_text())
        render = conf["project"]["render"]
        assert "2026-10/monthly_report.ipynb" in render and "data-health.qmd" in render
        assert all("*" not in r and "_failed" not in r and (staging / cid / r).exists() for r in render)
        assert [s["id"] for s in conf["website"]["sidebar"]] == [f"{cid}-{p}" for p in ("2026-10", "2026-09")]
        assert (paths["site"] / "clients" / cid / "2026-10" / "monthly_report.html").read_text() == "<html><body>rendered</body></html>"
    assert [c.split()[0] for c in calls(fake_quarto)] == sorted(["_internal", *CLIENTS])  # each whole, once


def test_staged_notebooks_escape_names_and_carry_the_stale_notice(paths, fake_quarto):
    (paths["reports"] / "2026-10" / "evil-co" / "STALE.json").write_text(json.dumps(
        {"stale_since": "2026-11-02T06:00:00+00:00", "reason": "gate failed", "failed_checks": []}))
    publish(**paths)
    staged = paths["build"] / "publish" / "quarto" / "evil-co" / "2026-10" / "sla_trends.ipynb"
    meta = front(staged)
    assert meta["client_name"] == plain(XSS_NAME) and "<script" not in staged.read_text()
    assert meta["subtitle"] == plain(f"{XSS_NAME} — October 2026")  # whose report, in the page header
    assert meta["sidebar"] == "evil-co-2026-10"
    cells = json.loads(staged.read_text())["cells"]
    # Quarto needs `source` as a list of lines that keep their newlines (a string loses them)
    assert all(isinstance(c["source"], list) for c in cells[:3])
    assert all(line.endswith("\n") for line in cells[0]["source"][:-1] + cells[1]["source"])
    assert cells[1]["cell_type"] == "markdown" and cells[1]["source"][0] == "::: {.callout-warning}\n"
    assert "gate failed" in "".join(cells[1]["source"])
    nav = "".join(cells[2]["source"])
    assert 'href="../2026-09/sla_trends.html"' in nav and 'href="../index.html"' in nav
    outputs = [o for c in cells for o in c.get("outputs", []) if o.get("data")]
    assert not [o for o in outputs if "text/html" in o["data"]]  # else Quarto adds require.js/jQuery from a CDN
    assert not [o for o in outputs if any("servicereview" in m for m in o["data"])]  # downloads: files
    assert all(set(c["metadata"]) <= {"tags"} for c in cells)  # papermill's timings would be attributes
    assert sum(c["cell_type"] == "raw" for c in cells) == 1  # the original front matter was replaced


def test_each_bundle_project_holds_only_its_client(paths, fake_quarto):
    publish(**paths)
    project = paths["build"] / "publish" / "quarto" / "harbor-dental"
    conf = yaml.safe_load((project / "_quarto.yml").read_text())
    assert {s["id"] for s in conf["website"]["sidebar"]} == {"harbor-dental-2026-10", "harbor-dental-2026-09"}
    assert not any("portfolio" in r for r in conf["project"]["render"])
    others = [m for c in ("zenith-law", "evil-co") for m in (c, CLIENTS[c][0], plain(CLIENTS[c][0]),
                                                           *tickets_of(c, "2026-10"))]
    for path in (p for p in project.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert not [m for m in others if m in text], path
    bundle = paths["site_clients"] / "harbor-dental"
    assert (bundle / "index.html").exists()
    assert (bundle / "2026-10" / "tickets" / "2026-10-tickets-logged.csv").exists()  # the download, beside the page


def test_only_what_changed_is_rendered_again(paths, fake_quarto, tmp_path, monkeypatch):
    publish(**paths)
    calls(fake_quarto)
    publish(**paths)
    assert calls(fake_quarto) == []  # nothing changed: no render at all
    assert last_render(paths["build"] / "publish" / "quarto" / "_internal") == {"how": "none", "pages": 0}

    notebook = paths["reports"] / "2026-10" / "zenith-law" / "sla_trends.ipynb"
    nb = json.loads(notebook.read_text())
    nb["cells"][3]["source"] = "## Service levels\n\nRe-run with corrected data."
    notebook.write_text(json.dumps(nb))
    publish(**paths)
    assert calls(fake_quarto) == ["zenith-law: 2026-10/sla_trends.ipynb"]  # once, for its bundle

    (paths["reports"] / "2026-08" / "zenith-law").mkdir(parents=True)  # a new month: new sidebars
    shutil.copy(notebook, paths["reports"] / "2026-08" / "zenith-law" / "sla_trends.ipynb")
    publish(**paths)
    done = calls(fake_quarto)
    assert [c.split()[0] for c in done] == ["_internal:", "zenith-law:"]
    assert done[0] == "_internal: index.qmd"  # the home table has a new column
    assert "2026-08/sla_trends.ipynb" in done[1] and "2026-10/" not in done[1]
    assert "2026-09/sla_trends.ipynb" in done[1]  # its "previous month" link is new
    assert (paths["site"] / "clients" / "harbor-dental" / "2026-10" / "monthly_report.html").exists()  # kept

    stylesheet = tmp_path / "new.css"
    stylesheet.write_text(quarto.QUARTO_STYLESHEET.read_text() + "h1 { color: navy; }\n")
    monkeypatch.setattr(quarto, "QUARTO_STYLESHEET", stylesheet)
    publish(**paths)  # what every page shares changed: every project again, whole
    done = calls(fake_quarto)
    assert [c.split()[0] for c in done] == sorted(["_internal", *CLIENTS])
    assert "index.qmd" in done[0] and "2026-10/portfolio.ipynb" in done[0]


# ---------------------------------------------------------------- a real Quarto

QUARTO = find_quarto()
real = [pytest.mark.slow, pytest.mark.skipif(QUARTO is None, reason=(
    "Quarto is not installed (pip install '.[quarto]' where the network allows it, or "
    "../shared/tools/quarto/build.sh and QUARTO_PATH; .ci/run does)"))]
TWO = ("harbor-dental", "zenith-law")
FRONT_KEYS = re.compile(r"\b(title|subtitle|period|notebook|client_name|sidebar): ")


def _publish_real(root: Path, monkeypatch, stale: bool = True) -> dict:
    monkeypatch.setenv("QUARTO_PATH", str(QUARTO))
    monkeypatch.setenv("SERVICEREVIEW_CHROMIUM", str(root / "no-chromium"))
    p = {"reports": root / "reports", "build": root / "build", "site": root / "_site",
         "site_clients": root / "_site_clients"}
    if not p["reports"].exists():
        write_reports(p["reports"], clients=TWO, notebooks=("monthly_report", "sla_trends"))
        write_build(p["build"], clients=TWO)
        if stale:
            (p["reports"] / "2026-10" / "harbor-dental" / "STALE.json").write_text(json.dumps(
                {"stale_since": "2026-11-02T06:00:00+00:00", "reason": "gate failed", "failed_checks": []}))
    publish(**p, engine="quarto")
    return p


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A real render, then one client's notebook changed and published again (incremental)."""
    if QUARTO is None:
        pytest.skip("no Quarto")
    mp = pytest.MonkeyPatch()
    try:
        p = _publish_real(tmp_path_factory.mktemp("quarto"), mp)
        for notebook in (p["reports"] / period / "zenith-law" / f"{name}.ipynb"
                         for period in ("2026-10", "2026-09") for name in ("sla_trends", "monthly_report")):
            nb = json.loads(notebook.read_text())
            nb["cells"][3]["source"] = f"## Service levels\n\nRe-run with corrected data ({notebook.parent.parent.name})."
            chart = nb["cells"][6]["outputs"][0]["data"]  # and a new chart, which Quarto writes as a file
            chart["image/svg+xml"] = "".join(chart["image/svg+xml"]).replace("96%", "91%")
            notebook.write_text(json.dumps(nb))
        mp.setattr(os, "cpu_count", lambda: 2)  # one project to render, two cores: its pages split in two
        _publish_real(p["reports"].parent, mp)
        yield p
    finally:
        mp.undo()


def _html(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.html"))}


def _files(folder: Path) -> dict[str, object]:
    """Every file's bytes; the search index as a set of entries (its order is not kept)."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    for name in [n for n in files if n.rsplit("/", 1)[-1] in ("search.json", "search.js")]:
        text = files.pop(name).decode().removeprefix("window.servicereviewSearch = ").removesuffix(";\n")
        files[name] = sorted(json.dumps(e, sort_keys=True) for e in json.loads(text))
    return files


@pytest.mark.parametrize("where", ["site", "bundle"])
@pytest.mark.slow
@pytest.mark.skipif(QUARTO is None, reason="no Quarto")
def test_real_quarto_pages_show_no_raw_markup_and_load_nothing_remote(rendered, where):
    folder = rendered["site"] if where == "site" else rendered["site_clients"] / "harbor-dental"
    pages = _html(folder)
    assert len(pages) > 6
    for rel, text in pages.items():
        visible = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", text))
        assert not FRONT_KEYS.search(visible) and ":::" not in visible, rel  # front matter, callout markup
        assert not re.search(r"cdnjs|require(\.min)?\.js|jquery", text, re.IGNORECASE), rel
        assert not re.search(r"""<(script|link|img)\b[^>]*(src|href)="(https?:)?//""", text), rel
        assert 'type="module"' not in text, rel  # browsers refuse module scripts from file://
    stale = pages["clients/harbor-dental/2026-10/monthly_report.html" if where == "site" else "2026-10/monthly_report.html"]
    assert 'class="callout callout-style-default callout-warning' in stale
    assert "This report is not up to date" in stale


@pytest.mark.slow
@pytest.mark.skipif(QUARTO is None, reason="no Quarto")
def test_real_quarto_bundle_is_its_clients_only(rendered):
    bundle = rendered["site_clients"] / "harbor-dental"
    search = (bundle / "search.json").read_text()
    assert "Zenith" not in search and "ZLP-" not in search and "HDG-" in search
    assert (bundle / "data-health.html").read_text().count("<h1") == 1  # the title, not twice
    page = (bundle / "2026-10" / "monthly_report.html").read_text()
    assert "client_id = " not in page and ("<svg" in page or "<img" in page)
    assert (bundle / "2026-10" / "tickets" / "2026-10-tickets-logged.csv").is_file()


@pytest.mark.slow
@pytest.mark.skipif(QUARTO is None, reason="no Quarto")
def test_real_quarto_internal_site_holds_the_bundles_and_searches_them(rendered):
    site = rendered["site"]
    for cid in TWO:
        bundle = rendered["site_clients"] / cid
        assert _html(bundle) == _html(site / "clients" / cid)
    hrefs = {e["href"].split("#")[0] for e in json.loads((site / "search.json").read_text())}
    assert {"index.html", "2026-10/portfolio.html", "clients/harbor-dental/2026-10/monthly_report.html",
            "clients/zenith-law/2026-09/sla_trends.html", "clients/zenith-law/data-health.html"} <= hrefs
    assert [h for h in hrefs if not (site / h).is_file()] == []
    assert [h for h in hrefs if h.endswith("methodology.html")] == ["methodology.html"]
    assert (site / "search.js").read_text().count("clients/zenith-law/") > 0  # the index from a folder too


@pytest.mark.slow
@pytest.mark.skipif(QUARTO is None, reason="no Quarto")
def test_an_incremental_publish_gives_the_pages_of_a_full_one(rendered, tmp_path, monkeypatch):
    staging = rendered["build"] / "publish" / "quarto"
    assert last_render(staging / "_internal") == {"how": "none", "pages": 0}
    assert last_render(staging / "zenith-law") == {"how": "pages", "pages": 4, "shards": 2}
    search = json.loads((rendered["site_clients"] / "zenith-law" / "search.json").read_text())
    rerun = {e["href"].split("#")[0] for e in search if "Re-run with corrected data" in e["text"]}
    assert rerun == {f"{p}/{n}.html" for p in ("2026-10", "2026-09") for n in ("sla_trends", "monthly_report")}
    assert last_render(staging / "harbor-dental") == {"how": "none", "pages": 0}
    shutil.copytree(rendered["reports"], tmp_path / "reports")
    shutil.copytree(rendered["build"] / "clean", tmp_path / "build" / "clean")
    shutil.copytree(rendered["build"] / "validation", tmp_path / "build" / "validation")
    full = _publish_real(tmp_path, monkeypatch)
    assert last_render(full["build"] / "publish" / "quarto" / "_internal")["how"] == "full"
    seed = seed_of(QUARTO)  # Quarto's project cache, kept for projects that have none yet
    assert seed.is_relative_to(os.environ["SERVICEREVIEW_CACHE"]) and (seed / "deno-kv-file").is_file()
    for a, b in ((rendered["site"], full["site"]), (rendered["site_clients"], full["site_clients"])):
        incremental, scratch = _files(a), _files(b)
        assert incremental.keys() == scratch.keys()
        assert [rel for rel in scratch if incremental[rel] != scratch[rel]] == []


@pytest.mark.slow
@pytest.mark.skipif(QUARTO is None, reason="no Quarto")
def test_real_quarto_site_and_bundle_in_a_browser_offline(rendered, browser):
    """From disk with the network cut: every page loads with no request leaving the machine and
    no console error (Quarto's module scripts and search index are rewritten for file://)."""
    def shown(page, path):
        text = page.locator("body").inner_text()
        assert not FRONT_KEYS.search(text) and ":::" not in text, path

    for folder in (rendered["site"], rendered["site_clients"] / "harbor-dental"):
        count, watch = visit_all(browser, folder, shown)
        assert count > 6 and watch.remote == [] and watch.errors == [], folder

    page = browser.new_page()
    watch = Watch(page)
    page.goto((rendered["site_clients"] / "harbor-dental" / "2026-10" / "monthly_report.html").as_uri())
    assert page.locator(".callout-warning").get_by_text("This report is not up to date").count() == 1
    assert page.locator("#quarto-sidebar").get_by_role("link", name="SLA trends").count() == 1
    page.locator("nav.sr-months").get_by_role("link", name="September 2026").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/harbor-dental/2026-09/monthly_report.html")
    page.locator("#quarto-search, .aa-DetachedSearchButton, .aa-Autocomplete").first.click()
    page.keyboard.type("Service levels")
    hits = page.locator(".aa-Item")
    hits.first.wait_for(timeout=15000)  # search works from a folder too
    assert hits.count() >= 1
    assert watch.remote == [] and watch.errors == []
    page.close()
