"""Product propensity, worked by hand."""
from __future__ import annotations

import pytest

from dealflow.forecast.propensity import ProductPropensity, hit_rate
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.frames import load_history
from tests.factories import add_deal, t


@pytest.fixture
def history(store):
    with store.atomic() as s:
        ids = {name: crm.get_or_create(s, m.Account, external_id=name, name=name).id for name in ("a1", "a2", "a3")}
    won = [("Qualify", "2024-01-01"), ("Won", "2024-01-10")]
    add_deal(store, "D1", won, product="X", account_id=ids["a1"])
    add_deal(store, "D2", won, product="X", account_id=ids["a1"])
    add_deal(store, "D3", won, product="Y", account_id=ids["a1"])
    add_deal(store, "D4", won, product="X", account_id=ids["a2"])
    add_deal(store, "D5", won, product="Z", account_id=ids["a2"])
    add_deal(store, "D6", won, product="Z", account_id=ids["a3"])
    add_deal(store, "D7", [("Qualify", "2024-02-01"), ("Won", "2024-02-10")], product="Y", account_id=ids["a3"])
    return load_history(store), ids


def test_scores_mix_own_purchases_similar_products_and_popularity(history):
    h, ids = history
    model = ProductPropensity().fit(h, t("2024-01-31"))
    assert model.products_ == ["X", "Y", "Z"]
    # a3 bought Z. cos(Z, X) = 1/(√2·√2) = 0.5, cos(Z, Y) = 0 → similar = [1, 0, 0] after scaling;
    # popularity X 3/6, Y 1/6, Z 2/6 (weight 0.3)
    assert model.scores([ids["a3"]])[0] == pytest.approx([0.5 + 0.15, 0.05, 1.0 + 0.1])
    top = model.recommend([ids["a3"], 999], k=2)
    assert top["product"].to_list() == ["Z", "X", "X", "Z"]  # an unknown account gets the popular ones


def test_hit_rate_on_a_time_split(history):
    h, _ = history
    # after the cut-off only a3 buys: Y, which is its last choice (Z, X, Y) → no hit at k=2, a hit at k=3
    assert hit_rate(h, t("2024-01-31"), k=2) == {"accounts": 1, "hit_rate": 0.0, "popularity_hit_rate": 0.0, "k": 2}
    assert hit_rate(h, t("2024-01-31"), k=3)["hit_rate"] == 1.0
