"""The board's data: one column per stage with its cards and totals, computed in Polars from ``History``.

Probability is the stage's default (the CRM convention); weighted = amount × probability.
Flags (stalled, idle, slipped, regressed) come from ``dealflow.analytics.inspect`` when it is
present, computed once per loaded history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dealflow.history import History
from dealflow.web.formatting import money

CLOSED_CARDS = 30  # won/lost columns show the most recently closed deals


@dataclass
class Column:
    stage_id: int
    name: str
    kind: str
    probability: float
    cards: list[dict[str, Any]]
    count: int
    amount: float
    weighted: float
    hidden: int = 0


@dataclass
class Board:
    pipeline_id: int | None
    pipelines: list[dict[str, Any]]
    columns: list[Column]
    owners: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, float]]:
        return {str(c.stage_id): {"count": c.count, "amount": c.amount, "weighted": c.weighted} for c in self.columns}


def deal_flags(history: History, settings: Any = None) -> pl.DataFrame:
    """deal_id, flags (space-separated) for open deals; empty when the inspection module is absent."""
    try:
        from dealflow.analytics.inspect import inspect_pipeline
    except ImportError:
        return pl.DataFrame(schema={"deal_id": pl.Int64, "flags": pl.String})
    kwargs: dict[str, Any] = {}
    if settings is not None:
        kwargs = {"stall_quantile": settings.stalled_percentile, "idle_days": settings.idle_days}
    try:
        deals = inspect_pipeline(history, **kwargs).deals
    except Exception:  # noqa: BLE001 - flags are a hint; the board must still open
        return pl.DataFrame(schema={"deal_id": pl.Int64, "flags": pl.String})
    key = "deal_id" if "deal_id" in deals.columns else "id"
    flags = pl.col("flags")
    if deals.schema.get("flags") == pl.List(pl.String):
        flags = flags.list.join(" ")
    return deals.select(pl.col(key).cast(pl.Int64).alias("deal_id"), flags.str.replace_all(",", " ").alias("flags"))


@dataclass
class Prepared:
    """A board's data before paging, computed once per (history, scope, flags, filters): the filter
    lists, every card in board order per stage (``_k``: the sort value the cursor carries) and the
    column totals."""

    pipeline_id: int | None
    pipelines: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    owners: list[str]
    teams: list[str]
    products: list[str]
    cards: dict[int, pl.DataFrame]
    totals: dict[int, dict[str, Any]]


CARD_COLUMNS = ["id", "external_id", "name", "account", "owner", "amount", "list_price", "currency", "probability", "flags",
                "expected_close_date", "stage_id", "status"]


def prepare_board(
    history: History,
    flags: pl.DataFrame,
    *,
    pipeline_id: int | None = None,
    owner: str | None = None,
    team: str | None = None,
    product: str | None = None,
    versions: pl.DataFrame | None = None,
) -> Prepared:
    """Open cards go largest first (amount, else list price; then id), closed ones most recently
    closed first (then id, newest first). ``versions`` (id, version) adds each card's version."""
    stages = history.stages
    deals = history.deals
    pipelines = (
        stages.select("pipeline_id", "pipeline").unique().join(
            deals.filter(pl.col("status") == "open").group_by("pipeline_id").agg(pl.len().alias("open")),
            on="pipeline_id", how="left",
        ).with_columns(pl.col("open").fill_null(0)).sort(["open", "pipeline_id"], descending=[True, False])
    )
    if pipelines.height == 0:
        return Prepared(None, [], [], [], [], [], {}, {})
    if pipeline_id is None or pipeline_id not in pipelines["pipeline_id"].to_list():
        pipeline_id = int(pipelines["pipeline_id"][0])
    stages = stages.filter(pl.col("pipeline_id") == pipeline_id).sort("position")
    deals = deals.filter(pl.col("pipeline_id") == pipeline_id)
    owners = sorted(x for x in deals["owner"].unique().to_list() if x)
    teams = sorted(x for x in deals["team"].unique().to_list() if x)
    products = sorted(x for x in history.deal_products.join(deals.select(pl.col("id").alias("deal_id")), on="deal_id", how="semi")
                      ["product"].unique().to_list() if x)
    if owner:
        deals = deals.filter(pl.col("owner") == owner)
    if team:
        deals = deals.filter(pl.col("team") == team)
    if product:
        deals = deals.join(history.deal_products.filter(pl.col("product") == product).select(pl.col("deal_id").alias("id")).unique(),
                           on="id", how="semi")
    probs = stages.select(pl.col("id").alias("stage_id"), pl.col("probability").fill_null(0.0).alias("probability"))
    deals = (
        deals.join(probs, on="stage_id", how="left")
        .join(flags, left_on="id", right_on="deal_id", how="left")
        .with_columns(
            (pl.col("amount").fill_null(0.0) * pl.col("probability")).alias("weighted"),
            pl.col("flags").fill_null(""),
        )
    )
    totals = deals.group_by("stage_id").agg(
        pl.len().alias("count"), pl.col("amount").sum().alias("amount"), pl.col("weighted").sum().alias("weighted")
    )
    columns = list(CARD_COLUMNS)
    if versions is not None:
        deals = deals.join(versions, on="id", how="left")
        columns.append("version")
    opens = (deals.filter(pl.col("status") == "open").with_columns(pl.coalesce("amount", "list_price").cast(pl.Float64).alias("_k"))
             .sort(["_k", "id"], descending=[True, False], nulls_last=True))
    closed = (deals.filter(pl.col("status") != "open").with_columns(pl.col("closed_at").dt.epoch("us").cast(pl.Float64).alias("_k"))
              .sort(["_k", "id"], descending=True, nulls_last=True))
    cards = pl.concat([opens.select(*columns, "_k"), closed.select(*columns, "_k")])
    by_stage = {int(k[0]): v for k, v in cards.partition_by("stage_id", as_dict=True, maintain_order=True).items()}  # type: ignore[arg-type]
    return Prepared(pipeline_id, pipelines.select("pipeline_id", "pipeline").to_dicts(), stages.to_dicts(), owners, teams, products,
                    by_stage, {r["stage_id"]: r for r in totals.iter_rows(named=True)})


