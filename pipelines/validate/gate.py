"""The data-quality gate: validate each client's clean tables with Great Expectations.

A client whose data fails an error-severity check is not publishable: the runner
keeps its previous report and marks it stale, the other clients carry on. The
verdict per client is machine-readable (`<out>/<client_id>.json`) so the runner,
the notebooks and the site can all use it; `<out>/summary.json` holds the
status of every client and what the gate cost (importing GX takes seconds, so
all clients are validated in one process with one ephemeral context).

The suites (what is checked) live in `pipelines.validate.suites`; this module runs them.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.core import io
from pipelines.core.contracts import Contract, load_contract, load_contracts
from pipelines.validate.derived import prepare
from pipelines.validate.suites import CHECKS, RECORD_ID, SUITE_TABLES, build_suite, parameters

MAX_EXAMPLES = 5
STATUSES = ("passed", "warned", "failed")


@dataclass
class GateResult:
    """One client's verdict: every check's outcome, and whether the report may be published."""

    client_id: str
    generated_at: str
    results: list[dict]
    tables: dict[str, dict]  # table -> {"status": "checked" | "not provided", "rows": int | None}
    seconds: float = 0.0  # validating this client
    gx_seconds: float = 0.0  # importing and setting up GX, when this call paid for it

    @property
    def counts(self) -> dict[str, int]:
        """How many checks passed, warned and failed."""
        return {s: sum(r["status"] == s for r in self.results) for s in STATUSES}

    @property
    def publishable(self) -> bool:
        """No error-severity check failed (warnings are published with the report)."""
        return not self.failures

    @property
    def failures(self) -> list[dict]:
        """The failed checks (each blocks publishing)."""
        return [r for r in self.results if r["status"] == "failed"]

    @property
    def warnings(self) -> list[dict]:
        """The warned checks (published, with the finding shown)."""
        return [r for r in self.results if r["status"] == "warned"]

    def to_json(self) -> dict:
        """The verdict as written to `<client_id>.json` (plain JSON types only)."""
        return {
            "client_id": self.client_id,
            "generated_at": self.generated_at,
            "publishable": self.publishable,
            "counts": self.counts,
            "tables": self.tables,
            "results": self.results,
            "timings": {"seconds": round(self.seconds, 3), "gx_seconds": round(self.gx_seconds, 3)},
        }

    @classmethod
    def from_json(cls, data: dict) -> GateResult:
        """A verdict read back from `<client_id>.json` (what `to_json` wrote)."""
        missing = [k for k in ("client_id", "generated_at", "results") if k not in data]
        if missing:
            raise ValueError(f"validation result of {data.get('client_id', '?')!r}: no "
                             f"{', '.join(missing)} (expected what GateResult.to_json writes)")
        timings = data.get("timings") or {}
        return cls(data["client_id"], data["generated_at"], data["results"], data.get("tables", {}),
                   timings.get("seconds", 0.0), timings.get("gx_seconds", 0.0))


# ---------------------------------------------------------------- the GX side


class _Gate:
    """One ephemeral GX context holding every suite and validation definition, built once."""

    def __init__(self) -> None:
        start = time.perf_counter()
        already = "great_expectations" in sys.modules
        # lazy: importing Great Expectations takes 3-4 s, paid only by processes that validate
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.import_seconds = 0.0 if already else time.perf_counter() - start
        start = time.perf_counter()
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("servicereview")
        self.definitions = {}
        for table in SUITE_TABLES:
            batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("whole")
            suite = self.context.suites.add(build_suite(table))
            self.definitions[table] = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=f"servicereview.{table}", data=batch, suite=suite)
            )
        self.setup_seconds = time.perf_counter() - start

    def run(self, table: str, frame: pl.DataFrame, params: dict, client_id: str):
        from great_expectations.core.run_identifier import RunIdentifier  # lazy: see __init__

        return self.definitions[table].run(
            batch_parameters={"dataframe": _to_pandas(frame)},
            expectation_parameters=params,
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": [RECORD_ID],
                "partial_unexpected_count": 20,  # duplicates repeat an id; keep enough to find 5
                "return_unexpected_index_query": False,
            },
            run_id=RunIdentifier(run_name=client_id),
        )

    def build_data_docs(self, target: Path) -> Path:
        """GX's own Data Docs for analysts, as files under `target` (they load CSS/JS from CDNs)."""
        name = "servicereview"
        if name in self.context.get_site_names():
            self.context.delete_data_docs_site(name)
        self.context.add_data_docs_site(name, {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(Path(target).resolve())},
        })
        # GX's renderer cannot show a `mostly` given as $PARAMETER and logs a traceback for
        # each; the page still renders those checks in its plain fallback form.
        render_log = logging.getLogger("great_expectations.render")
        level = render_log.level
        render_log.setLevel(logging.CRITICAL)
        try:
            self.context.build_data_docs(site_names=[name])
        finally:
            render_log.setLevel(level)
        return Path(target) / "index.html"


