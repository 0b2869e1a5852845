"""Peer: a straightforward pandas version of the report and flow metrics.

    python benchmarks/peers/pandas_version.py report|flow PARQUET_DIR OUT.json
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from common import AGE_BUCKETS, DAY_SECONDS, NO_OWNER, NO_PRODUCT, UNKNOWN_AGE, headline, pair, run, with_rates  # noqa: E402


def tidy(value: Any) -> Any:
    """Metric trees as plain Python: NaN becomes None, numpy scalars numbers."""
    if isinstance(value, dict):
        return {str(k): tidy(v) for k, v in value.items()}
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def records(frame: pd.DataFrame, key: str) -> dict[str, Any]:
    """{key filled from each row's index levels: the row's columns}."""
    names = frame.index.names
    return {key.format(**dict(zip(names, idx if isinstance(idx, tuple) else (idx,)))): row for idx, row in frame.to_dict("index").items()}


def days(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / DAY_SECONDS


def spread(values: pd.core.groupby.SeriesGroupBy) -> pd.DataFrame:
    """Per group: how many values, their median, p75, p90 (linear interpolation) and mean."""
    q = values.quantile([0.5, 0.75, 0.9]).unstack()
    return pd.DataFrame({"deals": values.size(), "median_days": q[0.5], "p75_days": q[0.75], "p90_days": q[0.9], "mean_days": values.mean()})


def ranked_stages(folder: Path) -> pd.DataFrame:
    """Stages with their pipeline's name and rank: open stages by position, then won; lost have none."""
    stages = pd.read_parquet(folder / "stages.parquet").merge(
        pd.read_parquet(folder / "pipelines.parquet").rename(columns={"id": "pipeline_id", "name": "pipeline"}), on="pipeline_id")
    stages = stages.assign(_order=stages["kind"].map({"open": 0, "won": 1}).fillna(2)).sort_values(["pipeline_id", "_order", "position"])
    return stages.assign(rank=stages.groupby("pipeline_id").cumcount().where(stages["kind"] != "lost")).drop(columns="_order")


def data_as_of(folder: Path, deals: pd.DataFrame, changes: pd.DataFrame) -> pd.Timestamp:
    """The latest event (a deal without created_at is first seen at its first stage change)."""
    activities = pd.read_parquet(folder / "activities.parquet", columns=["at"])
    return max(x for x in (changes["at"].max(), activities["at"].max(), deals["closed_at"].max(), deals["created_at"].max()) if pd.notna(x))


