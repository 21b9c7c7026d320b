"""Monthly report PDFs in the client bundles, printed by headless Chromium (skips without it)."""

from __future__ import annotations

import json

import pytest

from pipelines.site.pdf import find_chromium
from pipelines.site.publish import publish
from tests.publish_fixtures import write_build, write_reports

CHROMIUM, WHY_NOT = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=WHY_NOT or "no Chromium")


@pytest.mark.slow
@needs_chromium
def test_latest_month_printed_once_then_kept_until_it_changes(tmp_path):
    paths = {"reports": tmp_path / "reports", "build": tmp_path / "build", "site": tmp_path / "_site",
             "site_clients": tmp_path / "_site_clients"}
    write_reports(paths["reports"], clients=("harbor-dental", "zenith-law"))
    write_build(paths["build"], clients=("harbor-dental", "zenith-law"))

    first = publish(**paths, engine="builtin", chromium=CHROMIUM)
    printed = {p: p.read_bytes() for p in first.pdfs}
    bundles = paths["site_clients"]
    assert (first.pdfs_printed, first.pdfs_reused, first.pdf_skipped) == (2, 0, None)
    assert first.pdfs == [bundles / c / "2026-10" / "monthly_report.pdf"
                          for c in ("harbor-dental", "zenith-law")]
    for pdf in first.pdfs:
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-" and len(data) > 5000
    assert not (bundles / "harbor-dental" / "2026-09" / "monthly_report.pdf").exists()
    page = (bundles / "harbor-dental" / "2026-10" / "sla_trends.html").read_text()
    assert 'href="monthly_report.pdf"' in page
    assert "monthly_report.pdf" in (bundles / "harbor-dental" / "index.html").read_text()

    again = publish(**paths, engine="builtin", chromium=CHROMIUM)
    assert (again.pdfs_printed, again.pdfs_reused) == (0, 2)
    assert {p: p.read_bytes() for p in again.pdfs} == printed  # copied, not printed again

    notebook = paths["reports"] / "2026-10" / "zenith-law" / "monthly_report.ipynb"
    nb = json.loads(notebook.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "A new paragraph."})
    notebook.write_text(json.dumps(nb))
    changed = publish(**paths, engine="builtin", chromium=CHROMIUM)
    assert (changed.pdfs_printed, changed.pdfs_reused) == (1, 1)


@pytest.mark.slow
@needs_chromium
def test_a_crash_between_the_swaps_never_leaves_a_stale_pdf_for_ever(tmp_path, monkeypatch):
    from pypdf import PdfReader

    from pipelines.core import io
    from pipelines.site import publish as publishing

    paths = {"reports": tmp_path / "reports", "build": tmp_path / "build", "site": tmp_path / "_site",
             "site_clients": tmp_path / "_site_clients"}
    write_reports(paths["reports"], periods=("2026-10",), clients=("harbor-dental",))
    write_build(paths["build"], clients=("harbor-dental",))
    pdf = paths["site_clients"] / "harbor-dental" / "2026-10" / "monthly_report.pdf"
    publish(**paths, engine="builtin", chromium=CHROMIUM)
    notebook = paths["reports"] / "2026-10" / "harbor-dental" / "monthly_report.ipynb"
    nb = json.loads(notebook.read_text())
    nb["cells"].insert(1, {"cell_type": "markdown", "metadata": {}, "source": "Revised totals."})
    notebook.write_text(json.dumps(nb))

    swaps = []

    def crash_on_the_second_swap(staging, target):
        swaps.append(target)
        if len(swaps) == 2:
            raise OSError("the machine went down between the swaps")
        io.swap_in(staging, target)

    monkeypatch.setattr(publishing.io, "swap_in", crash_on_the_second_swap)
    with pytest.raises(OSError, match="between the swaps"):
        publish(**paths, engine="builtin", chromium=CHROMIUM)
    monkeypatch.undo()
    assert "Revised totals" not in PdfReader(pdf).pages[0].extract_text()  # the old bundle is still there

    again = publish(**paths, engine="builtin", chromium=CHROMIUM)
    assert (again.pdfs_printed, again.pdfs_reused) == (1, 0)
    assert "Revised totals" in PdfReader(pdf).pages[0].extract_text()
    assert publish(**paths, engine="builtin", chromium=CHROMIUM).pdfs_reused == 1  # and then kept


def test_a_browser_that_writes_no_pdf_is_reported_and_unlinked(tmp_path):
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'cannot print' >&2\nexit 3\n")
    fake.chmod(0o755)
    paths = {"reports": tmp_path / "reports", "build": tmp_path / "build", "site": tmp_path / "_site",
             "site_clients": tmp_path / "_site_clients"}
    write_reports(paths["reports"], periods=("2026-10",), clients=("harbor-dental",))
    write_build(paths["build"], clients=("harbor-dental",))
    result = publish(**paths, engine="builtin", chromium=fake)
    assert result.pdfs == [] and result.pdfs_printed == 0
    assert any("PDF of harbor-dental 2026-10 not made" in w and "exit code 3): cannot print" in w
               for w in result.warnings)
    page = (paths["site_clients"] / "harbor-dental" / "2026-10" / "monthly_report.html").read_text()
    assert "monthly_report.pdf" not in page


@pytest.mark.slow
@needs_chromium
def test_one_browser_prints_every_page_even_with_many_files_open(tmp_path, monkeypatch):
    """The DevTools pipe must work whatever fd numbers the pipes get (dash cannot redirect fd >= 10)."""
    from pipelines.site import pdf

    def no_fallback(*args, **kwargs):
        raise AssertionError("fell back to a Chromium process per page")

    monkeypatch.setattr(pdf, "print_pdf", no_fallback)
    held = [open(tmp_path / f"held-{i}", "w") for i in range(12)]  # noqa: SIM115 - pushes fds past 9
    try:
        pages = []
        for i in range(2):
            page = tmp_path / f"page{i}.html"
            page.write_text(f"<!doctype html><title>p{i}</title><p>page {i}</p>")
            pages.append((page, tmp_path / f"page{i}.pdf"))
        errors = pdf.print_pdfs(CHROMIUM, pages)
    finally:
        for f in held:
            f.close()
    assert errors == {p: None for _, p in pages}
    assert all(p.read_bytes()[:5] == b"%PDF-" for _, p in pages)
