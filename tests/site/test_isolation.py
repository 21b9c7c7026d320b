"""A client bundle must never show another client's data: scan every file of every bundle."""

from __future__ import annotations

import html
import re
import shutil

import pytest

from tests.publish_fixtures import CLIENTS, publish_synthetic, tickets_of
from tests.site.conftest import REVIEWED

PERIODS = ("2026-09", "2026-10")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    return publish_synthetic(tmp_path_factory.mktemp("isolation"), periods=PERIODS) / "_site_clients"


def markers_of(client_id: str) -> set[str]:
    """Everything that identifies a client: id, name (raw and as HTML), ticket ids."""
    name = CLIENTS[client_id][0]
    tickets = {t for p in PERIODS for t in tickets_of(client_id, p)}
    return {client_id, name, html.escape(name), html.escape(name, quote=False), *tickets}


@pytest.mark.parametrize("client_id", sorted(CLIENTS))
def test_bundle_holds_no_other_clients_ids_names_or_tickets(bundles, client_id):
    bundle = bundles / client_id
    paths = [p for p in bundle.rglob("*") if p.is_file()]
    assert len(paths) > 10
    assert len([p for p in paths if p.suffix == ".csv"]) == len(PERIODS)  # the downloads are scanned too
    found = []
    for path in paths:
        text = path.read_bytes().decode("utf-8", errors="replace")
        rel = path.relative_to(bundle).as_posix()
        for other in set(CLIENTS) - {client_id}:
            found += [f"{rel}: {m!r} of {other}" for m in markers_of(other) if m in text or m in rel]
        if "portfolio" in rel.lower() or "portfolio" in text.lower():
            found.append(f"{rel}: mentions the portfolio")
    assert found == []


@pytest.mark.parametrize("client_id", sorted(CLIENTS))
def test_bundle_does_show_its_own_data(bundles, client_id):
    """The scan above would pass on an empty bundle; make sure each one holds its own client."""
    text = (bundles / client_id / "2026-10" / "monthly_report.html").read_text()
    assert html.escape(CLIENTS[client_id][0]) in text
    assert all(t in text for t in tickets_of(client_id, "2026-10"))
    csv = (bundles / client_id / "2026-10" / "tickets" / "2026-10-tickets-logged.csv").read_text()
    assert all(t in csv for t in tickets_of(client_id, "2026-10"))


# ---------------------------------------------------------------- the real pipeline, colliding ids

SECRETS = {"acme": "ACME-SECRET-555 confidential complaint",
           "acme-holdings": "HOLDINGS-SECRET-555 confidential complaint"}
ORPHAN = "ORPHAN-SECRET-555 survey that names no client"
CALL_SECRETS = {"acme": "ACME-CALL-SECRET", "acme-holdings": "HOLDINGS-CALL-SECRET"}  # in contact subjects
RENAMED = {"bondi-physio": ("acme", "Acme"), "thameside-architects": ("acme-holdings", "Acme Holdings")}
LOWEST = {"3-point": "negative", "5-point": "1", "0-10": "0"}


