"""Scorers: the estimator shape, hand-worked baselines, and dealflow's model on synthetic data."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from dealflow.forecast.metrics import auc, brier
from dealflow.forecast.scorers import DealflowScorer, NaiveBayes, NotFitted, StageDefault, StageRate, make_scorer
from dealflow.forecast.snapshot import outcomes, snapshot
from dealflow.store import Store
from dealflow.store.frames import load_history
from dealflow.synthetic import generate
from tests.factories import add_deal, t


@pytest.fixture
def small(store):
    add_deal(store, "A", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05"), ("Won", "2024-01-20")], owner="ann")
    add_deal(store, "B", [("Qualify", "2024-01-02"), ("Lost", "2024-01-10")], owner="ann")
    add_deal(store, "C", [("Qualify", "2024-01-03"), ("Propose", "2024-01-08"), ("Lost", "2024-01-25")], owner="bob")
    add_deal(store, "D", [("Qualify", "2024-01-10"), ("Propose", "2024-01-28")], owner="ann")
    add_deal(store, "E", [("Qualify", "2024-01-29")], owner="bob")
    return load_history(store)


@pytest.mark.parametrize("name", ["stage_default", "stage_rate", "naive_bayes", "dealflow"])
def test_unfitted_scorers_refuse_to_predict(small, name):
    scorer = make_scorer(name)
    assert not [k for k in vars(scorer) if k.endswith("_")]  # __init__ only stores parameters
    with pytest.raises(NotFitted):
        scorer.predict_proba(snapshot(small, t("2024-02-01")))
    assert scorer.fit(small, t("2024-02-01")) is scorer


def test_stage_default_uses_the_stage_probabilities(small):
    snap = snapshot(small, t("2024-02-01")).sort("external_id")
    assert StageDefault().fit(small, t("2024-02-01")).predict_proba(snap).tolist() == [0.4, 0.1]


def test_stage_rate_is_the_win_rate_of_deals_that_entered_the_stage(small):
    snap = snapshot(small, t("2024-02-01")).sort("external_id")  # D in Propose, E in Qualify
    scorer = StageRate(prior_weight=0).fit(small, t("2024-02-01"))
    assert scorer.predict_proba(snap) == pytest.approx([1 / 2, 1 / 3])  # Propose: A won, C lost


def test_naive_bayes_by_hand(small):
    """alpha=1, owner only. Won: A; lost: B, C. Stages counted cumulatively:
    Propose won 1 (A counts for every stage), lost 1 (C reached it); 3 open stages.
    Owner ann won 1 lost 1; 2 owners. won score = 2/5 · 2/4 · 2/3, lost = 3/5 · 2/5 · 2/4 → 10/19."""
    snap = snapshot(small, t("2024-02-01")).sort("external_id").head(1)
    scorer = NaiveBayes(alpha=1.0, fields=("owner",)).fit(small, t("2024-02-01"))
    assert scorer.predict_proba(snap)[0] == pytest.approx(10 / 19)


def test_dealflow_leans_on_stage_rates_when_history_is_thin(small):
    snap = snapshot(small, t("2024-02-01"))
    scorer = DealflowScorer().fit(small, t("2024-02-01"))
    assert scorer.thin_ and scorer.model_ is None
    assert "stage win rates" in scorer.notes_[0]
    np.testing.assert_allclose(scorer.predict_proba(snap), StageRate().fit(small, t("2024-02-01")).predict_proba(snap))
    assert scorer.explain(snap)["reasons"][0].startswith("only")


@pytest.fixture(scope="module")
def synthetic():
    store = Store(":memory:")
    generate(store, deals=2000, seed=11, days=730)
    h = load_history(store)
    store.dispose()
    return h


def test_dealflow_beats_the_baselines_on_synthetic_data(synthetic):
    cutoff = datetime(2022, 6, 1, tzinfo=timezone.utc)
    frames = [outcomes(synthetic, snapshot(synthetic, datetime(2022, m, 1, tzinfo=timezone.utc))) for m in (6, 7, 8, 9)]
    test = pl.concat(frames).filter(pl.col("won").is_not_null())
    y = test["won"].to_numpy()
    scorers = {"stage_default": StageDefault(), "stage_rate": StageRate(), "dealflow": DealflowScorer(max_iter=80, every_days=21)}
    scores = {name: s.fit(synthetic, cutoff).predict_proba(test) for name, s in scorers.items()}
    assert auc(y, scores["dealflow"]) > max(auc(y, scores["stage_default"]), auc(y, scores["stage_rate"])) + 0.03
    assert brier(y, scores["dealflow"]) < min(brier(y, scores["stage_default"]), brier(y, scores["stage_rate"]))


def test_dealflow_explains_each_deal_in_words(synthetic):
    cutoff = datetime(2022, 6, 1, tzinfo=timezone.utc)
    scorer = DealflowScorer(max_iter=60).fit(synthetic, cutoff)
    assert scorer.calibration_ in ("isotonic", "sigmoid")
    assert 0.9 < scorer.weight_ < 1.0
    snap = snapshot(synthetic, cutoff).head(20)
    ex = scorer.explain(snap, top=3)
    assert ex.height == 20
    np.testing.assert_allclose(ex["probability"].to_numpy(), scorer.predict_proba(snap))
    assert all(1 <= r.count("pts") <= 3 for r in ex["reasons"])
    assert any("days in" in r or "in stage" in r or "activities" in r for r in ex["reasons"])
