"""publish: executed notebooks -> the internal site and per-client bundles (built-in renderer)."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.site.builtin import PageWriter, notebook_html, output_html
from pipelines.site.inventory import discover, front_matter
from pipelines.site.preview import preview_server
from pipelines.site.publish import MARKER, PublishError, publish
from tests.publish_fixtures import (
    CLIENTS,
    SVG,
    XSS_COMMENT,
    XSS_NAME,
    executed_notebook,
    write_build,
    write_notebook,
    write_reports,
)

# an http(s) or protocol-relative URL in src/href/action, a CSS url() or @import of anything remote
EXTERNAL = re.compile(r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
                      r"""|url\(\s*["']?\s*(?:https?:)?//|@import""", re.IGNORECASE)


@pytest.fixture
def no_chromium(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-chromium"
    monkeypatch.setenv("SERVICEREVIEW_CHROMIUM", str(missing))
    return missing


@pytest.fixture
def project(tmp_path, no_chromium) -> dict[str, Path]:
    paths = {"reports": tmp_path / "reports", "build": tmp_path / "build", "site": tmp_path / "_site",
             "site_clients": tmp_path / "_site_clients"}
    write_reports(paths["reports"])
    write_build(paths["build"])
    return paths


def run(project: dict[str, Path], **kwargs):
    return publish(**project, engine="builtin", **kwargs)


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def text_of(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in files(folder) if p.suffix in {".html", ".css"})


# ---------------------------------------------------------------- structure


def test_internal_site_has_every_client_period_and_the_portfolio(project):
    result = run(project)
    site = project["site"]
    for page in ("index.html", "methodology.html", "data-health.html", "assets/site.css",
                 "2026-10/portfolio.html", "2026-09/portfolio.html", "clients/zenith-law/data-health.html"):
        assert (site / page).is_file(), page
    for client in CLIENTS:
        for period in ("2026-09", "2026-10"):
            for nb in ("monthly_report", "sla_trends", "survey_sentiment", "data_quality"):
                assert (site / "clients" / client / period / f"{nb}.html").is_file()
        # a client's pages in the internal site are its bundle, byte for byte (rendered once)
        bundle = project["site_clients"] / client
        assert {p.relative_to(bundle): p.read_bytes() for p in files(bundle)} == \
            {p.relative_to(site / "clients" / client): p.read_bytes() for p in files(site / "clients" / client)}
    assert result.engine == "built-in"
    assert result.periods == ["2026-10", "2026-09"]
    assert sorted(result.clients) == sorted(CLIENTS)
    index = (site / "index.html").read_text()
    assert 'href="clients/harbor-dental/2026-10/monthly_report.html"' in index
    assert 'href="2026-10/portfolio.html"' in index
    assert "Harbor Dental Group" in index and "Zenith Law Partners" in index


def test_client_page_has_a_sidebar_for_that_client_only(project):
    run(project)
    page = (project["site_clients"] / "zenith-law" / "2026-10" / "sla_trends.html").read_text()
    sidebar = page.split('<aside class="sidebar"', 1)[1].split("</aside>", 1)[0]
    for label, target in (("Monthly report", "monthly_report.html"), ("SLA trends", "sla_trends.html"),
                          ("Survey review", "survey_sentiment.html"), ("Data quality", "data_quality.html")):
        assert f'href="{target}"' in sidebar and label in sidebar
    assert 'href="../2026-09/monthly_report.html"' in sidebar  # the other month
    assert "harbor" not in sidebar.lower()
    assert '<a href="sla_trends.html" aria-current="page">' in sidebar


def test_bundle_holds_only_its_client_and_no_portfolio(project):
    run(project)
    bundle = project["site_clients"] / "harbor-dental"
    names = {p.relative_to(bundle).as_posix() for p in files(bundle)}
    assert {"index.html", "methodology.html", "data-health.html", "assets/site.css",
            "2026-10/monthly_report.html", "2026-09/data_quality.html"} <= names
    assert not any("portfolio" in n for n in names)
    assert sorted(p.name for p in project["site_clients"].iterdir()) == [MARKER, *sorted(CLIENTS)]
    home = (bundle / "index.html").read_text()
    assert "Harbor Dental Group" in home and 'href="2026-10/sla_trends.html"' in home


def test_code_prompts_and_stderr_are_hidden_stdout_escaped(project):
    run(project)
    page = (project["site_clients"] / "harbor-dental" / "2026-10" / "monthly_report.html").read_text()
    assert "client_id = " not in page and "kpi_tiles(" not in page
    assert "SECRET-STDERR" not in page
    assert "In&nbsp;[" not in page and "In [" not in page
    assert "3 tickets &lt;b&gt;" in page
    assert "Service levels</h2>" in page  # markdown rendered
    assert 'class="sr-tile' in page and "<svg" in page
    assert "vega-lite" not in page  # the JupyterLab representation is not used


def test_failed_and_hidden_runner_folders_are_not_published(project):
    run(project)
    assert "FAILED-COPY" not in text_of(project["site"]) + text_of(project["site_clients"])
    assert not (project["site"] / "2026-10" / "_failed").exists()


# ---------------------------------------------------------------- safety


def test_untrusted_comment_and_client_name_arrive_as_text(project):
    run(project)
    for folder in (project["site"], project["site_clients"] / "evil-co"):
        text = text_of(folder)
        assert "<script" not in text.lower()
        assert "<img src=x" not in text
    page = (project["site_clients"] / "evil-co" / "2026-10" / "monthly_report.html").read_text()
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in page
    assert "Evil &lt;script&gt;window.__pwned=2&lt;/script&gt; Co" in page


def test_no_produced_file_refers_to_anything_external(project):
    run(project)
    offenders = []
    for folder in (project["site"], project["site_clients"]):
        for path in files(folder):
            if path.suffix in {".html", ".css", ".js", ".json", ".svg"}:
                for match in EXTERNAL.finditer(path.read_text(errors="replace")):
                    offenders.append(f"{path}: {match.group(0)}")
    assert offenders == []
    page = (project["site"] / "index.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_external_url_scan_would_catch_a_cdn():
    assert EXTERNAL.search('<script src="https://cdn.jsdelivr.net/x.js">')
    assert EXTERNAL.search("body{background:url( 'http://x/y.png')}")
    assert EXTERNAL.search('<link href="//fonts.googleapis.com/css">')
    assert not EXTERNAL.search('<svg xmlns="http://www.w3.org/2000/svg">')


def test_unsafe_client_ids_never_leave_the_output_folder(project):
    reports = project["reports"]
    write_notebook(reports / "2026-10" / "..x" / "monthly_report.ipynb",
                   executed_notebook("..x", "Dots", "2026-10", "monthly_report", ["DOT-1"]))
    write_notebook(reports / "2026-10" / "sneaky" / "monthly_report.ipynb",
                   executed_notebook("../x", "Sneaky", "2026-10", "monthly_report", ["SNK-1"]))
    write_notebook(reports / "2026-10" / "x..y" / "monthly_report.ipynb",
                   executed_notebook("x..y", "Dotted", "2026-10", "monthly_report", ["DTD-1"]))
    write_notebook(reports / "2026-10" / "bad name" / "monthly_report.ipynb",
                   executed_notebook("bad name", "Spaces", "2026-10", "monthly_report", ["SPC-1"]))
    before = {p.name for p in project["site"].parent.iterdir()}
    result = run(project)
    assert {p.name for p in project["site"].parent.iterdir()} == before | {"_site", "_site_clients"}
    warnings = "\n".join(result.warnings)
    assert "'x..y' is not a safe client id" in warnings  # ('..x' is hidden: ignored like .tmp-*)
    assert "'bad name' is not a safe client id" in warnings
    assert "front matter says client_id '../x' but the folder is 'sneaky'" in warnings
    everything = text_of(project["site"]) + text_of(project["site_clients"])
    assert not [t for t in ("DOT-1", "DTD-1", "SNK-1", "SPC-1") if t in everything]
    assert sorted(result.clients) == sorted(CLIENTS)


def test_page_writer_refuses_paths_outside_its_folder(tmp_path):
    writer = PageWriter(tmp_path, "t", [])
    for bad in ("../x.html", "a/../../x.html", "/etc/x.html", "a//b.html"):
        with pytest.raises(ValueError, match="unsafe page path"):
            writer.path_of(bad)


def test_refuses_to_replace_a_folder_it_did_not_build(project):
    project["site"].mkdir()
    (project["site"] / "precious.txt").write_text("keep me")
    with pytest.raises(PublishError, match=r"_site: exists and was not built by servicereview publish"):
        run(project)
    assert (project["site"] / "precious.txt").read_text() == "keep me"


def test_republishing_replaces_the_previous_site(project):
    run(project)
    for period in ("2026-09", "2026-10"):
        for path in (project["reports"] / period / "zenith-law").iterdir():
            path.unlink()
        (project["reports"] / period / "zenith-law").rmdir()
    run(project)
    assert not (project["site_clients"] / "zenith-law").exists()
    assert not (project["site"] / "clients" / "zenith-law").exists()
    assert "Zenith" not in (project["site"] / "index.html").read_text()
    leftovers = [p.name for p in project["site"].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_empty_reports_is_a_clear_error(tmp_path):
    with pytest.raises(PublishError, match=r"no executed notebooks found .*run `servicereview run` first"):
        publish(reports=tmp_path / "reports", build=tmp_path / "build", site=tmp_path / "s",
                site_clients=tmp_path / "c", engine="builtin")


# ---------------------------------------------------------------- stale, health, PDF


def test_stale_report_shows_a_banner(project):
    (project["reports"] / "2026-10" / "zenith-law" / "STALE.json").write_text(json.dumps({
        "stale_since": "2026-11-02T06:00:00+00:00", "failed_checks": [],
        "reason": "data-quality gate failed: tickets.priority expect_not_null: 12 rows"}))
    run(project)
    page = (project["site_clients"] / "zenith-law" / "2026-10" / "sla_trends.html").read_text()
    assert 'class="stale-banner"' in page and "This report is not up to date" in page
    assert "tickets.priority expect_not_null: 12 rows" in page and "2 Nov 2026" in page
    assert "not up to date" in (project["site_clients"] / "zenith-law" / "index.html").read_text()
    assert "stale</span>" in (project["site"] / "index.html").read_text()
    other = (project["site_clients"] / "harbor-dental" / "2026-10" / "sla_trends.html").read_text()
    assert "stale-banner" not in other
    earlier = project["site_clients"] / "zenith-law" / "2026-09" / "sla_trends.html"
    assert "stale-banner" not in earlier.read_text()


def test_data_health_pages(project):
    run(project)
    overview = (project["site"] / "data-health.html").read_text()
    assert 'href="clients/zenith-law/data-health.html"' in overview and "warnings" in overview
    own = (project["site_clients"] / "zenith-law" / "data-health.html").read_text()
    assert "A ticket was closed before it was resolved." in own and "ZLP-202610-1" in own


def test_missing_chromium_skips_pdfs_with_a_message(project, no_chromium):
    result = run(project)
    assert result.pdfs == [] and result.pdfs_printed == 0
    assert result.pdf_skipped == (f"PDFs skipped: SERVICEREVIEW_CHROMIUM={no_chromium} "
                                  "is not an executable file")
    assert not list(project["site_clients"].rglob("*.pdf"))
    assert "monthly_report.pdf" not in text_of(project["site_clients"])


def test_cli_publish_prints_what_it_built(project, no_chromium):
    args = ["publish", "--reports", str(project["reports"]), "--build", str(project["build"]),
            "--site", str(project["site"]), "--site-clients", str(project["site_clients"])]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert re.search(r"(built-in|quarto) renderer: \d+ pages for 3 clients \(2026-10, 2026-09\)", out.output)
    assert "client bundles: 3" in out.output
    assert f"PDFs skipped: SERVICEREVIEW_CHROMIUM={no_chromium}" in out.output.replace("\n", "")


def test_cli_publish_without_reports_exits_2(tmp_path):
    out = CliRunner().invoke(app, ["publish", "--reports", str(tmp_path / "none"), "--build", str(tmp_path),
                                   "--site", str(tmp_path / "s"), "--site-clients", str(tmp_path / "c")])
    assert out.exit_code == 2
    assert "no executed notebooks found" in out.output


# ---------------------------------------------------------------- preview


def test_preview_serves_the_site_on_localhost(project):
    run(project)
    with preview_server(project["site"], port=0) as server:
        host, port = server.server_address[:2]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10).read().decode()
        finally:
            server.shutdown()
    assert host == "127.0.0.1"
    assert "Harbor Dental Group" in body


def test_cli_preview_without_a_site_exits_2(tmp_path):
    out = CliRunner().invoke(app, ["preview", "--site", str(tmp_path / "nothing"), "--port", "0"])
    assert out.exit_code == 2
    assert "no index.html (run `servicereview publish` first)" in out.output


# ---------------------------------------------------------------- the renderer's parts


def test_output_priority_and_escaping():
    both = {"output_type": "display_data", "data": {"text/html": "<b>x</b>", "image/svg+xml": "<svg/>",
                                                     "text/plain": "x"}}
    assert '<div class="output html">\n<b>x</b>' in output_html(both)
    svg_png = {"output_type": "display_data", "data": {"image/png": "iVBO", "image/svg+xml": "<svg></svg>"}}
    assert "<svg></svg>" in output_html(svg_png) and "data:image/png" not in output_html(svg_png)
    png = {"output_type": "execute_result", "data": {"image/png": "iV\nBO"}}
    assert 'src="data:image/png;base64,iVBO"' in output_html(png)
    vegalite_only = {"output_type": "display_data", "data": {"application/vnd.vegalite.v5+json": {}}}
    assert output_html(vegalite_only) == ""
    plain = {"output_type": "execute_result", "data": {"text/plain": "<chart: x>"}}
    assert output_html(plain) == '<pre class="output text">&lt;chart: x&gt;</pre>'
    error = {"output_type": "error", "ename": "ValueError", "evalue": "<bad>", "traceback": []}
    assert output_html(error) == '<pre class="output error">ValueError: &lt;bad&gt;</pre>'


def test_two_inline_charts_never_share_an_svg_id():
    chart = {"output_type": "display_data", "data": {"image/svg+xml": SVG.replace("{label}", "x")}}
    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [chart, chart]}]}
    body = notebook_html(nb)
    ids = re.findall(r'id="([^"]+)"', body)
    assert len(ids) == 2 and len(set(ids)) == 2
    for chart_id in ids:
        assert f"url(#{chart_id})" in body
    assert "<?xml" not in body


