"""io: folder swaps never leave a reader without the folder."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

from pipelines.core.io import merge_sorted_parts, swap_in, write_part


def _folder(path, text):
    path.mkdir()
    (path / "index.html").write_text(text)
    return path


def test_swap_in_replaces_the_folder_and_leaves_no_backup(tmp_path):
    target = _folder(tmp_path / "site", "old")
    swap_in(_folder(tmp_path / "staging", "new"), target)
    assert (target / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_swap_in_puts_the_old_folder_back_when_the_new_one_cannot_move(tmp_path):
    target = _folder(tmp_path / "site", "old")
    with pytest.raises(FileNotFoundError):
        swap_in(tmp_path / "missing-staging", target)
    assert (target / "index.html").read_text() == "old"


def test_swap_in_survives_a_backup_left_by_an_interrupted_swap(tmp_path):
    target = _folder(tmp_path / "site", "old")
    _folder(tmp_path / f".site.old-{os.getpid()}", "stale")
    swap_in(_folder(tmp_path / "staging", "new"), target)
    assert (target / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_a_csv_for_people_cannot_start_a_spreadsheet_formula():
    import polars as pl

    from pipelines.core.io import csv_for_people

    frame = pl.DataFrame({"title": ["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "\tx", "ok", None],
                          "minutes": [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    rows = pl.read_csv(csv_for_people(frame).encode(), infer_schema=False)
    assert rows["title"].to_list() == ["'=HYPERLINK(\"http://x\",\"y\")", "+1", "'-2+3", "'@SUM(A1)", "'\tx",
                                       "ok", None]
    assert rows["minutes"].to_list()[0] == "-5.0"  # a number stays a number, also in a text column ("+1")


def test_pickles_carry_polars_frames_exactly(tmp_path):
    from datetime import UTC, datetime

    from pipelines.core.io import read_pickle, write_pickle

    frame = pl.DataFrame({
        "s": ["a", None, "ccc" * 20], "e": pl.Series(["x", "y", "x"], dtype=pl.Enum(["y", "x"])),
        "c": pl.Series(["p", "q", None], dtype=pl.Categorical), "i": [1, None, 3],
        "t": [datetime(2026, 1, 1, tzinfo=UTC), None, datetime(2026, 3, 1, tzinfo=UTC)],
        "l": [[1, 2], [], None], "f": [0.5, float("nan"), None],
    })
    data = {"frames": [frame, frame.clear(), frame.select("i")], "other": (1, "two", None)}
    back = read_pickle(write_pickle(data, tmp_path / "x.pickle"))
    assert back["other"] == (1, "two", None)
    for got, want in zip(back["frames"], data["frames"], strict=True):
        assert got.schema == want.schema and got.equals(want)


@pytest.mark.parametrize("window", [1, 7, 10**6])
def test_merging_sorted_parts_in_windows_equals_one_sort(tmp_path, window):
    rng = np.random.default_rng(5)
    frames = []
    for i in range(3):  # interleaved keys with ties across parts; each part sorted by (row, tie)
        rows = np.sort(rng.choice(400, size=120, replace=False))
        frames.append(pl.DataFrame({"row": rows, "tie": [i] * 120, "v": rng.random(120)}).sort("row", "tie"))
    parts = []
    for i, frame in enumerate(frames):
        parts.append(write_part(frame, tmp_path / f"part{i}.arrow"))
    merge_sorted_parts(parts, tmp_path / "out.parquet", ["row", "tie"], window, drop=("tie",))
    expected = pl.concat(frames).sort("row", "tie").drop("tie")
    assert pl.read_parquet(tmp_path / "out.parquet").equals(expected)


def test_merging_parts_that_follow_one_another_or_meet_at_a_key(tmp_path):
    schema = {"row": pl.Int64, "tie": pl.Int64, "v": pl.String}
    apart = [pl.DataFrame({"row": [0, 1, 2], "tie": [1, 0, 0], "v": ["a", "b", "c"]}, schema=schema),
             pl.DataFrame(schema=schema), pl.DataFrame({"row": [3, 9], "tie": [0, 0], "v": ["d", "e"]}, schema=schema)]
    meeting = [pl.DataFrame({"row": [0, 5], "tie": [0, 1], "v": ["a", "b"]}, schema=schema),
               pl.DataFrame({"row": [5, 6], "tie": [0, 0], "v": ["c", "d"]}, schema=schema)]
    for name, frames in (("apart", apart), ("meeting", meeting)):
        parts = []
        for i, frame in enumerate(frames):
            parts.append(write_part(frame, tmp_path / f"{name}{i}.arrow"))
        merge_sorted_parts(parts, tmp_path / f"{name}.parquet", ["row", "tie"], 1, drop=("tie",))
        assert pl.read_parquet(tmp_path / f"{name}.parquet").equals(
            pl.concat(frames).sort("row", "tie").drop("tie")), name
    assert pl.read_parquet(tmp_path / "meeting.parquet")["v"].to_list() == ["a", "c", "b", "d"]
