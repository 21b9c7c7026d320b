"""Client x month KPIs from the per-ticket SLA table and the clean tables.

Every ticket-based KPI is declared once as a `Measure` over a per-row "facts"
frame (which month column it is counted in, which rows, which of those are hits).
The same declarations compute `client_kpis` and, in `pipelines.metrics.trace`, list the
ticket ids behind each number, so a count can always be reproduced ticket by ticket.

Each month is counted as it stood at its end (`pipelines.metrics.month_ends`): the ticket
facts hold a ticket once as of the period end and once more as of each earlier month end at
which it was still changing, and each row keeps only the months it speaks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.core.business_time import Clock
from pipelines.core.contracts import Contract
from pipelines.metrics import month_ends
from pipelines.metrics.history import TicketEvents
from pipelines.metrics.sla import Assessment, Scope, assess, epoch_us, position_labels

Z = 1.959963984540054  # two-sided 95% normal quantile for the Wilson interval


@dataclass(frozen=True)
class Facts:
    """Per-row facts the measures count: tickets, survey responses, month-end snapshots.

    A frame is None when its source table is missing (its KPIs are then null, not 0).
    """

    tickets: pl.DataFrame
    surveys: pl.DataFrame | None
    snapshots: pl.DataFrame
    missing: frozenset[str] = frozenset()  # optional tables that were not given


@dataclass(frozen=True, eq=False)
class Measure:
    """One KPI: rows of `source` whose `month` column is the month, filtered by `where`.

    kind 'count': the number of rows; 'pct': 100 * share of rows that satisfy `hit`
    (with `<name>_n` and, when `ci`, a Wilson 95% interval); 'mean' / 'median' / 'p90':
    a statistic of `value` over the rows (with `<n_name>` when given).
    """

    name: str
    source: str
    month: str
    where: pl.Expr
    kind: str = "count"
    hit: pl.Expr | None = None
    value: pl.Expr | None = None
    ci: bool = False
    n_name: str | None = None
    by_priority: bool = False
    needs: str | None = None  # an optional table without which the KPI is null (n/a)

    @property
    def column(self) -> str:
        return f"{self.name}_pct" if self.kind == "pct" else self.name

    @property
    def columns(self) -> list[str]:
        if self.kind == "pct":
            extra = [f"{self.name}_ci_low", f"{self.name}_ci_high"] if self.ci else []
            return [self.column, f"{self.name}_n", *extra]
        return [self.column, *([self.n_name] if self.n_name else [])]


_ALL = pl.col("client_id").is_not_null()  # every row (a literal would count once per group)
_NOT_EXCLUDED = ~pl.col("excluded")
_RESPONSE_DECIDED = pl.col("response_status").is_in(["met", "breached"])
_RESOLUTION_DECIDED = pl.col("resolution_status").is_in(["met", "breached"])
_RESOLVED = pl.col("resolved_month").is_not_null() & _NOT_EXCLUDED


def _status(target: str, status: str) -> pl.Expr:
    return pl.col(f"{target}_status") == status


MEASURES: list[Measure] = [
    Measure("tickets_created", "tickets", "created_month", _ALL),
    Measure("tickets_resolved", "tickets", "resolved_month", _RESOLVED),
    Measure("tickets_excluded", "tickets", "excluded_month", pl.col("excluded")),
    Measure("open_at_end", "snapshots", "month", _ALL),
    Measure("waiting_on_customer_at_end", "snapshots", "month", pl.col("waiting"),
            needs="ticket_events"),
    *[
        Measure(f"{target}_{status}", "tickets", month, _status(target, status), by_priority=True)
        for target in ("response", "resolution")
        for status, month in (("met", f"{target}_month"), ("breached", f"{target}_month"),
                              ("pending", "as_of_month"), ("excluded", "excluded_month"))
    ],
    Measure("response_sla", "tickets", "response_month", _RESPONSE_DECIDED, "pct",
            hit=_status("response", "met"), ci=True, by_priority=True),
    Measure("resolution_sla", "tickets", "resolution_month", _RESOLUTION_DECIDED, "pct",
            hit=_status("resolution", "met"), ci=True, by_priority=True),
    Measure("avg_response_minutes", "tickets", "responded_month",
            _NOT_EXCLUDED & pl.col("response_minutes").is_not_null(), "mean",
            value=pl.col("response_minutes"), n_name="avg_response_n"),
    Measure("avg_in_progress_minutes", "tickets", "in_progress_month", _NOT_EXCLUDED, "mean",
            value=pl.col("in_progress_minutes"), n_name="avg_in_progress_n", needs="ticket_events"),
    *[
        Measure(name, "tickets", "resolved_month", _RESOLVED & pl.col("resolution_minutes").is_not_null(),
                kind,
                value=pl.col("resolution_minutes") / 60, n_name=n_name)
        for name, kind, n_name in (("avg_resolution_hours", "mean", "resolution_time_n"),
                                   ("median_resolution_hours", "median", None),
                                   ("p90_resolution_hours", "p90", None))
    ],
    Measure("fcr", "tickets", "resolved_month", _RESOLVED, "pct", hit=pl.col("is_fcr"), ci=True),
    Measure("reopen", "tickets", "resolved_month", _RESOLVED, "pct", hit=pl.col("is_reopened")),
    Measure("escalation", "tickets", "resolved_month", _RESOLVED, "pct", hit=pl.col("is_escalated")),
    Measure("reassignment", "tickets", "resolved_month", _RESOLVED, "pct",
            hit=pl.col("is_reassigned")),
    Measure("recurring", "tickets", "created_month", _NOT_EXCLUDED, "pct", hit=pl.col("is_recurring")),
    Measure("proactive", "tickets", "created_month", _ALL, "pct", hit=pl.col("is_proactive")),
    Measure("survey_responses", "surveys", "month", _ALL, needs="surveys"),
    Measure("survey_response_rate", "tickets", "resolved_month", _RESOLVED, "pct",
            hit=pl.col("has_survey"), needs="surveys"),
    Measure("csat", "surveys", "month", _ALL, "pct", hit=pl.col("positive"), ci=True,
            needs="surveys"),
    Measure("nps", "surveys", "month", pl.col("scale") == "0-10", "mean",
            value=pl.col("nps_points"), n_name="nps_n", needs="surveys"),
]
MEASURE_BY_COLUMN = {m.column: m for m in MEASURES}
MEASURE_BY_NAME = {m.name: m for m in MEASURES}


# ---------------------------------------------------------------- facts


MONTHS = ("created_month", "resolved_month", "response_month", "resolution_month",
          "in_progress_month", "responded_month", "excluded_month")  # the columns counted in


def ticket_facts(assessment: Assessment, earlier: pl.DataFrame, settled: np.ndarray,
                 tickets: pl.DataFrame, surveys: pl.DataFrame | None, contracts: dict[str, Contract],
                 scope: Scope) -> pl.DataFrame:
    """Per ticket and view (as of the period end, and as of each earlier month end at which it
    was still changing, see `month_ends`): ticket_sla + the flags the rates count (FCR,
    reopen, escalation, reassignment, recurrence, proactive source, survey answered). Each
    row's month columns name only the months it speaks for: its own as-of month, or (as of
    the period end) the months by whose end the ticket had settled."""
    now = assessment.ticket_sla
    settled_month = position_labels(scope.months.index(scope.client_index(now["client_id"]), settled),
                                    pl.Series(scope.months.labels))
    frame = pl.concat([
        now.with_columns(as_of_month=pl.lit(scope.period), row=pl.int_range(now.height, dtype=pl.Int64),
                         __settled=settled_month),
        earlier.with_columns(__settled=pl.lit(None, pl.String)),
    ])
    current = pl.col("as_of_month") == scope.period
    frame = frame.with_columns([
        pl.when((pl.col(c) == pl.col("as_of_month")) | (current & (pl.col("__settled") <= pl.col(c))))
        .then(pl.col(c)).alias(c) for c in MONTHS
    ])
    # Per ticket (in ticket_sla order), then given to each of its views.
    proactive = pl.DataFrame(
        [(c, s.casefold()) for c, k in contracts.items() for s in k.proactive_sources],
        schema={"client_id": pl.String, "__source": pl.String}, orient="row",
    ).unique().with_columns(pl.lit(True).alias("is_proactive"))
    per_ticket = (
        _aligned(tickets, assessment, "client_id", "source", "category", "asset", "requester",
                 "escalation_level", "reopen_count", "reassignment_count", "provider_touches", "fcr",
                 pl.col("resolved_at").alias("__final"), pl.col("source").str.to_lowercase().alias("__source"))
        .join(proactive, on=["client_id", "__source"], how="left", maintain_order="left")
        .with_columns(is_proactive=pl.col("is_proactive").fill_null(False),
                      is_recurring=_recurring(assessment, tickets, contracts),
                      __answered=_first_answer(now, surveys))
        .drop("client_id", "__source")
    )
    facts = frame.hstack(per_ticket[frame["row"].to_numpy()])
    # The tool's reopen count and FCR flag describe the ticket's whole life: they hold for a
    # view in which its final resolution is known; before it, the status history says.
    final = pl.col("resolved_at") == pl.col("__final")
    reopens = pl.when(final).then(pl.coalesce(pl.col("reopen_count"), pl.col("history_reopens"))) \
        .otherwise(pl.col("history_reopens"))
    rule = ((reopens.fill_null(0) == 0) & (pl.col("reassignment_count").fill_null(0) == 0)
            & (pl.col("escalation_level").fill_null(0) <= 1) & (pl.col("provider_touches").fill_null(0) <= 1))
    # answered by the end of the view's as-of month
    answered = (pl.col("__answered").is_not_null() & (pl.col("__answered") <= pl.col("as_of_month"))
                if surveys is not None else pl.lit(None, pl.Boolean))
    return facts.with_columns(
        excluded=pl.col("response_status") == "excluded",
        is_reopened=reopens.fill_null(0) > 0,
        is_escalated=pl.col("escalation_level").fill_null(0) > 1,
        is_reassigned=pl.col("reassignment_count").fill_null(0) > 0,
        is_fcr=pl.when(final).then(pl.coalesce(pl.col("fcr"), rule)).otherwise(rule),
        has_survey=answered,
    ).drop("__answered", "__settled", "__final")


def _aligned(tickets: pl.DataFrame, assessment: Assessment, *columns) -> pl.DataFrame:
    """Columns of the tickets frame, one row per ticket_sla row."""
    picked = tickets.select(*columns)
    same = len(assessment.rows) == tickets.height  # every ticket kept, in order
    return picked if same else picked[assessment.rows]


def _first_answer(ticket_sla: pl.DataFrame, surveys: pl.DataFrame | None) -> pl.Series:
    """Per ticket_sla row: the month of its first survey answer (null: none)."""
    if surveys is None:
        return pl.Series([None] * ticket_sla.height, dtype=pl.String)
    first = surveys.group_by("client_id", "ticket_id").agg(pl.col("month").min())
    return ticket_sla.select("client_id", "ticket_id").join(
        first, on=["client_id", "ticket_id"], how="left", maintain_order="left")["month"]


def _recurring(assessment: Assessment, tickets: pl.DataFrame, contracts: dict[str, Contract]) -> pl.Series:
    """Per ticket_sla row: an earlier ticket of the same category was resolved within the
    contract's recurrence_days before this one was logged. A ticket with a device (asset) is
    matched on that device; one without, on its requester, against any earlier ticket of
    theirs (with or without a device). Every resolution counts (also one before a reopen),
    except a close as merged / cancelled / duplicate: all known before the ticket was logged,
    so the flag never changes later."""
    mine = _aligned(tickets, assessment, "client_id", "category", "asset", "requester")

    def key(column: str, seed: int) -> pl.Series:  # hashed for speed; a match is checked below
        parts = pl.col("client_id", "category", column)
        return mine.select(pl.when(pl.all_horizontal(parts.is_not_null()))
                           .then(pl.struct(parts).hash(seed))).to_series()

    device, person = key("asset", 1), key("requester", 2)
    rows, times = assessment.resolved_row, assessment.resolved_time
    earlier = pl.DataFrame({
        "__key": pl.concat([device.gather(rows), person.gather(rows)]),
        "__prev": np.concatenate([times, times]), "__src": np.concatenate([rows, rows]),
    }).drop_nulls("__key").sort("__prev")
    window = pl.DataFrame([(c, k.recurrence_days * 86_400_000_000) for c, k in contracts.items()],
                          schema={"client_id": pl.String, "__window": pl.Int64}, orient="row")
    probe = pl.DataFrame({"__row": np.arange(mine.height), "__key": device.fill_null(person),
                          "__at": epoch_us(assessment.ticket_sla["created_at"])}).drop_nulls("__key").sort("__at")
    matched = probe.join_asof(earlier, left_on="__at", right_on="__prev", by="__key", strategy="backward",
                              allow_exact_matches=False, check_sortedness=False).drop_nulls("__prev")
    probe_of, earlier_of = mine[matched["__row"].to_numpy()], mine[matched["__src"].to_numpy()]
    same = ((probe_of["client_id"] == earlier_of["client_id"]) & (probe_of["category"] == earlier_of["category"])
            & pl.select(pl.when(pl.lit(probe_of["asset"]).is_not_null())
                        .then(pl.lit(probe_of["asset"]) == pl.lit(earlier_of["asset"]))
                        .otherwise(pl.lit(probe_of["requester"]) == pl.lit(earlier_of["requester"]))).to_series())
    limit = probe_of.select("client_id").join(window, on="client_id", how="left", maintain_order="left")["__window"]
    close = (matched["__at"] - matched["__prev"]) <= limit
    hit = np.zeros(mine.height, bool)
    hit[matched["__row"].filter(same & close).to_numpy()] = True
    return pl.Series(hit)


def survey_facts(surveys: pl.DataFrame | None, contracts: dict[str, Contract],
                 scope: Scope) -> pl.DataFrame | None:
    """Survey responses before the period end, with their month and scale reading.

    CSAT positive: 3-point 'positive', 5-point 4-5, 0-10 9-10; NPS points 0-10 only:
    +100 for 9-10, -100 for 0-6, 0 for 7-8 (their mean is the NPS).
    """
    if surveys is None:
        return None
    month = scope.month_of(surveys["client_id"], epoch_us(surveys["responded_at"]))
    scales = pl.DataFrame([(c, k.survey_scale) for c, k in contracts.items()],
                          schema={"client_id": pl.String, "scale": pl.String}, orient="row")
    score = pl.col("score")
    return (
        surveys.select("ticket_id", "client_id", "score")
        .with_columns(month=month)
        .filter(pl.col("month").is_not_null())
        .join(scales, on="client_id", how="left", maintain_order="left")
        .with_columns(
            positive=pl.when(pl.col("scale") == "3-point").then(score == 3)
            .when(pl.col("scale") == "5-point").then(score >= 4).otherwise(score >= 9),
            nps_points=pl.when(score >= 9).then(100.0).when(score <= 6).then(-100.0).otherwise(0.0),
        )
    )


def build_facts(assessment: Assessment | None, tables: dict[str, pl.DataFrame | None],
                contracts: dict[str, Contract], scope: Scope, clock: Clock | None = None,
                events: TicketEvents | None = None) -> Facts:
    """Every facts frame the measures need, from the assessment (`sla.assess` of the tickets;
    None: assessed here) and the clean tables (`events`: their status events joined to the
    tickets, when done already)."""
    if events is None and tables.get("ticket_events") is not None:
        events = TicketEvents.build(tables["tickets"], tables["ticket_events"])
    if assessment is None:
        assessment = assess(tables["tickets"], events, contracts, scope, clock)
    surveys = survey_facts(tables.get("surveys"), contracts, scope)
    settled = month_ends.settled_at(assessment, tables.get("surveys"))
    earlier = month_ends.month_end_sla(tables["tickets"], events, contracts, scope, assessment,
                                       settled, clock)
    facts = ticket_facts(assessment, earlier, settled, tables["tickets"], surveys, contracts, scope)
    # has_history: whether the ticket has any status event (what coverage counts)
    return Facts(
        tickets=facts.with_columns(has_history=pl.Series(
            np.zeros(facts.height, bool) if events is None
            else events.count[assessment.rows[facts["row"].to_numpy()]] > 0)),
        surveys=surveys,
        snapshots=month_ends.month_end_status(assessment.ticket_sla, events, contracts, scope, assessment.rows),
        missing=frozenset(name for name, frame in tables.items() if frame is None),
    )


# ---------------------------------------------------------------- aggregation


def wilson(hits: pl.Expr, n: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score 95% interval for hits / n, in percent (null when n = 0)."""
    p = hits / n
    denom = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denom
    half = Z * ((p * (1 - p) / n + Z**2 / (4 * n**2)).sqrt()) / denom
    ok = n > 0
    return (pl.when(ok).then(100 * (centre - half).clip(0, 1)),
            pl.when(ok).then(100 * (centre + half).clip(0, 1)))


