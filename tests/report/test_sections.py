"""The notebook sections on the real pipeline's output (a hostile copy of data/sample)."""

from __future__ import annotations

import io

import polars as pl
import pytest

from pipelines.report import context as report
from pipelines.report import sections, surveys
from tests.report.conftest import PERIOD
from tests.conftest import XSS_CLIENT, XSS_TICKET

pytestmark = pytest.mark.slow


def test_headline_numbers_are_the_metrics(load):
    ctx = load("lakeside-accounting")
    k = ctx.month()
    text = str(sections.headline(ctx))
    assert f"{k['tickets_created']} tickets were logged" in text
    assert f"Response SLA {k['response_sla_pct']:.1f}%" in text
    assert f"target {ctx.contract.targets.resolution_sla_pct:g}%" in text


def test_tiles_show_n_and_hold_back_thin_percentages(load):
    for client in ("bondi-physio", "pacific-crest"):
        ctx = load(client)
        k = ctx.month()
        text = str(sections.kpi_tiles(ctx))
        csat = f"too few to judge (n={k['csat_n']})" if 0 < k["csat_n"] < 5 else f"{k['csat_pct']:.1f}%"
        assert f"Satisfied customers (CSAT): {csat}" in text
        assert f"n={k['response_sla_n']}" in text


def test_an_uptime_just_under_its_target_is_not_shown_as_the_target(load):
    ctx = load("lakeside-accounting")
    target = ctx.contract.uptime.target_pct
    ctx.kpis = ctx.kpis.with_columns(uptime_pct=pl.lit(target - 0.04))
    text = str(sections.kpi_tiles(ctx))
    assert f"Uptime (worst service): {target - 0.04:.2f}%" in text and f": {target:.1f}%" not in text


def test_every_neutral_or_negative_survey_of_the_month_is_listed(load):
    ctx = load("lakeside-accounting")
    answered = ctx.tables["surveys"].with_columns(
        pl.col("responded_at").dt.convert_time_zone(ctx.zone).dt.strftime("%Y-%m").alias("m"))
    expected = answered.filter((pl.col("m") == PERIOD) & pl.col("sentiment").is_in(["neutral", "negative"]))
    markup = surveys.survey_review(ctx).html
    assert expected.height > 0
    for ticket in expected["ticket_id"]:
        assert f">{ticket}<" in markup


def test_breaches_list_every_target_missed_in_the_month(load):
    ctx = load("lakeside-accounting")
    k = ctx.month()
    html = sections.breaches(ctx).html
    missed = k["response_breached"] + k["resolution_breached"]
    assert f"{missed} targets missed" in html
    assert html.count("<tr>") == missed + 1  # header row


def test_tickets_behind_the_figures_reproduce_the_counts(load):
    ctx = load("pacific-crest")
    k = ctx.month()
    shown = sections.tickets_behind(ctx)
    html = shown.html
    assert f"<b>Tickets logged</b>: {k['tickets_created']} tickets" in html
    ids = ctx.ids("response_sla_pct")
    assert len(ids["numerator"]) == k["response_met"]
    assert f"{k['response_met']} of {k['response_sla_n']} met" in html
    # every figure's tickets are a CSV download; the page names only the misses
    name = f"{PERIOD}-responses-on-time.csv"
    assert f'href="tickets/{name}"' in html
    rows = pl.read_csv(io.StringIO(shown.files[name]), infer_schema=False)
    assert rows.height == k["response_sla_n"] and set(rows["Ticket"]) == set(ids["denominator"])
    assert (rows["Verdict"] == "missed").sum() == k["response_sla_n"] - k["response_met"]
    missed = sorted(set(ids["denominator"]) - set(ids["numerator"]))
    assert missed and f"Missed ({len(missed)}): {', '.join(missed[:25])}" in html
    exceptions = {t for kpi in ("response_sla_pct", "resolution_sla_pct", "csat_pct")
                  for t in set(ctx.ids(kpi)["denominator"]) - set(ctx.ids(kpi)["numerator"])}
    assert not [t for t in set(ids["numerator"]) - exceptions if t in html]  # in the CSV only
    logged = pl.read_csv(io.StringIO(shown.files[f"{PERIOD}-tickets-logged.csv"]), infer_schema=False)
    assert logged.height == k["tickets_created"] and set(logged["Verdict"]) == {"logged"}
    assert set(logged.columns) >= {"Ticket", "Title", "Priority", "Logged", "First response", "Resolved"}


def test_recurring_problems_name_their_tickets(load):
    ctx = load("pacific-crest")
    ids = ctx.ids("recurring_pct")["numerator"]
    html = sections.recurring(ctx).html
    assert all(t in html for t in ids)