_GATE: _Gate | None = None


def _gate() -> _Gate:
    global _GATE
    if _GATE is None:
        _GATE = _Gate()
    return _GATE


def _to_pandas(frame: pl.DataFrame):
    """The one conversion to pandas; whole numbers and booleans with gaps keep their type."""
    # lazy: pandas is needed only at the GX boundary (report kernels never pay for it)
    import pandas as pd
    import pyarrow as pa

    nullable = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
                pa.bool_(): pd.BooleanDtype()}
    return frame.to_pandas(types_mapper=nullable.get)


# ---------------------------------------------------------------- one client


def validate_client(tables: dict[str, pl.DataFrame | None], contract: Contract, *,
                    now: datetime | None = None) -> GateResult:
    """Run every suite on one client's clean tables (None or absent = table not provided)."""
    if tables.get("tickets") is None:
        raise ValueError("validate_client: the tickets table is required")
    start = time.perf_counter()
    fresh = _GATE is None
    gate = _gate()
    gx_seconds = time.perf_counter() - start if fresh else 0.0
    start = time.perf_counter()  # a client's own time leaves out the one-off GX import
    now = _utc(now)
    prepared = prepare(tables, contract, now)
    params = parameters(contract, now)
    results: list[dict] = []
    status: dict[str, dict] = {}
    for table in SUITE_TABLES:
        frame = prepared[table]
        if frame is None:
            status[table] = {"status": "not provided", "rows": None}
            continue
        status[table] = {"status": "checked", "rows": frame.height}
        try:
            outcome = gate.run(table, frame, params, contract.client_id)
        except Exception as exc:  # noqa: BLE001 - one broken suite must not stop the others
            results.extend(_unchecked(table, f"{type(exc).__name__}: {exc}"))
            continue
        results.extend(_rows(table, outcome, params))
    return GateResult(
        client_id=contract.client_id,
        generated_at=now.isoformat(timespec="seconds"),
        results=results,
        tables=status,
        seconds=time.perf_counter() - start,
        gx_seconds=gx_seconds,
    )


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _rows(table: str, outcome, params: dict) -> list[dict]:
    """GX results in suite order, as plain JSON-ready rows."""
    order = {check.name: i for i, check in enumerate(CHECKS[table])}
    checks = {check.name: check for check in CHECKS[table]}
    rows = []
    for result in outcome.results:
        meta = result.expectation_config.meta or {}
        check = checks[meta["check"]]
        rows.append(_row(check, result, params))
    return sorted(rows, key=lambda r: order[r["check"]])


