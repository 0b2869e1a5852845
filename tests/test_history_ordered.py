"""The shift-based helpers give what the window functions they replace give."""
from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from dealflow.history import end_per_deal, seq_in_deal, shift_in_deal, sorted_by_deal

ROWS = pl.DataFrame({
    "id": [5, 2, 3, 1, 4, 6],
    "deal_id": [2, 1, 1, 1, 3, 3],
    "at": [1, 1, 2, 2, 7, 9],
    "to_stage": ["A", "A", "B", "B", None, "C"],
})


def test_sorted_by_deal_sorts_only_when_needed() -> None:
    ordered = sorted_by_deal(ROWS)
    assert ordered["id"].to_list() == [2, 1, 3, 5, 4, 6]  # (deal, at, id): the tie at deal 1, at 2 goes by id
    assert sorted_by_deal(ordered) is ordered


def test_shift_and_sequence_match_the_window_functions() -> None:
    ordered = sorted_by_deal(ROWS)
    mine = ordered.select(
        shift_in_deal(pl.col("to_stage"), 1).alias("prev"), shift_in_deal(pl.col("at"), -1).alias("next_at"),
        seq_in_deal(1).alias("visit"),
    )
    window = ordered.select(
        pl.col("to_stage").shift(1).over("deal_id").alias("prev"), pl.col("at").shift(-1).over("deal_id").alias("next_at"),
        pl.int_range(1, pl.len() + 1).over("deal_id").alias("visit"),
    )
    assert_frame_equal(mine, window)
    assert mine["visit"].to_list() == [1, 2, 3, 1, 1, 2]
    assert mine["prev"].to_list() == [None, "A", "B", None, None, None]


def test_first_and_last_rows_per_deal() -> None:
    ordered = sorted_by_deal(ROWS)
    assert end_per_deal(ordered, "last")["id"].to_list() == [3, 5, 6]
    assert end_per_deal(ordered, "first")["id"].to_list() == [2, 5, 4]
    # unordered frames fall back to grouping, in order of first appearance
    assert end_per_deal(ROWS, "last").select("deal_id", "id").rows() == [(2, 5), (1, 1), (3, 6)]


def test_snapshot_keeps_every_activity_kind_column_when_open_deals_have_none(store) -> None:  # type: ignore[no-untyped-def]
    """Snapshots aggregate only the open deals' events, yet keep a column per kind recorded by then."""
    from dealflow.forecast.snapshot import snapshot
    from dealflow.store.frames import load_history
    from tests.factories import add_deal, t

    add_deal(store, "D-1", [("Qualify", "2024-01-02")])
    add_deal(store, "D-2", [("Qualify", "2024-01-03"), ("Won", "2024-01-20")],
             activities=[("call", "2024-01-05"), ("email", "2024-01-06")])
    snap = snapshot(load_history(store), t("2024-02-01"))
    assert snap.select("activities", "act_call", "act_email").rows() == [(0, 0, 0)]