def deal_facts(folder: Path, stages: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """One row per deal with its stage, probability, owner and team, product, first-seen time and cycle days."""
    deals = pd.read_parquet(folder / "deals.parquet")
    owners = pd.read_parquet(folder / "owners.parquet").merge(
        pd.read_parquet(folder / "teams.parquet").rename(columns={"id": "team_id", "name": "team"}), on="team_id", how="left")
    first_line = pd.read_parquet(folder / "deal_products.parquet").sort_values("id").drop_duplicates("deal_id")  # a deal's product: its first line's
    products = first_line.merge(pd.read_parquet(folder / "products.parquet").rename(columns={"id": "product_id", "name": "product"}), on="product_id")
    d = (
        deals.merge(stages[["id", "name", "probability"]].rename(columns={"id": "stage_id", "name": "stage"}), on="stage_id", how="left")
        .merge(owners[["id", "name", "team"]].rename(columns={"id": "owner_id", "name": "owner"}), on="owner_id", how="left")
        .merge(changes.groupby("deal_id")["at"].min().rename("first_change"), left_on="id", right_index=True, how="left")
        .merge(products[["deal_id", "product", "list_price"]].rename(columns={"deal_id": "id"}), on="id", how="left")
    )
    d["owner"] = d["owner"].fillna(NO_OWNER)
    d["product"] = d["product"].fillna(NO_PRODUCT)
    d["first_seen_at"] = d["created_at"].fillna(d["first_change"])
    d["cycle_days"] = days(d["closed_at"] - d["first_seen_at"])
    return d


def outcomes(d: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per owner or product: counts, amounts, the average won amount and the median won cycle."""
    is_ = {s: d["status"] == s for s in ("open", "won", "lost")}
    by = d[key]
    return pd.DataFrame({
        "deals": d.groupby(key).size(),
        **{s: m.groupby(by).sum() for s, m in is_.items()},
        **{f"{s}_amount": d["amount"].where(is_[s]).groupby(by).sum() for s in ("won", "lost", "open")},
        "avg_won_amount": d["amount"].where(is_["won"]).groupby(by).mean(),
        "median_cycle_won": d["cycle_days"].where(is_["won"]).groupby(by).median(),
    })


def stage_table(d: pd.DataFrame, stages: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Per stage: open deals and amounts; reached (deals that ever entered it) and advanced (got further later)."""
    names = stages[["id", "name"]].rename(columns={"id": "stage_id", "name": "stage"})
    entered = pd.concat([
        changes.merge(names, left_on="to_stage_id", right_on="stage_id")[["deal_id", "stage"]]
        .merge(d[["id", "pipeline_id"]].rename(columns={"id": "deal_id"}), on="deal_id"),
        d.loc[d["stage"].notna(), ["id", "pipeline_id", "stage"]].rename(columns={"id": "deal_id"}),  # the stage it is in now
    ]).drop_duplicates()
    entered = entered.merge(stages[["pipeline_id", "name", "rank"]].rename(columns={"name": "stage"}), on=["pipeline_id", "stage"], how="left")
    entered["advanced"] = entered.groupby("deal_id")["rank"].transform("max") > entered["rank"]
    reached = entered.groupby(["pipeline_id", "stage"]).agg(reached=("deal_id", "size"), advanced=("advanced", "sum"))
    is_open = d[d["status"] == "open"].assign(weighted=lambda x: x["amount"] * x["probability"])
    open_ = is_open.groupby(["pipeline_id", "stage"]).agg(open_deals=("id", "size"), open_amount=("amount", "sum"), weighted_amount=("weighted", "sum"))
    table = stages.rename(columns={"name": "stage"}).merge(open_, on=["pipeline_id", "stage"], how="left").merge(reached, on=["pipeline_id", "stage"], how="left")
    table = table.fillna({"open_deals": 0, "open_amount": 0.0, "weighted_amount": 0.0, "reached": 0, "advanced": 0})
    table = table.astype({"open_deals": int, "reached": int, "advanced": int})
    table["conversion"] = (table["advanced"] / table["reached"]).where((table["kind"] == "open") & (table["reached"] > 0))
    return table.set_index(["pipeline", "stage"])[["kind", "probability", "open_deals", "open_amount", "weighted_amount", "reached", "advanced", "conversion"]]


def report(folder: Path) -> dict[str, Any]:
    stages = ranked_stages(folder)
    changes = pd.read_parquet(folder / "stage_changes.parquet")
    d = deal_facts(folder, stages, changes)
    now = data_as_of(folder, d, changes)
    is_ = {s: d["status"] == s for s in ("open", "won", "lost")}
    open_ = d[is_["open"]]
    totals = tidy({
        **{s: int(m.sum()) for s, m in is_.items()},
        "won_amount": d.loc[is_["won"], "amount"].sum(), "lost_amount": d.loc[is_["lost"], "amount"].sum(),
        "open_amount": open_["amount"].sum(min_count=1), "weighted_amount": (open_["amount"] * open_["probability"]).sum(min_count=1),
        "avg_won_amount": d.loc[is_["won"], "amount"].mean(), "avg_cycle_won": d.loc[is_["won"], "cycle_days"].mean(),
    })
    closed = d[~is_["open"] & d["cycle_days"].notna()]
    bins = [lo for lo, _ in AGE_BUCKETS] + [np.inf]
    age = pd.cut(days(now - open_["first_seen_at"]), bins=bins, right=False, labels=[label for _, label in AGE_BUCKETS])
    ageing = open_.assign(bucket=age.cat.add_categories(UNKNOWN_AGE).fillna(UNKNOWN_AGE)).groupby("bucket", observed=True).agg(
        open_deals=("id", "size"), open_amount=("amount", "sum"))
    unpriced = open_[open_["amount"].isna()]
    priced = unpriced[unpriced["list_price"].notna()]
    owners = outcomes(d, "owner").join(d.groupby("owner")["team"].first())
    return tidy({
        **headline(totals),
        "cycle_days": records(spread(closed.groupby("status")["cycle_days"]), "{status}"),
        "stages": records(stage_table(d, stages, changes), "{pipeline} / {stage}"),
        "owners": {k: with_rates(r) for k, r in records(owners, "{owner}").items()},
        "products": {k: with_rates(r) for k, r in records(outcomes(d, "product"), "{product}").items()},
        "ageing": records(ageing, "{bucket}"),
        "list_price_estimate": {"deals_without_amount": len(unpriced), "estimated_deals": len(priced),
                                "estimated_open_amount": priced["list_price"].sum(),
                                "estimated_weighted_amount": (priced["list_price"] * priced["probability"]).sum()},
    })


def stage_visits(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Each stage visit (consecutive repeats of a stage are one) with the next visit and the move's kind;
    the ranked stages; the number of deals."""
    stages = ranked_stages(folder)
    deals = pd.read_parquet(folder / "deals.parquet", columns=["id", "pipeline_id", "status", "created_at", "closed_at"])
    changes = pd.read_parquet(folder / "stage_changes.parquet")
    now = data_as_of(folder, deals, changes)
    log = (
        changes.merge(stages[["id", "name", "kind", "rank"]].rename(columns={"id": "to_stage_id", "name": "stage"}), on="to_stage_id")
        .merge(deals.drop(columns=["created_at", "closed_at"]).rename(columns={"id": "deal_id"}), on="deal_id")
        .merge(stages[["pipeline_id", "pipeline"]].drop_duplicates(), on="pipeline_id")
        .sort_values(["deal_id", "at", "id"])
    )
    before = log.groupby("deal_id")["stage"].shift(1)
    v = log[before.isna() | (before != log["stage"])].copy()
    g = v.groupby("deal_id")
    for col in ("stage", "kind", "rank"):
        v[f"next_{col}"] = g[col].shift(-1)
    v["left_at"] = g["at"].shift(-1)
    v["move_days"] = days(v["left_at"] - v["at"])
    # time in the visit: until the next stage, or until now for an open deal's current open stage
    still_open = v["left_at"].isna() & (v["kind"] == "open") & (v["status"] == "open")
    end = v["left_at"].copy()
    end[still_open] = now
    v["days"] = days(end - v["at"])
    v["move"] = np.select(
        [v["kind"].isin(["won", "lost"]) & (v["next_kind"] == "open"), v["next_kind"] == "lost", v["next_rank"] < v["rank"],
         v["next_rank"] > v["rank"] + 1, v["next_kind"] == "won"],
        ["reopen", "close", "regression", "skip", "close"], "forward")
    return v, stages, len(deals)


def flow(folder: Path) -> dict[str, Any]:
    v, stages, n_deals = stage_visits(folder)
    names = pd.read_parquet(folder / "deals.parquet", columns=["id", "external_id"]).rename(columns={"id": "deal_id"})
    moves = v[v["next_stage"].notna()]
    by_pair = moves.groupby(["pipeline", "stage", "next_stage"])
    transitions = spread(by_pair["move_days"]).rename(columns={"deals": "count"})
    transitions.insert(1, "deals", by_pair["deal_id"].nunique())
    transitions["kind"] = by_pair["move"].first()
    per_deal = v[v["kind"] == "open"].groupby(["pipeline", "stage", "status", "deal_id"])["days"].sum(min_count=1).dropna()
    back = moves[moves["move"] == "regression"]
    regressions = back.groupby(["pipeline", "stage", "next_stage"]).agg(count=("deal_id", "size"), deals=("deal_id", "nunique"))
    jumps = moves[moves["move"] == "skip"]
    jumped = jumps.merge(stages[["pipeline_id", "name", "rank"]].rename(columns={"rank": "skipped_rank"}), on="pipeline_id")
    jumped = jumped[(jumped["skipped_rank"] > jumped["rank"]) & (jumped["skipped_rank"] < jumped["next_rank"])]
    skips = jumped.groupby(["pipeline", "name"]).agg(times_skipped=("deal_id", "size"), deals=("deal_id", "nunique"))
    repeats = v.groupby(["pipeline", "stage", "deal_id"]).size()
    repeats = repeats[repeats > 1]
    loops = (repeats - 1).groupby(["pipeline", "stage"]).agg(["size", "sum"]).rename(columns={"size": "deals", "sum": "extra_visits"})
    reopens = moves[moves["move"] == "reopen"].merge(names, on="deal_id").groupby(["deal_id", "stage", "next_stage"]).agg(
        external_id=("external_id", "first"), times=("deal_id", "size"))
    summary = {
        "deals": n_deals, "deals_with_history": v["deal_id"].nunique(), "moves": len(moves),
        "regressions": len(back), "deals_regressed": back["deal_id"].nunique(), "skip_moves": len(jumps),
        "deals_reopened": reopens.index.get_level_values("deal_id").nunique(),
        "deals_with_loops": repeats.index.get_level_values("deal_id").nunique(),
    }
    return tidy({
        "summary": summary,
        "transitions": {pair(s, t, p): r for (p, s, t), r in transitions.to_dict("index").items()},
        "dwell": records(spread(per_deal.groupby(["pipeline", "stage", "status"])), "{pipeline}: {stage} ({status})"),
        "regressions": {pair(s, t, p): r for (p, s, t), r in regressions.to_dict("index").items()},
        "skips": records(skips, "{pipeline}: {name}"),
        "loops": records(loops, "{pipeline}: {stage}"),
        "reopened": records(reopens, "{deal_id}: {stage} -> {next_stage}"),
    })


if __name__ == "__main__":
    run({"report": report, "flow": flow})
