"""Matching the client's own record of calls and emails to the tickets (pipelines.metrics.contacts).

One New York client (Mon-Thu 08:00-18:00, Fri 08:00-17:00; P2 response 1 h, P3 4 h, business):
- AC-1001 P2 Mon 5 Oct 09:10 (Jane Smith, phone), answered 09:40; K1: her call at 09:00.
- AC-1002 P2 Mon 5 Oct 11:30 (Bob Lee, email), answered 12:10 (40 min: met); K2: his email at
  10:00 (so 130 min from it: missed), K3: a missed call of his at 09:50 (a repeated contact).
- AC-1003 P3 Tue 6 Oct 10:05 from monitoring; K4: Ann Park's call at 10:00 (not matched: the
  provider raised AC-1003 itself).
- AC-1004 P3 Mon 19 Oct 10:00 (Jane Smith); K5: her call Fri 16 Oct 16:30 (2.5 working hours).
- AC-1005 P3 Mon 19 Oct 12:30 (Tom Hill); K6: his call Fri 16 Oct 16:00 (5.5 working hours: too late).
- AC-1006 P3 Mon 2 Nov 09:00 (Ann Park); K10: her call Fri 30 Oct 16:45 (as of October: window open).
- K7 names AC-1001 in a reply; K8 names '#1004'; K9 the provider calling Jane back; K11 in November.
"""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.core.schemas import TABLES
from pipelines.ingest.sample.generator import generate_sample, raw_frames
from pipelines.metrics import contacts, sla
from pipelines.metrics.stage import compute_metrics
from tests.metrics_fixtures import contracts, ny


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    schema = TABLES[table].columns
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def ticket(tid, created, priority, requester, source, title, first=None):
    return {"ticket_id": tid, "client_id": "acme", "created_at": created, "priority": priority,
            "requester": requester, "source": source, "title": title, "first_response_at": first}


def contact(cid, at, requester, channel="phone", subject=None, ref=None, direction="outbound"):
    return {"client_id": "acme", "contact_id": cid, "at": at, "channel": channel, "direction": direction,
            "requester": requester, "subject": subject, "ticket_ref": ref}


TICKETS = [
    ticket("AC-1001", ny(2026, 10, 5, 9, 10), "P2", "Jane Smith", "phone", "Printer jammed",
           first=ny(2026, 10, 5, 9, 40)),
    ticket("AC-1002", ny(2026, 10, 5, 11, 30), "P2", "Bob Lee", "email", "VPN keeps dropping",
           first=ny(2026, 10, 5, 12, 10)),
    ticket("AC-1003", ny(2026, 10, 6, 10, 5), "P3", None, "monitoring", "Disk space low on FS1"),
    ticket("AC-1004", ny(2026, 10, 19, 10), "P3", "Jane Smith", "phone", "Scanner offline"),
    ticket("AC-1005", ny(2026, 10, 19, 12, 30), "P3", "Tom Hill", "phone", "New starter laptop"),
    ticket("AC-1006", ny(2026, 11, 2, 9), "P3", "Ann Park", "phone", "Monitor flickers"),
]
CONTACTS = [
    contact("K1", ny(2026, 10, 5, 9), "Smith, Jane"),
    contact("K2", ny(2026, 10, 5, 10), "bob.lee@acme.example", "email", "VPN keeps dropping - please help"),
    contact("K3", ny(2026, 10, 5, 9, 50), "Bob Lee"),
    contact("K4", ny(2026, 10, 6, 10), "Ann Park"),
    contact("K5", ny(2026, 10, 16, 16, 30), "Jane Smith"),
    contact("K6", ny(2026, 10, 16, 16), "Tom Hill"),
    contact("K7", ny(2026, 10, 6, 15), "jane.smith@acme.example", "email", "Re: [AC-1001] Printer jammed",
            ref="AC-1001"),
    contact("K8", ny(2026, 10, 20, 9), "Jane Smith", "email", "Ticket #1004 any news?", ref="#1004"),
    contact("K9", ny(2026, 10, 5, 9, 20), "Jane Smith", direction="inbound"),
    contact("K10", ny(2026, 10, 30, 16, 45), "Ann Park"),
    contact("K11", ny(2026, 11, 3, 9), "Ann Park"),
]
WANT = {  # contact -> (match, ticket) as of the end of October
    "K1": ("requester_and_time", "AC-1001"), "K2": ("requester_and_time", "AC-1002"),
    "K3": ("repeat_contact", "AC-1002"), "K4": ("not_matched", None),
    "K5": ("requester_and_time", "AC-1004"), "K6": ("not_matched", None),
    "K7": ("ticket_ref", "AC-1001"), "K8": ("ticket_ref", "AC-1004"), "K9": ("inbound", None),
    "K10": ("window_open", None),
}


