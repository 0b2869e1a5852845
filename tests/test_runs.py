"""The columnar helpers behind the fast paths agree with the plain Polars operations they replace."""
from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dealflow.analytics.runs import DealRuns, StageIndex, agg_by_ints

small = st.one_of(st.none(), st.integers(-3, 40))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(small, small, st.integers(0, 5), st.floats(-1e6, 1e6)), max_size=60))
def test_agg_by_ints_is_a_group_by(rows: list[tuple[int | None, int | None, int, float]]) -> None:
    frame = pl.DataFrame(rows, schema={"a": pl.Int64, "b": pl.Int64, "c": pl.Int8, "x": pl.Float64}, orient="row")
    aggs = [pl.len().alias("n"), pl.col("x").sum().alias("total")]
    fast = agg_by_ints(frame, ["a", "b", "c"], *aggs).sort(["a", "b", "c"], nulls_last=True)
    plain = frame.group_by(["a", "b", "c"]).agg(*aggs).sort(["a", "b", "c"], nulls_last=True)
    assert_frame_equal(fast, plain, check_dtypes=False)


def test_deal_runs_fold_each_deal_and_find_its_row() -> None:
    runs = DealRuns.of(pl.Series([7, 7, 9, 12, 12, 12]))
    assert runs.deal_ids.tolist() == [7, 9, 12]
    assert runs.lengths.tolist() == [2, 1, 3]
    assert runs.reduce(np.array([1, 5, 2, 4, 3, 0]), np.maximum).tolist() == [5, 2, 4]
    assert runs.last_rows(6).tolist() == [False, True, True, False, False, True]
    row, found = runs.rows_in(np.array([12, 3, 7]))  # deal ids of a frame, in any order
    assert found.tolist() == [True, False, True]
    assert row[found].tolist() == [2, 0]


def test_stage_index_positions_and_lookups() -> None:
    stages = pl.DataFrame({"id": [30, 10, 20], "rank": [None, 0, 1], "name": ["Lost", "Qualify", "Won"]})
    index = StageIndex.of(stages)
    assert index.positions(pl.Series([20, None, 10, 99, 30])).tolist() == [1, -1, 0, -1, 2]
    rank = index.lookup(stages, "rank", -1)
    assert rank[index.positions(pl.Series([30, 20, 5]))].tolist() == [-1, 1, -1]  # -1: no rank, and the slot for "not a stage"
    assert index.names(stages, "id", "name").to_list() == ["Qualify", "Won", "Lost"]