def _aggs(m: Measure) -> list[pl.Expr]:
    rows = m.where.fill_null(False)
    if m.kind == "count":
        return [rows.sum().alias(m.name)]
    if m.kind == "pct":
        return [(rows & m.hit.fill_null(False)).sum().alias(f"__{m.name}_hits"),
                rows.sum().alias(f"{m.name}_n")]
    value = m.value.filter(rows & m.value.is_not_null())
    stat = {"mean": value.mean(), "median": value.median(),
            "p90": value.quantile(0.9, interpolation="linear")}[m.kind]
    out = [stat.alias(m.name)]
    if m.n_name:
        out.append(value.len().alias(m.n_name))
    return out


def _counts(m: Measure) -> list[str]:
    """Columns that are counts (0 when a month has no rows)."""
    if m.kind == "count":
        return [m.name]
    if m.kind == "pct":
        return [f"__{m.name}_hits", f"{m.name}_n"]
    return [m.n_name] if m.n_name else []


def _finish(m: Measure) -> list[pl.Expr]:
    if m.kind != "pct":
        return [pl.col(c) for c in m.columns]
    hits, n = pl.col(f"__{m.name}_hits"), pl.col(f"{m.name}_n")
    out = [pl.when(n > 0).then(100 * hits / n).alias(m.column), n]
    if m.ci:
        low, high = wilson(hits, n)
        out += [low.alias(f"{m.name}_ci_low"), high.alias(f"{m.name}_ci_high")]
    return out