def run(period="2026-10", rows=CONTACTS):
    tables = {"tickets": frame("tickets", TICKETS), "contacts": frame("contacts", rows)}
    return compute_metrics(tables, contracts(), period)


@pytest.fixture(scope="module")
def october():
    return run()


def test_each_contact_is_matched_by_its_rule(october):
    got = {c: (m, t) for c, m, t in october.contact_matches.select("contact_id", "match", "ticket_id").iter_rows()}
    assert got == WANT  # K11 is after the period: not known yet


def test_matches_carry_their_evidence(october):
    rows = {r["contact_id"]: r for r in october.contact_matches.iter_rows(named=True)}
    assert rows["K1"]["requester_score"] == 100.0 and rows["K1"]["subject_score"] is None
    assert rows["K1"]["ticket_after_minutes"] == 10.0
    assert rows["K1"]["why"] == "same person (100%), logged 10 working min after"
    assert rows["K2"]["subject_score"] > 80 and rows["K2"]["score"] > rows["K3"]["score"]
    assert rows["K5"]["ticket_after_minutes"] == 150.0  # Friday 30 min + Monday 2 h
    assert rows["K7"]["score"] == 1.0 and rows["K7"]["why"] == "names ticket AC-1001"
    assert rows["K4"]["why"] == "no ticket of the same person or subject logged in the window"
    assert rows["K10"]["why"] == "no ticket yet; its window ran past the end of the month"
    assert october.contact_matches.schema == pl.Schema(contacts.empty().contact_matches.schema)


def test_the_first_contact_starts_the_clients_clock(october):
    rows = {r["ticket_id"]: r for r in october.ticket_contacts.iter_rows(named=True)}
    bob = rows["AC-1002"]
    assert (bob["contacts"], bob["first_contact_id"]) == (2, "K3")
    assert bob["logged_after_minutes"] == 100.0
    assert (bob["response_minutes"], bob["response_status"]) == (40.0, "met")
    assert (bob["response_from_contact_minutes"], bob["response_from_contact_status"]) == (140.0, "breached")
    jane = rows["AC-1001"]
    assert (jane["contacts"], jane["first_contact_id"], jane["response_from_contact_status"]) == (2, "K1", "met")
    assert rows["AC-1005"]["contacts"] == 0 and rows["AC-1005"]["first_contact_at"] is None
    assert rows["AC-1003"]["response_from_contact_status"] is None
    assert "AC-1006" not in rows  # logged after the period end


def test_a_month_is_judged_as_it_stood_at_its_end():
    november = {c: (m, t) for c, m, t in run("2026-11").contact_matches
                .select("contact_id", "match", "ticket_id").iter_rows()}
    assert november["K10"] == ("requester_and_time", "AC-1006")
    assert november["K11"] == ("not_matched", None)


def test_matching_is_deterministic_whatever_the_row_order(october):
    shuffled = run(rows=[CONTACTS[i] for i in (10, 3, 7, 1, 9, 0, 5, 2, 8, 6, 4)])
    assert shuffled.contact_matches.equals(october.contact_matches)
    assert shuffled.ticket_contacts.equals(october.ticket_contacts)


def test_the_window_comes_from_the_contract():
    loose = {"acme": contracts()["acme"].model_copy(update={"contact_matching": contracts()["acme"]
                                                            .contact_matching.model_copy(update={"window": 360.0})})}
    tables = {"tickets": frame("tickets", TICKETS), "contacts": frame("contacts", CONTACTS)}
    got = compute_metrics(tables, loose, "2026-10").contact_matches.filter(pl.col("contact_id") == "K6")
    assert got.select("match", "ticket_id").row(0) == ("requester_and_time", "AC-1005")


def test_no_contact_record_gives_empty_outputs_with_their_columns():
    result = compute_metrics({"tickets": frame("tickets", TICKETS)}, contracts(), "2026-10")
    assert result.contact_matches.is_empty() and result.ticket_contacts.is_empty()
    assert result.contact_matches.columns == contacts.CONTACT_MATCH_COLUMNS
    assert result.ticket_contacts.columns == contacts.TICKET_CONTACT_COLUMNS
    assert "contacts" in result.summary["missing_tables"]


