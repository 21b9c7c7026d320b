"""Sorting rows by numbers and then by text, with numpy doing the numbers.

Sorting by a string column is what makes a multi-column sort slow; when the numeric keys
(client position, time, score ...) leave few ties, only the runs of tied rows need the text.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def sorted_order(numbers: list[np.ndarray], texts: list[pl.Series]) -> np.ndarray:
    """The row order of a stable sort by the numeric keys (ascending; no NaN), then by the
    texts (as polars sorts strings: nulls first): numpy sorts the numbers, polars only the
    runs of rows whose numbers tie."""
    order = np.lexsort(numbers[::-1])
    tied = np.logical_and.reduce([(key := n[order])[1:] == key[:-1] for n in numbers]) \
        if len(order) > 1 else np.zeros(0, bool)
    if not tied.any():
        return order
    at = np.flatnonzero(np.concatenate([tied, [False]]) | np.concatenate([[False], tied]))
    runs = pl.DataFrame({"__run": np.cumsum(np.concatenate([[True], ~tied]))[at], "__at": at,
                         **{f"__{i}": s.gather(order[at]) for i, s in enumerate(texts)}})
    order[at] = order[runs.sort(runs.columns[:1] + runs.columns[2:], maintain_order=True)["__at"].to_numpy()]
    return order
