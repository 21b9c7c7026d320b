"""The client's own record against the provider's tickets: which call or email became which ticket.

A client that keeps its own record of the calls and emails it made (the `contacts` table: its
phone system's call log, its sent mail to the provider's support address) can check the
provider's tickets with it. Everything is judged AS OF the end of the report period, like the
SLA: only contacts and tickets before it count.

Matching, per client, in three passes (deterministic: ties are broken by time, then by id):
1. `ticket_ref`: a contact that names one of the client's tickets belongs to it (several
   contacts may name the same ticket: a follow-up email, a second call); a reference without
   the id's prefix ('#44170') names the one ticket of the client with that number.
2. Person and time, one-to-one: a ticket (not from a proactive source such as monitoring: the
   provider raised those itself) logged within the contract's `contact_matching.window`
   of working time after the contact (on the client's business calendar; up to `early` before
   it, for clocks that differ) is a candidate. The evidence is scored 0-1: the requester's
   similarity (weight 0.45; a different person is never a candidate), the subject's similarity
   to the ticket's title (0.35) and closeness in time (0.20), averaged over what both sides
   record; with neither person nor subject to compare, time alone counts at 60%. Pairs below
   `min_score` are dropped; the rest are assigned best first, each contact and each ticket
   used once.
3. `repeat_contact`: a contact left over whose best candidate is a ticket already matched, by
   the same person (and, when both record one, about the same subject), is a repeated contact
   about that request (a missed call before the call that got through).
Anything else is `not_matched`, or `window_open` when its window had not closed by the period
end (its ticket may still be logged after it); contacts from the provider (`inbound`) are
not requests and are not matched.

Per ticket, the client's first contact (the earliest matched) starts the clock the client
sees: the lag until the ticket was logged, and the response time from that moment on the
priority's SLA clock, judged against the same target as the provider's figure.

`match_contacts` is pure: frames, contracts and scope in, the two frames out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from pipelines.core.business_time import MINUTE, NEVER, Clock
from pipelines.core.contracts import Contract
from pipelines.core.periods import local_months
from pipelines.core.schemas import UTC_TS, ticket_key, ticket_number
from pipelines.metrics import sla
from pipelines.metrics.ordering import sorted_order

CONTACT_MATCH_COLUMNS = [
    "client_id", "contact_id", "at", "month", "channel", "direction", "requester", "subject",
    "ticket_ref", "ticket_id", "match", "score", "requester_score", "subject_score",
    "ticket_after_minutes", "window_ends_at", "why",
]
TICKET_CONTACT_COLUMNS = [
    "client_id", "ticket_id", "created_at", "created_month", "priority", "calendar", "source",
    "contacts", "first_contact_id", "first_contact_at", "logged_after_minutes",
    "response_target_minutes", "response_minutes", "response_status",
    "response_from_contact_minutes", "response_from_contact_due_at", "response_from_contact_status",
]
TICKET_COLUMNS = ["client_id", "ticket_id", "created_at", "created_month", "priority", "calendar",
                  "first_response_at", "resolved_at", "response_target_minutes", "response_minutes",
                  "response_status"]  # what the matching uses of ticket_sla
MATCHED = ("ticket_ref", "requester_and_time", "subject_and_time", "time_only", "repeat_contact")
WHY = ("requester_and_time", "subject_and_time", "time_only")  # a pair's evidence (codes in _scored)
UNMATCHED = ("not_matched", "window_open", "inbound")
WEIGHTS = {"requester": 0.45, "subject": 0.35, "time": 0.20}
TIME_ONLY = 0.6  # with neither person nor subject to compare, time is weak evidence
SAME_SUBJECT = 0.6  # subject similarity from which two texts are about the same thing
_NOISE = r"(?i)^\s*((re|fw|fwd|aw|wg|sv)\s*:\s*)+|\[[^\]]*\]|[^\w\s]"  # Re:/Fwd:, [refs], punctuation


@dataclass(frozen=True)
class Matches:
    """The matching's outputs: one row per contact and one per ticket of the clients with contacts."""

    contact_matches: pl.DataFrame
    ticket_contacts: pl.DataFrame


def empty() -> Matches:
    """No contact record at all: both outputs empty, with their columns."""
    return Matches(pl.DataFrame(schema=_MATCH_SCHEMA), pl.DataFrame(schema=_TICKET_SCHEMA))


