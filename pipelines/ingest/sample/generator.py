"""Deterministic sample data: a year of help-desk life at an MSP's clients.

`generate_sample` builds every canonical raw table (typed, UTC) and one contract per
client from a seed; `pipelines.ingest.sample.write.write_sample` writes them as the exports `servicereview clean`
reads (CSV with local times and offsets, or typed Parquet), a README telling the
story, and on request the deliberately dirty set (`pipelines.ingest.sample.dirty`).

The story: tickets arrive mostly in business hours with a Monday peak; response and
resolution times are lognormal around each priority's targets (a few percent breach);
status histories pause on the customer, sometimes reopen; survey ratings and comments follow
the ticket's fate, each with its own noise; one client's service degrades for a few months
after its engineer leaves, then partly recovers. Each client also keeps its own record of the calls and emails it made
(`pipelines.ingest.sample.contacts`), and `Sample.truth["contacts"]` says which ticket each
of them became, if any. Work is vectorised per client with numpy,
so a million tickets take seconds, and one seed always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pipelines.core.contracts import Contract
from pipelines.ingest.sample import operations as ops
from pipelines.ingest.sample import story
from pipelines.ingest.sample.contacts import TRUTH_COLUMNS, client_contacts
from pipelines.ingest.sample.calendar import Period, SampleError, holiday_days, period, weekday
from pipelines.ingest.sample.tickets import ClientPlan, client_tickets, degraded_months

__all__ = ["Sample", "SampleError", "degraded_months", "generate_sample", "raw_frames"]

TS_FORMAT = "%Y-%m-%dT%H:%M:%S%:z"
TABLE_NAMES = ("tickets", "ticket_events", "surveys", "outages", "time_entries", "devices", "contacts")

# Tickets per seat per month, by origin: people, monitoring alerts, scheduled maintenance.
RATES = {"user": 0.84, "monitoring": 0.22, "maintenance": 0.07}
DAY_WEIGHTS = np.array([1.35, 1.08, 1.0, 0.98, 0.82, 0.05, 0.03])  # Mon..Sun for people
SEASON = np.array([1.08, 1.0, 1.04, 0.98, 1.0, 0.95, 0.9, 0.88, 1.06, 1.02, 1.0, 0.86])  # Jan..Dec


@dataclass
class Sample:
    """Generated raw tables (typed, timestamps in UTC), the contracts, the story's facts and
    the known truth behind them (`truth["contacts"]`: the ticket each contact became, or null)."""

    tables: dict[str, pl.DataFrame]
    contracts: dict[str, Contract]
    story: dict = field(default_factory=dict)
    truth: dict[str, pl.DataFrame] = field(default_factory=dict)


def generate_sample(
    clients: int = 5,
    months: int = 13,
    seed: int = 7,
    end: str = "2026-10",
    tickets: int | None = None,
    degrade: bool = True,
    only: range | None = None,
) -> Sample:
    """The whole sample in memory: same arguments, same frames.

    `only` generates just the clients at those positions, exactly as they are in the whole
    sample (every client is planned, so volumes and ids do not change): a sample too large
    for memory is generated in slices of clients."""
    per = period(end, months)
    if tickets is not None and tickets < 1:
        raise SampleError(f"--tickets must be at least 1 (got {tickets})")
    profiles = story.client_profiles(clients)
    degraded = 1 if degrade and clients >= 2 and months >= 2 else None
    planned = [_plan(i, p, per, seed, degraded) for i, p in enumerate(profiles)]
    expected = sum(float(sum(lam.sum() for lam in c.lam.values())) for c in planned)
    scale = tickets / expected if tickets else 1.0

    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in TABLE_NAMES}
    truth = [pl.DataFrame(schema=TRUTH_COLUMNS)]
    chosen = planned if only is None else [planned[i] for i in only]
    for client in chosen:
        draw = client_tickets(client, per, scale)
        frames = {
            "tickets": draw["tickets"],
            "ticket_events": draw["ticket_events"],
            "surveys": ops.surveys(client, draw),
        } | ops.operations(client, per, draw)
        frames["contacts"], known = client_contacts(client, per, draw, seed)
        truth.append(known)
        for name in TABLE_NAMES:
            parts[name].append(frames[name])
    # One table at a time, dropping its parts, so the peak holds one table twice, not all.
    tables = {name: _sorted(name, pl.concat(parts.pop(name), how="vertical")) for name in TABLE_NAMES}
    story_facts = {
        "period": per.labels(),
        "clients": [c.profile.client_id for c in chosen],
        "degraded_client": profiles[degraded].client_id if degraded is not None else None,
        "degraded_months": [per.labels()[m] for m in range(*degraded_months(months))]
        if degraded is not None
        else [],
        "departing_engineer": story.DEPARTING_ENGINEER if degraded is not None else None,
        "seats": {p.client_id: p.seats for p in profiles},
    }
    return Sample(tables, {c.profile.client_id: c.contract for c in chosen}, story_facts,
                  {"contacts": pl.concat(truth).sort("client_id", "contact_id")})


# ---------------------------------------------------------------- planning


def _plan(
    index: int, profile: story.ClientProfile, per: Period, seed: int, degraded: int | None
) -> ClientPlan:
    rng = np.random.default_rng([seed, index])
    contract = story.build_contract(profile, per.years, per.labels())
    months = len(per.month_starts)
    severity = np.zeros(months)
    if index == degraded:
        first, stop = degraded_months(months)
        severity[first:stop] = 1.0
        severity[stop:] = 0.4  # partial recovery after a new engineer starts
    days = per.day_numbers()
    month = np.searchsorted(per.month_start_days(), days, side="right") - 1
    calendar_month = np.array([d.month for d in per.month_starts])[month]
    holiday = np.isin(days, holiday_days(contract, per.years))
    weights = DAY_WEIGHTS.copy()
    if "sat" in contract.business_hours:
        weights[5] = 0.25
    per_day = profile.seats * 12 / 365.25
    trend = 1 + rng.uniform(-0.1, 0.25) * np.arange(months) / max(months - 1, 1)
    noise = rng.lognormal(0, 0.08, size=(3, months))
    people_day = weights[weekday(days)] * 7 / weights.sum() * SEASON[calendar_month - 1]
    people = per_day * people_day * np.where(holiday, 0.12, 1.0)  # offices barely call on holidays
    lam = {
        "user": RATES["user"] * people * (trend * noise[0] * (1 + 0.12 * severity))[month],
        "monitoring": RATES["monitoring"] * per_day * (trend * noise[1])[month],
        "maintenance": RATES["maintenance"] * per_day * people_day * ~holiday * noise[2][month],
    }
    return ClientPlan(index, profile, contract, rng, lam, severity, np.random.default_rng([seed, index, 1]))


# ---------------------------------------------------------------- output


_SORT_KEYS = {
    "tickets": ("created_at", "ticket_id"),
    "ticket_events": ("at", "ticket_id"),
    "surveys": ("responded_at", "ticket_id"),
    "outages": ("started_at", "client_id", "service", "ended_at"),
    "time_entries": ("started_at", "client_id", "ticket_id", "engineer", "work_type", "minutes"),
    "devices": ("as_of", "client_id", "device_id"),
    "contacts": ("at", "client_id", "contact_id"),
}


def _sorted(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(list(_SORT_KEYS[name]), nulls_last=False, maintain_order=True)


def raw_frames(sample: Sample) -> dict[str, pl.DataFrame]:
    """The tables as CSV text would carry them: every timestamp as the client's local time
    with its offset (`2026-03-02T09:15:00-05:00`), other values unchanged."""
    zones = {cid: k.timezone for cid, k in sample.contracts.items()}
    owner = sample.tables["tickets"].select("ticket_id", "client_id")
    out = {}
    for name, frame in sample.tables.items():
        columns = [c for c, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
        out[name] = localise(frame, columns, zones, owner)
    return out


def localise(
    frame: pl.DataFrame, columns: list[str], zones: dict[str, str], owner: pl.DataFrame
) -> pl.DataFrame:
    """Format UTC timestamp columns as each row's client-local ISO 8601 with offset."""
    keyed = frame.with_row_index("__order")
    if "client_id" not in frame.columns:
        keyed = keyed.join(
            owner.rename({"client_id": "__client"}),
            on="ticket_id",
            how="left",
            maintain_order="left",
        )
    else:
        keyed = keyed.with_columns(pl.col("client_id").alias("__client"))
    parts = []
    for (client,), part in keyed.partition_by(
        "__client", as_dict=True, maintain_order=True
    ).items():
        zone = zones[client]
        parts.append(
            part.with_columns(
                [pl.col(c).dt.convert_time_zone(zone).dt.to_string(TS_FORMAT) for c in columns]
            )
        )
    if not parts:
        return frame.with_columns([pl.col(c).cast(pl.String) for c in columns])
    return pl.concat(parts).sort("__order").drop("__order", "__client")
