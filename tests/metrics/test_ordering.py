"""Sorting by numbers, then by text in the runs they tie in (pipelines.metrics.ordering)."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.metrics.ordering import sorted_order


def test_sorted_order_sorts_as_polars_does():
    """Numbers by numpy, the runs they tie in by text: the order of polars' sort of them all."""
    rng = np.random.default_rng(3)
    n = 5_000
    ints, floats = rng.integers(0, 20, n), rng.integers(0, 5, n) / 4 - 0.5
    texts = pl.Series([None if i % 17 == 0 else f"K{i % 37:03d}" for i in rng.integers(0, 10_000, n)])
    frame = pl.DataFrame({"a": ints, "b": floats, "t": texts, "u": texts.reverse()})
    want = frame.with_row_index("i").sort("a", "b", "t", "u", maintain_order=True)["i"].to_numpy()
    assert np.array_equal(sorted_order([ints, floats], [texts, texts.reverse()]), want)
    distinct = rng.permutation(n)  # no ties: numbers alone
    assert np.array_equal(sorted_order([distinct], [texts]), np.argsort(distinct))
    assert len(sorted_order([np.zeros(0, np.int64)], [pl.Series([], dtype=pl.String)])) == 0