def person(text: pl.Expr) -> pl.Expr:
    """A requester as comparable words: 'jane.smith@x.example' and 'Smith, Jane' -> 'jane smith'."""
    shown = text.str.extract(r'^\s*"?([^"<]*?)"?\s*<[^>]*>')  # 'Jane Smith <jane@x>': the name
    address = text.str.extract(r"<([^>]+)>")
    local = (pl.coalesce(pl.when(shown.str.contains(r"\p{L}")).then(shown), address, text)
             .str.to_lowercase().str.replace(r"@.*$", ""))
    return local.str.replace_all(r"[^\p{L}\s]", " ").str.replace_all(r"\s+", " ").str.strip_chars()


def subject(text: pl.Expr) -> pl.Expr:
    """A subject or title as comparable words: no Re:/Fwd:, no [ticket refs], no punctuation."""
    return (text.str.replace_all(_NOISE, " ").str.to_lowercase()
            .str.replace_all(r"\s+", " ").str.strip_chars())


def _in_scope(contacts: pl.DataFrame | None, scope: sla.Scope) -> pl.DataFrame | None:
    """The contacts of the scope's clients before their period end (None: none)."""
    if contacts is None or contacts.is_empty():
        return None
    cidx = scope.client_index(contacts["client_id"])
    known = cidx >= 0
    c = contacts.filter(pl.Series(known))
    c = c.filter(pl.Series(sla.epoch_us(c["at"]) < scope.as_of[cidx[known]]))
    return None if c.is_empty() else c


def earliest(contacts: pl.DataFrame | None, scope: sla.Scope) -> int:
    """The earliest contact that is matched (NEVER: none), where a clock for them must start."""
    c = _in_scope(contacts, scope)
    return NEVER if c is None else int(sla.epoch_us(c["at"]).min())


def match_contacts(contacts: pl.DataFrame | None, tickets: pl.DataFrame, ticket_sla: pl.DataFrame,
                   contracts: dict[str, Contract], scope: sla.Scope,
                   clock: Clock | None = None) -> Matches:
    """Match every contact before its client's period end to that client's tickets (see above).

    `tickets` is the clean tickets table (requester, title, source); `ticket_sla` the per-ticket
    SLA table of the same scope (it holds only tickets logged before the period end); `clock`
    (default: built here) must start by the earliest contact (`earliest`) and ticket."""
    c = _in_scope(contacts, scope)
    if c is None:
        return empty()
    as_of = scope.as_of
    c_idx = scope.client_index(c["client_id"])
    order = sorted_order([c_idx, sla.epoch_us(c["at"])], [c["contact_id"]])  # by client, time, id
    c, c_idx = c[order], c_idx[order]
    t, t_idx = _tickets_of(np.unique(c_idx), tickets, ticket_sla, scope)
    at, created = sla.epoch_us(c["at"]), sla.epoch_us(t["created_at"])
    if clock is None:
        clock = sla.build_clock(contracts, scope, int(min(at.min(), created.min() if len(created) else at.min())))
    rules = [contracts[name].contact_matching for name in scope.clients]
    window = np.rint(np.array([r.window for r in rules]) * MINUTE).astype(np.int64)[c_idx]
    window_end = clock.add(2 * c_idx, at, window)
    outbound = (c["direction"] != "inbound").to_numpy()

    ticket = np.full(c.height, -1, np.int64)  # row in t per contact
    reason = np.full(c.height, "", object)
    score = np.full(c.height, np.nan)
    r_score, s_score = np.full(c.height, np.nan), np.full(c.height, np.nan)

    # 1. By the ticket the contact names.
    ref = _by_ref(c, t, c_idx, t_idx)
    by_ref = outbound & (ref >= 0)
    ticket[by_ref], reason[by_ref], score[by_ref] = ref[by_ref], "ticket_ref", 1.0

    # 2. Person, subject and time, one-to-one, best first.
    pairs = _candidates(c, t, c_idx, t_idx, at, created, window_end, outbound & ~by_ref, rules)
    pairs = pairs.filter(~pl.col("__t").is_in(pl.Series(np.flatnonzero(_proactive(t, contracts)))))
    pairs = _scored(pairs, c, t, clock, c_idx, at, created, window, rules)
    # (a ticket found by its number may still be given its first call here)
    k, ti = pairs["__c"].to_numpy(), pairs["__t"].to_numpy()
    sc, rs, ss, why = (pairs[name].to_numpy() for name in ("score", "__r", "__s", "__why"))
    won = one_to_one(k, ti, c.height, t.height)
    ticket[k[won]], reason[k[won]], score[k[won]] = ti[won], np.array(WHY, object)[why[won]], sc[won]
    r_score[k[won]], s_score[k[won]] = rs[won], ss[won]

    # 3. A repeated contact about a request already matched: its first such pair (best first).
    matched = np.zeros(t.height + 1, bool)
    matched[ticket[ticket >= 0]] = True
    repeat = np.flatnonzero((ticket[k] < 0) & matched[ti] & (why == WHY.index("requester_and_time"))
                            & (np.isnan(ss) | (ss >= SAME_SUBJECT)))
    repeat = repeat[np.unique(k[repeat], return_index=True)[1]]
    ticket[k[repeat]], reason[k[repeat]], score[k[repeat]] = ti[repeat], "repeat_contact", sc[repeat]
    r_score[k[repeat]], s_score[k[repeat]] = rs[repeat], ss[repeat]

    open_window = window_end >= as_of[c_idx]
    reason[(ticket < 0) & outbound] = np.where(open_window, "window_open", "not_matched")[
        (ticket < 0) & outbound]
    reason[~outbound] = "inbound"
    rows = _contact_rows(c, t, ticket, reason, score, r_score, s_score, window_end, clock, c_idx, at,
                         created, contracts)
    return Matches(rows, _ticket_rows(ticket, outbound, c, t, clock, scope, t_idx, created))