def aggregate(facts: Facts, grid: pl.DataFrame, measures: list[Measure],
              keys: tuple[str, ...] = ("client_id", "month")) -> pl.DataFrame:
    """Evaluate measures on the facts onto a grid of keys (counts 0, rates null where empty)."""
    out = grid
    groups: dict[tuple[str, str], list[Measure]] = {}
    for m in measures:
        groups.setdefault((m.source, m.month), []).append(m)
    for (source, month), ms in groups.items():
        frame = getattr(facts, source)
        extra = [k for k in keys if k not in ("client_id", "month")]
        absent = [m for m in ms if frame is None or m.needs in facts.missing]
        out = out.with_columns([pl.lit(None, pl.Int64 if c in _counts(m) else pl.Float64).alias(c)
                                for m in absent for c in m.columns])
        ms = [m for m in ms if m not in absent]  # Measure compares by identity (eq=False)
        if not ms:
            continue
        aggs = [e for m in ms for e in _aggs(m)]
        used = {"client_id", month, *extra, *(c for e in aggs for c in e.meta.root_names())}
        agg = (  # only the columns these measures use are filtered (the facts are wide)
            frame.select([c for c in frame.columns if c in used]).filter(pl.col(month).is_not_null())
            .group_by(["client_id", pl.col(month).alias("month"), *extra])
            .agg(aggs)
        )
        out = out.join(agg, on=list(keys), how="left", maintain_order="left")
        out = out.with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for m in ms for c in _counts(m)])
        out = out.with_columns([e for m in ms for e in _finish(m)])
    return out.select(*keys, *[c for m in measures for c in m.columns])


