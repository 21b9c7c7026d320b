"""The sections on the client's own record of calls and emails, on the real pipeline's output."""

from __future__ import annotations

import html

import polars as pl
import pytest

from pipelines.ingest.sample.generator import generate_sample
from pipelines.report import contact_sections as cs
from pipelines.report import context as report
from tests.report.conftest import PERIOD

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def truth():
    """data/sample is `servicereview sample` with its defaults: the same generator knows the truth."""
    return generate_sample().truth["contacts"]


def test_every_contact_that_never_became_a_ticket_is_in_the_report_list(load, sample_run, truth):
    listed = 0
    for client in sorted(p.stem for p in (sample_run.data / "contracts").glob("*.yml")):
        ctx = load(client)
        section = cs.reconciliation(ctx).html
        month = ctx.contact_matches.filter(pl.col("month") == PERIOD)
        never = truth.filter((pl.col("client_id") == client) & (pl.col("kind") == "unlogged"))
        due = month.join(never, on=["client_id", "contact_id"]).filter(pl.col("match") != "window_open")
        for contact_id in due["contact_id"]:
            assert html.escape(contact_id) in section, (client, contact_id)
        listed += due.height
        matched = month.filter(pl.col("ticket_id").is_not_null())["contact_id"]
        assert not any(f"<td class=\"txt\">{c}</td>" in cs.unmatched_contacts(ctx).html for c in matched)
    assert listed >= 5


def test_a_sample_clients_report_shows_the_reconciliation(load, sample_run):
    page = (sample_run.home / "_site_clients" / "pacific-crest" / PERIOD / "monthly_report.html").read_text()
    assert "Your own record of calls and emails" in page
    assert "Responses on time: from your first contact" in page
    ctx = load("pacific-crest")
    s = cs.summary(ctx)
    text = " ".join(str(cs.reconciliation(ctx)).split())
    assert f"Your record holds {s['contacts']} calls and emails to the provider in October 2026" in text
    assert f"{s['by_match']['not_matched']} did not match any ticket (listed below)" in text
    assert "have no call or email in your record. That is expected for tickets the provider raised itself" in text
    for ticket_id in s["differ_ids"]:
        assert ticket_id in cs.first_contact_response(ctx).html
    quality = (sample_run.home / "_site_clients" / "pacific-crest" / PERIOD / "data_quality.html").read_text()
    assert "Matching your record of calls and emails" in quality


def test_small_numbers_say_too_few_to_judge(load):
    ctx = load("bondi-physio")  # a handful of contacts in the month
    s = cs.summary(ctx)
    assert 0 < s["lag_n"] < 10
    tiles = str(cs.contact_tiles(ctx))
    assert f"Time from your first contact to the ticket (median): too few to judge (n={s['lag_n']})" in tiles
    assert "Responses on time: from your first contact: too few to judge" in tiles


def test_wording_is_neutral(load):
    text = str(cs.reconciliation(load("lakeside-accounting"))).lower()
    for word in ("fail", "missed request", "ignored", "lost", "violation", "negligen"):
        assert word not in text


def test_a_client_without_a_contact_log_shows_nothing_extra(tmp_path):
    from tests.conftest import copy_sample

    data = copy_sample(tmp_path / "data")
    contacts = pl.read_csv(data / "contacts.csv", infer_schema=False)
    contacts.filter(pl.col("client_id") != "thameside-architects").write_csv(data / "contacts.csv")
    without = report.load("thameside-architects", PERIOD, build_dir=tmp_path / "build", data_dir=data)
    assert str(cs.reconciliation(without)) == "" and cs.reconciliation(without).html == ""
    assert cs.matching_quality(without).html == ""
    assert "Your own record" in cs.reconciliation(report.load("harbor-dental", PERIOD, build_dir=tmp_path / "build",
                                                              data_dir=data)).html
    (data / "contacts.csv").unlink()
    none = report.load("harbor-dental", PERIOD, build_dir=tmp_path / "build2", data_dir=data)
    assert none.tables["contacts"] is None and cs.reconciliation(none).html == ""
