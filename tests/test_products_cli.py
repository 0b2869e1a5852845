"""The JSON contracts of `dealflow products` and `dealflow cross-sell` (small hand-built store)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from dealflow.cli.app import app
from dealflow.store import crm
from dealflow.store import models as m
from tests.factories import add_deal

runner = CliRunner()
WON = [("Qualify", "2024-01-01"), ("Won", "2024-02-01")]
LOST = [("Qualify", "2024-01-01"), ("Lost", "2024-01-15")]


def test_products_and_cross_sell_json(file_store) -> None:  # type: ignore[no-untyped-def]
    with file_store.atomic() as s:
        acme = crm.get_or_create(s, m.Account, external_id="acme", name="Acme").id
        beta = crm.get_or_create(s, m.Account, external_id="beta", name="Beta").id
    add_deal(file_store, "1", WON, product="A", amount=100, account_id=acme)
    add_deal(file_store, "2", WON, product="B", amount=300, account_id=acme)
    add_deal(file_store, "3", WON, product="A", amount=200, account_id=beta)
    add_deal(file_store, "4", LOST, product="A", lost_reason="price", account_id=beta)

    result = runner.invoke(app, ["products", "--db", file_store.url, "--format", "json"])
    assert result.exit_code == 0, result.output
    products = {p["product"]: p for p in json.loads(result.stdout)["products"]}
    assert {k: products["A"][k] for k in ("won", "lost", "win_rate", "won_amount")} == {
        "won": 2, "lost": 1, "win_rate": 2 / 3, "won_amount": 300.0}
    assert products["A"]["top_lost_reasons"] == "price (1)"

    result = runner.invoke(app, ["cross-sell", "--db", file_store.url, "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [(w["account"], w["product"], w["because"]) for w in out["whitespace"]] == [("Beta", "B", "A")]
    assert [(r["product"], r["also_bought"], r["share"]) for r in out["also_bought"]] == [("A", "B", 0.5), ("B", "A", 1.0)]

    result = runner.invoke(app, ["products", "--db", file_store.url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Small changes" in result.output
