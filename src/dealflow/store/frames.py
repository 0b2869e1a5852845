"""Load the store into a ``History`` of Polars frames (one query per table, no row loops)."""
from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Unpack

import polars as pl
from sqlalchemy import Select, select

from dealflow.domain.money import to_company_currency
from dealflow.history import UTC_TIME, History
from dealflow.store import models as m
from dealflow.store.db import Store


JSON_TEXT = "json"  # marks a JSON column in a schema: read as its text
BATCH = 250_000  # rows per fetch


def _frame(store: Store, query: Select[Unpack[tuple[Any, ...]]], schema: dict[str, Any]) -> pl.DataFrame:
    """Run ``query`` and return its rows as a frame with ``schema``.

    On SQLite the driver's raw text is read and parsed in Polars: converting each timestamp
    in Python (what SQLAlchemy's types do) costs more than the query itself. Rows arrive in
    batches of ``BATCH`` and become columns at once, so the Python row objects alive at any
    time stay bounded (10 million activities as tuples would need several GB).
    """
    json_at = [i for i, v in enumerate(schema.values()) if isinstance(v, str)]
    schema = {k: (pl.String if isinstance(v, str) else v) for k, v in schema.items()}
    raw_types = {k: (pl.String if v in (UTC_TIME, pl.Date) else pl.Int64 if v == pl.Boolean else v) for k, v in schema.items()}
    if not store.is_sqlite:
        raw_types = {k: (pl.Datetime("us") if v == UTC_TIME else v) for k, v in schema.items()}
    parts = []
    with store.engine.connect() as conn:
        if store.is_sqlite:
            sql = query.compile(store.engine, compile_kwargs={"literal_binds": True})
            cursor = conn.connection.driver_connection.execute(str(sql))  # type: ignore[union-attr]
            batches: Any = iter(lambda: cursor.fetchmany(BATCH), [])
        else:
            batches = conn.execution_options(yield_per=BATCH).execute(query).partitions()
        for rows in batches:
            if json_at and not store.is_sqlite:  # SQLite hands JSON over as its text already
                rows = [tuple(json.dumps(v) if i in json_at and v is not None else v for i, v in enumerate(r)) for r in rows]
            parts.append(_typed(store, pl.DataFrame(rows, schema=raw_types, orient="row", strict=False), schema))
    if not parts:
        return _typed(store, pl.DataFrame(schema=raw_types), schema)
    return pl.concat(parts, rechunk=True) if len(parts) > 1 else parts[0]


