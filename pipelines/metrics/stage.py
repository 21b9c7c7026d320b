"""The metrics stage: clean tables + contracts -> ticket_sla and client KPI tables.

`compute_metrics` is pure (frames in, frames out); `metrics_folder` reads a clean
folder and writes the outputs through `pipelines.core.io`:

- `ticket_sla.parquet`: one row per ticket (pipelines.metrics.sla.TICKET_SLA_COLUMNS)
- `client_kpis.parquet`: one row per client and month (CLIENT_KPI_COLUMNS)
- `client_kpis_by_priority.parquet`: SLA counts and percentages per client, month, priority
- `client_uptime.parquet`: outage minutes and uptime per client, month and service
- `client_kpi_coverage.parquet`: per client, month and KPI the share of its tickets that carry
  the fields it needs, and whether it is measured (pipelines.metrics.coverage)
- `contact_matches.parquet`, `ticket_contacts.parquet`: the client's own record of calls and
  emails matched to the tickets, per contact and per ticket (pipelines.metrics.contacts)
- `metrics_summary.json`: period, as-of instants, where the data ends, clients, row counts,
  the tone fit in brief, timings (wall `timings_s`, and the process's CPU time `cpu_s`: on a
  shared machine the steadier figure)
- the comment tone (`pipelines.metrics.tone`): `comment_tone.parquet`, `tone_fit.json` and
  `tone_model.joblib`, trained on every client's rated comments up to the period (a sample of
  them beyond `tone.MAX_TRAIN`)

A month is complete when the data reaches its last day (the export's stated extraction
time, else its latest ticket or status event); the default period is the latest complete
month, and a month that is not complete is flagged (`month_complete`) wherever it is shown.
"""

from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.core import io, processes
from pipelines.core.contracts import Contract, load_contracts
from pipelines.core.periods import month_index, month_label
from pipelines.metrics import contacts, coverage, kpis, service_kpis, sla, tone
from pipelines.metrics.history import TicketEvents

OPTIONAL_TABLES = ("ticket_events", "surveys", "outages", "time_entries", "devices", "contacts")
OUTPUTS = ("ticket_sla", "client_kpis", "client_kpis_by_priority", "client_uptime", "client_kpi_coverage",
           "contact_matches", "ticket_contacts")
PER_CONTACT = ("contact_matches", "ticket_contacts")  # as large as the contacts and the tickets: written per chunk
SERVICE_COLUMNS = ["uptime_pct", "planned_maintenance_minutes", "hours_logged", "onsite_visits",
                   "cost_per_ticket", "patch_compliance_pct", "patch_compliance_n",
                   "service_credit_pct"]
CLIENT_KPI_COLUMNS = ["client_id", "month", "month_complete",
                      *[c for m in kpis.MEASURES for c in m.columns], *SERVICE_COLUMNS]
ACTIVITY = {"tickets": ("created_at", "first_response_at", "resolved_at", "closed_at"),
            "ticket_events": ("at",)}  # what says how far an export reaches
BY_PRIORITY_COLUMNS = ["client_id", "month", "priority",
                       *[c for m in kpis.MEASURES if m.by_priority for c in m.columns]]
CHUNK_TICKETS = 1_000_000  # tickets per chunk of clients in metrics_folder: its peak memory follows this
TICKET_ROW = "__ticket_row"  # a ticket's place in the clean file, to put ticket_sla back in its order
PARALLEL_TICKETS = 200_000  # from this many tickets, chunks are computed in worker processes at once
MAX_WORKERS = 4  # processes at most by default (each holds a chunk: see chunk_budget)
WORKERS_ENV = "SERVICEREVIEW_METRICS_WORKERS"
MERGE_WINDOW = 65_536  # rows at least per window of the merge of ticket_sla parts (io.merge_sorted_parts)
# Only what the metrics use, so the big tables cost less memory (others: every column).
READ_COLUMNS = {
    "tickets": ["ticket_id", "client_id", "created_at", "priority", "first_response_at",
                "resolved_at", "closed_at", "close_code", "source", "category", "asset", "requester", "title",
                "escalation_level", "reopen_count", "reassignment_count", "provider_touches", "fcr"],
    "ticket_events": ["client_id", "ticket_id", "at", "status", "priority", "seq"],
    "surveys": ["ticket_id", "client_id", "responded_at", "score"],  # (tone reads its own: `_tone`)
    "time_entries": ["client_id", "started_at", "minutes", "work_type"],
}


