"""A synthetic B2B pipeline whose true win probabilities are known.

Each deal gets a true probability from its owner's skill, product, source and account size
(plus noise nobody observes), and is won with exactly that probability. Its path through
Qualify → Develop → Propose → Negotiate is then drawn: lost deals drop out at some stage
(after stalling there), some deals fall back a stage, activity is busier on deals that go on
to win, creation follows a seasonal, growing rate, and reps' expected close dates are
optimistic and get pushed (recorded as ``field_changes`` of ``expected_close_date``).
Everything after the end of the simulated window is cut, so the last deals are still open.

Rows are written with bulk SQLAlchemy Core inserts: 20,000 deals load in seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from sqlalchemy import func, insert, select

from dealflow.errors import DomainError
from dealflow.store import models as m
from dealflow.store.db import Store

PIPELINE = "Synthetic sales"
OPEN_STAGES = [("Qualify", 0.1), ("Develop", 0.25), ("Propose", 0.5), ("Negotiate", 0.75)]
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


def _next_id(conn, table) -> int:  # type: ignore[no-untyped-def]
    return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(
    store: Store, *, deals: int = 2000, seed: int = 0, start: date = date(2021, 1, 1), days: int = 1095,
) -> GenerateResult:
    """Write ``deals`` synthetic deals created between ``start`` and ``start + days`` into ``store``."""
    if deals < 1:
        raise DomainError("--deals must be at least 1")
    rng = np.random.default_rng(seed)
    tag = f"SYN{seed}"
    t0 = datetime(start.year, start.month, start.day)
    end = t0 + timedelta(days=days)

    # -- people, products, accounts ------------------------------------------------------
    n_owners, n_accounts = 24, 400
    skill = rng.normal(0.0, 0.55, n_owners)
    speed = np.exp(rng.normal(0.0, 0.2, n_owners))
    owner_team = np.arange(n_owners) % len(TEAMS)
    acc_sector = rng.integers(0, len(SECTORS), n_accounts)
    acc_country = rng.integers(0, len(COUNTRIES), n_accounts)
    acc_employees = np.round(np.exp(rng.normal(6.0, 1.4, n_accounts))).astype(int) + 5
    acc_revenue = np.round(acc_employees * np.exp(rng.normal(-1.6, 0.5, n_accounts)), 2)
    sector_effect = rng.normal(0.0, 0.25, len(SECTORS))

    # -- deals: seasonal, growing creation; attributes; the true probability -----------------
    cand = rng.uniform(0, days, deals * 4)
    month = ((t0.month - 1) + cand / 30.44) % 12
    intensity = (1 + 0.3 * np.sin(2 * np.pi * (month - 2) / 12)) * (1 + 0.4 * cand / days)
    keep = rng.uniform(0, 1.3 * 1.4, cand.size) < intensity
    created_days = np.sort(cand[keep][:deals])
    if created_days.size < deals:  # pragma: no cover - practically impossible
        created_days = np.sort(rng.uniform(0, days, deals))
    n = deals
    owner = rng.integers(0, n_owners, n)
    product = rng.choice(len(PRODUCTS), n, p=[0.22, 0.12, 0.22, 0.16, 0.08, 0.20])
    source = rng.choice(len(SOURCES), n, p=[0.3, 0.15, 0.3, 0.15, 0.1])
    account = rng.integers(0, n_accounts, n)
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

    stage_names = [s for s, _ in OPEN_STAGES] + ["Won", "Lost"]
    with store.atomic() as session:
        from dealflow.store import crm

        crm.ensure_pipeline(session, PIPELINE, [(s, "open", p) for s, p in OPEN_STAGES] + [("Won", "won", 1.0), ("Lost", "lost", 0.0)])
        session.flush()
        pipeline_id = session.scalar(select(m.Pipeline.id).where(m.Pipeline.name == PIPELINE))
        stage_id = {s.name: s.id for s in session.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline_id))}
        if session.scalar(select(m.Deal.id).where(m.Deal.external_id == f"{tag}-D1")) is not None:
            raise DomainError(f"this store already holds synthetic data for seed {seed}; use another --seed or a new --db")

    # Build rows in plain Python lists (the generator's only per-deal loop), then bulk insert.
    sc_rows: list[dict] = []
    fc_rows: list[dict] = []
    act_rows: list[dict] = []
    deal_rows: list[dict] = []
    line_rows: list[dict] = []
    act_rate_won, act_rate_lost = 2.2, 1.3
    with store.engine.begin() as conn:
        ids = {t: _next_id(conn, t) for t in (m.Team.__table__, m.Owner.__table__, m.Account.__table__, m.Product.__table__,
                                              m.Deal.__table__, m.StageChange.__table__, m.FieldChange.__table__,
                                              m.Activity.__table__, m.DealProduct.__table__)}
        T = m.Team.__table__
        team_ids = []
        for name in TEAMS:
            found = conn.execute(select(T.c.id).where(T.c.name == f"{tag} {name}")).scalar()
            if found is None:
                found = ids[T]
                ids[T] += 1
                conn.execute(insert(T), [{"id": found, "name": f"{tag} {name}", "region": name}])
            team_ids.append(found)
        O, A, P = m.Owner.__table__, m.Account.__table__, m.Product.__table__
        owner_ids = list(range(ids[O], ids[O] + n_owners))
        conn.execute(insert(O), [
            {"id": owner_ids[i], "external_id": f"{tag}-O{i + 1}", "name": f"{FIRST[i % len(FIRST)]} {tag[3:]}-{i + 1}",
             "team_id": team_ids[owner_team[i]]} for i in range(n_owners)
        ])
        account_ids = list(range(ids[A], ids[A] + n_accounts))
        conn.execute(insert(A), [
            {"id": account_ids[i], "external_id": f"{tag}-A{i + 1}", "name": f"Account {tag}-{i + 1}",
             "sector": SECTORS[acc_sector[i]], "country": COUNTRIES[acc_country[i]], "employees": int(acc_employees[i]),
             "revenue": float(acc_revenue[i]), "year_established": int(1950 + (i * 7) % 70)} for i in range(n_accounts)
        ])
        product_ids = []
        for name, family, list_price, _ in PRODUCTS:
            found = conn.execute(select(P.c.id).where(P.c.name == name)).scalar()
            if found is None:
                found = ids[P]
                ids[P] += 1
                conn.execute(insert(P), [{"id": found, "external_id": f"SYN-{name}", "name": name, "family": family, "list_price": list_price}])
            product_ids.append(found)

        deal_id0, sc_id, fc_id, act_id, line_id = ids[m.Deal.__table__], ids[m.StageChange.__table__], ids[m.FieldChange.__table__], ids[m.Activity.__table__], ids[m.DealProduct.__table__]
        hours = rng.uniform(8, 18, n)
        u_act = rng.uniform(0, 1, (n, 6, 12))
        kind_pick = rng.uniform(0, 1, (n, 6, 12))
        planned = np.exp(rng.normal(-0.3, 0.3, n)) * STAGE_DAYS.sum()
        pushes = rng.uniform(14, 45, (n, 12))
        push_lag = rng.uniform(0, 5, (n, 12))
        reasons = rng.integers(0, len(LOST_REASONS), n)
        act_counts_w = rng.poisson(act_rate_won * np.maximum(dur, 0.5) / 7.0)
        act_counts_l = rng.poisson(act_rate_lost * np.maximum(dur, 0.5) / 7.0)
        counts = {"won": 0, "lost": 0, "open": 0}
        for i in range(n):
            did = deal_id0 + i
            created = t0 + timedelta(days=math.floor(created_days[i]), hours=float(hours[i]))
            # visits: list of (stage index, entered)
            visits: list[tuple[int, datetime, float]] = []
            clock = created
            for k in range(last_open[i] + 1):
                if k == regress_at[i]:
                    visits.append((k, clock, back_days[i]))
                    clock += timedelta(days=float(back_days[i]))
                    visits.append((k - 1, clock, back_days[i] * 0.7))
                    clock += timedelta(days=float(back_days[i] * 0.7))
                visits.append((k, clock, float(dur[i, k])))
                clock += timedelta(days=float(dur[i, k]))
            closed_at = clock
            final = 4 if won[i] else 5
            owner_name = f"{tag}-O{owner[i] + 1}"
            prev = None
            status = "open"
            cur_stage = 0
            for v, (k, entered, length) in enumerate(visits):
                if entered > end:
                    break
                sc_rows.append({"id": sc_id, "deal_id": did, "from_stage_id": prev, "to_stage_id": stage_id[stage_names[k]],
                                "at": entered, "by": owner_name, "lost_reason": None})
                sc_id += 1
                prev = stage_id[stage_names[k]]
                cur_stage = k
                per = act_counts_w[i, k] if won[i] else act_counts_l[i, k]
                for a in range(min(int(per), 12)):
                    when = entered + timedelta(days=float(u_act[i, v % 6, a] * length))
                    if when > end:
                        continue
                    r = kind_pick[i, v % 6, a]
                    kind = "meeting" if r < (0.3 if won[i] else 0.15) else ("call" if r < 0.65 else "email")
                    act_rows.append({"id": act_id, "external_id": f"{tag}-X{act_id}", "deal_id": did, "kind": kind,
                                      "owner_id": owner_ids[owner[i]], "at": when, "ended_at": when + timedelta(minutes=30),
                                      "subject": f"{kind} about {PRODUCTS[product[i]][0]}"})
                    act_id += 1
            closed = closed_at <= end
            if closed:
                status = "won" if won[i] else "lost"
                sc_rows.append({"id": sc_id, "deal_id": did, "from_stage_id": prev, "to_stage_id": stage_id[stage_names[final]],
                                "at": closed_at, "by": owner_name, "lost_reason": None if won[i] else LOST_REASONS[reasons[i]]})
                sc_id += 1
            counts[status] += 1
            # expected close date: optimistic at creation, pushed while the deal is still open
            expected = (created + timedelta(days=float(planned[i]))).date()
            for j in range(12):
                at = datetime(expected.year, expected.month, expected.day) + timedelta(days=float(push_lag[i, j]), hours=9)
                if at >= closed_at or at > end:
                    break
                new = expected + timedelta(days=int(pushes[i, j]))
                fc_rows.append({"id": fc_id, "deal_id": did, "field": "expected_close_date", "old_value": expected.isoformat(),
                                "new_value": new.isoformat(), "at": at, "by": owner_name})
                fc_id += 1
                expected = new
            deal_rows.append({
                "id": did, "external_id": f"{tag}-D{i + 1}", "name": f"{PRODUCTS[product[i]][0]} for Account {tag}-{account[i] + 1}",
                "account_id": account_ids[account[i]], "owner_id": owner_ids[owner[i]], "pipeline_id": pipeline_id,
                "stage_id": stage_id[stage_names[final]] if closed else stage_id[stage_names[cur_stage]], "status": status,
                "amount": float(amount[i]), "currency": "USD", "source": SOURCES[source[i]][0], "created_at": created,
                "expected_close_date": expected, "closed_at": closed_at if closed else None,
                "lost_reason": LOST_REASONS[reasons[i]] if closed and not won[i] else None,
                "true_probability": float(p_true[i]), "version": 1,
            })
            line_rows.append({"id": line_id, "deal_id": did, "product_id": product_ids[product[i]], "quantity": 1.0, "price": float(amount[i])})
            line_id += 1
        for table, rows in ((m.Deal.__table__, deal_rows), (m.DealProduct.__table__, line_rows), (m.StageChange.__table__, sc_rows),
                            (m.FieldChange.__table__, fc_rows), (m.Activity.__table__, act_rows)):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[k:k + 5000])
        if conn.dialect.name == "postgresql":  # explicit ids do not advance PostgreSQL's sequences
            for table in (T, O, A, P, m.Deal.__table__, m.DealProduct.__table__, m.StageChange.__table__,
                          m.FieldChange.__table__, m.Activity.__table__):
                conn.execute(select(func.setval(
                    func.pg_get_serial_sequence(table.name, "id"),
                    select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery(), False,
                )))
    return GenerateResult(
        deals=n, won=counts["won"], lost=counts["lost"], open=counts["open"], stage_changes=len(sc_rows),
        field_changes=len(fc_rows), activities=len(act_rows), start=start, end=end.date(),
        mean_true_probability=float(p_true.mean()),
    )
