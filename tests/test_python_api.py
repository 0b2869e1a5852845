"""dealflow.open(db): the analyst's entry point returns Polars frames."""
import polars as pl

import dealflow
from dealflow.cli.common import to_jsonable


def test_open_and_analyse(maven_store):
    crm = dealflow.open(maven_store)
    assert isinstance(crm.deals(), pl.DataFrame) and crm.deals().height == 8800
    stages = crm.report().stages
    assert isinstance(stages, pl.DataFrame)
    assert stages.filter(pl.col("stage") == "Engaging")["open_deals"].item() == 1589
    products = crm.products().products
    assert products.filter(pl.col("product") == "GTX Pro")["won"].item() == 729
    flow = to_jsonable(crm.flow().to_dict())["transitions"]
    assert {(t["from"], t["to"]): t["count"] for t in flow}[("Engaging", "Won")] == 4238


def test_exported_members():
    assert set(dealflow.__all__) >= {"open", "Dealflow", "Store", "History", "DealflowError"}
    for name in dealflow.__all__:
        assert hasattr(dealflow, name)
