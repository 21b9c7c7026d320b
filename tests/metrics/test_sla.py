"""Per-ticket SLA (pipelines.metrics.sla) against the independent reference, plus crafted cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from pipelines.core.contracts import contract_to_yaml, parse_contract
from pipelines.core.schemas import TABLES
from pipelines.metrics import sla
from tests import sla_reference as ref

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
STATUSES = ["New", "Assigned", "In Progress", "Waiting on Customer", "Waiting on Vendor", "Resolved",
            "Closed"]


def make_contract(client: str, zone: str, hours: dict, country: str | None, subdivision=None):
    return parse_contract({
        "client_id": client, "name": client, "timezone": zone, "business_hours": hours,
        "holidays": {"country": country, "subdivision": subdivision, "extra": ["2026-12-24"]},
        "sla": {"P1": {"response": "15m", "resolution": "4h", "calendar": "24x7"},
                "P2": {"response": "1h", "resolution": "8h"},
                "P3": {"response": "4h", "resolution": "24h"}},
        "statuses": {"pause": ["Waiting on Customer", "Waiting on Vendor"],
                     "in_progress": ["In Progress"], "resolved": ["Resolved", "Closed"]},
    })


CONTRACTS = {
    "ny": make_contract("ny", "America/New_York", {d: ["08:00", "18:00"] for d in WEEKDAYS}, "US", "NY"),
    "ldn": make_contract("ldn", "Europe/London",
                         {d: [["08:30", "12:30"], ["13:30", "17:30"]] for d in WEEKDAYS}
                         | {"sat": ["00:00", "24:00"]}, "GB", "ENG"),
}
# DST changes (US 1 Nov, UK 25 Oct), a US holiday (12 Oct), weekends and the period's month ends.
HOT = [datetime(2026, 10, d, tzinfo=UTC) for d in (9, 10, 12, 23, 24, 25, 30, 31)] + [
    datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 9, 30, tzinfo=UTC)]


def frame(rows: list[dict], table: str) -> pl.DataFrame:
    schema = TABLES[table].columns
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


# Each seed's tickets around the month ends and DST changes; their histories hold same-second
# changes, reopens, priority changes and resolutions after the period end (as-of rules).


def generate(seed: int, n: int = 120):
    rng = random.Random(seed)
    tickets, events = [], []
    for i in range(n):
        client = rng.choice(list(CONTRACTS))
        created = rng.choice(HOT) + timedelta(seconds=rng.randrange(-86400, 2 * 86400))
        row = {"ticket_id": f"t{seed}-{i}", "client_id": client, "priority": rng.choice(["P1", "P2", "P3"]),
               "created_at": created}
        t, history = created, []

        def priority():  # some histories name the priority (a change during the ticket's life)
            return rng.choice(["P1", "P2", "P3"]) if rng.random() < 0.15 else None

        if rng.random() < 0.85:  # no history at all for some tickets
            history.append((created + timedelta(seconds=rng.choice([0, 0, 5])), "New", priority()))
            for _ in range(rng.randrange(0, 7)):
                t = t + timedelta(seconds=rng.choice([0, 60, 1800, 4 * 3600, 20 * 3600, 3 * 86400]))
                history.append((t, rng.choice(STATUSES), priority()))
        resolved = None
        if rng.random() < 0.75:
            resolved = max([created] + [h[0] for h in history]) + timedelta(
                seconds=rng.choice([0, 300, 7200, 30 * 3600, 4 * 86400]))
            if history:
                history.append((resolved, "Resolved", None))
        if rng.random() < 0.8:
            row["first_response_at"] = created + timedelta(seconds=rng.choice([0, 120, 1800, 5400, 86400]))
        row["resolved_at"] = resolved
        code = rng.choice(["resolved"] * 8 + ["merged", "duplicate"])
        row["close_code"] = code if resolved or rng.random() < 0.1 else None
        if resolved is None and row["close_code"] and rng.random() < 0.5:  # closed without a resolution
            row["closed_at"] = created + timedelta(seconds=rng.choice([600, 3 * 86400]))
        tickets.append(row)
        events += [{"ticket_id": row["ticket_id"], "client_id": client, "at": at, "status": s, "priority": p}
                   for at, s, p in sorted(history, key=lambda h: h[0])]
    return frame(tickets, "tickets"), frame(events, "ticket_events"), tickets, events


def evaluate(tickets, events, period="2026-10", first="2026-09"):
    scope = sla.make_scope(CONTRACTS, first, period)
    return sla.evaluate(tickets, events, CONTRACTS, scope), scope


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_ticket_sla_matches_the_reference(seed):
    tickets, events, rows, event_rows = generate(seed)
    out, scope = evaluate(tickets, events)
    as_of = {c: scope.as_of[i] for i, c in enumerate(scope.clients)}
    got = {r["ticket_id"]: r for r in out.iter_rows(named=True)}
    checked = 0
    for row in rows:
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(as_of[row["client_id"]]))
        if row["created_at"] >= end:
            assert row["ticket_id"] not in got  # created after the period end: left out
            continue
        history = [(e["at"], e["status"], e["priority"]) for e in event_rows if e["ticket_id"] == row["ticket_id"]]
        want = ref.ticket(CONTRACTS[row["client_id"]], row, history, end)
        have = got[row["ticket_id"]]
        for key in ("priority", "in_progress_at", "response_status", "resolution_status", "response_month",
                    "resolution_month", "response_due_at", "resolution_due_at"):
            assert have[key] == want[key], (key, row, history, have, want)
        for key in ("response_minutes", "resolution_minutes", "paused_minutes"):
            if want[key] is None:
                assert have[key] is None, (key, row, have)
            else:
                assert have[key] == pytest.approx(want[key], abs=1e-6), (key, row, history, have, want)
        checked += 1
    assert checked > 80


def test_every_ticket_has_exactly_one_status_per_target():
    tickets, events, _, _ = generate(21, 200)
    out, _ = evaluate(tickets, events)
    for target in ("response", "resolution"):
        assert out[f"{target}_status"].is_in(list(sla.STATUSES)).all()
        decided = out.filter(pl.col(f"{target}_status").is_in(["met", "breached"]))
        assert decided[f"{target}_month"].is_not_null().all()
        undecided = out.filter(~pl.col(f"{target}_status").is_in(["met", "breached"]))
        assert undecided[f"{target}_month"].is_null().all()
    assert out.columns == sla.TICKET_SLA_COLUMNS


def _one(created, *, priority="P2", client="ny", first=None, resolved=None, close="resolved",
         history=()):
    tickets = frame([{"ticket_id": "x", "client_id": client, "priority": priority, "created_at": created,
                      "first_response_at": first, "resolved_at": resolved,
                      "close_code": close if resolved else None}], "tickets")
    events = frame([{"ticket_id": "x", "client_id": client, "at": at, "status": s} for at, s in history],
                   "ticket_events")
    out, _ = evaluate(tickets, events)
    return out.row(0, named=True)


def ny(*args) -> datetime:
    """A New York wall time (EDT until 1 Nov 2026) as UTC."""
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


def test_pause_over_a_weekend_does_not_count_and_moves_the_due_time():
    # Fri 9 Oct 16:00 created, paused 17:00 Fri -> Mon 12 Oct is Columbus Day (holiday), resumed
    # Tue 13 Oct 09:00, resolved 12:00: running = 1 h Fri + 3 h Tue = 4 h.
    row = _one(ny(2026, 10, 9, 16), first=ny(2026, 10, 9, 16, 30), resolved=ny(2026, 10, 13, 12),
               history=[(ny(2026, 10, 9, 16), "New"), (ny(2026, 10, 9, 17), "Waiting on Customer"),
                        (ny(2026, 10, 13, 9), "In Progress")])
    assert row["resolution_minutes"] == 240
    assert row["resolution_status"] == "met"
    # 8 h target: 1 h on Friday; the clock resumes Tue 09:00, so 7 h more -> Tue 16:00.
    assert row["resolution_due_at"] == ny(2026, 10, 13, 16)
    assert row["paused_minutes"] == 60 + 60  # Fri 17-18 and Tue 08-09 on the business calendar


def test_breach_while_open_counts_in_the_month_of_the_due_time():
    # Created 30 Sep 17:30, still open at the end of October: 30 business minutes on 30 Sep,
    # so the 1 h response falls due at 08:30 on 1 Oct and the 8 h resolution at 15:30.
    row = _one(ny(2026, 9, 30, 17, 30), priority="P2")
    assert row["created_month"] == "2026-09"
    assert row["response_status"] == "breached"
    assert row["response_due_at"] == ny(2026, 10, 1, 8, 30)
    assert row["response_month"] == "2026-10"
    assert row["resolution_status"] == "breached"
    assert row["resolution_due_at"] == ny(2026, 10, 1, 15, 30)
    assert row["resolution_month"] == "2026-10"


def test_paused_at_period_end_without_reaching_the_target_is_pending():
    row = _one(ny(2026, 10, 30, 9), priority="P3", first=ny(2026, 10, 30, 9, 5),
               history=[(ny(2026, 10, 30, 9), "New"), (ny(2026, 10, 30, 10), "Waiting on Customer")])
    assert row["resolution_status"] == "pending"
    assert row["resolution_due_at"] is None
    assert row["resolution_month"] is None


def test_resolution_after_the_period_end_is_not_yet_known():
    row = _one(ny(2026, 10, 30, 9), priority="P3", first=ny(2026, 10, 30, 9, 5),
               resolved=ny(2026, 11, 2, 10))
    assert row["resolved_at"] is None and row["resolution_minutes"] is None
    assert row["resolution_status"] == "pending"


def test_reopen_after_resolve_does_not_count_the_resolved_time():
    row = _one(ny(2026, 10, 14, 9), first=ny(2026, 10, 14, 9), resolved=ny(2026, 10, 15, 11),
               history=[(ny(2026, 10, 14, 9), "New"), (ny(2026, 10, 14, 10), "Resolved"),
                        (ny(2026, 10, 15, 10), "In Progress")])
    assert row["resolution_minutes"] == 60 + 60
    assert row["history_reopens"] == 1


def test_no_first_response_counts_the_resolution_as_response():
    row = _one(ny(2026, 10, 14, 9), resolved=ny(2026, 10, 14, 9, 40))
    assert row["response_minutes"] == 40 and row["response_status"] == "met"


def test_excluded_close_codes_are_excluded_from_both_targets():
    row = _one(ny(2026, 10, 14, 9), resolved=ny(2026, 10, 20, 9), close="duplicate")
    assert (row["response_status"], row["resolution_status"]) == ("excluded", "excluded")
    assert row["response_month"] is None and row["resolution_month"] is None


def test_24x7_priority_counts_nights_and_holidays():
    row = _one(ny(2026, 10, 11, 22), priority="P1", first=ny(2026, 10, 11, 22, 10),
               resolved=ny(2026, 10, 12, 3))  # Sunday night into Columbus Day
    assert row["calendar"] == "24x7"
    assert row["resolution_minutes"] == 300 and row["resolution_status"] == "breached"
    assert row["resolution_due_at"] == ny(2026, 10, 12, 2)


def test_unknown_priority_fails_with_a_clear_message():
    tickets = frame([{"ticket_id": "x", "client_id": "ny", "priority": "P4",
                      "created_at": ny(2026, 10, 1, 9)}], "tickets")
    with pytest.raises(ValueError, match=r"ticket x: priority 'P4' has no target in contracts/ny.yml"):
        evaluate(tickets, None)


def _business_days_contracts() -> dict:
    """The same calendars with business-day targets (and a lunch break, a Saturday, holidays)."""
    out = {}
    for client, contract in CONTRACTS.items():
        data = yaml.safe_load(contract_to_yaml(contract))
        data["sla"] = {"P1": {"response": "15m", "resolution": "4h", "calendar": "24x7"},
                       "P2": {"response": "1bd", "resolution": "2bd"},
                       "P3": {"response": "4h", "resolution": "3bd"}}
        out[client] = parse_contract(data)
    return out


@pytest.mark.parametrize("seed", [21, 22])
def test_business_day_targets_match_the_slow_reference(seed):
    contracts = _business_days_contracts()
    tickets, events, rows, event_rows = generate(seed)
    scope = sla.make_scope(contracts, "2026-09", "2026-10")
    out = sla.evaluate(tickets, events, contracts, scope)
    as_of = {c: scope.as_of[i] for i, c in enumerate(scope.clients)}
    got = {r["ticket_id"]: r for r in out.iter_rows(named=True)}
    checked = 0
    for row in rows:
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(as_of[row["client_id"]]))
        if row["created_at"] >= end or got[row["ticket_id"]]["priority"] == "P1":
            continue
        contract, have = contracts[row["client_id"]], got[row["ticket_id"]]
        target = contract.sla[have["priority"]]  # the one in force at the period end
        history = [(e["at"], e["status"], e["priority"]) for e in event_rows if e["ticket_id"] == row["ticket_id"]]
        want = ref.ticket(contract, row, history, end)
        assert have["resolution_target_minutes"] == pytest.approx(
            ref.target_minutes(contract, target, "resolution", row["created_at"]))
        for key in ("response_status", "resolution_status", "response_due_at", "resolution_due_at"):
            assert have[key] == want[key], (key, row, have, want)
        checked += 1
    assert checked > 50


def test_three_business_days_from_a_monday_and_a_friday():
    contract = _business_days_contracts()["ny"]
    ny = ZoneInfo("America/New_York")
    monday = datetime(2026, 10, 5, 10, tzinfo=ny)  # 3bd: Tue-Thu, 30 working hours -> Thu 10:00
    friday = datetime(2026, 10, 9, 10, tzinfo=ny)  # Mon 12 Oct is a US holiday: Tue-Thu again
    tickets = frame([{"ticket_id": "M", "client_id": "ny", "priority": "P3", "created_at": monday},
                     {"ticket_id": "F", "client_id": "ny", "priority": "P3", "created_at": friday}], "tickets")
    out = sla.evaluate(tickets, None, {"ny": contract}, sla.make_scope({"ny": contract}, "2026-10", "2026-10"))
    due = dict(out.select("ticket_id", pl.col("resolution_due_at").dt.convert_time_zone("America/New_York")).iter_rows())
    assert due["M"].replace(tzinfo=None) == datetime(2026, 10, 8, 10)
    assert dict(out.select("ticket_id", "resolution_target_minutes").iter_rows()) == {"M": 1800.0, "F": 1800.0}
    assert due["F"].replace(tzinfo=None) == datetime(2026, 10, 15, 10)  # Fri 8 h + Tue 10 + Wed 10 + Thu 2


def test_a_day_duration_on_a_business_calendar_is_refused_with_the_file_field_and_a_suggestion(tmp_path):
    from pipelines.core.contracts import ContractError, load_contract
    from tests.conftest import ACME, write_contract

    data = ACME | {"sla": ACME["sla"] | {"P3": {"response": "4h", "resolution": "3d"}}}
    with pytest.raises(ContractError) as info:
        load_contract(write_contract(tmp_path, data))
    assert str(info.value).endswith(
        "contracts/acme.yml: sla.P3.resolution: '3d' is ambiguous on a business calendar (a day of 24 hours "
        "or a working day?): write 72h for that many working hours, or 3bd for 3 business days")
    p1 = ACME | {"sla": ACME["sla"] | {"P1": {"response": "15m", "resolution": "2d", "calendar": "24x7"}}}
    assert load_contract(write_contract(tmp_path, p1)).sla["P1"].resolution == 2880  # 24x7: a day is 24 h

def test_the_clock_spans_what_targets_need_not_their_ratio_to_business_hours():
    # a year-long 24x7 target next to one business hour a week once sized the clock at 250 years
    contract = parse_contract({
        "client_id": "rare", "name": "rare", "timezone": "UTC", "business_hours": {"mon": ["09:00", "10:00"]},
        "sla": {"P1": {"response": "15m", "resolution": "365d", "calendar": "24x7"},
                "P2": {"response": "1h", "resolution": "8h"}},
    })
    scope = sla.make_scope({"rare": contract}, "2026-10", "2026-10")
    start = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * 1e6)
    clock = sla.build_clock({"rare": contract}, scope, start)
    assert clock.width / (86_400 * 1e6) < 2 * 365
