"""The synthetic generator: realistic shape, known true probabilities, bulk speed."""
from __future__ import annotations

import time

import polars as pl
import pytest

from dealflow.errors import DomainError
from dealflow.store.frames import load_history
from dealflow.synthetic import generate


def test_generate_writes_deals_with_history_and_true_probabilities(store):
    result = generate(store, deals=400, seed=5, days=365)
    h = load_history(store)
    assert h.deals.height == 400 == result.deals
    assert result.won + result.lost + result.open == 400
    assert h.deals["true_probability"].null_count() == 0
    assert h.deals["true_probability"].is_between(0, 1).all()
    # outcomes follow the true probabilities (mean within a few standard errors)
    closed = h.deals.filter(pl.col("status") != "open")
    won_share = (closed["status"] == "won").mean()
    assert abs(won_share - closed["true_probability"].mean()) < 0.08
    # stage history: every deal starts in Qualify; some fall back a stage
    first = h.stage_changes.group_by("deal_id").agg(pl.col("to_stage").first())
    assert set(first["to_stage"]) == {"Qualify"}
    log = h.stage_log()
    back = log.with_columns(pl.col("rank").shift(1).over("deal_id").alias("prev")).filter(
        (pl.col("rank") < pl.col("prev")) & (pl.col("kind") == "open"))
    assert back.height > 10
    # close dates slip, recorded as field changes that move the date later
    fc = h.field_changes.filter(pl.col("field") == "expected_close_date")
    assert fc.height > 20 and (fc["new_value"] > fc["old_value"]).all()
    assert set(h.activities["kind"].unique()) == {"call", "email", "meeting"}
    assert h.deals.filter(pl.col("status") == "lost")["lost_reason"].null_count() == 0
    assert h.deals["owner"].n_unique() == 24 and h.deals["product"].n_unique() == 6


def test_generate_is_reproducible_and_refuses_a_second_run_with_the_same_seed(store, file_store):
    generate(store, deals=50, seed=9, days=200)
    generate(file_store, deals=50, seed=9, days=200)
    a, b = load_history(store).deals, load_history(file_store).deals
    assert a["amount"].to_list() == b["amount"].to_list()
    with pytest.raises(DomainError, match="seed 9"):
        generate(store, deals=50, seed=9)
    generate(store, deals=50, seed=10, days=200)  # another seed adds to the same store
    assert load_history(store).deals.height == 100


@pytest.mark.slow
def test_twenty_thousand_deals_load_in_well_under_a_minute(file_store):
    clock = time.perf_counter()
    generate(file_store, deals=20_000, seed=1)
    assert time.perf_counter() - clock < 45


def test_records_written_after_generating_get_fresh_ids(store):
    """Bulk inserts use explicit ids; later one-at-a-time writes must not collide with them."""
    from tests.factories import add_deal

    generate(store, deals=30, seed=12, days=100)
    add_deal(store, "AFTER", [("Qualify", "2024-01-01"), ("Won", "2024-01-05")], product="Widget",
             activities=[("call", "2024-01-02")])
    deals = load_history(store).deals
    assert deals.height == 31 and deals["id"].n_unique() == 31
