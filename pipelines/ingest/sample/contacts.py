"""The client's own record of calls and emails for the sample, with the truth behind it.

Each client keeps a contact log (its phone system's calls to the provider, its sent mail to the
support address, the odd chat, portal confirmation or walk-in). Most of the people's tickets
start with a contact a few minutes before the ticket was logged; some were logged late (one to
three and a half hours after the call or email); some calls and emails never became a ticket;
some tickets were never in the client's log (portal and chat requests, and everything the
provider raised itself); a few missed calls come just before the call that got through;
follow-up emails name their ticket in the subject; and the provider's call-backs are inbound.

The draw uses its own random stream (`[seed, client, 14]`), so the other tables of the sample
are the same bytes with or without contacts. `client_contacts` returns the contacts frame
(canonical columns, UTC) and the truth: which ticket each contact belongs to.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.ingest.sample import categories
from pipelines.ingest.sample.calendar import DAY, MINUTE, Period, day_number, local_to_utc
from pipelines.ingest.sample.tickets import ClientPlan, take, utc

# Of the people's tickets per source: the share in the client's log, by which channel.
LOGGED = {"phone": (0.92, "phone"), "email": (0.95, "email"), "chat": (0.45, "chat"),
          "portal": (0.30, "portal"), "onsite": (0.60, "walk-in")}
LATE_SHARE = 0.12  # logged 1-3.5 hours after the call or email
UNLOGGED_SHARE = 0.05  # calls and emails that never became a ticket, per people's ticket
REPEAT_SHARE = 0.06  # a missed call shortly before the call that got through
FOLLOW_UP_SHARE = 0.12  # an email naming its ticket, hours or days later
CALL_BACK_SHARE = 0.05  # the provider calls back (inbound)
SUBJECTS = ("{}", "{} - please help", "Problem: {}", "{} (urgent)", "{}")
TRUTH_COLUMNS = {"client_id": pl.String, "contact_id": pl.String, "ticket_id": pl.String,
                 "kind": pl.String}


def client_contacts(c: ClientPlan, per: Period, draw: dict, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One client's contact log and its truth (client_id, contact_id, ticket_id or null, kind:
    first / late / repeat / follow_up / unlogged / inbound)."""
    rng = np.random.default_rng([seed, c.index, 14])
    tickets = draw["tickets"]
    created, requester = draw["created"], draw["requester"]
    source = take([*categories.USER_SOURCES, "monitoring", "maintenance"], draw["source"]).to_list()
    n = len(created)
    people = np.flatnonzero(requester >= 0)
    share = np.array([LOGGED.get(s, (0.0, ""))[0] for s in source])
    logged = people[rng.random(len(people)) < share[people]]
    channel = np.array([LOGGED[source[i]][1] for i in logged], dtype=object)
    late = (rng.random(len(logged)) < LATE_SHARE) & np.isin(channel, ["phone", "email"])
    lag = np.select([channel == "portal", channel == "walk-in", channel == "email"],
                    [-rng.uniform(0, 3, len(logged)), rng.uniform(5, 60, len(logged)),
                     rng.uniform(0.3, 4, len(logged))], rng.uniform(1, 12, len(logged)))
    lag = np.where(late, rng.uniform(60, 210, len(logged)), lag)
    parts = [_rows(logged, created[logged] - (lag * MINUTE).astype(np.int64), channel,
                   np.where(late, "late", "first"), "outbound")]

    calls = logged[(channel == "phone") & ~late]
    repeat = calls[rng.random(len(calls)) < REPEAT_SHARE]
    first_call = dict(zip(parts[0]["row"], parts[0]["at"]))
    parts.append(_rows(repeat, np.array([first_call[i] for i in repeat], np.int64)
                       - rng.integers(3, 40, len(repeat)) * MINUTE, "phone", "repeat", "outbound"))
    mails = logged[channel == "email"]
    follow = mails[rng.random(len(mails)) < FOLLOW_UP_SHARE]
    parts.append(_rows(follow, created[follow] + rng.integers(60, 72 * 60, len(follow)) * MINUTE,
                       "email", "follow_up", "outbound"))
    answered = people[(draw["first_response"][people] > 0) & (rng.random(len(people)) < CALL_BACK_SHARE)]
    parts.append(_rows(answered, draw["first_response"][answered] + rng.integers(5, 90, len(answered)) * MINUTE,
                       "phone", "inbound", "inbound"))
    unlogged = rng.choice(people, size=rng.poisson(UNLOGGED_SHARE * len(people)), replace=True) \
        if len(people) else np.empty(0, np.int64)
    shift = rng.choice([-21, -14, -7, 7, 14, 21], len(unlogged)) * DAY + rng.integers(-60, 60, len(unlogged)) * MINUTE
    parts.append(_rows(unlogged, created[unlogged] + shift,
                       np.where(rng.random(len(unlogged)) < 0.6, "phone", "email"), "unlogged", "outbound"))

    rows = pl.concat(parts)  # one schema: a client with no ticket in the months has no contacts
    start = local_to_utc(np.array([day_number(per.first) * DAY]), c.contract.timezone)[0]
    rows = rows.filter((pl.col("at") >= start) & (pl.col("at") <= draw["end"]))
    return _frames(c, rng, rows, tickets, draw, n)


