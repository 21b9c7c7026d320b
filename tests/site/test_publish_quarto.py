"""The Quarto path: generated staging projects, and a real render where Quarto is installed.

Quarto cannot be installed on the build machines, so the real-render test skips there;
the staging projects (what Quarto is asked to render) are checked with a stand-in
`quarto` that only writes an index page.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from pipelines.site.publish import publish
from pipelines.site.quarto import find_quarto, plain
from tests.publish_fixtures import CLIENTS, XSS_NAME, tickets_of, write_build, write_reports

FAKE_QUARTO = """#!/bin/sh
# stand-in for `quarto render DIR`: records the call, writes an index page
[ "$1" = render ] || exit 64
echo "$2" >> "$(dirname "$0")/calls.txt"
mkdir -p "$2/_site" && echo '<html><body>rendered</body></html>' > "$2/_site/index.html"
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


def front(path) -> dict:
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "".join(json.loads(text)["cells"][0]["source"])
    return yaml.safe_load(text.split("---")[1])


def test_quarto_path_env_is_found(fake_quarto):
    assert find_quarto() == fake_quarto


def test_site_project_has_an_explicit_render_list_and_a_sidebar_per_client(paths, fake_quarto):
    result = publish(**paths)
    assert result.engine == "quarto"
    assert (paths["site"] / "index.html").read_text().strip().endswith("rendered</body></html>")
    project = paths["build"] / "publish" / "quarto" / "_internal"
    conf = yaml.safe_load((project / "_quarto.yml").read_text())
    render = conf["project"]["render"]
    assert render[:3] == ["index.qmd", "methodology.qmd", "data-health.qmd"]
    assert "2026-10/harbor-dental/monthly_report.ipynb" in render and "2026-09/portfolio.ipynb" in render
    assert all("*" not in r and not r.startswith("notebooks") and "_failed" not in r for r in render)
    assert all((project / r).exists() for r in render)
    assert conf["project"]["type"] == "website" and conf["website"]["search"] is True
    assert conf["execute"] == {"enabled": False, "echo": False, "warning": False}
    assert conf["format"]["html"]["html-math-method"] == "plain"
    assert [s["id"] for s in conf["website"]["sidebar"]] == list(result.clients)
    listing = front(project / "index.qmd")["listing"][0]
    assert listing["contents"] == "*/*/monthly_report.ipynb" and listing["type"] == "table"
    calls = (fake_quarto.parent / "calls.txt").read_text().split()
    assert len(calls) == 1 + len(CLIENTS)


def test_staged_notebooks_escape_names_and_carry_the_stale_notice(paths, fake_quarto):
    (paths["reports"] / "2026-10" / "evil-co" / "STALE.json").write_text(json.dumps(
        {"stale_since": "2026-11-02T06:00:00+00:00", "reason": "gate failed", "failed_checks": []}))
    publish(**paths)
    staged = paths["build"] / "publish" / "quarto" / "evil-co" / "2026-10" / "sla_trends.ipynb"
    meta = front(staged)
    assert meta["client_name"] == plain(XSS_NAME) and "<script" not in staged.read_text()
    assert meta["subtitle"] == plain(f"{XSS_NAME} — October 2026")  # whose report, in the page header
    cells = json.loads(staged.read_text())["cells"]
    assert cells[1]["cell_type"] == "markdown" and ".callout-warning" in cells[1]["source"]
    assert "gate failed" in cells[1]["source"]
    assert sum(c["cell_type"] == "raw" for c in cells) == 1  # the original front matter was replaced


def test_each_bundle_project_holds_only_its_client(paths, fake_quarto):
    publish(**paths)
    project = paths["build"] / "publish" / "quarto" / "harbor-dental"
    conf = yaml.safe_load((project / "_quarto.yml").read_text())
    assert [s["id"] for s in conf["website"]["sidebar"]] == ["harbor-dental"]
    assert not any("portfolio" in r for r in conf["project"]["render"])
    others = [m for c in ("zenith-law", "evil-co") for m in (c, CLIENTS[c][0], plain(CLIENTS[c][0]),
                                                           *tickets_of(c, "2026-10"))]
    for path in (p for p in project.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert not [m for m in others if m in text], path
    assert (paths["site_clients"] / "harbor-dental" / "index.html").exists()


QUARTO = shutil.which("quarto")


@pytest.mark.slow
@pytest.mark.skipif(QUARTO is None, reason="Quarto is not installed (pip install '.[quarto]' where the "
                                           "network allows it)")
def test_real_quarto_render(tmp_path, monkeypatch):
    monkeypatch.delenv("QUARTO_PATH", raising=False)
    monkeypatch.setenv("SERVICEREVIEW_CHROMIUM", str(tmp_path / "no-chromium"))
    p = {"reports": tmp_path / "reports", "build": tmp_path / "build", "site": tmp_path / "_site",
         "site_clients": tmp_path / "_site_clients"}
    write_reports(p["reports"], periods=("2026-10",), clients=("harbor-dental", "zenith-law"))
    write_build(p["build"], clients=("harbor-dental", "zenith-law"))
    result = publish(**p, engine="quarto")
    assert (p["site"] / "2026-10" / "harbor-dental" / "monthly_report.html").exists()
    page = (p["site"] / "2026-10" / "harbor-dental" / "monthly_report.html").read_text()
    assert "client_id = " not in page
    assert "<svg" in page or "<img" in page
    search = (p["site_clients"] / "harbor-dental" / "search.json").read_text()
    assert "Zenith" not in search and "ZLP-" not in search
    assert result.pages > 10