@dataclass
class MetricsResult:
    """The metrics stage's outputs (see OUTPUTS) and its run summary."""

    ticket_sla: pl.DataFrame | pl.LazyFrame  # lazy from metrics_folder (so are PER_CONTACT): the written file
    client_kpis: pl.DataFrame
    client_kpis_by_priority: pl.DataFrame
    client_uptime: pl.DataFrame
    client_kpi_coverage: pl.DataFrame
    contact_matches: pl.DataFrame | pl.LazyFrame = field(default_factory=lambda: contacts.empty().contact_matches)
    ticket_contacts: pl.DataFrame | pl.LazyFrame = field(default_factory=lambda: contacts.empty().ticket_contacts)
    summary: dict = field(default_factory=dict)


def data_ends(tables: dict[str, pl.DataFrame | None]) -> dict[str, datetime]:
    """Per client, the latest moment its tickets or status events record (UTC)."""
    parts = [frame.select("client_id", pl.max_horizontal(columns).alias("at"))
             for name, columns in ACTIVITY.items() if (frame := tables.get(name)) is not None
             and not frame.is_empty()]
    if not parts:
        return {}
    ends = pl.concat(parts).group_by("client_id").agg(pl.col("at").max()).drop_nulls()
    return dict(ends.iter_rows())


def complete_through(export_end: datetime, zone) -> int:
    """The latest month (absolute index) whose last local day the export reaches."""
    local = export_end.astimezone(zone)
    index = local.year * 12 + local.month - 1
    last_day = (local + timedelta(days=1)).month != local.month
    return index if last_day else index - 1


def default_period(export_end: datetime | None, contracts: dict[str, Contract]) -> str:
    """The latest month the export covers to its last day (in the clients' zones)."""
    if export_end is None:
        raise io.InputError("tickets: no tickets, so there is no period to report on (give --period)")
    return month_label(max(complete_through(export_end, k.zone) for k in contracts.values()))