def after(cards: pl.DataFrame, kind: str, key: float | None, last_id: int) -> pl.DataFrame:
    """The cards that come after (``key``, ``last_id``) in board order (a keyset cursor: a card moved
    meanwhile neither repeats nor pushes others out of the next page)."""
    k, i = pl.col("_k"), pl.col("id")
    later_id = i > last_id if kind == "open" else i < last_id
    if key is None:
        return cards.filter(k.is_null() & later_id)
    return cards.filter(k.is_null() | (k < key) | ((k == key) & later_id))


class FlagCache:
    """``deal_flags`` of the full history, computed once per history. The first time, the caller
    waits; after a write, the previous flags keep serving (flags are hints) while the new ones are
    computed in the background, so a board right after a move does not wait for the inspection.
    ``board_cache`` (the app's) gets ``history`` and ``flags`` of the latest result."""

    def __init__(self, settings: Any, board_cache: dict[str, Any]) -> None:
        import threading

        self.settings = settings
        self.board_cache = board_cache
        self._lock = threading.Lock()
        self._for: History | None = None
        self._flags: pl.DataFrame | None = None
        self._wanted: History | None = None
        self._running = False
        self.version = 0  # goes up with every new set of flags (cache keys)

    def get(self, history: History) -> tuple[pl.DataFrame, int]:
        if self._for is history and self._flags is not None:
            return self._flags, self.version
        with self._lock:
            if self._flags is None:  # nothing to show meanwhile: compute now
                self._store(history, deal_flags(history, self.settings))
            elif self._for is not history:
                self._wanted = history
                if not self._running:  # one computation at a time, always of the latest history asked for
                    import threading

                    self._running = True
                    threading.Thread(target=self._background, daemon=True, name="dealflow-flags").start()
            assert self._flags is not None
            return self._flags, self.version

    def _background(self) -> None:
        while True:
            with self._lock:
                target = self._wanted
                if target is None or target is self._for:
                    self._running, self._wanted = False, None
                    return
            try:
                flags = deal_flags(target, self.settings)
            except BaseException:
                with self._lock:
                    self._running = False
                raise
            with self._lock:
                self._store(target, flags)

    def _store(self, history: History, flags: pl.DataFrame) -> None:
        self._for, self._flags = history, flags
        self.version += 1
        self.board_cache.update(history=history, flags=flags)


def build_board(
    history: History,
    flags: pl.DataFrame,
    *,
    pipeline_id: int | None = None,
    owner: str | None = None,
    team: str | None = None,
    product: str | None = None,
    limit: int | None = 500,
    prepared: Prepared | None = None,
) -> Board:
    """The page's board: ``limit`` open cards per column (None: all), the last ``CLOSED_CARDS`` closed."""
    p = prepared or prepare_board(history, flags, pipeline_id=pipeline_id, owner=owner, team=team, product=product)
    if p.pipeline_id is None:
        return Board(None, [], [])
    columns = []
    for s in p.stages:
        t = p.totals.get(s["id"], {"count": 0, "amount": 0.0, "weighted": 0.0})
        frame = p.cards.get(s["id"])
        n = limit if s["kind"] == "open" else CLOSED_CARDS
        if frame is not None and n:
            frame = frame.head(n)
        shown = frame.select(CARD_COLUMNS).to_dicts() if frame is not None else []
        columns.append(Column(
            stage_id=s["id"], name=s["name"], kind=s["kind"], probability=s["probability"] or 0.0, cards=shown,
            count=t["count"], amount=t["amount"] or 0.0, weighted=t["weighted"] or 0.0, hidden=t["count"] - len(shown),
        ))
    return Board(p.pipeline_id, p.pipelines, columns, p.owners, p.teams, p.products)


