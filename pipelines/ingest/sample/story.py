"""The cast of the sample data: clients, people, ticket categories and survey comments.

Pure data and small builders used by `pipelines.ingest.sample.generator`: who the clients are
(size, time zone, business hours, how their PSA spells priorities), what their
contracts promise, and the vocabulary that makes tickets and comments read like
a real help desk. Nothing here draws random numbers except through the `rng`
it is given, so the sample stays deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from pipelines.core.contracts import Contract, parse_contract
from pipelines.ingest.sample.calendar import SampleError

# ---------------------------------------------------------------- clients

_WEEK = ("mon", "tue", "wed", "thu", "fri")


def _hours(
    open_: str, close: str, friday: str | None = None, saturday: list[str] | None = None
) -> dict:
    hours = {day: [open_, close] for day in _WEEK}
    if friday:
        hours["fri"] = [open_, friday]
    if saturday:
        hours["sat"] = saturday
    return hours


PRIORITY_STYLES = (
    ("Critical", "High", "Medium", "Low"),
    ("1 - Critical", "2 - High", "3 - Medium", "4 - Low"),
    ("Urgent", "High", "Normal", "Low"),
    ("Sev 1", "Sev 2", "Sev 3", "Sev 4"),
    ("Priority 1", "Priority 2", "Priority 3", "Priority 4"),
)

# Response / resolution targets per service tier (P1 is always on the 24x7 clock).
SLA_TIERS = {
    "premium": {"P1": ("15m", "4h"), "P2": ("30m", "8h"), "P3": ("2h", "16h"), "P4": ("4h", "40h")},
    "standard": {"P1": ("15m", "4h"), "P2": ("1h", "8h"), "P3": ("4h", "24h"), "P4": ("8h", "72h")},
    "basic": {"P1": ("30m", "8h"), "P2": ("2h", "16h"), "P3": ("8h", "40h"), "P4": ("16h", "80h")},
}
FEE_PER_SEAT = {"premium": 135, "standard": 110, "basic": 90}


@dataclass(frozen=True)
class ClientProfile:
    """Everything about one sample client that is not drawn at random."""

    client_id: str
    name: str
    prefix: str  # ticket and device id prefix, unique across clients
    seats: int
    timezone: str
    country: str
    subdivision: str | None
    currency: str
    business_hours: dict
    priority_names: tuple[str, str, str, str]
    survey_scale: str
    services: tuple[str, ...]
    tier: str = "standard"
    closes_christmas_eve: bool = False


# fmt: off
_CURATED = (
    ClientProfile("harbor-dental", "Harbor Dental Group", "HD", 38, "America/New_York",
                  "US", "NY", "USD", _hours("08:00", "18:00", friday="17:00"),
                  PRIORITY_STYLES[0], "5-point", ("email", "practice management", "internet"),
                  "standard", True),
    ClientProfile("lakeside-accounting", "Lakeside Accounting Partners", "LA", 64,
                  "America/Chicago", "US", "IL", "USD", _hours("07:30", "17:30", friday="16:00"),
                  PRIORITY_STYLES[1], "5-point",
                  ("email", "tax software", "file server", "internet"), "premium"),
    ClientProfile("pacific-crest", "Pacific Crest Logistics", "PC", 142, "America/Los_Angeles",
                  "US", "CA", "USD", _hours("06:00", "19:00", saturday=["08:00", "12:00"]),
                  PRIORITY_STYLES[2], "3-point",
                  ("email", "warehouse management", "internet", "VoIP"), "standard"),
    ClientProfile("thameside-architects", "Thameside Architects", "TA", 22, "Europe/London",
                  "GB", "ENG", "GBP", _hours("09:00", "17:30", friday="16:00"),
                  PRIORITY_STYLES[3], "0-10", ("email", "file server", "internet"), "standard"),
    ClientProfile("bondi-physio", "Bondi Physio Clinics", "BP", 12, "Australia/Sydney",
                  "AU", "NSW", "AUD", _hours("07:00", "19:00", saturday=["08:00", "13:00"]),
                  PRIORITY_STYLES[4], "5-point", ("email", "booking system", "internet"), "basic"),
    ClientProfile("granite-credit-union", "Granite State Credit Union", "GS", 95,
                  "America/New_York", "US", "NH", "USD", _hours("08:00", "17:00"),
                  PRIORITY_STYLES[0], "5-point", ("email", "core banking", "internet", "VoIP"),
                  "premium"),
    ClientProfile("maple-engineering", "Maple Leaf Engineering", "ML", 55, "America/Toronto",
                  "CA", "ON", "CAD", _hours("08:00", "17:00", friday="15:00"),
                  PRIORITY_STYLES[2], "5-point", ("email", "CAD licence server", "internet"),
                  "standard"),
    ClientProfile("liffey-marketing", "Liffey Marketing", "LM", 28, "Europe/Dublin",
                  "IE", None, "EUR", _hours("09:00", "17:30"),
                  PRIORITY_STYLES[1], "5-point", ("email", "internet"), "basic"),
    ClientProfile("front-range-vet", "Front Range Veterinary", "FR", 33, "America/Denver",
                  "US", "CO", "USD", _hours("07:00", "19:00", saturday=["08:00", "14:00"]),
                  PRIORITY_STYLES[0], "5-point", ("email", "practice management", "internet"),
                  "standard"),
    ClientProfile("saguaro-property", "Saguaro Property Management", "SP", 47, "America/Phoenix",
                  "US", "AZ", "USD", _hours("08:00", "17:00"),
                  PRIORITY_STYLES[4], "3-point", ("email", "property software", "internet"),
                  "standard", True),
    ClientProfile("harbourside-medical", "Harbourside Medical Centre", "HM", 80,
                  "Pacific/Auckland", "NZ", None, "NZD",
                  _hours("07:30", "18:00", saturday=["09:00", "12:00"]),
                  PRIORITY_STYLES[3], "0-10", ("email", "patient records", "internet"), "premium"),
    ClientProfile("redwood-foundation", "Redwood Family Foundation", "RF", 10,
                  "America/Los_Angeles", "US", "CA", "USD",
                  _hours("09:00", "17:00", friday="13:00"),
                  PRIORITY_STYLES[0], "5-point", ("email", "internet"), "basic"),
)
# fmt: on

# fmt: off
_PLACES = (
    "Cedar", "Riverbend", "Northgate", "Bluewater", "Ironwood", "Oakridge", "Silverline",
    "Brightwater", "Stonebridge", "Willow Creek", "Eastbrook", "Highland", "Meadowview",
    "Clearwater", "Pinecrest", "Westfield", "Copperfield", "Foxhill", "Elmwood", "Kingsbury",
    "Sunrise", "Lakeshore", "Hillcrest", "Bayview", "Fairhaven",
)
_BUSINESSES = (
    ("Dental Care", "dental", "practice management"),
    ("Family Medicine", "medicine", "patient records"), ("Law Group", "law", "case management"),
    ("Accounting", "accounting", "tax software"), ("Realty", "realty", "listing software"),
    ("Insurance Agency", "insurance", "policy system"),
    ("Veterinary Clinic", "vet", "practice management"),
    ("Architects", "architects", "file server"),
    ("Engineering", "engineering", "CAD licence server"),
    ("Logistics", "logistics", "warehouse management"), ("Manufacturing", "manufacturing", "ERP"),
    ("Credit Union", "cu", "core banking"), ("Wealth Advisors", "wealth", "portfolio system"),
    ("Marketing", "marketing", "file server"),
    ("Construction", "construction", "project management"),
    ("Charter School", "school", "student records"), ("Pharmacy", "pharmacy", "dispensing system"),
    ("Hotel Group", "hotels", "booking system"),
)
_ZONES = (
    ("America/New_York", "US", "NY", "USD"), ("America/Chicago", "US", "IL", "USD"),
    ("America/Los_Angeles", "US", "CA", "USD"), ("Europe/London", "GB", "ENG", "GBP"),
    ("Australia/Sydney", "AU", "NSW", "AUD"), ("America/Denver", "US", "CO", "USD"),
    ("America/Toronto", "CA", "ON", "CAD"), ("America/New_York", "US", "MA", "USD"),
    ("America/Chicago", "US", "TX", "USD"), ("Europe/Dublin", "IE", None, "EUR"),
)
# fmt: on


def client_profiles(count: int) -> list[ClientProfile]:
    """The first `count` sample clients: a curated dozen, then generated ones with unique ids."""
    if count < 1:
        raise SampleError(f"--clients must be at least 1 (got {count})")
    profiles = list(_CURATED[:count])
    ids = {p.client_id for p in profiles}
    prefixes = {p.prefix for p in profiles}
    k = 0
    while len(profiles) < count:
        # Strides through places x businesses (25 and 18 are coprime): no repeat before 450.
        place, (business, slug, lob) = _PLACES[k % len(_PLACES)], _BUSINESSES[k % len(_BUSINESSES)]
        zone, country, subdivision, currency = _ZONES[k % len(_ZONES)]
        client_id = f"{place.lower().replace(' ', '-')}-{slug}"
        if client_id in ids:
            client_id = f"{client_id}-{k}"
        name = f"{place} {business}"
        prefix = _unique_prefix("".join(w[0] for w in name.split())[:3].upper(), prefixes)
        seats = round(10 * 15 ** ((k * 0.618034) % 1.0))  # spread log-evenly over 10..150
        open_ = ("07:30", "08:00", "08:30", "09:00")[k % 4]
        close = ("17:00", "17:30", "18:00")[k % 3]
        hours = _hours(
            open_,
            close,
            friday="16:00" if k % 3 == 0 else None,
            saturday=["09:00", "12:00"] if k % 7 == 0 else None,
        )
        scale = "3-point" if k % 11 == 5 else "0-10" if k % 13 == 7 else "5-point"
        tier = ("standard", "premium", "standard", "basic")[k % 4]
        profiles.append(
            ClientProfile(
                client_id,
                name,
                prefix,
                seats,
                zone,
                country,
                subdivision,
                currency,
                hours,
                PRIORITY_STYLES[k % len(PRIORITY_STYLES)],
                scale,
                ("email", lob, "internet"),
                tier,
            )
        )
        ids.add(client_id)
        prefixes.add(prefix)
        k += 1
    return profiles


def _unique_prefix(base: str, taken: set[str]) -> str:
    prefix, n = base, 2
    while prefix in taken:
        prefix, n = f"{base}{n}", n + 1
    return prefix


# Contract terms (optional): the first term starts this many months after the sample's first
# month and is reviewed every N months. With the default 13 months ending 2026-10, Harbor Dental's
# and Lakeside's first reviews fall due in 2026-09, Thameside's in 2026-10; Bondi's term runs on;
# Pacific Crest has none (its reviews cover the last 12 months).
REVIEW_TERMS = {"harbor-dental": (0, 12), "lakeside-accounting": (0, 12), "thameside-architects": (1, 12),
                "bondi-physio": (3, 18)}
# The what-if alternatives a client's review packs show (term.scenarios): Lakeside's renegotiation.
REVIEW_SCENARIOS = {"lakeside-accounting": {"6-hour P2 resolution": ["sla.P2.resolution=6h"]}}


def build_contract(profile: ClientProfile, years: list[int], months: list[str] | None = None) -> Contract:
    """The client's contract in the documented shape (validated by `parse_contract`); `months`:
    the sample's months, where a contract term (REVIEW_TERMS) starts."""
    tier = SLA_TIERS[profile.tier]
    sla = {
        p: {"response": r, "resolution": s, "calendar": "24x7" if p == "P1" else "business"}
        for p, (r, s) in tier.items()
    }
    fee = round(profile.seats * FEE_PER_SEAT[profile.tier] / 50) * 50
    small = profile.seats < 30
    credits = [
        {"metric": "uptime_pct", "below": 99.5 if small else 99.9, "credit_pct": 5},
        {"metric": "uptime_pct", "below": 99.0, "credit_pct": 10},
        {"metric": "resolution_sla_pct", "below": 90, "credit_pct": 5},
    ]
    if profile.tier == "premium":
        credits.append({"metric": "response_sla_pct", "below": 90, "credit_pct": 5})
    extra = [date(y, 12, 24).isoformat() for y in years] if profile.closes_christmas_eve else []
    data = {
        "client_id": profile.client_id,
        "name": profile.name,
        "timezone": profile.timezone,
        "business_hours": profile.business_hours,
        "holidays": {
            "country": profile.country,
            "subdivision": profile.subdivision,
            "extra": extra,
        },
        "sla": sla,
        "priority_map": dict(zip(profile.priority_names, ("P1", "P2", "P3", "P4"))),
        "statuses": {
            "pause": ["Waiting on Customer", "Waiting on Vendor"],
            "in_progress": ["In Progress"],
            "resolved": ["Resolved", "Closed"],
        },
        "proactive_sources": ["monitoring", "maintenance"],
        "uptime": {"target_pct": 99.5 if small else 99.9, "services": list(profile.services)},
        "monthly_fee": fee,
        "currency": profile.currency,
        "credits": credits,
        "targets": {
            "response_sla_pct": 95,
            "resolution_sla_pct": 90,
            "csat_pct": 90,
            "fcr_pct": 70,
            "proactive_pct": 25 if small else 30,
            "onsite_visits": onsite_visits(profile.seats),
            "patch_compliance_pct": 95,
        },
        "survey_scale": profile.survey_scale,
        "patch_window_days": 30,
        "recurrence_days": 14,
    }
    offset, every = REVIEW_TERMS.get(profile.client_id, (None, None))
    if months and offset is not None and offset < len(months):
        data["term"] = {"start": months[offset], "review_every_months": every}
        if profile.client_id in REVIEW_SCENARIOS:
            data["term"]["scenarios"] = REVIEW_SCENARIOS[profile.client_id]
    return parse_contract(data, f"sample contract {profile.client_id}")