def compute_metrics(tables: dict[str, pl.DataFrame | None], contracts: dict[str, Contract],
                    period: str | None = None, *, extracted_at: datetime | None = None,
                    first_month: str | None = None) -> MetricsResult:
    """Every metrics output from clean tables (None = table not given) and contracts.

    `extracted_at`: when the export was taken, if it says (else its latest activity).
    `first_month` (default: from these tickets) fixes the first month of the scope, so a
    chunk of clients is computed exactly as it is among all clients (`metrics_folder`)."""
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    clock, used = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock, used
        now, cpu_now = time.perf_counter(), time.process_time()
        timings[name], cpu[name] = round(now - clock, 3), round(cpu_now - used, 3)
        clock, used = now, cpu_now

    tickets = tables["tickets"]
    ends = data_ends(tables)
    export_end = extracted_at or max(ends.values(), default=None)
    period = period or default_period(export_end, contracts)
    _check_begun(period)
    first_month = first_month or _first_month(tickets, contracts, period)
    scope = sla.make_scope(contracts, first_month, period)
    earliest = int(min(sla.epoch_us(tickets["created_at"]).min(initial=sla.NEVER), scope.as_of.min(),
                       contacts.earliest(tables.get("contacts"), scope)))
    sla_clock = sla.build_clock(contracts, scope, earliest)  # shared by every as-of evaluation and contacts
    given = tables.get("ticket_events")
    events = None if given is None else TicketEvents.build(tickets, given)  # joined once, used thrice
    assessment = sla.assess(tickets, events, contracts, scope, sla_clock)
    ticket_sla = assessment.ticket_sla
    lap("ticket_sla")
    matched = contacts.match_contacts(tables.get("contacts"), tickets, ticket_sla, contracts, scope, sla_clock)
    lap("contacts")
    facts = kpis.build_facts(assessment, tables, contracts, scope, sla_clock, events)
    lap("facts")
    grid = kpis.month_grid(ticket_sla, scope)
    client = kpis.client_kpis(facts, grid)
    priority = kpis.by_priority(facts, kpis.month_grid(ticket_sla, scope, contracts))
    lap("ticket_kpis")
    uptime = service_kpis.service_uptime(tables.get("outages"), contracts, scope, grid)
    client = _attach(client, service_kpis.client_uptime(uptime, contracts),
                     {"uptime_pct": pl.Float64, "planned_maintenance_minutes": pl.Float64})
    client = _attach(client, service_kpis.effort(tables.get("time_entries"), scope),
                     {"hours_logged": pl.Float64, "onsite_visits": pl.Int64},
                     zero=("hours_logged", "onsite_visits"))
    client = _attach(client, service_kpis.patch_compliance(tables.get("devices"), contracts, scope),
                     {"patch_compliance_pct": pl.Float64, "patch_compliance_n": pl.Int64},
                     zero=("patch_compliance_n",))
    client = client.with_columns(cost_per_ticket=service_kpis.cost_per_ticket(contracts),
                                 month_complete=_complete(export_end, contracts))
    covered = coverage.measure_coverage(facts, contracts, grid, _pauses_seen(tables, contracts, scope))
    client = coverage.not_measured(client, covered)  # before credits: they use measured values only
    client = service_kpis.service_credit(client, contracts)
    lap("service_kpis")
    if uptime is None:
        uptime = pl.DataFrame(schema={c: pl.Float64 if c not in ("client_id", "month", "service")
                                      else pl.String for c in service_kpis.UPTIME_COLUMNS})
    summary = {
        "period": period,
        "first_month": first_month,
        "as_of": {c: at.isoformat() for c, at in zip(scope.clients, sla.stamp(scope.as_of).to_list(), strict=True)},
        "clients": sorted(ticket_sla["client_id"].unique().to_list()),
        "clients_without_tickets": sorted(set(contracts) - set(ticket_sla["client_id"].to_list())),
        "missing_tables": [t for t in OPTIONAL_TABLES if tables.get(t) is None],
        "export_end": export_end.isoformat() if export_end else None,
        "export_end_from": "extraction time" if extracted_at else "latest ticket or status event",
        "data_end": {c: at.isoformat() for c, at in sorted(ends.items())},
        "period_complete": export_end is not None and all(
            complete_through(export_end, k.zone) >= month_index(period) for k in contracts.values()),
        "tickets_in": tickets.height,
        "tickets_after_period": tickets.height - ticket_sla.height,
        "timings_s": timings,
        "cpu_s": cpu,
    }
    if TICKET_ROW in tickets.columns:  # a chunk's tickets (compute_chunk): their places in the clean file
        ticket_sla = ticket_sla.with_columns(tickets[TICKET_ROW].gather(assessment.rows))
    result = MetricsResult(
        ticket_sla=ticket_sla,
        client_kpis=client.select(CLIENT_KPI_COLUMNS).sort("client_id", "month"),
        client_kpis_by_priority=priority.select(BY_PRIORITY_COLUMNS),
        client_uptime=uptime.select(service_kpis.UPTIME_COLUMNS).sort("client_id", "month", "service"),
        client_kpi_coverage=covered,
        contact_matches=matched.contact_matches,
        ticket_contacts=matched.ticket_contacts,
        summary=summary,
    )
    summary["rows"] = {name: getattr(result, name).height for name in OUTPUTS}
    return result