def test_cells_tagged_remove_are_left_out():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {"tags": ["remove-cell"]}, "source": "HIDDEN-MD"},
        {"cell_type": "code", "metadata": {"tags": ["remove-output"]}, "source": "",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "HIDDEN-OUT"}]},
        {"cell_type": "markdown", "metadata": {}, "source": ["shown ", "text"]},
    ]}
    body = notebook_html(nb)
    assert "HIDDEN" not in body and "shown text" in body


def test_front_matter_is_read_from_the_raw_cell():
    nb = executed_notebook("harbor-dental", "Harbor Dental Group", "2026-10", "sla_trends", [])
    assert front_matter(nb) == {"title": "SLA trends", "description": "How IT support performed this month.",
                                "client_id": "harbor-dental", "client_name": "Harbor Dental Group",
                                "period": "2026-10", "subtitle": "Harbor Dental Group — October 2026",
                                "notebook": "sla_trends"}
    assert front_matter({"cells": [{"cell_type": "markdown", "source": "---\ntitle: x\n---"}]}) == {}


def test_names_come_from_contracts_then_front_matter(tmp_path):
    write_reports(tmp_path / "reports", periods=("2026-10",), clients=("harbor-dental",))
    assert discover(tmp_path / "reports").clients["harbor-dental"].name == "Harbor Dental Group"
    inv = discover(tmp_path / "reports", {"harbor-dental": "Harbor (from contract)"})
    assert inv.clients["harbor-dental"].name == "Harbor (from contract)"
    assert XSS_NAME not in inv.clients["harbor-dental"].name
    assert XSS_COMMENT  # used by the notebooks above
