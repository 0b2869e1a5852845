"""A synthetic B2B pipeline whose true win probabilities are known.

Each deal gets a true probability from its owner's skill, product, source and account size
(plus noise nobody observes), and is won with exactly that probability. Its path through
Qualify → Develop → Propose → Negotiate is then drawn: lost deals drop out at some stage
(after stalling there), some deals fall back a stage, activity is busier on deals that go on
to win, creation follows a seasonal, growing rate, and reps' expected close dates are
optimistic and get pushed (recorded as ``field_changes`` of ``expected_close_date``).
Everything after the end of the simulated window is cut, so the last deals are still open.

The simulation is columnar (numpy arrays, one row per deal, visit or activity; no per-deal
Python loop), so 1M deals with ~10M events take about a minute. ``generate`` bulk-inserts
the result into a store; ``generate_files`` writes import-ready files instead
(``dealflow generate --out DIR``), for the benchmarks and for trying the importer at scale.
Instants are whole seconds, so files and store hold exactly the same values.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from sqlalchemy import func, insert, select

from dealflow.errors import DomainError
from dealflow.store import models as m
from dealflow.store.db import Store

PIPELINE = "Synthetic sales"
OPEN_STAGES = [("Qualify", 0.1), ("Develop", 0.25), ("Propose", 0.5), ("Negotiate", 0.75)]
STAGE_NAMES = [s for s, _ in OPEN_STAGES] + ["Won", "Lost"]
STAGE_DAYS = np.array([9.0, 14.0, 16.0, 11.0])  # mean days in each open stage
TEAMS = ["North", "South", "East", "West"]
PRODUCTS = [  # name, family, list price, effect on the log-odds of winning
    ("Atlas Core", "Atlas", 12_000.0, 0.35), ("Atlas Pro", "Atlas", 30_000.0, -0.1),
    ("Beacon Lite", "Beacon", 3_000.0, 0.5), ("Beacon Suite", "Beacon", 18_000.0, 0.0),
    ("Cirrus Cloud", "Cirrus", 45_000.0, -0.45), ("Cirrus Edge", "Cirrus", 8_000.0, 0.15),
]
SOURCES = [("inbound", 0.45), ("referral", 0.7), ("outbound", -0.55), ("partner", 0.2), ("event", -0.15)]
SECTORS = ["software", "retail", "finance", "health", "manufacturing", "energy", "education", "logistics"]
COUNTRIES = ["United States", "Germany", "United Kingdom", "France", "Netherlands", "Japan"]
LOST_REASONS = ["price", "competitor", "no budget", "no decision", "timing"]
ACTIVITY_KINDS = ["call", "email", "meeting"]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivo", "Jin", "Kai", "Lea",
         "Mo", "Nia", "Oli", "Pia", "Raj", "Sol", "Tom", "Uma", "Vic", "Wen", "Xan", "Yara"]
N_OWNERS, N_ACCOUNTS = 24, 400
SECOND = 1.0 / 86_400  # in days
FileFormat = Literal["csv", "parquet"]


@dataclass(frozen=True)
class GenerateResult:
    deals: int
    won: int
    lost: int
    open: int
    stage_changes: int
    field_changes: int
    activities: int
    start: date
    end: date
    mean_true_probability: float

    def to_dict(self) -> dict[str, object]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(self).items()}


@dataclass(frozen=True)
class Synthetic:
    """One simulated pipeline as frames; ``deal``, ``owner``, ``account``, ``product``, ``stage``
    columns are 0-based indexes (stage indexes ``STAGE_NAMES``); instants are naive UTC."""
    tag: str
    owners: pl.DataFrame  # owner, external_id, name, team, region
    accounts: pl.DataFrame  # account, external_id, name, sector, country, employees, revenue, year_established
    deals: pl.DataFrame  # deal, external_id, name, account, owner, product, stage, status, amount, source, created_at, ...
    stage_changes: pl.DataFrame  # deal, stage, from_stage, at, lost_reason (sorted by deal, at)
    field_changes: pl.DataFrame  # deal, old_value, new_value, at
    activities: pl.DataFrame  # deal, external_id, kind, at, ended_at, subject
    result: GenerateResult


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _instants(t0: datetime, days: np.ndarray) -> pl.Series:
    """Days after ``t0`` -> naive datetimes rounded to whole seconds."""
    seconds = np.round(np.asarray(days, dtype=np.float64) * 86_400).astype(np.int64)
    base = int((t0 - datetime(1970, 1, 1)).total_seconds())
    return pl.Series((seconds + base) * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us"))


def _dates(t0: datetime, days: np.ndarray) -> pl.Series:
    base = (t0.date() - date(1970, 1, 1)).days
    return pl.Series(np.asarray(days, dtype=np.int64) + base, dtype=pl.Int32).cast(pl.Date)


def _names(values: list[str], index: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(pl.Series(index, dtype=pl.Int64))


def _lookup(column: str, values: list[Any], dtype: type[pl.DataType] | pl.DataType) -> pl.Expr:
    """A 0-based index column -> the value at that index (null stays null)."""
    return pl.col(column).replace_strict(dict(enumerate(values)), return_dtype=dtype)


def simulate(*, deals: int = 2000, seed: int = 0, start: date = date(2021, 1, 1), days: int = 1095) -> Synthetic:
    """Draw ``deals`` synthetic deals created between ``start`` and ``start + days``."""
    if deals < 1:
        raise DomainError("--deals must be at least 1")
    if days < 1:
        raise DomainError("--days must be at least 1")
    rng = np.random.default_rng(seed)
    tag = f"SYN{seed}"
    t0 = datetime(start.year, start.month, start.day)
    end = float(days)  # the window's end, in days after t0

    # -- people, products, accounts ------------------------------------------------------
    skill = rng.normal(0.0, 0.55, N_OWNERS)
    speed = np.exp(rng.normal(0.0, 0.2, N_OWNERS))
    owner_team = np.arange(N_OWNERS) % len(TEAMS)
    acc_sector = rng.integers(0, len(SECTORS), N_ACCOUNTS)
    acc_country = rng.integers(0, len(COUNTRIES), N_ACCOUNTS)
    acc_employees = np.round(np.exp(rng.normal(6.0, 1.4, N_ACCOUNTS))).astype(int) + 5
    acc_revenue = np.round(acc_employees * np.exp(rng.normal(-1.6, 0.5, N_ACCOUNTS)), 2)
    sector_effect = rng.normal(0.0, 0.25, len(SECTORS))

    # -- deals: seasonal, growing creation; attributes; the true probability -----------------
    cand = rng.uniform(0, days, deals * 4)
    month = ((t0.month - 1) + cand / 30.44) % 12
    intensity = (1 + 0.3 * np.sin(2 * np.pi * (month - 2) / 12)) * (1 + 0.4 * cand / days)
    keep = rng.uniform(0, 1.3 * 1.4, cand.size) < intensity
    created_days = np.sort(cand[keep][:deals])
    del cand, month, intensity, keep
    if created_days.size < deals:  # pragma: no cover - practically impossible
        created_days = np.sort(rng.uniform(0, days, deals))
    n = deals
    owner = rng.integers(0, N_OWNERS, n)
    product = rng.choice(len(PRODUCTS), n, p=[0.22, 0.12, 0.22, 0.16, 0.08, 0.20])
    source = rng.choice(len(SOURCES), n, p=[0.3, 0.15, 0.3, 0.15, 0.1])
    account = rng.integers(0, N_ACCOUNTS, n)
    price = np.array([p[2] for p in PRODUCTS])[product]
    amount = np.round(price * (1 + rng.poisson(1.5, n)) * np.exp(rng.normal(0, 0.25, n)), -1)
    size = np.log(acc_employees[account] / 400.0)
    logit = (
        -0.85 + skill[owner] + np.array([p[3] for p in PRODUCTS])[product] + np.array([s[1] for s in SOURCES])[source]
        + 0.12 * size + sector_effect[acc_sector[account]] - 0.08 * np.log(amount / price) + rng.normal(0, 0.45, n)
    )
    p_true = _sigmoid(logit)
    won = rng.uniform(0, 1, n) < p_true

    # -- paths through the stages -----------------------------------------------------------
    # lost deals drop out at a stage (weaker deals earlier); won deals go all the way
    drop = np.minimum(rng.geometric(0.45 + 0.3 * (1 - p_true)) - 1, 3)
    last_open = np.where(won, 3, drop)
    regress = (rng.uniform(0, 1, n) < 0.12) & (last_open >= 1)
    regress_at = np.where(regress, 1 + (rng.uniform(0, 1, n) * np.maximum(last_open, 1)).astype(int), -1)
    regress_at = np.minimum(regress_at, last_open)
    dur = rng.gamma(2.0, 1.0, (n, 4)) / 2.0 * STAGE_DAYS[None, :] * speed[owner][:, None]
    dur *= np.where(won, 0.85, 1.0)[:, None]
    stall = rng.gamma(2.0, 1.0, n) / 2.0 * 1.8
    dur[np.arange(n), last_open] *= np.where(won, 1.0, stall)
    back_days = rng.gamma(2.0, 3.0, n)
    hours = rng.uniform(8, 18, n)
    planned = np.exp(rng.normal(-0.3, 0.3, n)) * STAGE_DAYS.sum()
    pushes = rng.uniform(14, 45, (n, 12))
    push_lag = rng.uniform(0, 5, (n, 12))
    reasons = rng.integers(0, len(LOST_REASONS), n)
    act_counts = np.where(won[:, None], rng.poisson(2.2 * np.maximum(dur, 0.5) / 7.0),
                          rng.poisson(1.3 * np.maximum(dur, 0.5) / 7.0))
    created = np.floor(created_days) + hours / 24.0

    # -- visits: every stage up to the last open one; a setback visits k, k-1, then k again ------
    deal_ix = np.repeat(np.arange(n), 4)
    stage_ix = np.tile(np.arange(4), n)
    normal = stage_ix <= last_open[deal_ix]
    back = np.flatnonzero(regress_at >= 1)
    v_deal = np.concatenate([deal_ix[normal], back, back])
    v_stage = np.concatenate([stage_ix[normal], regress_at[back], regress_at[back] - 1])
    v_len = np.concatenate([dur.reshape(-1)[normal], back_days[back], back_days[back] * 0.7])
    v_order = np.concatenate([3 * stage_ix[normal] + 2, 3 * regress_at[back], 3 * regress_at[back] + 1])
    del deal_ix, stage_ix, normal
    order = np.lexsort((v_order, v_deal))
    v_deal, v_stage, v_len = v_deal[order], v_stage[order], v_len[order]
    first = np.searchsorted(v_deal, np.arange(n))  # each deal's first visit
    v_number = np.arange(v_deal.size) - first[v_deal]
    ends = np.cumsum(v_len)
    v_entered = created[v_deal] + ends - v_len - (ends - v_len)[first][v_deal]
    closed_at = created + np.bincount(v_deal, weights=v_len, minlength=n)
    kept = v_entered <= end  # nothing after the window's end is known yet
    v_deal, v_stage, v_len, v_entered, v_number = v_deal[kept], v_stage[kept], v_len[kept], v_entered[kept], v_number[kept]
    last_kept = np.searchsorted(v_deal, np.arange(n), side="right") - 1
    cur_stage = v_stage[last_kept]
    closed = closed_at <= end
    status = np.where(closed, np.where(won, 1, 2), 0)  # 0 open, 1 won, 2 lost
    final_stage = np.where(closed, np.where(won, 4, 5), cur_stage)

    # -- activities: busier on deals that go on to win; only those inside the window -----------
    per_visit = np.minimum(act_counts[v_deal, v_stage], 12)
    a_visit = np.repeat(np.arange(v_deal.size), per_visit)
    a_deal = v_deal[a_visit]
    a_at = v_entered[a_visit] + rng.uniform(0, 1, a_visit.size) * v_len[a_visit]
    pick = rng.uniform(0, 1, a_visit.size)
    inside = a_at <= end
    a_deal, a_at, pick = a_deal[inside], a_at[inside], pick[inside]
    a_kind = np.where(pick < np.where(won[a_deal], 0.3, 0.15), 2, np.where(pick < 0.65, 0, 1))
    del a_visit, per_visit, inside, pick

    # -- expected close date: optimistic at creation, pushed while the deal is still open --------
    expected0 = np.floor(created + planned)
    cum = np.cumsum(np.floor(pushes), axis=1)
    expected = np.concatenate([expected0[:, None], expected0[:, None] + cum], axis=1)  # before push j, and final
    push_at = expected[:, :12] + push_lag + 9 / 24
    valid = np.logical_and.accumulate((push_at < closed_at[:, None]) & (push_at <= end), axis=1)
    n_push = valid.sum(axis=1)
    f_deal, f_j = np.nonzero(valid)
    final_expected = expected[np.arange(n), n_push]

    # -- frames ----------------------------------------------------------------------------------
    owner_names = [f"{FIRST[i % len(FIRST)]} {tag[3:]}-{i + 1}" for i in range(N_OWNERS)]
    account_names = [f"Account {tag}-{i + 1}" for i in range(N_ACCOUNTS)]
    product_names = [p[0] for p in PRODUCTS]
    owners = pl.DataFrame({
        "owner": np.arange(N_OWNERS), "external_id": [f"{tag}-O{i + 1}" for i in range(N_OWNERS)], "name": owner_names,
        "team": [f"{tag} {TEAMS[t]}" for t in owner_team], "region": [TEAMS[t] for t in owner_team],
    })
    accounts = pl.DataFrame({
        "account": np.arange(N_ACCOUNTS), "external_id": [f"{tag}-A{i + 1}" for i in range(N_ACCOUNTS)], "name": account_names,
        "sector": [SECTORS[s] for s in acc_sector], "country": [COUNTRIES[c] for c in acc_country],
        "employees": acc_employees.astype(np.int64), "revenue": acc_revenue.astype(np.float64),
        "year_established": [1950 + (i * 7) % 70 for i in range(N_ACCOUNTS)],
    })
    ids = pl.Series(np.arange(n) + 1, dtype=pl.Int64).cast(pl.String)
    deal_frame = pl.DataFrame({
        "deal": np.arange(n), "account": account, "owner": owner, "product": product, "stage": final_stage,
        "status": _names(["open", "won", "lost"], status), "amount": amount.astype(np.float64),
        "source": _names([s for s, _ in SOURCES], source), "created_at": _instants(t0, created),
        "expected_close_date": _dates(t0, final_expected), "closed_at": _instants(t0, closed_at),
        "lost_reason": _names(LOST_REASONS, reasons), "true_probability": p_true,
    }).with_columns(
        (f"{tag}-D" + ids).alias("external_id"),
        pl.concat_str(_names(product_names, product), pl.lit(f" for Account {tag}-"), (pl.col("account") + 1).cast(pl.String)).alias("name"),
        pl.when(pl.col("status") != "open").then(pl.col("closed_at")).alias("closed_at"),
        pl.when(pl.col("status") == "lost").then(pl.col("lost_reason")).alias("lost_reason"),
    )
    visits = pl.DataFrame({"deal": v_deal, "stage": v_stage, "at": _instants(t0, v_entered), "number": v_number})
    closes = pl.DataFrame({"deal": np.flatnonzero(closed), "stage": final_stage[closed], "at": _instants(t0, closed_at[closed]),
                           "number": np.full(int(closed.sum()), 99)})
    stage_changes = (
        pl.concat([visits, closes]).sort("deal", "number")
        .join(deal_frame.select("deal", "lost_reason"), on="deal", how="left")
        .with_columns(
            pl.col("stage").shift(1).over("deal").alias("from_stage"),
            pl.when(pl.col("stage") == 5).then(pl.col("lost_reason")).alias("lost_reason"),
        )
        .select("deal", "stage", "from_stage", "at", "lost_reason")
    )
    old, new = expected[f_deal, f_j], expected[f_deal, f_j + 1]
    field_changes = pl.DataFrame({
        "deal": f_deal, "old_value": _dates(t0, old).cast(pl.String), "new_value": _dates(t0, new).cast(pl.String),
        "at": _instants(t0, push_at[f_deal, f_j]),
    })
    kinds = _names(ACTIVITY_KINDS, a_kind)
    activities = pl.DataFrame({"deal": a_deal, "kind": kinds, "at": _instants(t0, a_at)}).with_columns(
        (f"{tag}-X" + pl.Series(np.arange(a_deal.size) + 1, dtype=pl.Int64).cast(pl.String)).alias("external_id"),
        (pl.col("at") + pl.duration(minutes=30)).alias("ended_at"),
        pl.concat_str(pl.col("kind"), pl.lit(" about "), _names(product_names, product[a_deal])).alias("subject"),
    )
    result = GenerateResult(
        deals=n, won=int((status == 1).sum()), lost=int((status == 2).sum()), open=int((status == 0).sum()),
        stage_changes=stage_changes.height, field_changes=field_changes.height, activities=activities.height,
        start=start, end=(t0 + timedelta(days=days)).date(), mean_true_probability=float(p_true.mean()),
    )
    return Synthetic(tag, owners, accounts, deal_frame, stage_changes, field_changes, activities, result)


# -- into a store ------------------------------------------------------------------------------

def _next_id(conn: Any, table: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1


def _insert(conn: Any, table: Any, frame: pl.DataFrame) -> None:
    if conn.dialect.name == "postgresql":  # COPY: one round trip instead of one per row
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        with conn.connection.driver_connection.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in frame.iter_rows():
                copy.write_row(row)
        return
    for part in frame.iter_slices(5000):
        conn.execute(insert(table), part.to_dicts())


def generate(
    store: Store, *, deals: int = 2000, seed: int = 0, start: date = date(2021, 1, 1), days: int = 1095,
) -> GenerateResult:
    """Write ``deals`` synthetic deals created between ``start`` and ``start + days`` into ``store``."""
    syn = simulate(deals=deals, seed=seed, start=start, days=days)
    tag = syn.tag
    with store.atomic() as session:
        from dealflow.store import crm

        crm.ensure_pipeline(session, PIPELINE, [(s, "open", p) for s, p in OPEN_STAGES] + [("Won", "won", 1.0), ("Lost", "lost", 0.0)])
        session.flush()
        pipeline_id = session.scalar(select(m.Pipeline.id).where(m.Pipeline.name == PIPELINE))
        stage_id = {s.name: s.id for s in session.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline_id))}
        if session.scalar(select(m.Deal.id).where(m.Deal.external_id == f"{tag}-D1")) is not None:
            raise DomainError(f"this store already holds synthetic data for seed {seed}; use another --seed or a new --db")

    T: Any
    O: Any
    A: Any
    P: Any
    T, O, A, P = m.Team.__table__, m.Owner.__table__, m.Account.__table__, m.Product.__table__
    D: Any
    DP: Any
    SC: Any
    FC: Any
    ACT: Any
    D, DP, SC, FC, ACT = (m.Deal.__table__, m.DealProduct.__table__, m.StageChange.__table__, m.FieldChange.__table__,
                          m.Activity.__table__)
    with store.engine.begin() as conn:
        ids = {t.name: _next_id(conn, t) for t in (T, O, A, P, D, DP, SC, FC, ACT)}
        team_ids = []
        for name in TEAMS:
            found = conn.execute(select(T.c.id).where(T.c.name == f"{tag} {name}")).scalar()
            if found is None:
                found = ids[T.name]
                ids[T.name] += 1
                conn.execute(insert(T), [{"id": found, "name": f"{tag} {name}", "region": name}])
            team_ids.append(found)
        product_ids = []
        for name, family, list_price, _ in PRODUCTS:
            found = conn.execute(select(P.c.id).where(P.c.name == name)).scalar()
            if found is None:
                found = ids[P.name]
                ids[P.name] += 1
                conn.execute(insert(P), [{"id": found, "external_id": f"SYN-{name}", "name": name, "family": family, "list_price": list_price}])
            product_ids.append(found)
        stage_ids = [stage_id[s] for s in STAGE_NAMES]
        owner_names = syn.owners["name"].to_list()

        def owner_id() -> pl.Expr:
            return pl.col("owner") + int(ids[O.name])

        def deal_id() -> pl.Expr:
            return pl.col("deal") + int(ids[D.name])

        _insert(conn, O, syn.owners.select(
            owner_id().alias("id"), "external_id", "name",
            _lookup("owner", [team_ids[i % len(TEAMS)] for i in range(N_OWNERS)], pl.Int64).alias("team_id")))
        _insert(conn, A, syn.accounts.select((pl.col("account") + ids[A.name]).alias("id"), pl.exclude("account")))
        deals_out = syn.deals.select(
            deal_id().alias("id"), "external_id", "name", (pl.col("account") + ids[A.name]).alias("account_id"),
            owner_id().alias("owner_id"), pl.lit(pipeline_id).alias("pipeline_id"), _lookup("stage", stage_ids, pl.Int64).alias("stage_id"),
            "status", "amount", pl.lit("USD").alias("currency"), "source", "created_at", "expected_close_date", "closed_at",
            "lost_reason", "true_probability", pl.lit(1).alias("version"),
        )
        _insert(conn, D, deals_out)
        _insert(conn, DP, syn.deals.select(
            (pl.col("deal") + ids[DP.name]).alias("id"), deal_id().alias("deal_id"),
            _lookup("product", product_ids, pl.Int64).alias("product_id"),
            pl.lit(1.0).alias("quantity"), pl.col("amount").alias("price")))
        by = syn.deals.select("deal", _lookup("owner", owner_names, pl.String).alias("by"))
        _insert(conn, SC, syn.stage_changes.join(by, on="deal", how="left", maintain_order="left").select(
            (pl.int_range(pl.len()) + ids[SC.name]).alias("id"), deal_id().alias("deal_id"),
            _lookup("from_stage", stage_ids, pl.Int64).alias("from_stage_id"), _lookup("stage", stage_ids, pl.Int64).alias("to_stage_id"),
            "at", "by", "lost_reason"))
        _insert(conn, FC, syn.field_changes.join(by, on="deal", how="left", maintain_order="left").select(
            (pl.int_range(pl.len()) + ids[FC.name]).alias("id"), deal_id().alias("deal_id"),
            pl.lit("expected_close_date").alias("field"), "old_value", "new_value", "at", "by"))
        _insert(conn, ACT, syn.activities.join(syn.deals.select("deal", "owner"), on="deal", how="left", maintain_order="left").select(
            (pl.int_range(pl.len()) + ids[ACT.name]).alias("id"), "external_id", deal_id().alias("deal_id"), "kind",
            owner_id().alias("owner_id"), "at", "ended_at", "subject"))
        if conn.dialect.name == "postgresql":  # explicit ids do not advance PostgreSQL's sequences
            for table in (T, O, A, P, D, DP, SC, FC, ACT):
                conn.execute(select(func.setval(
                    func.pg_get_serial_sequence(table.name, "id"),
                    select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery(), False,
                )))
    return syn.result


# -- into import-ready files -------------------------------------------------------------------

FILE_KINDS = ("owners", "accounts", "products", "deals", "stage_history", "activities")  # the order to import them in


def import_frames(syn: Synthetic) -> dict[str, pl.DataFrame]:
    """The simulated pipeline as one frame per import kind, headed by dealflow's import field names."""
    owner_name = syn.owners["name"].to_list()
    deal_ext = f"{syn.tag}-D" + (pl.col("deal") + 1).cast(pl.String)  # deal index i is external id D{i + 1}
    # The first time each deal entered each open stage: these columns make `import deals` create the
    # stages in pipeline order and record a history that `import stage_history` then only completes.
    first = (
        syn.stage_changes.filter(pl.col("stage") < 4).group_by("deal", "stage").agg(pl.col("at").min())
        .pivot(on="stage", index="deal", values="at")
    )
    entered = [pl.col(str(k)).alias(f"Date entered {name}") if str(k) in first.columns
               else pl.lit(None, pl.Datetime("us")).alias(f"Date entered {name}")
               for k, (name, _) in enumerate(OPEN_STAGES)]
    deals = syn.deals.join(first, on="deal", how="left", maintain_order="left").select(
        "external_id", "name", pl.lit(None, pl.String).alias("account"), pl.lit(None, pl.String).alias("owner"),
        pl.lit(None, pl.String).alias("product"), pl.lit(PIPELINE).alias("pipeline"), _lookup("stage", STAGE_NAMES, pl.String).alias("stage"),
        "amount", pl.lit("USD").alias("currency"), "source", "created_at", "expected_close_date", "closed_at", "lost_reason",
        *entered,
    ).with_columns(
        syn.accounts["name"].gather(syn.deals["account"]).alias("account"),
        syn.owners["name"].gather(syn.deals["owner"]).alias("owner"),
        pl.Series([p[0] for p in PRODUCTS], dtype=pl.String).gather(syn.deals["product"]).alias("product"),
    )
    by = syn.deals.select("deal", _lookup("owner", owner_name, pl.String).alias("by"))
    history = syn.stage_changes.join(by, on="deal", how="left", maintain_order="left").select(
        deal_ext.alias("deal"), _lookup("stage", STAGE_NAMES, pl.String).alias("stage"), "at", "by", "lost_reason")
    activities = syn.activities.join(syn.deals.select("deal", "owner"), on="deal", how="left", maintain_order="left").select(
        "external_id", deal_ext.alias("deal"), "kind", "subject",
        _lookup("owner", owner_name, pl.String).alias("owner"), "at", "ended_at")
    products = pl.DataFrame({
        "external_id": [f"SYN-{p[0]}" for p in PRODUCTS], "name": [p[0] for p in PRODUCTS],
        "family": [p[1] for p in PRODUCTS], "list_price": [p[2] for p in PRODUCTS],
    })
    return {
        "owners": syn.owners.drop("owner"), "accounts": syn.accounts.drop("account"), "products": products,
        "deals": deals, "stage_history": history, "activities": activities,
    }


def generate_files(
    out: str | Path, *, deals: int = 2000, seed: int = 0, start: date = date(2021, 1, 1), days: int = 1095,
    fmt: FileFormat = "csv",
) -> tuple[GenerateResult, dict[str, Path]]:
    """Write the pipeline as import-ready files in ``out``: ``dealflow import KIND FILE`` maps their
    headers with no options. Import them in ``FILE_KINDS`` order. Expected-close-date edits have
    no import kind and are not written."""
    if fmt not in ("csv", "parquet"):
        raise DomainError(f"--out-format must be csv or parquet, not {fmt!r}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise DomainError(f"--out {folder} is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    syn = simulate(deals=deals, seed=seed, start=start, days=days)
    paths: dict[str, Path] = {}
    for kind, frame in import_frames(syn).items():
        path = folder / f"{kind}.{fmt}"
        if fmt == "csv":
            frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S", date_format="%Y-%m-%d")
        else:
            frame.write_parquet(path)
        paths[kind] = path
    return syn.result, paths