def _typed(store: Store, frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """Parse the driver's values into ``schema``'s types (text times and dates on SQLite)."""
    casts = []
    for name, dtype in schema.items():
        if dtype == UTC_TIME:
            col = pl.col(name)
            if store.is_sqlite:
                col = col.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
            casts.append(col.dt.replace_time_zone("UTC").alias(name))
        elif dtype == pl.Date and store.is_sqlite:
            casts.append(pl.col(name).str.to_date("%Y-%m-%d", strict=False))
        elif dtype == pl.Boolean and store.is_sqlite:
            casts.append(pl.col(name).cast(pl.Boolean))
    return frame.with_columns(casts) if casts else frame


def _rank_stages(stages: pl.DataFrame) -> pl.DataFrame:
    """Place each stage on its pipeline's progression: open stages by position, then won."""
    order = pl.when(pl.col("kind") == "open").then(0).when(pl.col("kind") == "won").then(1).otherwise(2)
    return stages.sort(["pipeline_id", order, "position"]).with_columns(
        pl.when(pl.col("kind") != "lost")
        .then(pl.int_range(0, pl.len()).over("pipeline_id"))
        .otherwise(None)
        .cast(pl.Int64)
        .alias("rank")
    ).sort(["pipeline_id", "position"])


def load_history(store: Store, *, deal_ids: Collection[int] | None = None) -> History:
    """``deal_ids``: read only these deals' rows of the deal-keyed tables (deals, lines, stage and field
    changes, activities), every other table whole: the web app merges that into the history it holds
    after a write (``dealflow.web.deps``) instead of reading everything again."""
    def only_ids(column: Any) -> list[Any]:
        return [] if deal_ids is None else [column.in_(sorted(deal_ids))]

    s = pl.String
    f = pl.Float64
    i = pl.Int64
    stages = _frame(
        store,
        select(m.Stage.id, m.Stage.pipeline_id, m.Pipeline.name, m.Stage.name, m.Stage.position, m.Stage.kind, m.Stage.probability)
        .join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id),
        {"id": i, "pipeline_id": i, "pipeline": s, "name": s, "position": i, "kind": s, "probability": f},
    )
    stages = _rank_stages(stages)
    teams = _frame(store, select(m.Team.id, m.Team.name), {"id": i, "name": s})
    owners = _frame(
        store, select(m.Owner.id, m.Owner.name, m.Owner.email, m.Owner.team_id), {"id": i, "name": s, "email": s, "team_id": i}
    ).join(teams.rename({"id": "team_id", "name": "team"}), on="team_id", how="left")
    products = _frame(
        store, select(m.Product.id, m.Product.name, m.Product.family, m.Product.list_price),
        {"id": i, "name": s, "family": s, "list_price": f},
    )
    accounts = _frame(
        store,
        select(m.Account.id, m.Account.name, m.Account.sector, m.Account.country, m.Account.employees, m.Account.revenue, m.Account.year_established)
        .where(m.Account.deleted_at.is_(None)),
        {"id": i, "name": s, "sector": s, "country": s, "employees": i, "revenue": f, "year_established": i},
    )
    deal_products = _frame(
        store,
        select(m.DealProduct.deal_id, m.DealProduct.product_id, m.Product.name, m.DealProduct.quantity, m.DealProduct.price, m.DealProduct.id)
        .join(m.Product, m.Product.id == m.DealProduct.product_id).where(*only_ids(m.DealProduct.deal_id)),
        {"deal_id": i, "product_id": i, "product": s, "quantity": f, "price": f, "line_id": i},
    ).sort(["deal_id", "line_id"]).drop("line_id")
    stage_changes = _frame(
        store,
        select(m.StageChange.id, m.StageChange.deal_id, m.StageChange.from_stage_id, m.StageChange.to_stage_id, m.StageChange.at, m.StageChange.by, m.StageChange.lost_reason)
        .join(m.Deal, m.Deal.id == m.StageChange.deal_id).where(m.Deal.deleted_at.is_(None))
        .where(*only_ids(m.StageChange.deal_id)),
        {"id": i, "deal_id": i, "from_stage_id": i, "to_stage_id": i, "at": UTC_TIME, "by": s, "lost_reason": s},
    )
    names = stages.select("id", "name", "kind", "rank")
    stage_changes = (
        stage_changes.join(names.select(pl.col("id").alias("from_stage_id"), pl.col("name").alias("from_stage")), on="from_stage_id", how="left")
        .join(names.rename({"id": "to_stage_id", "name": "to_stage", "kind": "to_kind", "rank": "to_rank"}), on="to_stage_id", how="left")
        .sort(["deal_id", "at", "id"])
        .select("id", "deal_id", "from_stage", "to_stage", "to_stage_id", "to_kind", "to_rank", "at", "by", "lost_reason")
    )
    field_changes = _frame(
        store,
        select(m.FieldChange.id, m.FieldChange.deal_id, m.FieldChange.field, m.FieldChange.old_value, m.FieldChange.new_value,
               m.FieldChange.at, m.FieldChange.by).where(*only_ids(m.FieldChange.deal_id)),
        {"id": i, "deal_id": i, "field": s, "old_value": s, "new_value": s, "at": UTC_TIME, "by": s},
    ).sort(["deal_id", "at", "id"])
    activities = _frame(
        store,
        select(m.Activity.id, m.Activity.deal_id, m.Activity.lead_id, m.Activity.kind, m.Activity.subject, m.Activity.owner_id,
               m.Activity.resource, m.Activity.at, m.Activity.ended_at, m.Activity.outcome).where(m.Activity.deleted_at.is_(None))
        .where(*only_ids(m.Activity.deal_id)),
        {"id": i, "deal_id": i, "lead_id": i, "kind": s, "subject": s, "owner_id": i, "resource": s, "at": UTC_TIME, "ended_at": UTC_TIME, "outcome": s},
    ).sort(["deal_id", "at", "id"])
    deals = _frame(
        store,
        select(m.Deal.id, m.Deal.external_id, m.Deal.name, m.Deal.account_id, m.Deal.owner_id, m.Deal.pipeline_id, m.Deal.stage_id,
               m.Deal.status, m.Deal.amount, m.Deal.currency, m.Deal.source, m.Deal.created_at, m.Deal.expected_close_date,
               m.Deal.closed_at, m.Deal.lost_reason, m.Deal.true_probability, m.Deal.lead_id).where(m.Deal.deleted_at.is_(None))
        .where(*only_ids(m.Deal.id)),
        {"id": i, "external_id": s, "name": s, "account_id": i, "owner_id": i, "pipeline_id": i, "stage_id": i, "status": s,
         "amount": f, "currency": s, "source": s, "created_at": UTC_TIME, "expected_close_date": pl.Date, "closed_at": UTC_TIME,
         "lost_reason": s, "true_probability": f, "lead_id": i},
    )
    first_change = stage_changes.group_by("deal_id").agg(pl.col("at").min().alias("_first_change"))
    first_line = deal_products.group_by("deal_id", maintain_order=True).agg(pl.col("product").first())
    deals = (
        deals.join(accounts.select(pl.col("id").alias("account_id"), pl.col("name").alias("account")), on="account_id", how="left")
        .join(owners.select(pl.col("id").alias("owner_id"), pl.col("name").alias("owner"), "team_id", "team"), on="owner_id", how="left")
        .join(stages.select(pl.col("id").alias("stage_id"), pl.col("name").alias("stage"), pl.col("kind").alias("stage_kind"), "pipeline"), on="stage_id", how="left")
        .join(first_change, left_on="id", right_on="deal_id", how="left")
        .join(first_line, left_on="id", right_on="deal_id", how="left")
        .join(products.select(pl.col("name").alias("product"), "list_price"), on="product", how="left")
        .with_columns(pl.coalesce("created_at", "_first_change").alias("first_seen_at"))
        .drop("_first_change")
        .sort("id")
    )
    leads = _frame(
        store,
        select(m.Lead.id, m.Lead.external_id, m.Lead.name, m.Lead.source, m.Lead.campaign, m.Lead.segment, m.Lead.status, m.Lead.owner_id,
               m.Lead.account_id, m.Lead.created_at, m.Lead.contacted_at, m.Lead.qualified_at, m.Lead.converted, m.Lead.converted_at,
               m.Lead.converted_deal_id, m.Lead.lost_reason, m.Lead.attributes).where(m.Lead.deleted_at.is_(None)),
        {"id": i, "external_id": s, "name": s, "source": s, "campaign": s, "segment": s, "status": s, "owner_id": i, "account_id": i,
         "created_at": UTC_TIME, "contacted_at": UTC_TIME, "qualified_at": UTC_TIME, "converted": pl.Boolean, "converted_at": UTC_TIME,
         "converted_deal_id": i, "lost_reason": s, "attributes": JSON_TEXT},
    )
    leads = leads.join(owners.select(pl.col("id").alias("owner_id"), pl.col("name").alias("owner")), on="owner_id", how="left")
    # Money, in one step: every analysis reads amounts in the company currency.
    rates = load_rates(store)
    deals = to_company_currency(deals, rates, store.currency)
    return History(
        deals=deals, deal_products=deal_products, stage_changes=stage_changes, field_changes=field_changes,
        activities=activities, stages=stages, products=products, accounts=accounts, owners=owners, leads=leads,
        rates=rates, currency=store.currency,
    )


def load_rates(store: Store) -> pl.DataFrame:
    """The exchange rates: currency, valid_from, rate (company-currency units per unit)."""
    return _frame(
        store, select(m.ExchangeRate.currency, m.ExchangeRate.valid_from, m.ExchangeRate.rate),
        {"currency": pl.String, "valid_from": pl.Date, "rate": pl.Float64},
    ).sort(["currency", "valid_from"])