# ---------------------------------------------------------------- candidates and scores


def _tickets_of(clients: np.ndarray, tickets: pl.DataFrame, ticket_sla: pl.DataFrame,
                scope: sla.Scope) -> tuple[pl.DataFrame, np.ndarray]:
    """These clients' (scope positions) tickets: ticket_sla's TICKET_COLUMNS, requester, title
    and source, by client, time and id; with their clients' positions."""
    keys, extra = ["client_id", "ticket_id"], ["requester", "title", "source"]
    if ticket_sla.height == tickets.height and all(ticket_sla[k].equals(tickets[k]) for k in keys):
        t = ticket_sla.select(TICKET_COLUMNS).hstack(tickets.select(extra))  # every ticket kept, in order
    else:  # (ticket ids are unique per client in clean tickets)
        t = ticket_sla.select(TICKET_COLUMNS).join(tickets.select(*keys, *extra), on=keys, how="left",
                                                   maintain_order="left")
    t_idx = scope.client_index(t["client_id"])
    mine = np.isin(t_idx, clients)
    t, t_idx = t.filter(pl.Series(mine)), t_idx[mine]
    order = sorted_order([t_idx, sla.epoch_us(t["created_at"])], [t["ticket_id"]])
    return t[order], t_idx[order]


def one_to_one(k: np.ndarray, ti: np.ndarray, contacts: int, tickets: int) -> np.ndarray:
    """The pairs (contact k, ticket ti; best first) taken when each is taken in turn unless its
    contact or ticket is taken already. In rounds: a pair that comes first among the pairs left
    of its contact and of its ticket is taken (the one-by-one pass would take it too), and every
    pair left of a contact or ticket taken drops out."""
    taken: list[np.ndarray] = []
    used_c, used_t = np.zeros(contacts, bool), np.zeros(tickets, bool)
    alive = np.arange(len(k))
    while len(alive):
        first_c = np.full(contacts, len(k))
        first_t = np.full(tickets, len(k))
        np.minimum.at(first_c, k[alive], alive)
        np.minimum.at(first_t, ti[alive], alive)
        won = alive[(first_c[k[alive]] == alive) & (first_t[ti[alive]] == alive)]
        taken.append(won)
        used_c[k[won]], used_t[ti[won]] = True, True
        alive = alive[~used_c[k[alive]] & ~used_t[ti[alive]]]
    return np.sort(np.concatenate(taken)) if taken else np.empty(0, np.int64)