def _colliding_export(target):
    """Two clients whose names are substrings of each other ("Acme", "Acme Holdings") and
    whose tickets are numbered 1, 2, 3... each, both with a ticket 555 carrying a confidential
    survey comment, as a per-tenant PSA export gives them (events and surveys carry their
    client); plus one survey for ticket 555 that names no client. Each client's own record of
    calls and emails names its ticket 555 in a confidential subject and holds a confidential
    email that matches no ticket (so its report lists it)."""
    import polars as pl
    import yaml

    from tests.conftest import copy_sample

    data = copy_sample(target)
    tickets = pl.read_csv(data / "tickets.csv", infer_schema=False).filter(pl.col("client_id").is_in(RENAMED))
    surveys = pl.read_csv(data / "surveys.csv", infer_schema=False)
    ids = {}
    for old, (new, name) in RENAMED.items():
        path = data / "contracts" / f"{old}.yml"
        contract = yaml.safe_load(path.read_text()) | {"client_id": new, "name": name}
        (data / "contracts" / f"{new}.yml").write_text(yaml.safe_dump(contract, sort_keys=False))
        mine = tickets.filter(pl.col("client_id") == old).sort("created_at")["ticket_id"].to_list()
        numbers = {t: str(i + 1) for i, t in enumerate(mine)}
        surveyed = surveys.filter(pl.col("ticket_id").is_in(mine)
                                  & pl.col("responded_at").str.starts_with("2026-10"))["ticket_id"]
        numbers[surveyed[-1]] = "555"
        ids.update({t: (new, n) for t, n in numbers.items()})
        ids[f"__lowest_{new}"] = LOWEST[contract["survey_scale"]]
    for path in (data / "contracts").glob("*.yml"):
        if path.stem not in {new for new, _ in RENAMED.values()}:
            path.unlink()

    owner = pl.DataFrame([(t, c, n) for t, v in ids.items() if not t.startswith("__") for c, n in [v]],
                         schema=["__old", "__client", "__new"], orient="row")

    def renumber(frame, column="ticket_id", keep_unknown=False):
        joined = frame.join(owner, left_on=column, right_on="__old", how="left", maintain_order="left")
        if not keep_unknown:
            joined = joined.filter(pl.col("__new").is_not_null())
        return joined.with_columns(pl.col("__new").alias(column)).drop("__new", "__old", strict=False)

    clients = {old: new for old, (new, _) in RENAMED.items()}
    tickets = renumber(tickets).drop("__client").with_columns(pl.col("client_id").replace(clients))
    tickets = tickets.with_columns(pl.format("{} [{}]", "title", pl.col("client_id").str.to_uppercase())
                                   .alias("title"))
    tickets = renumber(tickets.rename({"parent_ticket_id": "p"}), "p", keep_unknown=True) \
        .rename({"p": "parent_ticket_id"}).drop("__client", strict=False)
    tickets.write_csv(data / "tickets.csv")
    for name in ("ticket_events", "surveys"):
        frame = renumber(pl.read_csv(data / f"{name}.csv", infer_schema=False)).rename({"__client": "client_id"})
        if name == "surveys":
            secret = pl.col("ticket_id") == "555"
            frame = frame.with_columns(
                pl.when(secret).then(pl.col("client_id").replace(SECRETS)).otherwise(pl.col("comment")).alias("comment"),
                pl.when(secret).then(pl.col("client_id").replace({c: ids[f"__lowest_{c}"] for c in SECRETS}))
                .otherwise(pl.col("rating")).alias("rating"))
            orphan = frame.filter(secret & (pl.col("client_id") == "acme")).with_columns(
                pl.lit(None, dtype=pl.String).alias("client_id"), pl.lit(ORPHAN).alias("comment"))
            frame = pl.concat([frame, orphan])
        frame.write_csv(data / f"{name}.csv")
    for name in ("outages", "time_entries", "devices"):
        frame = pl.read_csv(data / f"{name}.csv", infer_schema=False).filter(pl.col("client_id").is_in(RENAMED))
        if "ticket_id" in frame.columns:
            frame = renumber(frame, keep_unknown=True).drop("__client")
        frame.with_columns(pl.col("client_id").replace(clients)).write_csv(data / f"{name}.csv")
    contacts = pl.read_csv(data / "contacts.csv", infer_schema=False).filter(pl.col("client_id").is_in(RENAMED))
    contacts = renumber(contacts.rename({"ticket_ref": "ticket_id"}), keep_unknown=True) \
        .rename({"ticket_id": "ticket_ref"}).drop("__client").with_columns(pl.col("client_id").replace(clients))
    secret = [{"client_id": c, "contact_id": f"SECRET-{n}", "at": at, "channel": "email", "direction": "outbound",
               "requester": "Zed Unknown", "subject": f"{text} {what}", "ticket_ref": ref}
              for c, text in CALL_SECRETS.items()
              for n, (at, what, ref) in enumerate((("2026-10-14T10:00:00", "about our ticket", "555"),
                                                   ("2026-10-20T03:00:00", "never logged", None)))]
    pl.concat([contacts, pl.DataFrame(secret, schema=contacts.schema)]).write_csv(data / "contacts.csv")
    return data


