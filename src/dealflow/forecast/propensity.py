"""Product propensity: which products an account is most likely to buy next.

``ProductPropensity`` learns from won deals up to a cut-off: what each account bought, which
products are bought by the same accounts (item-to-item cosine similarity) and how popular
each product is. An account's score for a product mixes its own purchase share, the
similarity to what it bought, and popularity. ``hit_rate(history, cutoff, k)`` checks it on a
time split: for accounts that win a deal after the cut-off, is that first product in the top k?
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from dealflow.history import History, to_utc


def _purchases(h: History) -> pl.DataFrame:
    won = h.deals.filter((pl.col("status") == "won") & pl.col("account_id").is_not_null()).select(
        pl.col("id").alias("deal_id"), "account_id", "closed_at"
    )
    return won.join(h.deal_products.select("deal_id", "product"), on="deal_id", how="inner")


class ProductPropensity:
    """Attributes: ``products_`` (names), ``accounts_`` (ids), ``shares_`` (accounts × products),
    ``similarity_`` (products × products), ``popularity_`` (products)."""

    def __init__(self, own_weight: float = 1.0, similar_weight: float = 0.5, popular_weight: float = 0.3) -> None:
        self.own_weight = own_weight
        self.similar_weight = similar_weight
        self.popular_weight = popular_weight

    def fit(self, history: History, cutoff: datetime) -> "ProductPropensity":
        at = to_utc(cutoff)
        bought = _purchases(history.as_of(at))
        counts = bought.group_by(["account_id", "product"]).agg(pl.len().alias("n"))
        self.products_ = sorted(set(history.products["name"].to_list()) | set(counts["product"].to_list()))
        self.accounts_ = sorted(counts["account_id"].unique().to_list())
        a_index = {a: i for i, a in enumerate(self.accounts_)}
        p_index = {p: j for j, p in enumerate(self.products_)}
        M = np.zeros((len(self.accounts_), len(self.products_)))
        if counts.height:
            M[[a_index[a] for a in counts["account_id"]], [p_index[p] for p in counts["product"]]] = counts["n"].to_numpy()
        totals = M.sum(axis=1, keepdims=True)
        self.shares_ = np.divide(M, totals, out=np.zeros_like(M), where=totals > 0)
        B = (M > 0).astype(float)
        norms = np.sqrt(B.sum(axis=0))
        denom = np.outer(norms, norms)
        S = np.divide(B.T @ B, denom, out=np.zeros((B.shape[1], B.shape[1])), where=denom > 0)
        np.fill_diagonal(S, 0.0)
        self.similarity_ = S
        pop = M.sum(axis=0)
        self.popularity_ = pop / pop.sum() if pop.sum() else np.full(len(self.products_), 1 / max(len(self.products_), 1))
        self._a_index = a_index
        self.cutoff_ = at
        return self

    def scores(self, account_ids: list[int]) -> np.ndarray:
        """Accounts × products scores (unknown accounts get popularity only)."""
        if not hasattr(self, "cutoff_"):
            from dealflow.forecast.scorers import NotFitted

            raise NotFitted("ProductPropensity is not fitted yet; call fit(history, cutoff) first")
        rows = np.zeros((len(account_ids), len(self.products_)))
        for r, a in enumerate(account_ids):
            i = self._a_index.get(a)
            if i is not None:
                own = self.shares_[i]
                similar = own @ self.similarity_
                rows[r] = self.own_weight * own + self.similar_weight * similar / max(similar.max(), 1e-9)
        return rows + self.popular_weight * self.popularity_[None, :]

    def recommend(self, account_ids: list[int], k: int = 3) -> pl.DataFrame:
        """Top ``k`` products per account: account_id, rank, product, score."""
        S = self.scores(account_ids)
        order = np.argsort(-S, axis=1, kind="stable")[:, :k]
        return pl.DataFrame({
            "account_id": np.repeat(account_ids, order.shape[1]),
            "rank": np.tile(np.arange(1, order.shape[1] + 1), len(account_ids)),
            "product": [self.products_[j] for j in order.ravel()],
            "score": S[np.arange(len(account_ids))[:, None], order].ravel(),
        })


def hit_rate(history: History, cutoff: datetime, k: int = 3) -> dict[str, float | int]:
    """Share of accounts whose first product won after ``cutoff`` was in their top ``k`` at
    ``cutoff``, for dealflow's propensity and for plain popularity."""
    at = to_utc(cutoff)
    model = ProductPropensity().fit(history, at)
    after = _purchases(history).filter(pl.col("closed_at") > at).sort("closed_at")
    first = after.group_by("account_id", maintain_order=True).agg(pl.col("product").first())
    if first.height == 0:
        return {"accounts": 0, "hit_rate": 0.0, "popularity_hit_rate": 0.0, "k": k}
    ids = first["account_id"].to_list()
    top = model.recommend(ids, k)
    hits = top.join(first, on=["account_id", "product"], how="semi")["account_id"].n_unique()
    popular = {model.products_[j] for j in np.argsort(-model.popularity_, kind="stable")[:k]}
    pop_hits = sum(p in popular for p in first["product"].to_list())
    return {"accounts": len(ids), "hit_rate": hits / len(ids), "popularity_hit_rate": pop_hits / len(ids), "k": k}