def _complete(export_end: datetime | None, contracts: dict[str, Contract]) -> pl.Expr:
    """Whether the export reaches each row's month's last day (in the client's zone)."""
    last = {c: complete_through(export_end, k.zone) if export_end else -1 for c, k in contracts.items()}
    index = pl.col("month").str.slice(0, 4).cast(pl.Int64) * 12 + pl.col("month").str.slice(5, 2).cast(pl.Int64) - 1
    return index <= pl.col("client_id").replace_strict(last, default=-1, return_dtype=pl.Int64)


def _pauses_seen(tables: dict[str, pl.DataFrame | None], contracts: dict[str, Contract],
                 scope: sla.Scope) -> dict[str, bool]:
    """Per client: does its status history up to the period end show any pause status?"""
    events = tables.get("ticket_events")
    if events is None or events.is_empty():
        return {c: False for c in contracts}
    as_of = sla.stamp(scope.as_of)
    ends = pl.DataFrame({"client_id": scope.clients, "__end": as_of})
    pauses = pl.DataFrame([(c, s) for c, k in contracts.items() for s in k.statuses.pause],
                          schema={"client_id": pl.String, "status": pl.String}, orient="row")
    first = events.group_by("client_id", "status").agg(pl.col("at").min())  # small: then join
    seen = (first.join(pauses, on=["client_id", "status"], how="semi").join(ends, on="client_id")
            .filter(pl.col("at") < pl.col("__end"))["client_id"].unique().to_list())
    return {c: c in seen for c in contracts}


def _check_begun(period: str) -> None:
    """Refuse a month that has not begun (also checks the spelling): nothing can be known about
    it yet, and the calendars would run to it (year 2999 ...)."""
    today = datetime.now(UTC).date()
    if month_index(period) > today.year * 12 + today.month - 1:
        raise io.InputError(f"--period {period} has not begun yet (today is {today.isoformat()}); "
                            "a report is for a month that has started")


def _first_month(tickets: pl.DataFrame, contracts: dict[str, Contract], period: str) -> str:
    """The earliest local month of any client's first ticket (at most the period)."""
    firsts = tickets.group_by("client_id").agg(pl.col("created_at").min())
    best = month_index(period)
    for client, created in firsts.iter_rows():
        if client in contracts:
            local = created.astimezone(contracts[client].zone)
            best = min(best, local.year * 12 + local.month - 1)
    return month_label(best)


def _attach(client: pl.DataFrame, frame: pl.DataFrame | None, columns: dict[str, pl.DataType],
            zero: tuple[str, ...] = ()) -> pl.DataFrame:
    """Left-join a (client_id, month) frame's columns with a fixed dtype (whether or not the
    table was given); a month without a row gets 0 in `zero`; None (table not given) -> null."""
    if frame is None:
        return client.with_columns([pl.lit(None, dtype).alias(c) for c, dtype in columns.items()])
    out = client.join(frame.select("client_id", "month", *columns), on=["client_id", "month"],
                      how="left", maintain_order="left")
    return out.with_columns([pl.col(c).cast(dtype).fill_null(0) if c in zero else pl.col(c).cast(dtype)
                             for c, dtype in columns.items()])