def _candidates(c, t, c_idx, t_idx, at, created, window_end, wanted, rules) -> pl.DataFrame:
    """(contact row, ticket row) pairs: the same client's tickets logged from `early` before the
    contact to the end of its window (tickets are sorted by client and time)."""
    early = np.rint(np.array([r.early for r in rules]) * MINUTE).astype(np.int64)[c_idx]
    lo = np.zeros(c.height, np.int64)
    hi = np.zeros(c.height, np.int64)
    for client in np.unique(c_idx):  # both frames are sorted by client (the scope's order)
        rows = slice(*np.searchsorted(c_idx, [client, client + 1]))
        first, stop = np.searchsorted(t_idx, [client, client + 1])
        mine = created[first:stop]
        lo[rows] = first + np.searchsorted(mine, at[rows] - early[rows], side="left")
        hi[rows] = first + np.searchsorted(mine, window_end[rows], side="right")
    count = np.where(wanted, hi - lo, 0)
    k = np.repeat(np.arange(c.height), count)
    ti = lo[k] + np.arange(len(k)) - np.repeat(np.cumsum(count) - count, count)
    return pl.DataFrame({"__c": k, "__t": ti}, schema={"__c": pl.Int64, "__t": pl.Int64})


def _by_ref(c: pl.DataFrame, t: pl.DataFrame, c_idx: np.ndarray, t_idx: np.ndarray) -> np.ndarray:
    """Row in t of the ticket each contact names (-1: none): the same id (`ticket_key`), else
    the one ticket of the client with the same number (`ticket_number`). Clients are compared
    by their scope positions; only the tickets whose key or number some contact names are kept."""
    named = np.flatnonzero(c["ticket_ref"].is_not_null().to_numpy())
    out = np.full(c.height, -1, np.int64)
    if not len(named) or not t.height:
        return out
    refs = pl.DataFrame({"__client": c_idx[named], "__ref": c["ticket_ref"].gather(named)}).select(
        "__client", ticket_key(pl.col("__ref")).alias("__key"), ticket_number(pl.col("__ref")).alias("__num"))
    rows = pl.DataFrame({"__client": t_idx, "__t": np.arange(t.height), "__id": t["ticket_id"]})
    found = []
    for name, how in (("__key", ticket_key), ("__num", ticket_number)):
        mine = rows.select("__client", "__t", how(pl.col("__id")).alias(name)).filter(
            pl.col(name).is_in(refs[name].drop_nulls().unique().implode()))
        mine = mine.unique(["__client", name], keep="first") if name == "__key" \
            else mine.filter(pl.len().over("__client", name) == 1)  # the one ticket with the number
        found.append(refs.join(mine, on=["__client", name], how="left", maintain_order="left")["__t"])
    out[named] = found[0].fill_null(found[1]).fill_null(-1).to_numpy()
    return out


def _proactive(t: pl.DataFrame, contracts: dict[str, Contract]) -> np.ndarray:
    """Tickets from the contract's proactive sources (monitoring, maintenance): the provider raised
    them itself, so no contact of the client's is their origin."""
    pairs = pl.DataFrame([(cid, s.lower()) for cid, k in contracts.items() for s in k.proactive_sources],
                         schema={"client_id": pl.String, "source": pl.String}, orient="row")
    return (t.select("client_id", pl.col("source").str.to_lowercase())
            .join(pairs.with_columns(__p=pl.lit(True)), on=["client_id", "source"], how="left",
                  maintain_order="left")["__p"].fill_null(False).to_numpy())


