"""The faults the dirty sample injects: rows cleaning must reject (one or more for every
reject reason), valid oddities it must accept, and data-quality problems the gate must
catch. An `Injector` adds marked rows and edits cells; row numbers are read off the
markers once every fault is in place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.ingest.sample.calendar import SampleError

UNKNOWN_CLIENT = "northwind-traders"
EXTRA_COLUMN = "legacy_ref"
MARK = "__fault"


@dataclass(frozen=True)
class Fault:
    """One injected fault: where it is and what cleaning or the gate should say."""

    table: str
    row: int | None  # 1-based record number in the file (None: several rows, see tickets)
    reason: str  # a REJECT_REASONS code, or "valid" / "quality" for rows that are kept
    detail: str
    client_id: str | None = None
    ticket_ids: tuple[str, ...] = ()


class Injector:
    """Adds marked rows and edits cells; row numbers are read off the markers at the end."""

    def __init__(self, frames: dict[str, pl.DataFrame], rng: np.random.Generator):
        self.frames, self.rng, self.notes = frames, rng, {}
        self.used: set[str] = set()

    def pick(self, table: str, where: pl.Expr, *fallbacks: pl.Expr) -> dict:
        """A random row (as a dict) not used before, matching `where`, or else the first of
        `fallbacks` some row matches (a small client may have no unplanned outage at all)."""
        unused = self.frames[table].with_row_index("__i").filter(pl.col(MARK).is_null())
        if table == "tickets":
            unused = unused.filter(~pl.col("ticket_id").is_in(sorted(self.used)))
        for condition in (where, *fallbacks):
            frame = unused.filter(condition)
            if frame.height:
                break
        else:  # a generator bug: every sample has rows of every table to copy faults from
            raise SampleError(f"the dirty set has no {table} row to copy a fault from")
        row = frame.row(int(self.rng.integers(frame.height)), named=True)
        if row.get("ticket_id"):
            self.used.add(row["ticket_id"])
        return row

    def insert(
        self, table: str, row: dict, reason: str, detail: str, at: int | None = None
    ) -> None:
        frame = self.frames[table]
        key = f"{table}:{len(self.notes)}"
        values = {c: row.get(c) for c in frame.columns} | {MARK: key}
        at = int(self.rng.integers(1, frame.height)) if at is None else at
        new = pl.DataFrame([values], schema=frame.schema)
        self.frames[table] = pl.concat([frame.slice(0, at), new, frame.slice(at)])
        self.notes[key] = (table, reason, detail, row.get("client_id"), row.get("ticket_id"))

    def located(self) -> list[Fault]:
        faults = []
        for frame in self.frames.values():
            rows = frame.with_row_index("__r", offset=1).filter(pl.col(MARK).is_not_null())
            for mark, number in rows.select(MARK, "__r").iter_rows():
                t, reason, detail, client, ticket = self.notes[mark]
                faults.append(
                    Fault(t, int(number), reason, detail, client, (ticket,) if ticket else ())
                )
        return sorted(faults, key=lambda f: (f.table, f.row))


def _shift(text: str, minutes: float) -> str:
    """An ISO timestamp with offset moved by `minutes`, keeping its offset."""
    return (datetime.fromisoformat(text) + timedelta(minutes=minutes)).isoformat()


def _dst_gap(zone: str, year: int) -> str:
    """A naive local time that does not exist in `zone` (skipped by spring-forward)."""
    tz = ZoneInfo(zone)
    for y in (year, year - 1, year + 1):
        moment = datetime(y, 1, 1, 0, 30)
        while moment.year == y:
            aware = moment.replace(tzinfo=tz)
            back = aware.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)
            if back != moment:
                return moment.isoformat()
            moment += timedelta(hours=1)
    raise SampleError(f"{zone} has no daylight-saving gap near {year}")


def _unambiguous(text: str, zone: str) -> bool:
    local = datetime.fromisoformat(text).replace(tzinfo=None)
    tz = ZoneInfo(zone)
    return (
        local.replace(tzinfo=tz, fold=0).utcoffset() == local.replace(tzinfo=tz, fold=1).utcoffset()
    )


# ---------------------------------------------------------------- faults


def reject_faults(inj: Injector, client: str, zone: str, year: int) -> None:
    mine = pl.col("client_id") == client
    resolved = mine & (pl.col("close_code") == "resolved")
    # Every rejected row belongs to the dirty client (or to no client), so the others stay clean.
    its_ticket = pl.col("ticket_id").is_in(
        inj.frames["tickets"].filter(mine)["ticket_id"].to_list()
    )

    def ticket(reason: str, detail: str, **changes) -> None:
        row = inj.pick("tickets", resolved)
        number = 90000 + len(inj.notes)
        row = row | {"ticket_id": f"{row['ticket_id'].split('-')[0]}-{number}"} | changes
        inj.insert("tickets", row, reason, detail)

    ticket("missing_required_field", "priority is empty", priority=None)
    ticket(
        "unparseable_timestamp",
        "created_at '14/09/2026 09:15' is not ISO 8601",
        created_at="14/09/2026 09:15",
    )
    ticket("invalid_number", "reopen_count 'two' is not a whole number", reopen_count="two")
    ticket(
        "unknown_client", f"client_id {UNKNOWN_CLIENT!r} has no contract", client_id=UNKNOWN_CLIENT
    )
    ticket("unknown_priority", "priority 'Highest' is not in the priority_map", priority="Highest")
    gap = _dst_gap(zone, year)
    ticket(
        "nonexistent_local_time",
        f"created_at {gap} (no offset) falls in the {zone} daylight-saving gap",
        created_at=gap,
        first_response_at=None,
        resolved_at=None,
        closed_at=None,
        status="New",
        close_code=None,
    )
    for column, minutes, reason in (("resolved_at", 180, "resolved_before_created"),
                                    ("first_response_at", 120, "response_before_created")):
        row = inj.pick("tickets", resolved)
        inj.insert("tickets", row | {column: _shift(row["created_at"], -minutes)}, reason,
                   f"{column} is {minutes // 60} hours before created_at")
    ticket("implausible_timestamp", "created_at 9999-12-31 is far after the export was taken",
           created_at="9999-12-31T23:59:00+00:00", first_response_at=None, resolved_at=None,
           closed_at=None, status="New", close_code=None)
    ticket("implausible_timestamp", "created_at 1900-01-01 is before the earliest plausible time (1990)",
           created_at="1900-01-01T09:00:00+00:00", first_response_at=None, resolved_at=None,
           closed_at=None, status="New", close_code=None)
    original = inj.pick("tickets", resolved)
    inj.insert(
        "tickets",
        original,
        "duplicate_row",
        f"an exact copy of ticket {original['ticket_id']}",
        at=inj.frames["tickets"].height,
    )
    original = inj.pick("tickets", resolved & (pl.col("assignee").is_not_null()))
    at = inj.frames["tickets"]["ticket_id"].to_list().index(original["ticket_id"])
    inj.insert(
        "tickets",
        original | {"assignee": "Chris Doyle"},
        "duplicate_id_conflict",
        f"{original['ticket_id']} appears again later with another assignee (the later is kept)",
        at=at,
    )

    event = inj.pick("ticket_events", its_ticket & (pl.col("status") == "In Progress"), its_ticket)
    inj.insert(
        "ticket_events",
        event | {"status": None, "at": _shift(event["at"], 5)},
        "missing_required_field",
        "status is empty",
    )
    inj.insert(
        "ticket_events",
        event | {"ticket_id": "ZZ-00001"},
        "event_unknown_ticket",
        "ticket ZZ-00001 does not exist",
    )
    # Ticket ids are numbered per client: two clients may both have a ZZ-00555 (valid), but an
    # event that names no client cannot be given to either.
    for owner in (inj.pick("tickets", resolved), inj.pick("tickets", ~mine & (pl.col("close_code") == "resolved"))):
        inj.insert("tickets", owner | {"ticket_id": "ZZ-00555"}, "valid",
                   f"ticket ZZ-00555 of {owner['client_id']}: another client numbers a ticket alike")
    inj.insert(
        "ticket_events",
        event | {"ticket_id": "ZZ-00555"},
        "ambiguous_ticket",
        "ticket ZZ-00555 exists for two clients and the event names neither",
    )
    inj.insert(
        "ticket_events",
        event | {"at": "2026-09-15 around 10am"},
        "unparseable_timestamp",
        "at '2026-09-15 around 10am' is not ISO 8601",
    )
    copy = inj.pick("ticket_events", its_ticket & (pl.col("status") == "New"), its_ticket)
    inj.insert(
        "ticket_events",
        copy,
        "duplicate_row",
        f"an exact copy of {copy['ticket_id']}'s New event",
        at=inj.frames["ticket_events"].height,
    )

    survey = inj.pick("surveys", its_ticket, pl.lit(True))  # its ticket id is replaced
    inj.insert(
        "surveys",
        survey | {"ticket_id": "ZZ-00002"},
        "survey_unknown_ticket",
        "ticket ZZ-00002 does not exist",
    )
    def survey_of_another_ticket(minutes: float, rating: str, comment: str, reason: str, detail: str) -> None:
        unsurveyed = inj.pick(
            "tickets", resolved & ~pl.col("ticket_id").is_in(inj.frames["surveys"]["ticket_id"])
        )
        row = {"ticket_id": unsurveyed["ticket_id"], "rating": rating, "comment": comment,
               "responded_at": _shift(unsurveyed["resolved_at"], minutes)}
        inj.insert("surveys", row, reason, detail)

    survey_of_another_ticket(60, "4", "Good", "rating_out_of_scale",
                             "rating '4' on a 3-point (positive/neutral/negative) client")
    survey_of_another_ticket(90, survey["rating"], "Fixed quickly\x00\x00\x00", "nul_byte",
                             "the comment holds NUL bytes (a corrupt export)")

    # the client may have had no unplanned outage (or none at all): then copy another one
    outage = inj.pick("outages", mine & (pl.col("planned") == "false"), mine, pl.lit(True))
    outage |= {"client_id": client, "planned": "false"}
    inj.insert(
        "outages",
        outage | {"started_at": outage["ended_at"], "ended_at": outage["started_at"]},
        "ended_before_started",
        "started_at and ended_at swapped",
    )
    inj.insert(
        "outages",
        outage | {"planned": "sometimes"},
        "invalid_boolean",
        "planned 'sometimes' is not true/false",
    )

    entry = inj.pick("time_entries", mine & (pl.col("work_type") == "remote"), mine, pl.lit(True))
    entry |= {"client_id": client, "work_type": "remote"}
    inj.insert(
        "time_entries",
        entry | {"minutes": "1h30"},
        "invalid_number",
        "minutes '1h30' is not a number",
    )
    inj.insert(
        "time_entries",
        entry | {"started_at": None, "minutes": "30.0"},
        "missing_required_field",
        "started_at is empty",
    )

    device = inj.pick("devices", mine & (pl.col("patch_status") == "compliant"), mine)
    inj.insert(
        "devices", device | {"device_id": None}, "missing_required_field", "device_id is empty"
    )
    at = (
        inj.frames["devices"]
        .with_row_index("__i")
        .filter(
            (pl.col("device_id") == device["device_id"]) & (pl.col("as_of") == device["as_of"])
        )["__i"][0]
    )
    inj.insert(
        "devices",
        device | {"patch_status": "failed"},
        "duplicate_id_conflict",
        f"{device['device_id']} as of {device['as_of']} appears again later (the later is kept)",
        at=at,
    )


def valid_oddities(inj: Injector, zone: str) -> list[Fault]:
    """Valid timestamps written without an offset: cleaning reads them in the client's zone."""
    faults = []
    for table, column, count in (
        ("tickets", "created_at", 3),
        ("ticket_events", "at", 3),
        ("surveys", "responded_at", 1),
        ("time_entries", "started_at", 1),
    ):
        frame = (
            inj.frames[table]
            .with_row_index("__r", offset=1)
            .filter(pl.col(MARK).is_null() & ~pl.col("ticket_id").is_in(sorted(inj.used)))
        )
        chosen = 0
        for number in inj.rng.permutation(frame["__r"].to_numpy()):
            text = inj.frames[table][column][int(number) - 1]
            if text is None or not _unambiguous(text, zone):
                continue
            naive = text[:19]
            inj.frames[table] = inj.frames[table].with_columns(
                pl.when(pl.int_range(pl.len()) == int(number) - 1)
                .then(pl.lit(naive))
                .otherwise(pl.col(column))
                .alias(column)
            )
            faults.append(
                Fault(table, int(number), "valid", f"{column} {naive} has no offset (local time)")
            )
            chosen += 1
            if chosen == count:
                break
    return sorted(faults, key=lambda f: (f.table, f.row))