def plan_chunks(tickets_per_client: dict[str, int], budget: int) -> list[list[str]]:
    """Clients in id order, in consecutive chunks of at most about `budget` tickets (a client
    is never split; one larger than the budget is a chunk of its own; clients without tickets
    ride along in a neighbouring chunk)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for client in sorted(tickets_per_client):
        n = tickets_per_client[client]
        if n and size and size + n > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(client)
        size += n
    return chunks


def combine_summaries(summaries: list[dict]) -> dict:
    """The summary of all clients from the summaries of chunks of them (as `compute_metrics`
    would have written it for all at once; timings are summed)."""
    first = summaries[0]
    union = lambda key: sorted({c for s in summaries for c in s[key]})
    timings: dict[str, dict[str, float]] = {"timings_s": {}, "cpu_s": {}}
    for s in summaries:
        for key, sums in timings.items():
            for name, seconds in s[key].items():
                sums[name] = round(sums.get(name, 0.0) + seconds, 3)
    return first | timings | {
        "as_of": {c: t for s in summaries for c, t in s["as_of"].items()},
        "data_end": dict(sorted((c, t) for s in summaries for c, t in s["data_end"].items())),
        "period_complete": all(s["period_complete"] for s in summaries),
        "clients": union("clients"),
        "clients_without_tickets": union("clients_without_tickets"),
        "tickets_in": sum(s["tickets_in"] for s in summaries),
        "tickets_after_period": sum(s["tickets_after_period"] for s in summaries),
        "rows": {name: sum(s["rows"][name] for s in summaries) for name in OUTPUTS},
    }


def _scan_all_clients(clean_dir: Path, missing: set[str]) -> tuple[pl.DataFrame, list[datetime | None]]:
    """Each client's tickets and first ticket, and the latest moment of each ACTIVITY table, from
    lazy scans of the whole folder."""
    census = (io.scan_table(clean_dir, "tickets").group_by("client_id")
              .agg(pl.len().alias("tickets"), pl.col("created_at").min()).collect())
    latest = [io.scan_table(clean_dir, name).select(pl.max_horizontal(columns).max()).collect().item()
              for name, columns in ACTIVITY.items() if name not in missing]
    return census, latest


def _over_all_clients(clean_dir: Path, contracts: dict[str, Contract], period: str | None,
                      census: pl.DataFrame, latest: list[datetime | None]
                      ) -> tuple[str, str, datetime | None, str | None, dict[str, int]]:
    """What is taken over all clients before any chunk (from `_scan_all_clients`): the period,
    the first month, where the export ends (and its stated extraction time) and each client's tickets."""
    summary = clean_dir / "clean_summary.json"
    cleaned = io.read_json(summary) if summary.exists() else {}
    # when the export was taken: as `clean --extracted-at` gave it, or as the import recorded it
    stated = cleaned.get("extracted_at") or (cleaned.get("import") or {}).get("extracted_at")
    export_end = datetime.fromisoformat(stated).astimezone(UTC) if stated \
        else max((at for at in latest if at is not None), default=None)
    period = period or default_period(export_end, contracts)
    _check_begun(period)
    counts = dict.fromkeys(contracts, 0) | dict(census.select("client_id", "tickets").iter_rows())
    return period, _first_month(census.drop("tickets"), contracts, period), export_end, stated, counts


def metrics_workers(tickets: int, workers: int | None = None) -> int:
    """How many processes compute chunks of clients: `workers`, else SERVICEREVIEW_METRICS_WORKERS,
    else the machine's cores (at most MAX_WORKERS); 1 below PARALLEL_TICKETS tickets, where
    starting processes costs more than it saves."""
    if workers is None:
        text = os.environ.get(WORKERS_ENV, "").strip()
        if text and not (text.isdigit() and int(text) >= 1):
            raise io.InputError(f"{WORKERS_ENV}={text!r}: expected a whole number of processes, at least 1")
        if text:
            workers = int(text)
        elif tickets < PARALLEL_TICKETS:
            return 1
        else:
            workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
                          MAX_WORKERS)
    return max(1, workers)


