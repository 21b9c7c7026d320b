"""Shared tiny fixtures: a contract in the documented shape and a raw-data folder writer."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ACME = {
    "client_id": "acme",
    "name": "Acme Dental",
    "timezone": "America/New_York",
    "business_hours": {d: ["08:00", "18:00"] for d in ("mon", "tue", "wed", "thu")} | {"fri": ["08:00", "17:00"]},
    "holidays": {"country": "US", "subdivision": "NY", "extra": ["2026-12-24"]},
    "sla": {
        "P1": {"response": "15m", "resolution": "4h", "calendar": "24x7"},
        "P2": {"response": "1h", "resolution": "8h", "calendar": "business"},
        "P3": {"response": "4h", "resolution": "24h", "calendar": "business"},
        "P4": {"response": "8h", "resolution": "72h", "calendar": "business"},
    },
    "priority_map": {"Critical": "P1", "High": "P2", "Medium": "P3", "Low": "P4"},
    "statuses": {
        "pause": ["Waiting on Customer", "Waiting on Vendor"],
        "in_progress": ["In Progress"],
        "resolved": ["Resolved", "Closed"],
    },
    "proactive_sources": ["monitoring", "maintenance"],
    "uptime": {"target_pct": 99.9, "services": ["email", "internet"]},
    "monthly_fee": 4200,
    "credits": [{"metric": "uptime_pct", "below": 99.9, "credit_pct": 5}],
    "targets": {"response_sla_pct": 95, "resolution_sla_pct": 90, "csat_pct": 90},
    "survey_scale": "5-point",
}


@pytest.fixture
def contract_data() -> dict:
    """A fresh copy of a valid contract mapping (edit it freely in a test)."""
    return copy.deepcopy(ACME)


def write_contract(folder: Path, data: dict) -> Path:
    """Write a contract mapping as `folder/contracts/<client_id>.yml`."""
    path = folder / "contracts" / f"{data['client_id']}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_csv(folder: Path, name: str, text: str) -> Path:
    """Write a raw CSV table (leading indentation removed) into `folder`."""
    path = folder / f"{name}.csv"
    lines = [line.strip() for line in text.strip().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return path