def quality_faults(inj: Injector, client: str) -> list[Fault]:
    """Problems that pass cleaning but a data-quality gate must flag, all on one client."""
    tickets = inj.frames["tickets"]
    # first responses recorded after the resolution (a response before creation is a reject)
    mine = tickets.filter(
        (pl.col("client_id") == client) & pl.col("first_response_at").is_not_null()
        & pl.col("resolved_at").is_not_null()
    )
    count = max(1, round(0.10 * tickets.filter(pl.col("client_id") == client).height))
    early = sorted(inj.rng.choice(mine["ticket_id"].to_numpy(), size=count, replace=False).tolist())
    created = dict(zip(tickets["ticket_id"], tickets["created_at"]))
    resolved = dict(zip(mine["ticket_id"], mine["resolved_at"]))
    values = {t: _shift(resolved[t], float(inj.rng.integers(5, 91))) for t in early}
    inj.frames["tickets"] = tickets.with_columns(
        pl.col("ticket_id")
        .replace_strict(values, default=pl.col("first_response_at"), return_dtype=pl.String)
        .alias("first_response_at")
    )
    inj.used.update(early)

    closed = tickets.filter(  # never reopened: a change after closing is then out of order for sure
        (pl.col("client_id") == client)
        & (pl.col("status") == "Closed")
        & (pl.col("close_code") == "resolved")
        & (pl.col("reopen_count") == "0")
        & ~pl.col("ticket_id").is_in(early)
    )
    end = max(datetime.fromisoformat(t) for t in closed["closed_at"])
    settled = [
        t
        for t, at in closed.select("ticket_id", "closed_at").iter_rows()
        if datetime.fromisoformat(at) < end - timedelta(days=3)
    ]
    pool = inj.rng.permutation(np.array(settled)).tolist()
    before, after = sorted(pool[:6]), sorted(pool[6:12])
    inj.used.update(before + after)
    events = inj.frames["ticket_events"]
    first_work = (pl.col("status") == "In Progress") & (
        pl.int_range(pl.len()).over("ticket_id", "status") == 0
    )
    moved = {t: _shift(created[t], -20) for t in before}
    inj.frames["ticket_events"] = events.with_columns(
        pl.when(pl.col("ticket_id").is_in(before) & first_work)
        .then(pl.col("ticket_id").replace_strict(moved, default=None, return_dtype=pl.String))
        .otherwise(pl.col("at"))
        .alias("at")
    )
    info = closed.filter(pl.col("ticket_id").is_in(after)).select(
        "ticket_id", "closed_at", "assignee"
    )
    late = [
        {
            "ticket_id": t,
            "at": _shift(closed_at, 24 * 60),
            "status": "In Progress",
            "actor": who,
            MARK: None,
        }
        for t, closed_at, who in info.sort("ticket_id").iter_rows()
    ]
    inj.frames["ticket_events"] = pl.concat(
        [inj.frames["ticket_events"], pl.DataFrame(late, schema=inj.frames["ticket_events"].schema)]
    )
    return [
        Fault(
            "tickets",
            None,
            "quality",
            "first_response_at after resolved_at (by 5-90 minutes)",
            client,
            tuple(early),
        ),
        Fault(
            "ticket_events",
            None,
            "quality",
            "first 'In Progress' event 20 minutes before the ticket was "
            "created (out of time order)",
            client,
            tuple(before),
        ),
        Fault(
            "ticket_events",
            None,
            "quality",
            "an 'In Progress' event one day after the ticket was closed "
            "(appended at the end of the file)",
            client,
            tuple(after),
        ),
    ]