def _rows(ticket_rows: np.ndarray, at: np.ndarray, channel, kind, direction: str) -> pl.DataFrame:
    """Contact rows: the ticket row each is drawn from, when, channel and kind (a value or one per row)."""
    size = len(ticket_rows)

    def each(value) -> list[str]:
        return np.broadcast_to(np.asarray(value, dtype=object), size).astype(str).tolist()

    return pl.DataFrame({
        "row": np.asarray(ticket_rows, np.int64), "at": np.asarray(at, np.int64),
        "channel": each(channel), "kind": each(kind), "direction": each(direction),
    }, schema={"row": pl.Int64, "at": pl.Int64, "channel": pl.String, "kind": pl.String,
               "direction": pl.String})


def _apart(at: np.ndarray, who: np.ndarray, stranger: np.ndarray, created: np.ndarray,
           requester: np.ndarray) -> np.ndarray:
    """False for a call or email that never became a ticket but comes within a day before a
    ticket of the same person: nobody could tell it from that ticket's first contact, so the
    sample leaves it out (the truth stays knowable)."""
    keep = np.ones(len(at), bool)
    for i in np.flatnonzero(stranger):
        mine = created[requester == who[i]]
        keep[i] = not np.any((mine >= at[i] - 3600) & (mine <= at[i] + DAY))
    return keep


def _frames(c: ClientPlan, rng, rows: pl.DataFrame, tickets: pl.DataFrame, draw: dict,
            n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Who, what and which ticket for each contact row, in time order with per-client ids."""
    rows = rows.sort("at", "row", "kind")
    kind, channel = rows["kind"].to_numpy(), rows["channel"].to_numpy()
    ticket_row = rows["row"].to_numpy()
    cast = draw["cast"]
    who = draw["requester"][ticket_row].copy()
    stranger = kind == "unlogged"
    who[stranger] = rng.choice(len(cast["staff"]), size=stranger.sum(), p=cast["staff_weight"])
    clear = _apart(rows["at"].to_numpy(), who, stranger, draw["created"], draw["requester"])
    rows, kind, channel, ticket_row, who = (rows.filter(pl.Series(clear)), kind[clear], channel[clear],
                                            ticket_row[clear], who[clear])
    m = rows.height
    stranger = stranger[clear]
    name = take(cast["staff"], who).to_list()
    domain = f"{c.profile.client_id}.example"
    as_address = (channel == "email") & (rng.random(m) < 0.3)
    unknown_number = (channel == "phone") & (kind == "first") & (rng.random(m) < 0.05)
    requester = [
        f"+1 555 01{i % 100:02d}" if unknown_number[i]
        else f"{name[i].lower().replace(' ', '.')}@{domain}" if as_address[i] else name[i]
        for i in range(m)
    ]
    titles = tickets["title"].to_list()
    other = rng.integers(0, n, m)  # an unlogged email is about something no ticket records
    style = rng.integers(0, len(SUBJECTS), m)
    ids = tickets["ticket_id"].to_list()
    subject, ref = [], []
    for i in range(m):
        title = titles[other[i]] if stranger[i] else titles[ticket_row[i]]
        if kind[i] == "follow_up":
            subject.append(f"Re: [{ids[ticket_row[i]]}] {title}")
            ref.append(ids[ticket_row[i]])
        elif channel[i] in ("email", "chat"):
            text = SUBJECTS[style[i]].format(title)
            subject.append(text.lower() if style[i] == 4 else text)
            ref.append(None)
        else:
            subject.append(None)
            ref.append(ids[ticket_row[i]] if channel[i] == "portal" else None)
    contact_id = [f"{c.profile.prefix}-C{10001 + i}" for i in range(m)]
    contacts = pl.DataFrame({
        "client_id": [c.profile.client_id] * m, "contact_id": contact_id, "at": utc(rows["at"].to_numpy()),
        "channel": channel.astype(str).tolist(), "direction": rows["direction"],
        "requester": requester, "subject": subject, "ticket_ref": ref,
    }, schema={"client_id": pl.String, "contact_id": pl.String, "at": pl.Datetime("us", "UTC"),
               "channel": pl.String, "direction": pl.String, "requester": pl.String,
               "subject": pl.String, "ticket_ref": pl.String})
    belongs = ~np.isin(kind, ["unlogged", "inbound"])
    truth = pl.DataFrame({
        "client_id": [c.profile.client_id] * m, "contact_id": contact_id,
        "ticket_id": [ids[ticket_row[i]] if belongs[i] else None for i in range(m)],
        "kind": kind.astype(str).tolist(),
    }, schema=TRUTH_COLUMNS)
    return contacts, truth
