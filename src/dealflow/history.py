"""The read model every analysis works on: the store's tables as Polars frames.

``History`` holds one frame per table, joined with the names people read (stage, owner,
product). Times are ``Datetime("us", "UTC")`` instants. ``History.as_of(instant)`` rebuilds
what was known at that instant — the deals that existed then, in the stage, status, amount
and close date they had then, and only the history recorded up to then — so reports,
forecasts and backtests share one definition of "as it stood" and cannot look ahead.

Frames and their columns (the contract analytics and forecasting code relies on):

- ``deals``: id, external_id, name, account_id, account, owner_id, owner, team_id, team,
  pipeline_id, pipeline, stage_id, stage, stage_kind, status ("open"/"won"/"lost"), amount,
  currency, source, created_at, first_seen_at (created_at, else the first stage change),
  expected_close_date (Date), closed_at, lost_reason, true_probability, product (the first
  line's product name, or null), list_price (that product's list price), lead_id,
  amount_original (in the deal's own ``currency``; ``amount`` is in the company currency,
  null when no exchange rate converts it), exchange_rate
- ``deal_products``: deal_id, product_id, product, quantity, price
- ``stage_changes``: id, deal_id, from_stage, to_stage, to_stage_id, to_kind, to_rank, at, by,
  lost_reason — ordered by (deal_id, at, id); ``id`` breaks ties in the source's order.
  Hot paths group by the integer ``to_stage_id`` and name stages only in their small results.
- ``field_changes``: id, deal_id, field, old_value, new_value, at, by
- ``activities``: id, deal_id, lead_id, kind, subject, owner_id, resource, at, ended_at, outcome
- ``stages``: id, pipeline_id, pipeline, name, position, kind, probability, rank (place on
  the progression: open stages by position then won; null for lost stages)
- ``products``: id, name, family, list_price
- ``accounts``: id, name, sector, country, employees, revenue, year_established
- ``owners``: id, name, email, team_id, team
- ``leads``: id, external_id, name, source, campaign, segment, status, owner_id, owner,
  account_id, created_at, contacted_at, qualified_at, converted (bool), converted_at,
  converted_deal_id, lost_reason, attributes (JSON text)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import polars as pl

from dealflow.domain.access import Scope
from dealflow.domain.money import empty_rates, original_amounts, to_company_currency, unconverted

UTC_TIME = pl.Datetime("us", "UTC")


def to_utc(instant: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=timezone.utc)
    return instant.astimezone(timezone.utc)


@dataclass(frozen=True)
class History:
    deals: pl.DataFrame
    deal_products: pl.DataFrame
    stage_changes: pl.DataFrame
    field_changes: pl.DataFrame
    activities: pl.DataFrame
    stages: pl.DataFrame
    products: pl.DataFrame
    accounts: pl.DataFrame
    owners: pl.DataFrame
    leads: pl.DataFrame
    as_of_instant: datetime | None = None
    # Money: deals' ``amount`` is in ``currency`` (the company's), converted through ``rates``
    # (currency, valid_from, rate) by ``dealflow.domain.money``; see ``unconverted_deals``.
    rates: pl.DataFrame = field(default_factory=empty_rates)
    currency: str = "USD"

    # -- point in time -------------------------------------------------------------
    def as_of(self, instant: datetime) -> "History":
        """The history as it was known at ``instant`` (no look-ahead)."""
        at = to_utc(instant)
        lit = pl.lit(at, dtype=UTC_TIME)
        changes = self.stage_changes.filter(pl.col("at") <= lit)
        fields = self.field_changes.filter(pl.col("at") <= lit)
        later_fields = self.field_changes.filter(pl.col("at") > lit)

        # Deals with no date at all are known to exist only from the end of the data on.
        undated_known = pl.lit(self.as_of_instant is None and at >= self.now)
        deals = original_amounts(self.deals).filter((pl.col("first_seen_at") <= lit) | (pl.col("first_seen_at").is_null() & undated_known))
        # Per deal, in a narrow frame joined once (the deals frame is wide: every join copies it).
        # Stage then: the last change up to the instant; else the deal's first recorded stage.
        last = end_per_deal(changes, "last").select(
            "deal_id",
            pl.col("to_stage").alias("_stage"),
            pl.col("to_stage_id").alias("_stage_id"),
            pl.col("to_kind").alias("_kind"),
            pl.col("at").alias("_moved_at"),
            pl.col("lost_reason").alias("_reason"),
        )
        first = end_per_deal(self.stage_changes, "first").select(
            "deal_id", pl.col("to_stage").alias("_first_stage"), pl.col("to_stage_id").alias("_first_stage_id"),
            pl.col("to_kind").alias("_first_kind"),
        )
        facts = deals.select(pl.col("id").alias("deal_id")).join(last, on="deal_id", how="left", maintain_order="left").join(
            first, on="deal_id", how="left", maintain_order="left"
        )
        # Amount and close date then: the old value of the first edit after the instant.
        for name in ("amount", "expected_close_date"):
            undo = (
                later_fields.filter(pl.col("field") == name)
                .group_by("deal_id", maintain_order=True)
                .agg(pl.col("old_value").first().alias(f"_old_{name}"), pl.lit(True).alias(f"_edited_{name}"))
            )
            facts = facts.join(undo, on="deal_id", how="left", maintain_order="left")
        deals = deals.hstack(facts.drop("deal_id"))
        has_history = pl.col("_first_kind").is_not_null()  # every stage change has a stage
        # Without any history, a deal closed after the instant was open then, stage unknown.
        closed_later = pl.col("closed_at").is_null() | (pl.col("closed_at") > lit)
        known_stage = pl.col("_stage").is_not_null()
        first_open = has_history & (pl.col("_first_kind") == "open")
        undated_stage = ~has_history & ((pl.col("stage_kind") == "open") | ~closed_later)
        stage = (
            pl.when(known_stage).then(pl.col("_stage"))
            .when(first_open).then(pl.col("_first_stage"))
            .when(undated_stage).then(pl.col("stage"))
            .otherwise(None)
        )
        stage_id = (
            pl.when(known_stage).then(pl.col("_stage_id"))
            .when(first_open).then(pl.col("_first_stage_id"))
            .when(undated_stage).then(pl.col("stage_id"))
            .otherwise(None)
        )
        kind = (
            pl.when(known_stage).then(pl.col("_kind"))
            .when(~has_history & ~closed_later).then(pl.col("stage_kind"))
            .otherwise(pl.lit("open"))
        )
        deals = deals.with_columns(stage.alias("stage"), stage_id.alias("stage_id"), kind.alias("stage_kind"))
        deals = deals.with_columns(
            pl.col("stage_kind").alias("status"),
            pl.when(pl.col("stage_kind") == "open").then(None)
            .when(known_stage).then(pl.col("_moved_at"))
            .otherwise(pl.col("closed_at")).alias("closed_at"),
            pl.when(pl.col("stage_kind") == "lost")
            .then(pl.coalesce(pl.col("_reason"), pl.col("lost_reason")))
            .otherwise(None).alias("lost_reason"),
            pl.when(pl.col("_edited_amount")).then(pl.col("_old_amount").cast(pl.Float64, strict=False))
            .otherwise(pl.col("amount")).alias("amount"),
            pl.when(pl.col("_edited_expected_close_date")).then(pl.col("_old_expected_close_date").str.to_date(strict=False))
            .otherwise(pl.col("expected_close_date")).alias("expected_close_date"),
        )
        deals = deals.drop([c for c in deals.columns if c.startswith("_")])
        # Amounts as they stood, converted at the rates known then (money step, as in load_history).
        deals = to_company_currency(deals, self.rates.filter(pl.col("valid_from") <= at.date()), self.currency, as_of=at)

        leads = self.leads.filter(pl.col("created_at").is_null() | (pl.col("created_at") <= lit))
        not_yet = pl.col("converted_at").is_not_null() & (pl.col("converted_at") > lit)
        leads = leads.with_columns(
            pl.when(not_yet).then(False).otherwise(pl.col("converted")).alias("converted"),
            pl.when(not_yet).then(None).otherwise(pl.col("converted_at")).alias("converted_at"),
            pl.when(not_yet).then(None).otherwise(pl.col("converted_deal_id")).alias("converted_deal_id"),
        )
        known = deals.select("id")
        return replace(
            self,
            deals=deals,
            deal_products=self.deal_products.join(known, left_on="deal_id", right_on="id", how="semi"),
            stage_changes=changes,
            field_changes=fields,
            activities=self.activities.filter(pl.col("at") <= lit),
            leads=leads,
            as_of_instant=at,
        )

    # -- visibility --------------------------------------------------------------------
    def scoped(self, scope: "Scope | None") -> "History":
        """Only what ``scope`` may read: its owners' deals (and unowned ones if allowed),
        their histories and activities, and its owners' leads. Every analysis run on the
        result covers exactly what the user may see."""
        if scope is None or (scope.read_owners is None and scope.unowned):
            return self

        def visible(col: str) -> pl.Expr:
            owners = pl.col(col).is_in(list(scope.read_owners)) if scope.read_owners is not None else pl.col(col).is_not_null()
            return (owners | pl.col(col).is_null()) if scope.unowned else owners.fill_null(False)

        deals = self.deals.filter(visible("owner_id"))
        ids = deals["id"].implode()
        mine = pl.col("deal_id").is_in(ids)
        leads = self.leads.filter(visible("owner_id"))
        return replace(
            self,
            deals=deals,
            deal_products=self.deal_products.filter(mine),
            stage_changes=self.stage_changes.filter(mine),
            field_changes=self.field_changes.filter(mine),
            activities=self.activities.filter(mine | pl.col("lead_id").is_in(leads["id"].implode())),
            leads=leads,
        )

    # -- helpers ---------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The instant this history describes: its as-of, else the latest event in it."""
        if self.as_of_instant is not None:
            return self.as_of_instant
        candidates = [
            self.stage_changes["at"].max(),
            self.activities["at"].max(),
            self.deals["closed_at"].max(),
            self.deals["first_seen_at"].max(),
        ]
        present = [c for c in candidates if c is not None]
        return max(present) if present else datetime.now(timezone.utc)  # type: ignore[return-value]

    def unconverted_deals(self) -> pl.DataFrame:
        """Deals whose amount is in a currency no rate converts: counted, but in no total."""
        return unconverted(self.deals)

    def open_deals(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("status") == "open")

    def closed_deals(self) -> pl.DataFrame:
        return self.deals.filter(pl.col("status") != "open")

    def stage_log(self) -> pl.DataFrame:
        """Each deal's stage visits in time order, consecutive repeats of a stage counted once.

        Columns: deal_id, stage, stage_id, kind, rank, entered_at, left_at (null while still there), visit (1..n).
        """
        sc = sorted_by_deal(self.stage_changes)
        prev = shift_in_deal(pl.col("to_stage_id"), 1)
        sc = sc.filter((pl.col("to_stage_id") != prev) | prev.is_null())
        return sc.select(
            "deal_id",
            pl.col("to_stage").alias("stage"),
            pl.col("to_stage_id").alias("stage_id"),
            pl.col("to_kind").alias("kind"),
            pl.col("to_rank").alias("rank"),
            pl.col("at").alias("entered_at"),
            shift_in_deal(pl.col("at"), -1).alias("left_at"),
            seq_in_deal(1).alias("visit"),
        )


