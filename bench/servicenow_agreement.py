"""How often our resolution SLA agrees with ServiceNow's own `made_sla` (prints figures; not a test).

    .venv/bin/python bench/servicenow_agreement.py [--log PATH] [--period 2017-02]

For each contract variant in examples/servicenow (24x7, business hours) it runs
import -> clean -> metrics on the real event log, joins the per-ticket
`resolution_status` (met / breached) with the instance's final `made_sla`
(extras.csv), and prints the agreement overall and per priority, the confusion
matrix, and what the disagreeing tickets look like. `made_sla` comes from the
instance's own SLA definitions, which the export does not contain: this is a
sanity check of the pipeline, not an oracle.

Disagreement clues printed:
- at which update made_sla turns false (in this log: the Closed update), so its
  timing says nothing about when the instance's clock ran out;
- whether our response target was breached (made_sla may follow a response SLA);
- paused minutes and reopens, and (24x7 variant) the agreement if our clock never
  stopped (created -> resolved in calendar minutes): the instance may not pause on
  its "Awaiting ..." states.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import polars as pl

from pipelines.clean.stage import clean_folder
from pipelines.ingest.importers import import_files, load_preset, read_export
from pipelines.metrics.stage import metrics_folder

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOG = ROOT.parent / "shared/data/servicenow-incident-log/incident_event_log.csv.gz"
VARIANTS = {"24x7": ROOT / "examples/servicenow/contracts-24x7",
            "business hours": ROOT / "examples/servicenow/contracts-business-hours"}


def run_variant(log: Path, contracts: Path, period: str, work: Path) -> pl.DataFrame:
    """import -> clean -> metrics; the per-ticket SLA joined with made_sla."""
    imported, clean, metrics = work / "imported", work / "clean", work / "metrics"
    import_files([log], "servicenow", "servicenow-demo", imported, contracts=contracts)
    clean_folder(imported, clean)
    metrics_folder(clean, metrics, period)
    sla = pl.read_parquet(metrics / "ticket_sla.parquet")
    extras = pl.read_csv(imported / "extras.csv", infer_schema=False).select("ticket_id", "made_sla")
    return sla.join(extras, on="ticket_id", how="left")


def flip_states(log: Path) -> pl.DataFrame:
    """The incident_state of the update at which made_sla turns from true to false."""
    preset = load_preset("servicenow")
    raw = (read_export(log, preset)
           .select("number", pl.col("sys_mod_count").cast(pl.Int64), "made_sla", "incident_state",
                   pl.col("__row"))
           .sort("number", "sys_mod_count", "__row"))
    last = pl.int_range(pl.len()).over("number") == pl.len().over("number") - 1
    flips = raw.with_columns(last.alias("last")).filter(
        (pl.col("made_sla") == "false") & (pl.col("made_sla").shift(1).over("number") == "true"))
    return flips.group_by("incident_state", "last").len().sort("len", descending=True)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def report(name: str, joined: pl.DataFrame) -> None:
    decided = joined.filter(pl.col("resolution_status").is_in(["met", "breached"]))
    ours = pl.col("resolution_status") == "met"
    theirs = pl.col("made_sla") == "true"
    agree = decided.filter(ours == theirs).height
    print(f"\n== {name}: {joined.height:,} tickets; decided {decided.height:,} "
          f"(other statuses: {dict(joined.group_by('resolution_status').len().iter_rows())})")
    print(f"   resolution met/breached agrees with made_sla on {agree:,} of {decided.height:,} = "
          f"{pct(agree, decided.height)}")
    matrix = decided.group_by("resolution_status", "made_sla").len().sort("resolution_status", "made_sla")
    for status, made, n in matrix.iter_rows():
        print(f"   ours {status:8} / made_sla {made:5}: {n:6,}")
    per = (decided.group_by("priority")
           .agg(pl.len().alias("n"), (ours == theirs).sum().alias("agree"),
                ours.mean().alias("ours_met"), theirs.mean().alias("made_sla_true"))
           .sort("priority"))
    for p, n, a, om, tm in per.iter_rows():
        print(f"   {p}: n={n:6,}  agree {pct(a, n):>6}  our met rate {100 * om:5.1f}%  "
              f"made_sla true {100 * tm:5.1f}%")
    false_neg = decided.filter(ours & ~theirs)
    false_pos = decided.filter(~ours & theirs)
    print(f"   we say met, instance breached ({false_neg.height:,}):")
    print(f"     our response target also breached: {pct(false_neg.filter(pl.col('response_status') == 'breached').height, false_neg.height)}; "
          f"median resolution {false_neg['resolution_minutes'].median() or 0:.0f} min vs target "
          f"{false_neg['resolution_target_minutes'].median() or 0:.0f}; paused > 0: "
          f"{pct(false_neg.filter(pl.col('paused_minutes') > 0).height, false_neg.height)}, median paused "
          f"{false_neg['paused_minutes'].median() or 0:.0f} min")
    print(f"   we say breached, instance made it ({false_pos.height:,}):")
    print(f"     paused > 0: {pct(false_pos.filter(pl.col('paused_minutes') > 0).height, false_pos.height)}; "
          f"reopened: {pct(false_pos.filter(pl.col('history_reopens') > 0).height, false_pos.height)}; "
          f"median resolution {false_pos['resolution_minutes'].median() or 0:.0f} min vs target "
          f"{false_pos['resolution_target_minutes'].median() or 0:.0f}")
    cols = ["ticket_id", "priority", "created_at", "resolved_at", "resolution_minutes",
            "resolution_target_minutes", "paused_minutes", "calendar_resolution_minutes", "response_status"]
    with pl.Config(tbl_rows=6, tbl_width_chars=200, tbl_cols=12):
        print(false_neg.sort("ticket_id").select(cols).head(3))
        print(false_pos.sort("ticket_id").select(cols).head(3))
    if (decided["calendar"] == "24x7").all():
        never_stops = pl.col("calendar_resolution_minutes") <= pl.col("resolution_target_minutes")
        same = decided.filter(never_stops == theirs).height
        print(f"   if our clock never stopped (created -> resolved, calendar minutes): agreement "
              f"{pct(same, decided.height)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--period", default="2017-02", help="report month: every ticket is decided by then")
    args = parser.parse_args()
    if not args.log.exists():
        sys.exit(f"{args.log}: not found (pass --log)")
    joined_all = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, contracts in VARIANTS.items():
            joined_all[name] = run_variant(args.log, contracts, args.period, Path(tmp) / name.replace(" ", "-"))
    for name, joined in joined_all.items():
        report(name, joined)
    print("\nthe update at which made_sla turns false (incident_state, last update of the incident?):")
    for state, last, n in flip_states(args.log).iter_rows():
        print(f"   {state:20} last={last!s:5} {n:6,}")

if __name__ == "__main__":
    main()
