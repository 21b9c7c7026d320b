"""The vectorised passes of the metrics stage against their one-by-one definitions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.business_time import MINUTE
from pipelines.core.contracts import parse_contract
from pipelines.metrics.contacts import one_to_one
from pipelines.metrics.service_kpis import service_uptime
from pipelines.metrics.sla import make_scope
from tests.conftest import ACME


def _one_by_one(k: list[int], ti: list[int]) -> list[int]:
    used, taken, out = set(), set(), []
    for i, (a, b) in enumerate(zip(k, ti, strict=True)):
        if a not in used and b not in taken:
            used.add(a)
            taken.add(b)
            out.append(i)
    return out


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=60))
def test_one_to_one_takes_the_pairs_a_one_by_one_pass_takes(pairs):
    k = np.array([p[0] for p in pairs], np.int64)
    ti = np.array([p[1] for p in pairs], np.int64)
    assert one_to_one(k, ti, 7, 7).tolist() == _one_by_one(k.tolist(), ti.tolist())


def _reference(outages: list[tuple], month: tuple[int, int], services: list[str]) -> dict:
    """Per service: (unplanned, planned) minutes in the month, the way it is defined: overlaps
    merged, unplanned time inside planned maintenance counted as planned."""

    def union(spans):
        merged = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            elif b > a:
                merged.append((a, b))
        return merged

    def minus(spans, holes):
        out = []
        for a, b in spans:
            pieces = [(a, b)]
            for h0, h1 in holes:
                pieces = [p for x, y in pieces for p in ((x, min(y, h0)), (max(x, h1), y)) if p[1] > p[0]]
            out += pieces
        return out

    def overlap(spans):
        return sum(max(0, min(b, month[1]) - max(a, month[0])) for a, b in spans)

    names = {s.casefold(): s for s in services}
    got = {s: ([], []) for s in services}
    for service, a, b, planned in outages:
        got.setdefault(names.setdefault(service.casefold(), service), ([], []))[planned].append((a, b))
    out = {}
    for service, (unplanned, planned) in got.items():
        p = union(planned)
        out[service] = (overlap(minus(union(unplanned), p)) / MINUTE, overlap(p) / MINUTE)
    return out


HOUR = 60 * MINUTE
OCT = int(datetime(2026, 10, 1, 4, tzinfo=UTC).timestamp() * 1e6)  # 1 Oct 2026, 00:00 in New York
outage = st.tuples(st.sampled_from(["email", "Email", "vpn", "VPN", "erp"]),
                   st.integers(-30, 800), st.integers(0, 40), st.booleans())


@settings(deadline=None, max_examples=60)  # a polars pass per example: slow on a shared machine
@given(st.lists(outage, max_size=25))
def test_uptime_minutes_are_those_of_merged_intervals(drawn):
    contract = parse_contract(copy.deepcopy(ACME))
    scope = make_scope({"acme": contract}, "2026-10", "2026-10")
    rows = [(s, OCT + start * HOUR, OCT + (start + length) * HOUR, planned) for s, start, length, planned in drawn]
    outages = pl.DataFrame(
        [("acme", s, a, b, planned) for s, a, b, planned in rows],
        schema={"client_id": pl.String, "service": pl.String, "started_at": pl.Int64, "ended_at": pl.Int64,
                "planned": pl.Boolean}, orient="row",
    ).with_columns(pl.col("started_at", "ended_at").cast(pl.Datetime("us", "UTC")))
    grid = pl.DataFrame({"client_id": ["acme"], "month": ["2026-10"]})
    got = service_uptime(outages, {"acme": contract}, scope, grid)
    bounds = (int(scope.months.bounds[0, 0]), int(scope.months.bounds[0, 1]))
    expected = _reference(rows, bounds, list(contract.uptime.services))
    assert got["service"].to_list() == list(expected)
    assert got.select("unplanned_minutes", "planned_minutes").rows() == list(expected.values())
