"""Cross-sell, worked by hand; and on Maven CRM, where 73 of 85 accounts never bought the GTK 500."""
from __future__ import annotations

import pytest

from dealflow.analytics.cross_sell import also_bought, cross_sell, purchases, suggest_for_account, whitespace
from dealflow.store import crm
from dealflow.store import models as m
from dealflow.store.frames import load_history
from tests.factories import add_deal

WON = [("Qualify", "2024-01-01"), ("Won", "2024-02-01")]


@pytest.fixture
def history(store):  # type: ignore[no-untyped-def]
    """Acme bought A and B; Beta A, B and C (B and C on one deal); Ceta A; Delta C, with an open deal for A."""
    with store.atomic() as s:
        ids = {n: crm.get_or_create(s, m.Account, external_id=n, name=n).id for n in ("Acme", "Beta", "Ceta", "Delta")}
    add_deal(store, "1", WON, product="A", account_id=ids["Acme"])
    add_deal(store, "2", WON, product="B", account_id=ids["Acme"])
    add_deal(store, "3", WON, product="A", account_id=ids["Beta"])
    bc = add_deal(store, "4", WON, product="B", account_id=ids["Beta"])
    with store.atomic() as s:
        s.add(m.DealProduct(deal_id=bc, product_id=crm.get_or_create(s, m.Product, external_id="C", name="C").id, quantity=1))
    add_deal(store, "5", WON, product="A", account_id=ids["Ceta"])
    add_deal(store, "6", WON, product="C", account_id=ids["Delta"])
    add_deal(store, "7", [("Qualify", "2024-03-01")], product="A", account_id=ids["Delta"])  # open: not bought
    add_deal(store, "8", [("Qualify", "2024-03-01"), ("Lost", "2024-03-02")], product="B", account_id=ids["Ceta"])  # lost
    return load_history(store), ids


def test_purchases_are_won_lines(history) -> None:  # type: ignore[no-untyped-def]
    h, _ = history
    assert purchases(h).select("account", "product").rows() == [
        ("Acme", "A"), ("Acme", "B"), ("Beta", "A"), ("Beta", "B"), ("Beta", "C"), ("Ceta", "A"), ("Delta", "C"),
    ]


def test_what_buyers_of_x_also_bought(history) -> None:  # type: ignore[no-untyped-def]
    h, _ = history
    rows = also_bought(h).select("product", "also_bought", "accounts_x", "accounts_both", "share", "lift").rows()
    assert rows == [
        ("A", "B", 3, 2, pytest.approx(2 / 3), pytest.approx(4 / 3)),  # 2 of 4 accounts bought B overall
        ("A", "C", 3, 1, pytest.approx(1 / 3), pytest.approx(2 / 3)),
        ("B", "A", 2, 2, 1.0, pytest.approx(4 / 3)),
        ("B", "C", 2, 1, 0.5, 1.0),
        ("C", "A", 2, 1, 0.5, pytest.approx(2 / 3)),
        ("C", "B", 2, 1, 0.5, 1.0),
    ]


def test_what_accounts_have_not_bought_yet(history) -> None:  # type: ignore[no-untyped-def]
    h, _ = history
    rows = whitespace(h).select("account", "product", "score", "because", "peers_bought", "open_deal").rows()
    assert rows == [
        ("Acme", "C", 0.5, "B", 1, False),  # peers Beta and Ceta; Beta bought C
        ("Ceta", "B", pytest.approx(2 / 3), "A", 2, False),  # a lost deal is not a purchase
        ("Ceta", "C", pytest.approx(1 / 3), "A", 1, False),
        ("Delta", "A", 0.5, "C", 1, True),  # already has an open deal for it
        ("Delta", "B", 0.5, "C", 1, False),
    ]


def test_one_account_for_the_deal_page(history) -> None:  # type: ignore[no-untyped-def]
    h, ids = history
    assert suggest_for_account(h, ids["Ceta"]).select("product", "because").rows() == [("B", "A"), ("C", "A")]
    assert suggest_for_account(h, ids["Beta"]).is_empty()  # bought everything
    assert cross_sell(h, account="Delta").whitespace.height == 2
    assert cross_sell(h, product="C").also_bought["also_bought"].to_list() == ["A", "B"]


def test_empty_store(store) -> None:  # type: ignore[no-untyped-def]
    h = load_history(store)
    assert also_bought(h).is_empty() and whitespace(h).is_empty()


def test_maven_gtk_500_is_the_whitespace(maven_history) -> None:  # type: ignore[no-untyped-def]
    ws = whitespace(maven_history)
    # 85 accounts bought; 12 bought all seven products, the other 73 everything but the GTK 500
    assert ws.height == 73
    assert set(ws["product"]) == {"GTK 500"}
    assert ws["score"].unique().to_list() == [pytest.approx(12 / 85)]
    assert ws["peers_bought"].unique().to_list() == [12]
    gtk = also_bought(maven_history).filter(product="GTK 500")
    assert gtk["accounts_x"].unique().to_list() == [12]
    assert gtk["share"].unique().to_list() == [1.0]