# Window functions over ``deal_id`` hash every row into groups; frames ordered by deal (as the
# History keeps them) get the same results from plain shifts, several times faster at 10M rows.
def sorted_by_deal(frame: pl.DataFrame, order: tuple[str, ...] = ("deal_id", "at", "id")) -> pl.DataFrame:
    """``frame`` sorted by ``order``; already sorted frames (the usual case) are returned as they are."""
    if frame.height < 2:
        return frame
    keys = [pl.col(c) for c in order]
    # Row i is in order after row i-1 if the first differing key grows (ties in every key are fine).
    in_order = pl.lit(True)
    for key in reversed(keys):
        in_order = (key > key.shift(1)) | ((key == key.shift(1)) & in_order)
    if frame.select(in_order.fill_null(False).slice(1).all()).item():  # nulls: sort to be safe
        return frame
    return frame.sort(list(order))


def end_per_deal(frame: pl.DataFrame, end: str) -> pl.DataFrame:
    """Each deal's first or last row in frame order (``group_by(maintain_order=True).first()/.last()``).

    A frame whose deal_ids never decrease (the History's order) needs only a filter; others group."""
    if frame.height and frame.select((pl.col("deal_id").diff().fill_null(0) >= 0).all()).item():
        nxt = pl.col("deal_id").shift(-1 if end == "last" else 1)
        return frame.filter(nxt.is_null() | (nxt != pl.col("deal_id")))
    grouped = frame.group_by("deal_id", maintain_order=True)
    return grouped.last() if end == "last" else grouped.first()


def shift_in_deal(expr: pl.Expr, n: int) -> pl.Expr:
    """``expr.shift(n).over("deal_id")`` for a frame whose rows are grouped by deal_id."""
    return pl.when(pl.col("deal_id").shift(n) == pl.col("deal_id")).then(expr.shift(n))


def seq_in_deal(start: int = 0) -> pl.Expr:
    """``int_range(start, len + start).over("deal_id")`` for a frame grouped by deal_id."""
    idx = pl.int_range(0, pl.len(), dtype=pl.Int64)
    first = pl.col("deal_id").shift(1).is_null() | (pl.col("deal_id") != pl.col("deal_id").shift(1))
    return idx - pl.when(first).then(idx).forward_fill() + start