def _identity(check, status: str) -> dict:
    """The fields of a result row that come from the check itself."""
    return {
        "check": check.name,
        "table": check.table,
        "expectation": _snake(check.expectation),  # GX's expectation type
        "column": check.column,
        "compared_to": check.extra.get("compared_to"),
        "severity": check.severity,
        "status": status,
        "explain": check.explain,
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _not_met(check) -> str:
    return "failed" if check.severity == "error" else "warned"


def _row(check, result, params: dict) -> dict:
    res = dict(result.result or {})
    error = _exception(result.exception_info)
    unexpected = res.get("unexpected_count")
    if result.success and not error:
        status = "warned" if check.tolerant and unexpected else "passed"
    else:
        status = _not_met(check)
    mostly = check.kwargs.get("mostly")
    if isinstance(mostly, dict):
        mostly = params[mostly["$PARAMETER"]]
    return {
        **_identity(check, status),
        "success": bool(result.success) and not error,
        "observed_value": f"could not be checked: {error}" if error else _observed(res),
        "element_count": res.get("element_count"),
        "rows_checked": _checked(res),
        "unexpected_count": unexpected,
        "unexpected_percent": _number(res.get("unexpected_percent")),
        "tolerated_percent": _number((1 - mostly) * 100) if mostly is not None and mostly < 1
        else None,
        "example_ids": _examples(res),
    }


def _unchecked(table: str, error: str) -> list[dict]:
    """Rows for a suite GX could not run at all: errors fail, warnings warn."""
    return [{
        **_identity(check, _not_met(check)),
        "success": False, "observed_value": f"could not be checked: {error}", "element_count": None,
        "rows_checked": None, "unexpected_count": None, "unexpected_percent": None, "tolerated_percent": None,
        "example_ids": [],
    } for check in CHECKS[table]]


def _checked(res: dict) -> int | None:
    """Rows the check judged: all rows, less those it skips for a missing value (the base of
    unexpected_percent and of `mostly`)."""
    total = res.get("element_count")
    if total is None:
        return None
    return total - (res.get("missing_count") or 0)


def _exception(info) -> str | None:
    """The first exception message GX caught while checking, if any."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "unknown error")
    return None


def _observed(res: dict):
    if "observed_value" in res:
        value = res["observed_value"]
        missing = ((res.get("details") or {}).get("mismatched") or {}).get("missing")
        if missing:
            return "missing columns: " + ", ".join(sorted(missing))
        if isinstance(value, list):  # the table's columns: only worth showing when some are missing
            return f"{len(value)} columns"
        return _plain(value)
    values = []
    for value in res.get("partial_unexpected_list") or []:
        text = _plain(value)
        if text is not None and text not in values:
            values.append(text)
    return values[:MAX_EXAMPLES] or None


def _examples(res: dict) -> list[str]:
    ids: list[str] = []
    for entry in res.get("partial_unexpected_index_list") or []:
        value = entry.get(RECORD_ID) if isinstance(entry, dict) else entry
        text = _plain(value)
        if text is not None and text not in ids:
            ids.append(text)
        if len(ids) == MAX_EXAMPLES:
            break
    return ids


def _plain(value):
    """A JSON-friendly form of a value GX reports (timestamps, numpy scalars, tuples)."""
    import pandas as pd  # lazy: only GX's results carry pandas values

    if value is None:
        return None
    if isinstance(value, dict):
        value = tuple(value.values())
    if isinstance(value, tuple | list):
        return " / ".join(str(_plain(v)) for v in value)
    if isinstance(value, pd.Timestamp | np.datetime64 | datetime):
        stamp = pd.Timestamp(value)
        if pd.isna(stamp):
            return None
        return stamp.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, bool | int | str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


# ---------------------------------------------------------------- a clean folder


def validate_folder(clean_dir: Path, out_dir: Path, clients: list[str] | None = None,
                    now: datetime | None = None, *,
                    data_docs: bool = False) -> dict[str, GateResult]:
    """Validate every client (or `clients`) of a clean folder in this one process.

    Writes `out_dir/<client_id>.json` per client and `out_dir/summary.json`
    (status per client, timings including the Great Expectations import), and
    with `data_docs` GX's Data Docs for analysts in `out_dir/data_docs/`.
    A client that fails does not stop the others.
    """
    clean_dir, out_dir = Path(clean_dir), Path(out_dir)
    started = time.perf_counter()
    now = _utc(now)
    contracts = load_contracts(clean_dir / "contracts")
    selected = _select(contracts, clients, clean_dir)
    frames = io.read_clean(clean_dir)
    load_seconds = time.perf_counter() - started

    gate = _gate()
    results: dict[str, GateResult] = {}
    for client in selected:
        tables = {name: None if frame is None else frame.filter(pl.col("client_id") == client)
                  for name, frame in frames.items()}
        results[client] = validate_client(tables, contracts[client], now=now)
        io.write_json(results[client].to_json(), out_dir / f"{client}.json")
    docs_seconds, docs = 0.0, None
    if data_docs:
        docs_start = time.perf_counter()
        docs = gate.build_data_docs(out_dir / "data_docs")
        docs_seconds = time.perf_counter() - docs_start
    write_summary(out_dir, results, now, not_provided=[n for n, f in frames.items() if f is None],
                  clean_dir=clean_dir, docs=docs, timings={
                      "gx_import_seconds": round(gate.import_seconds, 3),
                      "gx_setup_seconds": round(gate.setup_seconds, 3),
                      "load_seconds": round(load_seconds, 3),
                      "data_docs_seconds": round(docs_seconds, 3),
                      "total_seconds": round(time.perf_counter() - started, 3)})
    return results


def validate_one(clean_dir: Path, out_dir: Path, client_id: str, now: datetime | None = None) -> GateResult:
    """Validate one client, reading only its rows; writes `out_dir/<client_id>.json`.

    For the runner's workers: each pays the Great Expectations import once and
    validates its clients in parallel with the other workers (the result's
    `gx_seconds` says which call paid it; `write_summary` adds them up)."""
    clean_dir = Path(clean_dir)
    contract = load_contract(clean_dir / "contracts" / f"{client_id}.yml")
    tables = io.read_clean(clean_dir, client_id)
    result = validate_client(tables, contract, now=now)
    io.write_json(result.to_json(), Path(out_dir) / f"{client_id}.json")
    return result


def write_summary(out_dir: Path, results: dict[str, GateResult], now: datetime, *,
                  not_provided: list[str], clean_dir: Path, docs: Path | None = None,
                  timings: dict | None = None) -> Path:
    """`out_dir/summary.json`: each client's verdict and the gate's timings.

    Without `timings`, the GX import cost is the sum of what the results paid
    (one import per worker process)."""
    summary = {
        "generated_at": _utc(now).isoformat(timespec="seconds"),
        "clean_dir": str(clean_dir),
        "publishable": all(r.publishable for r in results.values()),
        "not_provided": sorted(not_provided),
        "data_docs": str(docs) if docs else None,
        "clients": {
            c: {"publishable": r.publishable, **r.counts,
                "failed_checks": [x["check"] for x in r.failures],
                "warned_checks": [x["check"] for x in r.warnings],
                "seconds": round(r.seconds, 3)}
            for c, r in results.items()
        },
        "timings": {"gx_import_seconds": round(sum(r.gx_seconds for r in results.values()), 3)}
        | (timings or {}) | {"per_client_seconds": {c: round(r.seconds, 3) for c, r in results.items()}},
    }
    return io.write_json(summary, Path(out_dir) / "summary.json")


def _select(contracts: dict[str, Contract], clients: list[str] | None,
            clean_dir: Path) -> list[str]:
    if not clients:
        return sorted(contracts)
    unknown = [c for c in clients if c not in contracts]
    if unknown:
        raise io.InputError(
            f"{clean_dir / 'contracts'}: no contract for client {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(contracts))})"
        )
    return list(dict.fromkeys(clients))