def sql_totals(session: Any, pipeline_id: int | None, *, owner: str | None = None, team: str | None = None,
               product: str | None = None, condition: Any = None, currency: str = "USD") -> dict[str, dict[str, float]]:
    """Column totals straight from the tables: what the board refreshes after a drag, without reloading the history.

    Amounts are in the company ``currency`` as in every report (dealflow.domain.money): a deal in
    another currency at the rate valid on its close date, or the latest one while open; a deal
    whose currency has no rate adds nothing.
    """
    from sqlalchemy import case, func, or_, select

    from dealflow.store import models as m

    if pipeline_id is None:
        pipeline_id = session.scalar(select(m.Deal.pipeline_id).where(m.Deal.status == "open")
                                     .group_by(m.Deal.pipeline_id).order_by(func.count().desc(), m.Deal.pipeline_id).limit(1))
    code = func.upper(func.trim(m.Deal.currency))
    rate = (
        select(m.ExchangeRate.rate)
        .where(func.upper(m.ExchangeRate.currency) == code,
               or_(m.Deal.closed_at.is_(None), m.Deal.status == "open", m.ExchangeRate.valid_from <= m.Deal.closed_at))
        .order_by(m.ExchangeRate.valid_from.desc()).limit(1).correlate(m.Deal).scalar_subquery()
    )
    home = or_(m.Deal.currency.is_(None), code == "", code == currency.strip().upper())
    converted = case((home, m.Deal.amount), else_=m.Deal.amount * rate)
    amount = func.coalesce(converted, 0.0)
    stmt = (
        select(m.Stage.id, func.count(m.Deal.id), func.coalesce(func.sum(converted), 0.0),
               func.coalesce(func.sum(amount * func.coalesce(m.Stage.probability, 0.0)), 0.0))
        .join(m.Deal, m.Deal.stage_id == m.Stage.id)
        .where(m.Stage.pipeline_id == pipeline_id, m.Deal.deleted_at.is_(None))
        .group_by(m.Stage.id)
    )
    if condition is not None:  # the signed-in user's visible deals
        stmt = stmt.where(condition)
    if owner or team:
        stmt = stmt.join(m.Owner, m.Owner.id == m.Deal.owner_id)
        if owner:
            stmt = stmt.where(m.Owner.name == owner)
        if team:
            stmt = stmt.join(m.Team, m.Team.id == m.Owner.team_id).where(m.Team.name == team)
    if product:
        stmt = stmt.where(m.Deal.id.in_(select(m.DealProduct.deal_id).join(m.Product, m.Product.id == m.DealProduct.product_id)
                                        .where(m.Product.name == product)))
    stage_ids = session.scalars(select(m.Stage.id).where(m.Stage.pipeline_id == pipeline_id)).all()
    out = {str(i): {"count": 0, "amount": 0.0, "weighted": 0.0} for i in stage_ids}
    for stage_id, count, total, weighted in session.execute(stmt).all():
        out[str(stage_id)] = {"count": count, "amount": float(total), "weighted": float(weighted)}
    return out


_CARD = ('<li class="card" data-id="{id}" data-version="{version}" data-amount="{amount}"><a href="/deals/{id}">'
         '<strong>{label}</strong><span class="amt">{amt}</span></a><span class="meta">{meta}</span>{flags}</li>\n')


def render_cards(cards: list[dict[str, Any]], versions: dict[int, int]) -> Any:
    """The cards of a column as HTML. One escaped format string instead of a template loop: a board
    of 10,000 cards renders in a fraction of the time (see benchmarks/bench_board.py)."""
    from markupsafe import Markup, escape

    out = []
    for d in cards:
        meta = f"{d['owner'] or 'no owner'} · {(d['probability'] or 0) * 100:.0f}%"
        if d["expected_close_date"]:
            meta += f" · {d['expected_close_date']}"
        flags = ""
        if d["flags"]:
            flags = '<span class="flags">' + "".join(
                f'<em class="flag flag-{escape(f)}">{escape(f)}</em>' for f in d["flags"].split()) + "</span>"
        out.append(_CARD.format(
            id=int(d["id"]), version=versions.get(d["id"], ""), amount=d["amount"] or 0,
            label=escape(d["account"] or d["name"] or d["external_id"]), meta=escape(meta), flags=flags,
            amt=money(d["amount"]) if d["amount"] is not None or not d.get("list_price") else
            Markup('<span title="no amount: the list price of its product">≈{}</span>').format(money(d["list_price"])),
        ))
    return Markup("".join(out))
