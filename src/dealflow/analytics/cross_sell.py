"""Cross-sell: what the accounts that bought X also bought, and what each account has not
bought yet although its peers did.

"Bought" = a won deal of the account with the product on one of its lines (the deal's
product when it has no lines). For products X and Y: ``accounts_x`` bought X, ``accounts_both``
bought X and Y, ``share`` = accounts_both ÷ accounts_x (how often X buyers also bought Y),
``lift`` = share ÷ (share of all buying accounts that bought Y); lift above 1 means X buyers
take Y more often than accounts in general.

An account's suggestions (the deal page calls :func:`suggest_for_account`): each product it
has not bought, scored by the highest ``share`` over the products it did buy, with how many
peer accounts (accounts sharing at least one product with it) bought the suggestion.

    >>> also_bought(history)                  # product, also_bought, accounts_x, accounts_both, share, lift
    >>> suggest_for_account(history, 42)      # product, score, because, peers_bought, open_deal
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from dealflow.history import History


def purchases(history: History) -> pl.DataFrame:
    """Distinct (account_id, account, product) pairs from won deals."""
    won = history.deals.filter((pl.col("status") == "won") & pl.col("account_id").is_not_null()).select(
        pl.col("id").alias("deal_id"), "account_id", "account", pl.col("product").alias("_first")
    )
    lines = won.join(history.deal_products.select("deal_id", "product"), on="deal_id", how="left").with_columns(
        pl.coalesce("product", "_first").alias("product")
    )
    return lines.filter(pl.col("product").is_not_null()).select("account_id", "account", "product").unique().sort(
        ["account_id", "product"]
    )


def also_bought(history: History, *, min_accounts: int = 1) -> pl.DataFrame:
    """For each product X, the other products its buyers bought, most shared first."""
    bought = purchases(history)
    schema = {"product": pl.String, "also_bought": pl.String, "accounts_x": pl.Int64, "accounts_both": pl.Int64,
              "share": pl.Float64, "lift": pl.Float64}
    if bought.is_empty():
        return pl.DataFrame(schema=schema)
    total = bought["account_id"].n_unique()
    per_product = bought.group_by("product").agg(pl.len().alias("accounts"))
    pairs = bought.join(bought.select("account_id", pl.col("product").alias("also_bought")), on="account_id").filter(
        pl.col("product") != pl.col("also_bought")
    )
    out = pairs.group_by("product", "also_bought").agg(pl.len().alias("accounts_both")).join(
        per_product.rename({"accounts": "accounts_x"}), on="product"
    ).join(per_product.rename({"product": "also_bought", "accounts": "_y"}), on="also_bought").with_columns(
        (pl.col("accounts_both") / pl.col("accounts_x")).alias("share"),
    ).with_columns(
        (pl.col("share") / (pl.col("_y") / total)).alias("lift"),
    ).filter(pl.col("accounts_both") >= min_accounts)
    return out.select(
        "product", "also_bought", pl.col("accounts_x").cast(pl.Int64), pl.col("accounts_both").cast(pl.Int64), "share", "lift"
    ).sort(["product", "share", "also_bought"], descending=[False, True, False])


def whitespace(history: History) -> pl.DataFrame:
    """Every (account, product) the account has not bought though buyers of its products did.

    Columns: account_id, account, product, score (highest share over the products it bought),
    because (that product), peers_bought (peer accounts that bought it), open_deal (the account
    already has an open deal for it). Sorted by account, then score.
    """
    bought = purchases(history)
    rules = also_bought(history)
    schema = {"account_id": pl.Int64, "account": pl.String, "product": pl.String, "score": pl.Float64,
              "because": pl.String, "peers_bought": pl.Int64, "open_deal": pl.Boolean}
    if rules.is_empty():
        return pl.DataFrame(schema=schema)
    candidates = bought.join(rules, on="product").join(
        bought.select("account_id", pl.col("product").alias("also_bought")), on=["account_id", "also_bought"], how="anti"
    )
    best = candidates.sort(["account_id", "also_bought", "share", "product"], descending=[False, False, True, False]).group_by(
        "account_id", "account", "also_bought", maintain_order=True
    ).agg(pl.col("share").first().alias("score"), pl.col("product").first().alias("because"))
    # peers: accounts sharing at least one product; how many of them bought the suggestion
    peers = bought.select("account_id", "product").join(
        bought.select(pl.col("account_id").alias("peer"), "product"), on="product"
    ).filter(pl.col("peer") != pl.col("account_id")).select("account_id", "peer").unique()
    peer_bought = peers.join(bought.select(pl.col("account_id").alias("peer"), pl.col("product").alias("also_bought")), on="peer").group_by(
        "account_id", "also_bought").agg(pl.len().cast(pl.Int64).alias("peers_bought"))
    open_deals = history.deals.filter((pl.col("status") == "open") & pl.col("account_id").is_not_null()).select(
        "account_id", pl.col("product").alias("also_bought")
    ).unique().with_columns(pl.lit(True).alias("open_deal"))
    out = best.join(peer_bought, on=["account_id", "also_bought"], how="left").join(
        open_deals, on=["account_id", "also_bought"], how="left"
    ).with_columns(pl.col("open_deal").fill_null(False), pl.col("peers_bought").fill_null(0))
    return out.rename({"also_bought": "product"}).select(list(schema)).sort(
        ["account_id", "score", "peers_bought", "product"], descending=[False, True, True, False]
    )


def suggest_for_account(history: History, account_id: int, *, top: int = 5) -> pl.DataFrame:
    """What this account has not bought yet though its peers did (for the deal page)."""
    return whitespace(history).filter(pl.col("account_id") == account_id).head(top).drop("account_id")


@dataclass
class CrossSell:
    also_bought: pl.DataFrame
    whitespace: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"also_bought": self.also_bought, "whitespace": self.whitespace}


def cross_sell(history: History, *, product: str | None = None, account: str | None = None) -> CrossSell:
    """Both views, optionally narrowed to one product (X) or one account (by name)."""
    pairs = also_bought(history)
    ws = whitespace(history)
    if product is not None:
        pairs = pairs.filter(pl.col("product") == product)
    if account is not None:
        ws = ws.filter(pl.col("account") == account)
    return CrossSell(also_bought=pairs, whitespace=ws)