def _similarity(left: tuple[np.ndarray, list], right: tuple[np.ndarray, list], scorer) -> np.ndarray:
    """Pairwise rapidfuzz similarity 0-1 of texts given as (code per pair, text per code; see
    `_scored`); NaN where either side is empty. Each pair of texts is scored once: the same two
    people or subjects meet in many pairs."""
    (lc, lt), (rc, rt) = left, right
    out = np.full(len(lc), np.nan)
    pick = np.array([bool(x) for x in lt], bool)[lc] & np.array([bool(x) for x in rt], bool)[rc]  # not null, not ""
    if pick.any():
        pairs = pl.DataFrame({"__k": lc[pick] * len(rt) + rc[pick]})
        once = pairs.unique()["__k"].to_numpy()  # (a hash, not a sort: the pairs are millions)
        scores = process.cpdist([lt[i] for i in once // len(rt)], [rt[i] for i in once % len(rt)],
                                scorer=scorer, workers=1) / 100.0
        out[pick] = pairs.join(pl.DataFrame({"__k": once, "__s": scores}), on="__k", how="left",
                               maintain_order="left")["__s"].to_numpy()
    return out


def _scored(pairs, c, t, clock, c_idx, at, created, window, rules) -> pl.DataFrame:
    """Each candidate pair's evidence and score; pairs that cannot be the same request dropped;
    ordered best first (then earlier contact, smaller gap, ids)."""
    k, ti = pairs["__c"].to_numpy(), pairs["__t"].to_numpy()

    def words(frame: pl.DataFrame, rows: np.ndarray, column: str, how) -> tuple[np.ndarray, list]:
        """`how` (person or subject) of the column at each pair's row, as a code per pair and
        the text of each code, computed once per text (names and subjects repeat: a few
        thousand texts for a million tickets; pairs are millions)."""
        unique, inverse = np.unique(rows, return_inverse=True)
        texts = pl.DataFrame({"__v": frame[column].gather(unique)})
        once = texts.unique(maintain_order=True).with_columns(__w=how(pl.col("__v")))
        coded = once.select("__w").unique(maintain_order=True).with_row_index("__code")
        code = texts.join(once.join(coded, on="__w", how="left", nulls_equal=True), on="__v", how="left",
                          nulls_equal=True, maintain_order="left")["__code"]
        return code.to_numpy().astype(np.int64)[inverse], coded["__w"].to_list()

    people, subjects = words(c, k, "requester", person), words(c, k, "subject", subject)
    requesters, titles = words(t, ti, "requester", person), words(t, ti, "title", subject)
    r = _similarity(people, requesters, fuzz.token_sort_ratio)
    s = _similarity(subjects, titles, fuzz.WRatio)
    lane = 2 * c_idx[k]
    start = np.maximum(created[ti], at[k])  # a ticket logged just before counts as no gap
    gap = clock.position(lane, start) - clock.position(lane, at[k])
    closeness = np.clip(1 - gap / window[k], 0, 1)
    has_r, has_s = ~np.isnan(r), ~np.isnan(s)
    same = np.array([x.same_person for x in rules])[c_idx[k]]
    weight = WEIGHTS["time"] + WEIGHTS["requester"] * has_r + WEIGHTS["subject"] * has_s
    total = (WEIGHTS["time"] * closeness + WEIGHTS["requester"] * np.nan_to_num(r)
             + WEIGHTS["subject"] * np.nan_to_num(s))
    score = np.where(has_r | has_s, total / weight, TIME_ONLY * closeness)
    keep = ~(has_r & (r < same)) & ~(~has_r & has_s & (s < SAME_SUBJECT))
    keep &= score >= np.array([x.min_score for x in rules])[c_idx[k]]
    why = np.where(has_r, 0, np.where(has_s, 1, 2))  # positions in WHY
    kept = np.flatnonzero(keep)  # (a NaN score is below min_score: never kept)
    score = np.round(score, 4)
    best = kept[sorted_order([-score[kept], at[k[kept]], gap[kept]],
                             [c["contact_id"].gather(k[kept]), t["ticket_id"].gather(ti[kept])])]
    return pl.DataFrame({"__c": k[best], "__t": ti[best], "score": score[best], "__r": r[best],
                         "__s": s[best], "__why": why[best]})


# ---------------------------------------------------------------- output rows


def _contact_rows(c, t, ticket, reason, score, r_score, s_score, window_end, clock, c_idx, at,
                  created, contracts) -> pl.DataFrame:
    has = ticket >= 0
    row = np.maximum(ticket, 0)
    lane = 2 * c_idx
    after = np.zeros(c.height, np.int64)
    if has.any():
        later = np.maximum(created[row[has]], at[has])
        earlier = np.minimum(created[row[has]], at[has])
        sign = np.where(created[row[has]] >= at[has], 1, -1)
        after[has] = sign * (clock.position(lane[has], later) - clock.position(lane[has], earlier))
    ids = t["ticket_id"].gather(pl.Series(row)) if t.height else pl.Series([None] * c.height, dtype=pl.String)
    frame = c.with_columns(
        month=local_months(c["client_id"], c["at"], {k: v.timezone for k, v in contracts.items()}),
        ticket_id=_when(has, ids),
        match=pl.Series(reason.tolist(), dtype=pl.String),
        score=pl.Series(score),
        requester_score=pl.Series(np.round(r_score * 100, 1)),
        subject_score=pl.Series(np.round(s_score * 100, 1)),
        ticket_after_minutes=sla.minutes(after, has),
        window_ends_at=sla.stamp(window_end),
    ).with_columns(pl.col("score", "requester_score", "subject_score").fill_nan(None))
    return frame.with_columns(why=_why()).select(CONTACT_MATCH_COLUMNS)


def _why() -> pl.Expr:
    """The match in words, for the report's lists."""
    gap = pl.col("ticket_after_minutes").abs().round(0).cast(pl.Int64)
    when = (pl.when(pl.col("ticket_after_minutes") >= 0)
            .then(pl.format("logged {} working min after", gap))
            .otherwise(pl.format("logged {} working min before", gap)))
    person_ = pl.when(pl.col("requester_score").is_not_null()).then(
        pl.format("same person ({}%), ", pl.col("requester_score").round(0).cast(pl.Int64))).otherwise(pl.lit(""))
    subject_ = pl.when(pl.col("subject_score").is_not_null()).then(
        pl.format("subject {}% alike, ", pl.col("subject_score").round(0).cast(pl.Int64))).otherwise(pl.lit(""))
    return (pl.when(pl.col("match") == "ticket_ref").then(pl.format("names ticket {}", pl.col("ticket_id")))
            .when(pl.col("match") == "repeat_contact")
            .then(pl.format("{}another contact about the same request", person_))
            .when(pl.col("match").is_in(MATCHED)).then(pl.concat_str([person_, subject_, when]))
            .when(pl.col("match") == "window_open")
            .then(pl.lit("no ticket yet; its window ran past the end of the month"))
            .when(pl.col("match") == "inbound").then(pl.lit("from the provider, not a request"))
            .otherwise(pl.lit("no ticket of the same person or subject logged in the window")))


def _when(ok: np.ndarray, values: pl.Series) -> pl.Series:
    """values where ok, else null."""
    return pl.select(pl.when(pl.lit(pl.Series(ok))).then(pl.lit(values))).to_series()


def _ticket_rows(ticket: np.ndarray, outbound: np.ndarray, c: pl.DataFrame, t: pl.DataFrame, clock: Clock,
                 scope: sla.Scope, t_idx: np.ndarray, created: np.ndarray) -> pl.DataFrame:
    """Per ticket of the clients with a contact record (`ticket`: each contact's row in t, -1:
    none): its contacts, the first one, the lag and the response time measured from the
    client's first contact."""
    if t.is_empty():
        return pl.DataFrame(schema=_TICKET_SCHEMA)
    mine = np.flatnonzero((ticket >= 0) & outbound)
    first = np.full(t.height, c.height)  # contacts are in time order (then id) within a client
    np.minimum.at(first, ticket[mine], mine)
    has = first < c.height
    chosen = pl.Series(np.where(has, first, 0))
    frame = t.with_columns(contacts=pl.Series(np.bincount(ticket[mine], minlength=t.height)),
                           first_contact_id=_when(has, c["contact_id"].gather(chosen)),
                           first_contact_at=_when(has, c["at"].gather(chosen)))
    lane = 2 * t_idx + (frame["calendar"] == "24x7").to_numpy().astype(np.int64)
    start = np.minimum(sla.epoch_us(frame["first_contact_at"]), created)
    f_start = clock.position(lane, start)
    logged = clock.position(lane, created) - f_start
    response_at = sla.epoch_us(frame.select(pl.coalesce("first_response_at", "resolved_at")).to_series())
    responded = response_at != NEVER
    took = np.where(responded, clock.position(lane, np.where(responded, np.maximum(response_at, start), start))
                    - f_start, 0)
    target = np.rint(frame["response_target_minutes"].fill_null(0).to_numpy() * MINUTE).astype(np.int64)
    due = clock.instant(lane, f_start + np.maximum(target, 1))
    status = np.where(responded, np.where(took <= target, "met", "breached"),
                      np.where(due < scope.as_of[t_idx], "breached", "pending"))
    status = np.where(frame["response_status"].to_numpy() == "excluded", "excluded", status)
    return frame.with_columns(
        contacts=pl.col("contacts").cast(pl.Int64),
        logged_after_minutes=sla.minutes(logged, has),
        response_from_contact_minutes=sla.minutes(took, has & responded),
        response_from_contact_due_at=_when(has, sla.stamp(due)),
        response_from_contact_status=_when(has, pl.Series(status.tolist(), dtype=pl.String)),
    ).select(TICKET_CONTACT_COLUMNS)


_MATCH_SCHEMA = {
    "client_id": pl.String, "contact_id": pl.String, "at": UTC_TS, "month": pl.String,
    "channel": pl.String, "direction": pl.String, "requester": pl.String, "subject": pl.String,
    "ticket_ref": pl.String, "ticket_id": pl.String, "match": pl.String, "score": pl.Float64,
    "requester_score": pl.Float64, "subject_score": pl.Float64, "ticket_after_minutes": pl.Float64,
    "window_ends_at": UTC_TS, "why": pl.String,
}
_TICKET_SCHEMA = {
    "client_id": pl.String, "ticket_id": pl.String, "created_at": UTC_TS, "created_month": pl.String,
    "priority": pl.String, "calendar": pl.String, "source": pl.String, "contacts": pl.Int64,
    "first_contact_id": pl.String, "first_contact_at": UTC_TS, "logged_after_minutes": pl.Float64,
    "response_target_minutes": pl.Float64, "response_minutes": pl.Float64, "response_status": pl.String,
    "response_from_contact_minutes": pl.Float64, "response_from_contact_due_at": UTC_TS,
    "response_from_contact_status": pl.String,
}


def agreement(matches: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """How the matching compares with a known truth (client_id, contact_id, ticket_id or null):
    precision = right matches / matches made, recall = right matches / contacts that did become a
    ticket (contacts from the provider are left out of both)."""
    joined = (matches.filter(pl.col("match") != "inbound")
              .join(truth.select("client_id", "contact_id", pl.col("ticket_id").alias("__true")),
                    on=["client_id", "contact_id"], how="inner"))
    made = joined.filter(pl.col("ticket_id").is_not_null())
    right = made.filter(pl.col("ticket_id") == pl.col("__true")).height
    real = joined.filter(pl.col("__true").is_not_null()).height
    return {"contacts": joined.height, "matched": made.height, "right": right, "with_ticket": real,
            "precision": right / made.height if made.height else None,
            "recall": right / real if real else None}


def month_summary(matches: pl.DataFrame, ticket_contacts: pl.DataFrame, month: str,
                  contract: Contract) -> dict:
    """One client's reconciliation for a month: its contacts of the month and how they matched,
    the tickets logged in the month with and without a contact, the lag to logging and the
    response verdicts measured both ways (the same tickets: those logged in the month that
    have a contact). Counts come with the ids behind them."""
    mine = matches.filter(pl.col("month") == month)
    requests = mine.filter(pl.col("direction") == "outbound")
    by_match = dict(requests.group_by("match").len().iter_rows())
    tickets = ticket_contacts.filter(pl.col("created_month") == month)
    contacted = tickets.filter(pl.col("contacts") > 0)
    proactive = [s.lower() for s in contract.proactive_sources]
    without = tickets.filter(pl.col("contacts") == 0).with_columns(
        pl.col("source").fill_null("not recorded").alias("source"))
    lag = contacted["logged_after_minutes"].drop_nulls()

    def verdicts(column: str) -> dict:
        counts = dict(contacted.group_by(column).len().iter_rows())
        met, breached = counts.get("met", 0), counts.get("breached", 0)
        return {"met": met, "breached": breached, "pending": counts.get("pending", 0),
                "excluded": counts.get("excluded", 0), "n": met + breached,
                "pct": 100 * met / (met + breached) if met + breached else None}

    return {
        "contacts": requests.height,
        "inbound": mine.height - requests.height,
        "matched": sum(by_match.get(m, 0) for m in MATCHED),
        "by_match": {m: by_match.get(m, 0) for m in (*MATCHED, "not_matched", "window_open")},
        "not_matched_ids": requests.filter(pl.col("match") == "not_matched")["contact_id"].to_list(),
        "tickets": tickets.height,
        "with_contact": contacted.height,
        "without_contact": without.height,
        "without_proactive": without.filter(pl.col("source").str.to_lowercase().is_in(proactive)).height,
        "without_by_source": {s: sorted(ids) for s, ids in without.group_by("source")
                              .agg(pl.col("ticket_id")).sort("source").iter_rows()},
        "lag_n": lag.len(),
        "lag_median_minutes": lag.median(),
        "lag_p90_minutes": lag.quantile(0.9, "linear"),
        "logged_over_hour": contacted.filter(pl.col("logged_after_minutes") > 60)["ticket_id"].to_list(),
        "provider": verdicts("response_status"),
        "from_contact": verdicts("response_from_contact_status"),
        "differ_ids": contacted.filter(pl.col("response_status") != pl.col("response_from_contact_status"))
        ["ticket_id"].to_list(),
    }