def test_hostile_names_comments_and_titles_are_shown_as_text(load):
    ctx = load(XSS_CLIENT)
    for fragment in (sections.headline(ctx), surveys.survey_review(ctx)):
        assert "<script>" not in fragment.html and "<img" not in fragment.html
    review = surveys.survey_review(ctx).html
    assert f">{XSS_TICKET}<" in review
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in review


def test_sections_run_for_every_client(load, sample_run):
    for client in sorted(p.stem for p in (sample_run.data / "contracts").glob("*.yml")):
        ctx = load(client)
        for section in (sections.credits, sections.uptime_table, sections.sla_sentences, sections.priority_table,
                        surveys.survey_sentences, surveys.themes, surveys.mismatches, surveys.uncovered,
                        surveys.tone_note, sections.intake, sections.rejected_reasons,
                        sections.gate_findings, sections.data_health_note):
            assert section(ctx).html, section.__name__
        sections.rejected_rows(ctx)  # empty when nothing was set aside (rejected_reasons says so)


ALL_SECTIONS = (
    sections.headline, sections.kpi_tiles, sections.credits, sections.uptime_table, sections.data_health_note,
    sections.tickets_behind, sections.sla_sentences, sections.priority_table, sections.breaches,
    sections.recurring, surveys.survey_sentences, surveys.themes, surveys.survey_review, surveys.mismatches,
    surveys.uncovered, surveys.tone_note, sections.intake, sections.rejected_reasons, sections.rejected_rows,
    sections.gate_findings, sections.sla_chart, sections.volume_chart, sections.resolution_chart,
    sections.mix_chart, surveys.csat_chart, surveys.sentiment_chart,
)


def test_sections_say_so_when_optional_tables_are_not_provided(tmp_path):
    from tests.conftest import copy_sample

    data = copy_sample(tmp_path / "data")
    for table in ("surveys", "outages", "time_entries", "devices", "ticket_events"):
        (data / f"{table}.csv").unlink()
    ctx = report.load("bondi-physio", PERIOD, build_dir=tmp_path / "build", data_dir=data)
    shown = {}
    for section in ALL_SECTIONS:
        out = section(ctx)
        shown[section.__name__] = out.html if hasattr(out, "html") else out.to_dict()
    assert "No survey data was provided" in shown["survey_sentences"]
    assert "No survey data was provided" in shown["csat_chart"]
    for section in ("tone_note", "mismatches", "uncovered", "survey_review"):
        assert "No survey data was provided" in shown[section], section
    assert "No monitoring outage data was provided" in shown["uptime_table"]
    assert "Not measured (not in this export: no surveys)." in shown["tickets_behind"]
    assert "Not measured (not in this export: no status history (ticket_events))." in shown["tickets_behind"]
    assert "Devices patched: not measured" in str(sections.kpi_tiles(ctx))


def test_a_client_without_tickets_gets_a_report_that_says_so(tmp_path):
    import yaml

    from tests.conftest import copy_sample

    data = copy_sample(tmp_path / "data")
    contract = yaml.safe_load((data / "contracts" / "bondi-physio.yml").read_text())
    contract.update(client_id="new-client", name="New Client Ltd")
    (data / "contracts" / "new-client.yml").write_text(yaml.safe_dump(contract))
    ctx = report.load("new-client", PERIOD, build_dir=tmp_path / "build", data_dir=data)
    assert ctx.ticket_sla.is_empty()
    for section in ALL_SECTIONS:
        section(ctx)
    assert "No tickets were recorded for New Client Ltd" in str(sections.headline(ctx))
    assert str(sections.recurring(ctx)) == sections.NO_TICKETS


def test_data_quality_sections_show_the_clients_own_rejects_and_failed_checks(tmp_path):
    from pipelines.core import config
    from pipelines.core.io import read_table

    ctx = report.load("pacific-crest", build_dir=tmp_path / "build", data_dir=config.SAMPLE_DATA / "dirty")
    rejects = read_table(tmp_path / "build" / "clean", "rejects")
    mine = rejects.filter(pl.col("client_id") == "pacific-crest")
    html = sections.rejected_rows(ctx).html
    assert mine.height > 0 and html.count("<tr>") == mine.height + 1
    others = rejects.filter(pl.col("client_id") != "pacific-crest")["detail"].to_list()
    assert not any(detail in html for detail in others)
    findings = sections.gate_findings(ctx).html
    assert "resolved_after_first_response" in findings or "resolved before anyone first responded" in findings
