"""`servicereview import-contacts`: call logs, sent mail and mailboxes into the contacts table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.ingest.contacts import ContactImportError, import_contacts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "contacts"
PHONE, MAIL = "+1 800 555 0100", "support@msp.example"


def rows(out: Path) -> dict[str, dict]:
    frame = pl.read_csv(out / "contacts.csv", infer_schema=False)
    return {r["contact_id"]: r for r in frame.iter_rows(named=True)}


def test_asterisk_master_csv_keeps_calls_with_the_provider(tmp_path):
    report = import_contacts([FIXTURES / "asterisk_Master.csv"], "asterisk", "harbor-dental", [PHONE], tmp_path)
    got = rows(tmp_path)
    assert (report["rows_read"], report["contacts"], report["not_with_provider"]) == (5, 4, 1)
    assert "1759662000.22" not in got  # a call to someone else
    call = got["1759655523.18"]
    assert (call["at"], call["channel"], call["direction"], call["requester"]) == (
        "2026-10-05T09:12:03", "phone", "outbound", "Scott Cooper")
    assert got["1759660800.20"]["requester"] == "Robert Rossi"  # unanswered: still a contact
    assert got["1759671000.24"]["direction"] == "inbound"  # the help desk calling back
    assert got["1759674000.26"]["at"] == "05/10/2026 14:00"  # no format reads it: cleaning rejects it


def test_a_call_log_with_a_header_and_numbers_written_differently(tmp_path):
    import_contacts([FIXTURES / "call_log.csv"], "call-log", "harbor-dental", ["1-800-555-0100"], tmp_path)
    got = rows(tmp_path)
    assert sorted(got) == ["c-1001", "c-1002"]
    assert got["c-1001"]["requester"] == "Jane Smith"
    assert got["c-1002"]["requester"] == "+1 (212) 555-0132"  # no name: the number (never compared as a person)
    short = import_contacts([FIXTURES / "call_log.csv"], "call-log", "acme", ["800-555-0100"], tmp_path / "b")
    assert short["contacts"] == 2  # the provider's number without the country code
    extension = import_contacts([FIXTURES / "call_log.csv"], "call-log", "acme", ["0100"], tmp_path / "c")
    assert extension["contacts"] == 0  # an internal extension must match exactly


def test_sent_mail_csv_and_ticket_numbers_in_subjects(tmp_path):
    report = import_contacts([FIXTURES / "sent_mail.csv"], "sent-mail", "harbor-dental", [MAIL], tmp_path)
    got = rows(tmp_path)
    assert report["not_with_provider"] == 1 and sorted(got) == [
        "a1@harbor-dental.example", "a2@harbor-dental.example", "a4@harbor-dental.example"]
    assert got["a1@harbor-dental.example"]["requester"] == "Scott Cooper"
    assert got["a2@harbor-dental.example"]["ticket_ref"] == "HD-44169"
    assert got["a4@harbor-dental.example"]["ticket_ref"] == "44170"  # to the office, Cc the provider


def test_mbox_headers_only_with_encoded_words_and_dates(tmp_path):
    report = import_contacts([FIXTURES / "sent.mbox"], "mbox", "harbor-dental", ["@msp.example"], tmp_path)
    got = rows(tmp_path)
    assert (report["rows_read"], report["contacts"]) == (5, 4)
    assert got["m1@harbor-dental.example"]["at"] == "2026-10-07T13:01:00Z"
    assert got["m2@msp.example"]["direction"] == "inbound"
    assert got["m2@msp.example"]["ticket_ref"] == "HD-44170"
    assert (got["m3@harbor-dental.example"]["requester"], got["m3@harbor-dental.example"]["subject"]) == (
        "Renée Dubois", "Café Wi-Fi down")
    assert got["m4@harbor-dental.example"]["at"] == "sometime on Wednesday"


def test_imports_merge_and_a_second_import_of_the_same_file_changes_nothing(tmp_path):
    import_contacts([FIXTURES / "asterisk_Master.csv"], "asterisk", "harbor-dental", [PHONE], tmp_path)
    import_contacts([FIXTURES / "sent.mbox"], "mbox", "harbor-dental", [MAIL], tmp_path)
    import_contacts([FIXTURES / "sent.mbox"], "mbox", "lakeside-accounting", [MAIL], tmp_path)
    once = (tmp_path / "contacts.csv").read_bytes()
    again = import_contacts([FIXTURES / "sent.mbox"], "mbox", "harbor-dental", [MAIL], tmp_path)
    assert (tmp_path / "contacts.csv").read_bytes() == once
    assert again["replaced"] == 4 and again["contacts_in_file"] == 12
    report = json.loads((tmp_path / "contacts_import.json").read_text())
    assert report["client_id"] == "harbor-dental" and report["files"][0]["kept"] == 4


def test_imported_contacts_clean_and_match_the_sample_tickets(tmp_path):
    from pipelines.clean.stage import clean_folder
    from pipelines.core import config
    from pipelines.metrics.stage import metrics_folder

    data = tmp_path / "data"
    shutil.copytree(config.SAMPLE_DATA, data, ignore=shutil.ignore_patterns("dirty", "README.md", "contacts.csv"))
    for source, file, provider in (("sent-mail", "sent_mail.csv", MAIL), ("mbox", "sent.mbox", MAIL),
                                   ("asterisk", "asterisk_Master.csv", PHONE)):
        import_contacts([FIXTURES / file], source, "harbor-dental", [provider], data)
    cleaned = clean_folder(data, tmp_path / "clean")
    reasons = cleaned.rejects.filter(pl.col("table") == "contacts").select("row", "reason", "detail").rows()
    assert sorted(r[1] for r in reasons) == ["unparseable_timestamp", "unparseable_timestamp"]
    matches = metrics_folder(tmp_path / "clean", tmp_path / "metrics", "2026-10").contact_matches.collect()
    refs = dict(matches.filter(pl.col("match") == "ticket_ref").select("contact_id", "ticket_id").iter_rows())
    assert refs == {"a2@harbor-dental.example": "HD-44169", "a4@harbor-dental.example": "HD-44170"}


@pytest.mark.parametrize("args, message", [
    (["--from", "asterisk", "--client", "harbor-dental"], "--provider is required"),
    (["--from", "avaya", "--client", "harbor-dental", "--provider", PHONE],
     "--from 'avaya': no such contact source (one of mbox, asterisk, call-log, sent-mail"),
    (["--from", "asterisk", "--client", "harbor-dental", "--provider", MAIL],
     "a call log needs the provider's phone number"),
    (["--from", "asterisk", "--client", "Harbor Dental", "--provider", PHONE], "not a client id"),
])
def test_bad_arguments_are_named(tmp_path, args, message):
    done = CliRunner().invoke(app, ["import-contacts", str(FIXTURES / "asterisk_Master.csv"), *args,
                                    "--out", str(tmp_path)])
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())


def test_unreadable_sources_name_the_file(tmp_path):
    no_time = tmp_path / "calls.csv"
    no_time.write_text("caller,callee\n201,18005550100\n")
    with pytest.raises(ContactImportError, match=r"calls.csv: no column for the time of the call \(expected one"):
        import_contacts([no_time], "call-log", "acme", [PHONE], tmp_path / "out")
    not_mbox = tmp_path / "notes.mbox"
    not_mbox.write_text("just some notes\n")
    with pytest.raises(ContactImportError, match=r"notes.mbox: not an mbox file"):
        import_contacts([not_mbox], "mbox", "acme", [MAIL], tmp_path / "out")
    with pytest.raises(ContactImportError, match=r"missing.csv: file not found"):
        import_contacts([tmp_path / "missing.csv"], "sent-mail", "acme", [MAIL], tmp_path / "out")


def test_cli_prints_what_it_kept(tmp_path):
    done = CliRunner().invoke(app, ["import-contacts", str(FIXTURES / "call_log.csv"), "--from", "call-log",
                                    "--client", "harbor-dental", "--provider", PHONE, "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    text = " ".join(done.output.split())
    assert "3 rows read -> 2 contacts with the provider for harbor-dental (1 not with the provider" in text
