"""Exports that import back: one frame per import kind, its columns named by the import fields.

``dealflow export deals deals.csv`` followed by ``dealflow import deals deals.csv`` into an
empty store gives the same deals. References are written as the referenced record's
external id (the importer looks ids up before names), amounts in the deal's own currency
(``amount`` with ``currency``), instants in UTC with their offset, numbers at full precision.

Import in dependency order: owners, accounts, contacts, products, rates, deals, leads,
stage_history, activities. A deal's row gives the instant it entered its current stage
(column ``entered:<stage>``), so the import does not invent one.

Not carried: pipelines' stage order and probabilities (new stages are created from their
names), deal lines beyond the first product, custom fields (attributes), a lead's converted
deal, and soft-deleted records. ``dealflow backup`` keeps everything.
"""
from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import select

from dealflow.history import History
from dealflow.ingest.fields import IMPORTABLE, STAGE_DATE_PREFIX
from dealflow.store import Store
from dealflow.store import models as m
from dealflow.store.frames import _frame, load_rates

ENTERED = STAGE_DATE_PREFIX  # "entered:<stage>": the instant the deal entered that stage (any stage name)

_S, _I, _F = pl.String, pl.Int64, pl.Float64


def _ids(store: Store, model: Any) -> pl.DataFrame:
    """id -> external_id of every row of ``model`` (deleted ones too: old references stay readable)."""
    return _frame(store, select(model.id, model.external_id), {"id": _I, "external_id": _S})


def _ref(frame: pl.DataFrame, ids: pl.DataFrame, key: str, name: str) -> pl.DataFrame:
    """Add column ``name``: the external id of the row that ``key`` (an id) points at."""
    return frame.join(ids.rename({"id": key, "external_id": name}), on=key, how="left", maintain_order="left")


def export_frame(store: Store, kind: str, history: History) -> pl.DataFrame:
    """The rows of ``kind`` as ``dealflow import KIND`` reads them back.

    Deals, leads, stage history and activities come from ``history`` (so an as-of history
    exports the data as it stood); the other kinds have no history and come from the store.
    """
    if kind == "owners":
        return _frame(
            store,
            select(m.Owner.external_id, m.Owner.name, m.Owner.email, m.Team.name, m.Team.region, m.Team.manager)
            .outerjoin(m.Team, m.Team.id == m.Owner.team_id).order_by(m.Owner.id),
            {"external_id": _S, "name": _S, "email": _S, "team": _S, "region": _S, "manager": _S},
        )
    if kind == "accounts":
        accounts = _frame(
            store,
            select(m.Account.id, m.Account.external_id, m.Account.name, m.Account.sector, m.Account.country, m.Account.employees,
                   m.Account.revenue, m.Account.year_established, m.Account.parent_id)
            .where(m.Account.deleted_at.is_(None)).order_by(m.Account.id),
            {"id": _I, "external_id": _S, "name": _S, "sector": _S, "country": _S, "employees": _I, "revenue": _F,
             "year_established": _I, "parent_id": _I},
        )
        return _ref(accounts, _ids(store, m.Account), "parent_id", "parent").drop("id", "parent_id")
    if kind == "contacts":
        contacts = _frame(
            store,
            select(m.Contact.external_id, m.Contact.name, m.Contact.account_id, m.Contact.email, m.Contact.phone, m.Contact.title)
            .where(m.Contact.deleted_at.is_(None)).order_by(m.Contact.id),
            {"external_id": _S, "name": _S, "account_id": _I, "email": _S, "phone": _S, "title": _S},
        )
        return _ref(contacts, _ids(store, m.Account), "account_id", "account").select(
            "external_id", "name", "account", "email", "phone", "title")
    if kind == "products":
        return _frame(store, select(m.Product.external_id, m.Product.name, m.Product.family, m.Product.list_price).order_by(m.Product.id),
                      {"external_id": _S, "name": _S, "family": _S, "list_price": _F})
    if kind == "rates":
        return load_rates(store).select("valid_from", "currency", "rate")
    if kind == "deals":
        return _deals(store, history)
    if kind == "leads":
        emails = _frame(store, select(m.Lead.id, m.Lead.email), {"id": _I, "email": _S})
        leads = history.leads.join(emails, on="id", how="left", maintain_order="left")
        leads = _ref(_ref(leads, _ids(store, m.Owner), "owner_id", "owner_ref"), _ids(store, m.Account), "account_id", "account")
        return leads.select(
            "external_id", "name", "email", "source", "campaign", "segment", "status", pl.col("owner_ref").alias("owner"), "account",
            "created_at", "contacted_at", "qualified_at", "converted", "converted_at", "lost_reason",
        )
    if kind == "stage_history":
        changes = _ref(history.stage_changes, _ids(store, m.Deal), "deal_id", "deal")
        return changes.select("deal", pl.col("to_stage").alias("stage"), "at", "by", "lost_reason")
    if kind == "activities":
        acts = _ref(history.activities, _ids(store, m.Activity), "id", "external_id")
        acts = _ref(_ref(_ref(acts, _ids(store, m.Deal), "deal_id", "deal"), _ids(store, m.Lead), "lead_id", "lead"),
                    _ids(store, m.Owner), "owner_id", "owner")
        return acts.select("external_id", "deal", "lead", "kind", "subject", "owner", "resource", "at", "ended_at", "outcome")
    raise ValueError(f"not an importable kind: {kind}")


def _deals(store: Store, history: History) -> pl.DataFrame:
    deals = history.deals
    products = _frame(store, select(m.Product.name, m.Product.external_id), {"product": _S, "product_ref": _S})
    deals = (
        _ref(_ref(deals, _ids(store, m.Account), "account_id", "account_ref"), _ids(store, m.Owner), "owner_id", "owner_ref")
        .join(products, on="product", how="left", maintain_order="left")
    )
    # The instant each deal entered the stage it is in (its last move there), under that stage's column.
    entered = (
        history.stage_changes.join(deals.select(pl.col("id").alias("deal_id"), pl.col("stage").alias("to_stage")), on=["deal_id", "to_stage"], how="semi")
        .group_by("deal_id").agg(pl.col("at").max().alias("_entered"))
    )
    deals = deals.join(entered, left_on="id", right_on="deal_id", how="left", maintain_order="left")
    amount = pl.col("amount_original") if "amount_original" in deals.columns else pl.col("amount")
    columns: list[pl.Expr | str] = [
        "external_id", "name", pl.col("account_ref").alias("account"), pl.col("owner_ref").alias("owner"),
        pl.col("product_ref").alias("product"), "pipeline", "stage", "status", amount.alias("amount"), "currency", "source",
        "created_at", "expected_close_date", "closed_at", "lost_reason",
    ]
    if deals["true_probability"].is_not_null().any():  # only synthetic data knows it
        columns.append("true_probability")
    stages = sorted(deals.filter(pl.col("_entered").is_not_null())["stage"].unique().to_list())
    columns += [pl.when(pl.col("stage") == s).then(pl.col("_entered")).alias(ENTERED + s) for s in stages]
    return deals.select(columns)
