"""A client bundle must never show another client's data: scan every file of every bundle."""

from __future__ import annotations

import html

import pytest

from tests.publish_fixtures import CLIENTS, publish_synthetic, tickets_of

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