def month_grid(ticket_sla: pl.DataFrame, scope: Scope,
               contracts: dict[str, Contract] | None = None) -> pl.DataFrame:
    """(client_id, month) from each client's first ticket month to the period
    (x priority when contracts are given)."""
    labels = scope.months.labels
    first = ticket_sla.group_by("client_id").agg(pl.col("created_month").min().alias("first"))
    rows = [(c, m) for c, f in first.sort("client_id").iter_rows() for m in labels if m >= f]
    grid = pl.DataFrame(rows, schema={"client_id": pl.String, "month": pl.String}, orient="row")
    if contracts is None:
        return grid
    prios = pl.DataFrame([(c, p) for c, k in contracts.items() for p in k.sla],
                         schema={"client_id": pl.String, "priority": pl.String}, orient="row")
    return grid.join(prios, on="client_id", how="inner", maintain_order="left").sort(
        "client_id", "month", "priority")


def client_kpis(facts: Facts, grid: pl.DataFrame) -> pl.DataFrame:
    """The ticket, SLA and survey KPIs per client and month (see MEASURES)."""
    return aggregate(facts, grid, MEASURES)


def by_priority(facts: Facts, grid: pl.DataFrame) -> pl.DataFrame:
    """SLA counts and percentages per client, month and priority (long table)."""
    return aggregate(facts, grid, [m for m in MEASURES if m.by_priority],
                     keys=("client_id", "month", "priority"))
