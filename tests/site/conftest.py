"""A headless Chromium for the browser tests (Debian's, driven by Playwright; never downloaded),
and a watch on everything a page does that it should not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and Path(p).exists()), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
NO_CHROMIUM = "no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium; .ci/run does)"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install "
                                                                 "'.[dev]')")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                        args=FLAGS, viewport={"width": 1200, "height": 900})
        try:
            yield context
        finally:
            context.close()


class Watch:
    """Everything a page does that it should not: remote requests, console errors, page errors.
    Every request that is not for a local file is refused (and recorded)."""

    def __init__(self, page):
        self.remote: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file://", "data:", "about:")):
            route.continue_()
        else:
            self.remote.append(url)
            route.abort()


def visit_all(browser, folder: Path, check=None) -> tuple[int, Watch]:
    """Open every page under `folder` from disk, offline; `check(page, path)` on each."""
    page = browser.new_page()
    watch = Watch(page)
    paths = sorted(folder.rglob("*.html"))
    for path in paths:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        if check:
            check(page, path)
    page.close()
    return len(paths), watch


REVIEWED = "lakeside-accounting"


@pytest.fixture(scope="session")
def peer_pack(tmp_path_factory):
    """A review pack built among 7 clients (so its peer distribution is shown): the sample's
    generator with 7 clients over 4 months, then `servicereview review` for REVIEWED.
    Returns (data folder, workspace)."""
    from tests.conftest import servicereview

    root = tmp_path_factory.mktemp("peers")
    made = servicereview("sample", "--clients", "7", "--months", "4", "--out", str(root / "data"), home=root / "home")
    assert made.returncode == 0, made.stderr[-2000:]
    done = servicereview("review", "--client", REVIEWED, "--data", str(root / "data"), home=root / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "data", root / "home"
