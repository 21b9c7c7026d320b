"""The metrics stage in chunks of clients: bounded memory, the same bytes as all at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean.stage import clean_folder
from pipelines.core.config import SAMPLE_DATA
from pipelines.metrics.stage import OUTPUTS, metrics_folder, plan_chunks


@pytest.fixture(scope="module")
def sample_clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chunks") / "clean"
    clean_folder(SAMPLE_DATA, out)
    return out


def test_clients_are_chunked_in_id_order_and_never_split():
    counts = {"e": 5, "a": 40, "b": 0, "c": 70, "d": 30, "f": 0}
    assert plan_chunks(counts, 100) == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert plan_chunks(counts, 10) == [["a", "b"], ["c"], ["d"], ["e", "f"]]  # c alone exceeds it
    assert plan_chunks(counts, 10**9) == [sorted(counts)]
    assert plan_chunks({"x": 0, "y": 0}, 1) == [["x", "y"]]


@pytest.mark.parametrize(("budget", "workers"), [(1, 1), (1500, 1), (1, 2), (10**9, 2)])
def test_chunked_outputs_are_byte_identical_to_all_clients_at_once(sample_clean, tmp_path, budget, workers):
    whole = metrics_folder(sample_clean, tmp_path / "whole", "2026-10", workers=1)
    chunked = metrics_folder(sample_clean, tmp_path / "chunked", "2026-10", chunk_tickets=budget, workers=workers)
    assert whole.summary["timings_s"]["chunks"] == 1
    assert whole.summary["timings_s"]["workers"] == 1
    assert chunked.summary["timings_s"]["workers"] == workers
    chunks = chunked.summary["timings_s"]["chunks"]
    # 1: a chunk per client; 2 workers share the folder (one chunk each, a client never split)
    assert chunks == 5 if budget == 1 else chunks == 2 if workers == 2 else 1 < chunks < 5
    for name in OUTPUTS:
        written = (tmp_path / "chunked" / f"{name}.parquet").read_bytes()
        assert written == (tmp_path / "whole" / f"{name}.parquet").read_bytes(), name
    summaries = [json.loads((tmp_path / d / "metrics_summary.json").read_text()) for d in ("whole", "chunked")]
    for summary in summaries:
        del summary["timings_s"], summary["cpu_s"]
    assert summaries[0] == summaries[1]
    assert chunked.ticket_sla.collect().height == whole.summary["rows"]["ticket_sla"] > 4000
    assert sorted(p.name for p in (tmp_path / "chunked").iterdir()) == sorted(  # no parts left behind
        [f"{n}.parquet" for n in OUTPUTS] + ["metrics_summary.json", "comment_tone.parquet", "tone_fit.json",
                                             "tone_model.joblib"])


def test_one_client_larger_than_the_budget_alone_keeps_every_ticket(sample_clean, tmp_path):
    clean = tmp_path / "clean"
    shutil.copytree(sample_clean, clean)
    for path in clean.glob("*.parquet"):  # harbor-dental's rows and contract only
        frame = pl.read_parquet(path)
        if path.stem != "rejects":
            frame.filter(pl.col("client_id") == "harbor-dental").write_parquet(path)
    for path in (clean / "contracts").glob("*.yml"):
        if path.stem != "harbor-dental":
            path.unlink()
    whole = metrics_folder(clean, tmp_path / "whole", "2026-10")
    alone = metrics_folder(clean, tmp_path / "alone", "2026-10", chunk_tickets=1)  # one chunk, over the budget
    assert alone.summary["timings_s"]["chunks"] == 1
    for name in OUTPUTS:
        assert pl.read_parquet(tmp_path / "alone" / f"{name}.parquet").equals(
            pl.read_parquet(tmp_path / "whole" / f"{name}.parquet")), name
    assert alone.ticket_sla.collect().height == whole.summary["rows"]["ticket_sla"] > 400


def test_an_error_in_a_worker_process_is_raised_with_its_message(sample_clean, tmp_path):
    import shutil

    import polars as pl

    from pipelines.core import io

    clean = tmp_path / "clean"
    shutil.copytree(sample_clean, clean)
    tickets = io.read_table(clean, "tickets")
    last = tickets["ticket_id"][-1]
    io.write_table(tickets.with_columns(pl.when(pl.col("ticket_id") == last).then(pl.lit("P9"))
                                        .otherwise(pl.col("priority")).alias("priority")), clean / "tickets.parquet")
    with pytest.raises(ValueError, match=f"ticket {last}: priority 'P9' has no target in contracts/"):
        metrics_folder(clean, tmp_path / "m", "2026-10", chunk_tickets=1, workers=2)
    assert not list((tmp_path / "m").glob(".ticket_sla-parts-*"))  # the scratch folder is gone


def test_the_workers_setting_must_be_a_whole_number(sample_clean, tmp_path, monkeypatch):
    from pipelines.core.io import InputError

    monkeypatch.setenv("SERVICEREVIEW_METRICS_WORKERS", "two")
    with pytest.raises(InputError, match="SERVICEREVIEW_METRICS_WORKERS='two': expected a whole number"):
        metrics_folder(sample_clean, tmp_path / "m", "2026-10")
    monkeypatch.setenv("SERVICEREVIEW_METRICS_WORKERS", "2")
    summary = metrics_folder(sample_clean, tmp_path / "m", "2026-10").summary
    assert summary["timings_s"]["workers"] == 2 and summary["timings_s"]["chunks"] == 2
