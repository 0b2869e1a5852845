"""Point-in-time snapshots: hand-worked features, and no look-ahead (a hypothesis property)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealflow.forecast.scorers import DealflowScorer, NaiveBayes, StageDefault, StageRate
from dealflow.forecast.snapshot import outcomes, snapshot, training_snapshots
from dealflow.store import Store
from dealflow.store.frames import load_history
from dealflow.synthetic import generate
from tests.factories import add_deal, t


def test_snapshot_features_by_hand(store):
    add_deal(store, "A", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05"), ("Qualify", "2024-01-08"),
                          ("Propose", "2024-01-10"), ("Won", "2024-02-01")], owner="ann", product="X",
             activities=[("call", "2024-01-02"), ("email", "2024-01-09"), ("call", "2024-01-20")])
    add_deal(store, "B", [("Qualify", "2024-01-03"), ("Lost", "2024-01-20")], owner="bob")
    add_deal(store, "C", [("Qualify", "2024-01-14")])
    add_deal(store, "D", [("Qualify", "2024-01-02"), ("Lost", "2024-01-04")])  # closed before: not in it
    add_deal(store, "E", [("Qualify", "2024-01-20")])  # created after: not in it
    h = load_history(store)
    snap = snapshot(h, t("2024-01-15")).sort("external_id")
    assert snap["external_id"].to_list() == ["A", "B", "C"]
    a = snap.row(0, named=True)
    assert a["stage"] == "Propose" and a["stage_rank"] == 1 and a["stage_probability"] == 0.4
    assert a["days_in_stage"] == 5.0  # back in Propose since 01-10
    assert a["age_days"] == 14.0
    assert (a["stage_changes"], a["regressions"], a["max_rank"]) == (3, 1, 1)
    assert (a["activities"], a["activities_7d"], a["days_since_activity"]) == (2, 1, 6.0)
    assert (a["act_call"], a["act_email"]) == (1, 1)  # the call on 01-20 is not known yet
    assert a["owner"] == "ann" and a["product"] == "X"
    labelled = outcomes(h, snap).sort("external_id")
    assert labelled["won"].to_list() == [True, False, None]
    assert labelled["days_to_close"].to_list() == [17.0, 5.0, None]


def test_snapshot_counts_close_date_pushes(store):
    from dealflow.store import crm
    from dealflow.store import models as m
    from sqlalchemy import select

    add_deal(store, "A", [("Qualify", "2024-01-01")], expected_close_date=date(2024, 2, 1))
    with store.atomic() as s:
        deal = s.scalar(select(m.Deal).where(m.Deal.external_id == "A"))
        crm.update_deal(s, deal, {"expected_close_date": date(2024, 3, 1)}, now=t("2024-02-02"))
        crm.update_deal(s, deal, {"expected_close_date": date(2024, 2, 20)}, now=t("2024-02-10"))
        crm.update_deal(s, deal, {"expected_close_date": date(2024, 4, 1)}, now=t("2024-03-02"))
    h = load_history(store)
    row = snapshot(h, t("2024-02-15")).row(0, named=True)
    assert row["close_pushes"] == 1  # one push later, one pull earlier; the April push is future
    assert row["expected_close_date"] == date(2024, 2, 20)
    assert row["days_to_expected_close"] == 5.0


def test_training_snapshots_only_use_outcomes_known_at_the_cutoff(store):
    add_deal(store, "A", [("Qualify", "2024-01-01"), ("Won", "2024-01-20")])
    add_deal(store, "B", [("Qualify", "2024-01-02"), ("Lost", "2024-03-20")])  # decided after the cut-off
    add_deal(store, "C", [("Qualify", "2024-01-03"), ("Lost", "2024-01-10")])
    h = load_history(store)
    train = training_snapshots(h, t("2024-03-01"), every_days=7, min_gap_days=40)
    assert set(train["external_id"].to_list()) == {"A", "C"}
    assert train["cutoff"].max() <= t("2024-03-01") - timedelta(days=40)


# -- no look-ahead --------------------------------------------------------------------------

CUTOFF = datetime(2021, 10, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def synthetic_history():
    store = Store(":memory:")
    generate(store, deals=700, seed=3, days=400)
    h = load_history(store)
    store.dispose()
    return h


def _shift_later(frame: pl.DataFrame, col: str, days: int, cutoff: datetime) -> pl.DataFrame:
    lit = pl.lit(cutoff, dtype=pl.Datetime("us", "UTC"))
    return frame.with_columns(
        pl.when(pl.col(col) > lit).then(pl.col(col) + pl.duration(days=days)).otherwise(pl.col(col)).alias(col)
    )


def mutate_after(h, cutoff: datetime, seed: int, what: set[str]):
    """Change, drop and add history dated after ``cutoff``; leave everything before it alone."""
    rng = np.random.default_rng(seed)
    lit = pl.lit(cutoff, dtype=pl.Datetime("us", "UTC"))
    deals, sc, fc, acts = h.deals, h.stage_changes, h.field_changes, h.activities
    if "outcomes" in what:  # flip the outcome of deals that closed after the cut-off
        flip = pl.Series(rng.random(deals.height) < 0.5)
        later = (pl.col("closed_at") > lit) & flip
        deals = deals.with_columns(
            pl.when(later & (pl.col("status") == "won")).then(pl.lit("lost"))
            .when(later & (pl.col("status") == "lost")).then(pl.lit("won")).otherwise(pl.col("status")).alias("status"),
        ).with_columns(
            pl.when(later).then(pl.col("status")).otherwise(pl.col("stage_kind")).alias("stage_kind"),
            pl.when(later).then(pl.when(pl.col("status") == "won").then(pl.lit("Won")).otherwise(pl.lit("Lost")))
            .otherwise(pl.col("stage")).alias("stage"),
        )
        sc = sc.with_columns(
            pl.when((pl.col("at") > lit) & (pl.col("to_kind") == "won")).then(pl.lit("Lost")).otherwise(pl.col("to_stage")).alias("to_stage"),
            pl.when((pl.col("at") > lit) & (pl.col("to_kind") == "won")).then(pl.lit("lost")).otherwise(pl.col("to_kind")).alias("to_kind"),
        )
    if "times" in what:
        days = int(rng.integers(1, 60))
        sc = _shift_later(sc, "at", days, cutoff)
        deals = _shift_later(deals, "closed_at", days, cutoff)
        acts = _shift_later(acts, "at", days, cutoff)
    if "drop" in what:
        keep = pl.Series(rng.random(sc.height) < 0.5) | (pl.col("at") <= lit)
        sc = sc.filter(keep)
        acts = acts.filter(pl.Series(rng.random(acts.height) < 0.5) | (pl.col("at") <= lit))
        # an edit's new value may change, but the value known at the cut-off (the first later
        # edit's old value) is history from before it
        fc = fc.with_columns(
            pl.when((pl.col("at") > lit) & pl.Series(rng.random(fc.height) < 0.5)).then(pl.lit("2031-05-05"))
            .otherwise(pl.col("new_value")).alias("new_value")
        )
    if "add" in what:
        later_acts = acts.filter(pl.col("at") <= lit).sample(fraction=0.3, seed=seed).with_columns(
            (pl.col("id") + 10_000_000), pl.lit("meeting").alias("kind"),
            (lit + pl.duration(days=int(rng.integers(1, 30)))).alias("at"),
        )
        acts = pl.concat([acts, later_acts]).sort(["deal_id", "at", "id"])
        # a new close-date edit after each deal's last one, and the deal's current value with it
        last = fc.group_by("deal_id").agg(pl.col("at").max().alias("_last"))
        picked = deals.head(60).join(last, left_on="id", right_on="deal_id", how="left")
        edits = picked.select(
            (pl.col("id") + 10_000_000).alias("id"), pl.col("id").alias("deal_id"), pl.lit("expected_close_date").alias("field"),
            pl.col("expected_close_date").cast(pl.String).alias("old_value"), pl.lit("2030-01-01").alias("new_value"),
            (pl.max_horizontal(pl.col("_last").fill_null(lit), lit) + pl.duration(days=1)).alias("at"), pl.lit(None, pl.String).alias("by"),
        )
        fc = pl.concat([fc, edits.cast(fc.schema)]).sort(["deal_id", "at", "id"])
        deals = deals.with_columns(
            pl.when(pl.col("id").is_in(edits["deal_id"].implode())).then(pl.lit(date(2030, 1, 1)))
            .otherwise(pl.col("expected_close_date")).alias("expected_close_date")
        )
        newcomers = deals.head(20).with_columns(
            (pl.col("id") + 10_000_000), (lit + pl.duration(days=5)).alias("first_seen_at"),
            (lit + pl.duration(days=5)).alias("created_at"), pl.lit("open").alias("status"),
        )
        deals = pl.concat([deals, newcomers])
    return replace(h, deals=deals, stage_changes=sc, field_changes=fc, activities=acts)


changes = st.sets(st.sampled_from(["outcomes", "times", "drop", "add"]), min_size=1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), what=changes, days=st.integers(0, 300))
def test_snapshot_ignores_anything_after_the_cutoff(synthetic_history, seed, what, days):
    cutoff = datetime(2021, 1, 20, tzinfo=timezone.utc) + timedelta(days=days)
    changed = mutate_after(synthetic_history, cutoff, seed, what)
    before = snapshot(synthetic_history, cutoff)
    after = snapshot(changed, cutoff)
    assert before.height > 0
    assert before.equals(after)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), what=changes)
def test_scores_ignore_anything_after_the_cutoff(synthetic_history, seed, what):
    changed = mutate_after(synthetic_history, CUTOFF, seed, what)
    snap = snapshot(synthetic_history, CUTOFF)
    for make in (StageDefault, StageRate, NaiveBayes, lambda: DealflowScorer(max_iter=25, every_days=28)):
        a = make().fit(synthetic_history, CUTOFF).predict_proba(snap)
        b = make().fit(changed, CUTOFF).predict_proba(snap)
        np.testing.assert_array_equal(a, b)


def test_the_mutation_does_change_the_future(synthetic_history):
    """Guard for the property tests: the mutation really changes outcomes seen later."""
    changed = mutate_after(synthetic_history, CUTOFF, 1, {"outcomes"})
    snap = snapshot(synthetic_history, CUTOFF)
    assert not outcomes(synthetic_history, snap)["won"].equals(outcomes(changed, snap)["won"])
    later = CUTOFF + timedelta(days=80)
    a = StageRate().fit(synthetic_history, later).predict_proba(snap)
    b = StageRate().fit(changed, later).predict_proba(snap)
    assert not np.array_equal(a, b)
