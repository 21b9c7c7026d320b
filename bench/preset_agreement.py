"""Our SLA verdicts and paused time against each tool's own figures (prints tables; not a test).

    .venv/bin/python bench/preset_agreement.py                        # every preset's fixtures
    .venv/bin/python bench/preset_agreement.py --from freshdesk EXPORT.csv --history ACTIVITIES.json \
        --client-map MAP.yml --contracts contracts/ --period 2026-03 # a real export

For each case it runs import -> clean -> metrics twice, with and without the status
history, and prints: tickets, tickets with a pause and the paused hours, resolution
met / breached / pending; the tool's waiting time against the history (the import
report's table); and the tool's own SLA verdicts (the preset's `agreement.verdicts`,
e.g. Freshdesk "Resolution status", HaloPSA slastate) against ours. The tool's
definitions (calendar, pause statuses, targets) are not in the export: this is a
sanity check of the import, not an oracle. The fixture runs use a 24x7 contract
(P1/P2 4h, P3 24h, P4 72h to resolve) for every client.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import polars as pl
import yaml

from pipelines.clean.stage import clean_folder
from pipelines.ingest.importers import import_files, load_preset
from pipelines.ingest.importers.agreement import verdict_agreement
from pipelines.metrics.stage import metrics_folder

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "importers"
HISTORY = FIXTURES / "history"
CASES = {
    "zendesk": ("zendesk_tickets.csv", ["zendesk_ticket_audits.json"]),
    "jira-service-management": ("jira_service_management_issues.csv", ["jira_service_management_changelog.json"]),
    "freshdesk": ("freshdesk_tickets.csv", ["freshdesk_ticket_activities.json"]),
    "connectwise": ("connectwise_v_rpt_service.csv",
                    ["connectwise_audittrail-700101.json", "connectwise_audittrail-700102.json"]),
    "autotask": ("autotask_tickets.csv", ["autotask_ticket_history.json"]),
    "halopsa": ("halopsa_tickets.csv", ["halopsa_actions.json"]),
}
CLIENTS = {"Harbor Dental Group": "harbor-dental", "Lakeside Legal": "lakeside-legal"}


def fixture_contracts(folder: Path) -> Path:
    """A 24x7 contract (New York, ACME's pause statuses) for each fixture client."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import ACME  # the tests' contract, so the figures match the tests

    sla = {p: {"response": r, "resolution": res, "calendar": "24x7"}
           for p, r, res in (("P1", "15m", "4h"), ("P2", "1h", "4h"), ("P3", "4h", "24h"), ("P4", "8h", "72h"))}
    target = folder / "contracts"
    target.mkdir(parents=True, exist_ok=True)
    for client in CLIENTS.values():
        data = dict(ACME, client_id=client, name=client, sla=sla, priority_map={"Priority 5 - Next Time": "P4"})
        (target / f"{client}.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def run(preset: str, export: Path, history: list[Path], client_map: str, contracts: Path, period: str,
        work: Path) -> tuple[pl.DataFrame, dict, pl.DataFrame | None]:
    raw, clean, metrics = work / "raw", work / "clean", work / "metrics"
    result = import_files([export], preset, client_map, raw, contracts=contracts, history_files=history)
    clean_folder(raw, clean)
    metrics_folder(clean, metrics, period)
    extras = pl.read_csv(raw / "extras.csv", infer_schema=False) if (raw / "extras.csv").exists() else None
    return pl.read_parquet(metrics / "ticket_sla.parquet"), result.report, extras


def summary(label: str, sla: pl.DataFrame) -> str:
    paused = sla.filter(pl.col("paused_minutes") > 0)
    status = dict(sla.group_by("resolution_status").len().iter_rows())
    return (f"   {label:15} {sla.height:6,} tickets; paused {paused.height:5,} "
            f"({paused['paused_minutes'].sum() / 60:8.1f} h); resolution met {status.get('met', 0):5,} "
            f"breached {status.get('breached', 0):5,} pending {status.get('pending', 0):5,}")


def report(preset: str, export: Path, history: list[Path], client_map: str, contracts: Path, period: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with_h, imported, extras = run(preset, export, history, client_map, contracts, period, Path(tmp) / "with")
        without, _, _ = run(preset, export, [], client_map, contracts, period, Path(tmp) / "without")
    print(f"\n== {preset}: {export.name} + {', '.join(p.name for p in history)}")
    print(summary("with history", with_h))
    print(summary("without", without))
    flips = with_h.join(without.select("client_id", "ticket_id", pl.col("resolution_status").alias("before")),
                        on=["client_id", "ticket_id"]).filter(pl.col("resolution_status") != pl.col("before"))
    for row in flips.sort("ticket_id").head(10).iter_rows(named=True):
        print(f"   verdict changed by the history: {row['ticket_id']:16} {row['before']} -> "
              f"{row['resolution_status']} (paused {row['paused_minutes']:.0f} min)")
    h = imported["history"]
    print(f"   {h['reconciliation']}; tickets with history {h['tickets_with_history']}, "
          f"without {h['tickets_without_history']}")
    for a in h["agreement"]:
        print(f"   waiting: {a['column']!r} ({', '.join(a['statuses'])}): {a['agree']} of {a['tickets']} tickets "
              f"within {a['within_minutes']:g} min; tool {a['theirs_minutes']:g} min, history {a['ours_minutes']:g} min")
    if extras is not None:
        for v in verdict_agreement(with_h, extras, load_preset(preset)):
            print(f"   verdict: {v['column']!r} ({v['target']}): agrees on {v['agree']} of {v['tickets']} "
                  f"decided tickets {v['matrix']}" + (f"; disagree: {', '.join(v['disagree'])}" if v["disagree"] else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", nargs="?", type=Path)
    parser.add_argument("--from", dest="preset")
    parser.add_argument("--history", type=Path, action="append", default=[])
    parser.add_argument("--client-map")
    parser.add_argument("--contracts", type=Path)
    parser.add_argument("--period", default="2026-03")
    args = parser.parse_args()
    if args.export:
        if not (args.preset and args.client_map and args.contracts):
            parser.error("a real export needs --from, --client-map and --contracts")
        report(args.preset, args.export, args.history, args.client_map, args.contracts, args.period)
        return
    with tempfile.TemporaryDirectory() as tmp:
        contracts = fixture_contracts(Path(tmp))
        client_map = Path(tmp) / "client_map.yml"
        client_map.write_text(yaml.safe_dump({"map": CLIENTS}))
        for preset, (export, history) in CASES.items():
            report(preset, FIXTURES / export, [HISTORY / h for h in history], str(client_map), contracts,
                   args.period)


if __name__ == "__main__":
    main()