def chunk_budget(tickets: int, chunk_tickets: int, workers: int, largest: int) -> int:
    """Tickets per chunk: `chunk_tickets` shared among the workers (they hold a chunk each, so
    peak memory stays that of one chunk of `chunk_tickets`), and with several workers no more
    than an even share of the folder plus its largest client, so each worker gets a chunk."""
    if workers == 1:
        return chunk_tickets
    return max(1, min(chunk_tickets // workers, -(-tickets // workers) + largest))


def compute_chunk(clean_dir: Path, clients: list[str] | None, contracts: dict[str, Contract], period: str,
                  export_end: datetime | None, first_month: str, part: Path | None) -> tuple[MetricsResult, float, float]:
    """One chunk of clients (None: all of them) read and computed. A chunk's rows of ticket_sla
    get their tickets' places in the clean file (TICKET_ROW) and, with `part`, are written there,
    its PER_CONTACT tables beside it (`_part_of`), and left out of the result. Also returns the
    read's wall and CPU seconds. Runs in a worker process too."""
    clock, used = time.perf_counter(), time.process_time()
    tables = io.read_clean(clean_dir, clients, READ_COLUMNS, None if clients is None else {"tickets": TICKET_ROW})
    read_s, read_cpu = time.perf_counter() - clock, time.process_time() - used
    result = compute_metrics(tables, contracts, period, extracted_at=export_end, first_month=first_month)
    if part is not None:
        io.write_part(result.ticket_sla, part)
        result.ticket_sla = result.ticket_sla.clear()
        for name in PER_CONTACT:
            io.write_part(getattr(result, name), _part_of(part, name))
            setattr(result, name, getattr(result, name).clear())
    return result, read_s, read_cpu


def _part_of(part: Path, name: str) -> Path:
    return part.with_name(f"{part.stem}.{name}{part.suffix}")


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def metrics_folder(clean_dir: Path, out_dir: Path, period: str | None = None, *,
                   chunk_tickets: int = CHUNK_TICKETS, tone_min_labels: int | None = None,
                   workers: int | None = None) -> MetricsResult:
    """Read a clean folder (tables + contracts/), compute, write the outputs to out_dir.

    Clients are independent, so they are computed in chunks of about `chunk_tickets` tickets,
    each read with its client filter pushed down into the Parquet reader: peak memory follows
    the largest chunk, not the folder, and the outputs are byte for byte those of computing all
    clients at once (where the export ends, the period and the first month are taken over all
    clients first; ticket_sla keeps the clean tickets' order). From PARALLEL_TICKETS tickets the
    chunks are computed by `workers` processes at once (see `metrics_workers`; each then holds
    a chunk of `chunk_tickets / workers`). The result holds the client-month tables; its
    `ticket_sla` and PER_CONTACT tables are lazy scans of the written files (they may not fit
    in memory).

    Comment tone is estimated over every client's surveys (below `tone_min_labels` rated
    comments, default SERVICEREVIEW_TONE_MIN_LABELS or 2,000, from the word list), while the
    worker processes compute the chunks."""
    started, cpu_started, children_started = time.perf_counter(), time.process_time(), _children_cpu()
    clean_dir, out_dir = Path(clean_dir), Path(out_dir)
    missing = io.missing_clean_tables(clean_dir)  # no tickets at all: the error names the folder
    with ThreadPoolExecutor(max_workers=1) as pool:  # polars scans while Python reads the contracts
        scanned = pool.submit(_scan_all_clients, clean_dir, missing)
        contracts = load_contracts(clean_dir / "contracts")
        period, first_month, export_end, stated, counts = _over_all_clients(clean_dir, contracts, period,
                                                                            *scanned.result())
    workers = metrics_workers(sum(counts.values()), workers)
    chunks = plan_chunks(counts, chunk_budget(sum(counts.values()), chunk_tickets, workers, max(counts.values())))
    workers = min(workers, len(chunks))
    whole = len(chunks) == 1
    read_s, read_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    outcomes: list = []
    with io.scratch_folder(out_dir / f".ticket_sla-parts-{os.getpid()}") as parts_dir:
        in_memory = sum(counts.values()) <= chunk_tickets  # split for the workers only: merged in memory
        parts = [None] * len(chunks) if in_memory else [parts_dir / f"{i:05d}.arrow" for i in range(len(chunks))]
        jobs = [(clean_dir, None if whole else clients, contracts if whole else {
            c: contracts[c] for c in clients if c in contracts}, period, export_end, first_month, part)
            for clients, part in zip(chunks, parts, strict=True)]
        running = processes.start_workers("pipelines.metrics.stage:compute_chunk", jobs, workers, parts_dir,
                                          {"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}) \
            if workers > 1 else []  # a thread each: the workers and this process share the cores
        try:
            outcomes = [] if running else [compute_chunk(*job) for job in jobs]
            toned, toned_cpu = time.perf_counter(), time.process_time()  # the workers compute meanwhile
            tone_fit = _tone(clean_dir, out_dir, missing, contracts, period, tone_min_labels)
            tone_s, tone_cpu = round(time.perf_counter() - toned, 3), round(time.process_time() - toned_cpu, 3)
            outcomes = outcomes or processes.finish_workers(running, len(jobs))
        finally:
            processes.stop_workers(running)
        results = [result for result, _, _ in outcomes]
        read_s += sum(s for _, s, _ in outcomes)
        read_cpu += sum(s for _, _, s in outcomes)
        written, written_cpu = time.perf_counter(), time.process_time()
        if in_memory:
            io.write_table(results[0].ticket_sla if whole else
                           pl.concat([r.ticket_sla for r in results]).sort(TICKET_ROW).drop(TICKET_ROW),
                           out_dir / "ticket_sla.parquet")
            for name in PER_CONTACT:  # each chunk's sorted by client first, and the chunks are in client order
                io.write_table(pl.concat([getattr(r, name) for r in results]), out_dir / f"{name}.parquet")
        else:
            if whole:  # one part (a client larger than the budget, alone): in the clean order already
                io.concat_parts(parts, out_dir / "ticket_sla.parquet")
            else:  # windows of MERGE_WINDOW at least: a tiny budget must not mean a window per ticket
                io.merge_sorted_parts(parts, out_dir / "ticket_sla.parquet", [TICKET_ROW],
                                      max(chunk_tickets, MERGE_WINDOW), drop=(TICKET_ROW,))
            for name in PER_CONTACT:
                io.concat_parts([_part_of(part, name) for part in parts], out_dir / f"{name}.parquet")
    combined = MetricsResult(
        ticket_sla=io.scan_table(out_dir, "ticket_sla"),
        client_kpis=pl.concat([r.client_kpis for r in results]).sort("client_id", "month"),
        client_kpis_by_priority=pl.concat([r.client_kpis_by_priority for r in results]),
        client_uptime=pl.concat([r.client_uptime for r in results]).sort("client_id", "month", "service"),
        client_kpi_coverage=pl.concat([r.client_kpi_coverage for r in results]).sort("client_id", "month", "kpi"),
        contact_matches=io.scan_table(out_dir, "contact_matches"),
        ticket_contacts=io.scan_table(out_dir, "ticket_contacts"),
        summary=combine_summaries([r.summary for r in results]),
    )
    for name in OUTPUTS[1:]:
        if name not in PER_CONTACT:
            io.write_table(getattr(combined, name), out_dir / f"{name}.parquet")
    combined.summary["tone"] = tone_fit
    combined.summary["export_end_from"] = "extraction time" if stated else "latest ticket or status event"
    combined.summary["timings_s"] = {"read": round(read_s, 3), **combined.summary["timings_s"],
                                     "write": round(time.perf_counter() - written, 3), "tone": tone_s,
                                     "total": round(time.perf_counter() - started, 3),
                                     "chunks": len(chunks), "workers": workers}
    combined.summary["cpu_s"] = {"read": round(read_cpu, 3), **combined.summary["cpu_s"],
                                 "write": round(time.process_time() - written_cpu, 3), "tone": tone_cpu,
                                 "total": round(time.process_time() - cpu_started
                                                + _children_cpu() - children_started, 3)}
    io.write_json(combined.summary, out_dir / "metrics_summary.json")
    return combined


def _tone(clean_dir: Path, out_dir: Path, missing: set[str], contracts: dict[str, Contract], period: str,
          tone_min_labels: int | None) -> dict:
    """Comment tone over every client's surveys, written to out_dir; its fit in brief."""
    surveys = None if "surveys" in missing else io.scan_table(clean_dir, "surveys")  # its rated comments only
    min_labels = tone.min_labels_setting() if tone_min_labels is None else tone_min_labels
    estimated = tone.estimate_tone(surveys, contracts, period, min_labels, tone.max_train_setting())
    tone.write_tone(estimated, out_dir)
    return tone.brief(estimated.fit)