def onsite_visits(seats: int) -> int:
    """On-site visits per month the contract includes: more for bigger offices."""
    return 1 + seats // 40


# ---------------------------------------------------------------- people

# fmt: off
FIRST_NAMES = (
    "Maria", "James", "Aisha", "Robert", "Chen", "Patricia", "Michael", "Priya", "David", "Linda",
    "Carlos", "Susan", "Kwame", "Emily", "Daniel", "Fatima", "Thomas", "Sofia", "Brian", "Hannah",
    "Luis", "Grace", "Kevin", "Olivia", "Ahmed", "Rachel", "Jason", "Mei", "Eric", "Nicole",
    "Samuel", "Laura", "Diego", "Megan", "Tariq", "Julia", "Ryan", "Ana", "Gavin", "Chloe", "Peter",
    "Yuki", "Mark", "Sarah", "Ivan", "Zoe", "Paul", "Ingrid", "Omar", "Claire", "Victor", "Nadia",
    "Scott", "Elena", "Aaron", "Rosa", "Liam", "Keiko", "Sean", "Amara",
)
LAST_NAMES = (
    "Lopez", "Smith", "Khan", "Johnson", "Wei", "Brown", "Garcia", "Patel", "Miller", "Davis",
    "Martinez", "Wilson", "Mensah", "Anderson", "Taylor", "Hassan", "Moore", "Rossi", "Jackson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "Nguyen", "King", "Wright",
    "Scott", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Perez", "Roberts",
    "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Stewart", "Sanchez",
    "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Reed", "Bailey", "Bell",
    "Kelly", "Howard",
)
ENGINEERS = (
    "Marcus Reed", "Jenna Ortiz", "Tom Becker", "Leila Haddad", "Sam Okafor", "Nina Petrova",
    "Raj Mehta", "Chris Doyle", "Ellie Brooks", "Hugo Lambert", "Tasha Greene", "Ben Castillo",
    "Mia Novak", "Kofi Asante", "Ruth Lindqvist", "Andre Silva", "Holly Grant", "Yusuf Demir",
    "Cara Flynn", "Joel Whitaker", "Ines Moreau", "Pete Kowalski", "Lucy Tran", "Felix Wagner",
)
SENIOR_ENGINEERS = (
    "Grace Holloway", "Victor Chen", "Alana Brooks", "Martin Ilves", "Sunita Rao", "Derek Lund",
)
# fmt: on
# The degraded client's dedicated engineer (who leaves) and the replacement; on no other team.
DEPARTING_ENGINEER = "Dana Whitfield"
REPLACEMENT_ENGINEER = "Owen Park"
DISPATCHER = "Service Desk"


def staff_names(rng: np.random.Generator, seats: int) -> np.ndarray:
    """`seats` distinct "First Last" names."""
    pairs = rng.choice(len(FIRST_NAMES) * len(LAST_NAMES), size=seats, replace=False)
    return np.array(
        [f"{FIRST_NAMES[i // len(LAST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]}" for i in pairs]
    )


# ---------------------------------------------------------------- devices

# kind -> (label, count from seats)
DEVICE_KINDS = {
    "SRV": lambda seats: 0 if seats < 15 else 1 + seats // 60,
    "NAS": lambda seats: 1 if seats >= 20 else 0,
    "PRN": lambda seats: 1 + seats // 15,
    "FW": lambda seats: 1,
    "SW": lambda seats: 1 + seats // 40,
    "AP": lambda seats: 1 + seats // 20,
}