def test_month_summary_counts_with_their_ids(october):
    s = contacts.month_summary(october.contact_matches, october.ticket_contacts, "2026-10",
                               contracts()["acme"])
    assert (s["contacts"], s["inbound"], s["matched"]) == (9, 1, 6)
    assert (s["by_match"]["not_matched"], s["by_match"]["window_open"]) == (2, 1)
    assert s["not_matched_ids"] == ["K4", "K6"]
    assert (s["tickets"], s["with_contact"], s["without_contact"], s["without_proactive"]) == (5, 3, 2, 1)
    assert s["without_by_source"] == {"monitoring": ["AC-1003"], "phone": ["AC-1005"]}
    # AC-1004 is still unanswered past its due time at the month end: missed both ways
    assert s["provider"] == {"met": 2, "breached": 1, "pending": 0, "excluded": 0, "n": 3, "pct": 200 / 3}
    assert s["from_contact"] == {"met": 1, "breached": 2, "pending": 0, "excluded": 0, "n": 3, "pct": 100 / 3}
    assert s["differ_ids"] == ["AC-1002"]
    assert s["logged_over_hour"] == ["AC-1002", "AC-1004"]


# ---------------------------------------------------------------- the generated truth


def test_precision_and_recall_on_generated_contacts_with_known_truth():
    """The sample generator knows which ticket each contact became (late logging, missed calls,
    follow-ups, calls that never became a ticket); the matching must agree with it."""
    from pipelines.clean.stage import clean_tables
    from pipelines.core.io import ROW, SOURCE

    sample = generate_sample(clients=3, months=3, seed=11, end="2026-10")
    raw = {name: f.with_columns(pl.all().cast(pl.String)).with_row_index(ROW, offset=1)
           .with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(f"{name}.csv").alias(SOURCE))
           for name, f in raw_frames(sample).items()}
    clean = clean_tables(raw, sample.contracts)
    assert clean.rejects.is_empty()
    result = compute_metrics(clean.tables, sample.contracts, "2026-10")
    truth = sample.truth["contacts"]
    score = contacts.agreement(result.contact_matches, truth)
    print(score)
    assert score["with_ticket"] > 400 and score["contacts"] - score["with_ticket"] > 10
    assert score["precision"] >= 0.95 and score["recall"] >= 0.95
    kinds = set(truth["kind"])
    assert kinds == {"first", "late", "repeat", "follow_up", "unlogged", "inbound"}


def test_the_matching_does_not_depend_on_the_tickets_frames_order():
    """ticket_sla in the tickets' order (every ticket kept) takes their columns as they stand;
    any other order joins them by id: the same matches."""
    from pipelines.clean.stage import clean_tables
    from pipelines.core.io import ROW, SOURCE

    sample = generate_sample(clients=3, months=3, seed=5, end="2026-10")
    raw = {name: f.with_columns(pl.all().cast(pl.String)).with_row_index(ROW, offset=1)
           .with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(f"{name}.csv").alias(SOURCE))
           for name, f in raw_frames(sample).items()}
    tables = clean_tables(raw, sample.contracts).tables
    result = compute_metrics(tables, sample.contracts, "2026-10")
    assert result.ticket_sla.height == tables["tickets"].height  # the stage took them as they stand
    scope = sla.make_scope(sample.contracts, result.summary["first_month"], "2026-10")
    joined = contacts.match_contacts(tables["contacts"], tables["tickets"].reverse(), result.ticket_sla,
                                     sample.contracts, scope)
    assert joined.contact_matches.equals(result.contact_matches)
    assert joined.ticket_contacts.equals(result.ticket_contacts)
    assert result.contact_matches["ticket_id"].is_not_null().sum() > 400


def test_people_compare_by_name_whatever_the_form():
    names = pl.DataFrame({"x": ["Renée Dubois", "jane.smith@acme.example", '"Smith, Jane" <js@acme.example>',
                                "<bob.lee@acme.example>", "+1 (212) 555-0132"]})
    assert names.select(contacts.person(pl.col("x")))["x"].to_list() == [
        "renée dubois", "jane smith", "smith jane", "bob lee", ""]  # a number is no person
    subjects = pl.DataFrame({"x": ["Re: FW: [AC-1001] Printer jammed!!", "printer   jammed"]})
    assert subjects.select(contacts.subject(pl.col("x")))["x"].to_list() == ["printer jammed"] * 2