def _bundle_texts(bundle):
    """Every file's text; a PDF's as extracted, with its line wraps and ligatures undone."""
    import unicodedata

    from pypdf import PdfReader

    texts = {}
    for path in bundle.rglob("*"):
        if path.suffix == ".pdf":
            text = unicodedata.normalize("NFKC", " ".join(p.extract_text() or "" for p in PdfReader(path).pages))
            texts[path] = " ".join(text.split()).replace("- ", "-")
        elif path.is_file():
            texts[path] = path.read_bytes().decode("utf-8", "replace")
    return texts


@pytest.fixture(scope="module")
def colliding_run(tmp_path_factory):
    from tests.conftest import servicereview

    root = tmp_path_factory.mktemp("colliding")
    data = _colliding_export(root / "data")
    done = servicereview("run", "--data", str(data), "--jobs", "2", home=root / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "home"


@pytest.mark.slow
def test_colliding_ticket_ids_never_carry_a_comment_into_another_clients_bundle(colliding_run):
    import re

    import polars as pl

    rejects = pl.read_parquet(colliding_run / "build" / "clean" / "rejects.parquet")
    ambiguous = rejects.filter(pl.col("reason") == "ambiguous_ticket")
    assert ambiguous["table"].to_list() == ["surveys"]
    assert "ticket_id '555' exists for clients acme, acme-holdings" in ambiguous["detail"][0]
    for client, own_name in (("acme", "Acme"), ("acme-holdings", "Acme Holdings")):
        other = "acme-holdings" if client == "acme" else "acme"
        texts = _bundle_texts(colliding_run / "_site_clients" / client)
        assert any(p.suffix == ".pdf" for p in texts) or shutil.which("chromium") is None
        csvs = [p for p in texts if p.suffix == ".csv"]
        assert len(csvs) >= 8, client  # the tickets behind each figure are scanned with the rest
        leaks = []
        for path, text in texts.items():
            for marker in (SECRETS[other], ORPHAN, f"[{other.upper()}]", CALL_SECRETS[other]):
                if marker in text:
                    leaks.append(f"{path.name}: {marker!r}")
            if client == "acme-holdings" and re.search(r"\bAcme\b(?! Holdings)", text):
                leaks.append(f"{path.name}: names Acme")
            if client == "acme" and ("Acme Holdings" in text or "acme-holdings" in text):
                leaks.append(f"{path.name}: names Acme Holdings")
        assert leaks == []
        if client == "acme-holdings":  # Thameside's term: its review pack falls due in 2026-10 and is scanned too
            assert "contract_review.html" in {p.name for p in texts}
        shown = [p.name for p, t in texts.items() if SECRETS[client] in t]
        assert "monthly_report.html" in shown and "survey_sentiment.html" in shown, (client, shown)
        calls = [p.name for p, t in texts.items() if f"{CALL_SECRETS[client]} never logged" in t]
        assert "monthly_report.html" in calls, (client, calls)  # its own unmatched email is listed
        if any(p.suffix == ".pdf" for p in texts):
            assert "monthly_report.pdf" in shown, (client, own_name, shown)


# ---------------------------------------------------------------- review packs: the anonymous peer distribution

@pytest.mark.slow
def test_a_review_pack_shows_its_peers_only_as_a_distribution_and_names_none_of_them(peer_pack):
    import polars as pl
    import yaml

    data, home = peer_pack
    bundle = home / "_site_clients" / REVIEWED
    texts = _bundle_texts(bundle)
    page = next(t for p, t in texts.items() if p.name == "contract_review.html")
    assert "Other clients&#x27; median" in page and "no client is named" in page  # the distribution is there
    assert any(p.suffix == ".csv" for p in texts) and (any(p.suffix == ".pdf" for p in texts)
                                                       or shutil.which("chromium") is None)
    tickets = pl.read_csv(data / "tickets.csv", infer_schema=False)
    words = {file: set(re.findall(r"[\w-]+", text)) for file, text in texts.items()}
    leaks = []
    for path in sorted((data / "contracts").glob("*.yml")):
        if path.stem == REVIEWED:
            continue
        name = yaml.safe_load(path.read_text())["name"]
        ids = set(tickets.filter(pl.col("client_id") == path.stem)["ticket_id"])
        for file, text in texts.items():
            found = [m for m in (path.stem, name, html.escape(name)) if m in text or m in file.name]
            found += sorted(words[file] & ids)[:3]
            leaks += [f"{file.relative_to(bundle)}: {m!r} of {path.stem}" for m in found]
    assert leaks == []
