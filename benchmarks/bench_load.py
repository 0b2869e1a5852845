"""Many people on one server: concurrent clients moving and reading deals on PostgreSQL (a load test
and a lost-update check, not a unit test).

    .venv/bin/python benchmarks/bench_load.py [--seconds 60] [--clients 50] [--deals 200]
                                              [--server postgresql+psycopg://postgres@127.0.0.1/test]

Loopback only and bounded in time: it creates a fresh database on ``--server``'s PostgreSQL,
fills it with open deals, starts the app with uvicorn in a subprocess on 127.0.0.1, and runs
``--clients`` threads (httpx) for ``--seconds``. Each client either reads (a deal, or a page of
deals) or moves a deal: it reads the deal, then posts the move with the version it read; a 409
answers with the current state, and the client retries from that (up to five times).

At the end it stops the server, checks there was no lost update -- every move a client saw
succeed is in the stage history exactly once, the history holds no move nobody made, each deal's
versions went up by one per move, and each deal's stage is the last history row's -- prints
throughput and p50/p99 latency, and drops the database. Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dealflow.store import Store, crm  # noqa: E402
from dealflow.store import models as m  # noqa: E402
from dealflow.web.testing import PASSWORD, add_login  # noqa: E402
from serving import free_port, wait_until_up  # noqa: E402  (benchmarks/ is the script's folder)

STAGES = [("Lead", "open", 0.1), ("Qualified", "open", 0.3), ("Proposal", "open", 0.6), ("Negotiation", "open", 0.8),
          ("Won", "won", 1.0), ("Lost", "lost", 0.0)]
OPEN = [name for name, kind, _ in STAGES if kind == "open"]
EMAIL = "load@example.com"


def build(store: Store, n_deals: int, seed: int = 11) -> list[int]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    with store.atomic() as s:
        pipeline = crm.ensure_pipeline(s, "Sales", STAGES)
        stages = {st.name: st.id for st in s.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id))}
        s.execute(insert(m.Owner), [{"external_id": f"o{i}", "name": f"Rep {i}"} for i in range(10)])
        owners = list(s.scalars(select(m.Owner.id)))
        rows = [{"external_id": f"L{i}", "name": f"Deal {i}", "pipeline_id": pipeline.id, "stage_id": stages["Lead"],
                 "status": "open", "amount": float(rng.randrange(500, 50_000)), "owner_id": rng.choice(owners),
                 "created_at": start + timedelta(hours=i), "version": 1} for i in range(n_deals)]
        s.execute(insert(m.Deal), rows)
        ids = dict(s.execute(select(m.Deal.external_id, m.Deal.id)).all())
        s.execute(insert(m.StageChange), [{"deal_id": ids[r["external_id"]], "from_stage_id": None, "to_stage_id": stages["Lead"],
                                           "at": r["created_at"]} for r in rows])
    add_login(store, EMAIL, "admin")
    return sorted(ids.values())


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.moves: list[tuple[int, int, str, int]] = []  # (deal id, stage change id, to stage, version after)
        self.counts: Counter[str] = Counter()
        self.unknown: Counter[int] = Counter()  # moves whose answer never came (timeouts): they may or may not have happened

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.counts[f"{kind} {status}"] += 1


def client_loop(base: str, token: str, deal_ids: list[int], deadline: float, stats: Stats, seed: int) -> None:
    import httpx

    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        def call(kind: str, method: str, url: str, **kw):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                r = http.request(method, url, **kw)
            except httpx.HTTPError:
                stats.add(kind, time.perf_counter() - t0, 0)
                return None
            stats.add(kind, time.perf_counter() - t0, r.status_code)
            return r

        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.25:
                call("list", "GET", "/api/deals", params={"limit": 20, "offset": rng.randrange(0, max(1, len(deal_ids) - 20))})
                continue
            deal_id = rng.choice(deal_ids[: max(1, len(deal_ids) // 4)]) if rng.random() < 0.5 else rng.choice(deal_ids)
            r = call("read", "GET", f"/api/deals/{deal_id}")
            if roll < 0.45 or r is None or r.status_code != 200:
                continue
            deal, stage = r.json()["deal"], r.json()["stage"]
            for _ in range(5):
                target = rng.choice([s for s in OPEN if s != stage])
                moved = call("move", "POST", f"/api/deals/{deal_id}/moves", json={"stage": target, "expected_version": deal["version"]})
                if moved is None:
                    with stats.lock:
                        stats.unknown[deal_id] += 1
                    break
                if moved.status_code == 201:
                    body = moved.json()
                    with stats.lock:
                        stats.moves.append((deal_id, body["change"]["id"], body["change"]["to_stage"], body["deal"]["version"]))
                    break
                if moved.status_code != 409:
                    break
                deal = moved.json()["error"]["current"]  # someone else moved it: retry from what is there now
                reloaded = call("read", "GET", f"/api/deals/{deal_id}")
                if reloaded is None or reloaded.status_code != 200:
                    break
                deal, stage = reloaded.json()["deal"], reloaded.json()["stage"]


def verify(store: Store, stats: Stats) -> list[str]:
    problems: list[str] = []
    with store.session() as s:
        stage_names = dict(s.execute(select(m.Stage.id, m.Stage.name)).all())
        history = s.execute(select(m.StageChange.id, m.StageChange.deal_id, m.StageChange.to_stage_id)
                            .where(m.StageChange.from_stage_id.is_not(None)).order_by(m.StageChange.id)).all()
        deals = {d.id: (d.stage_id, d.version) for d in s.scalars(select(m.Deal))}
    seen = Counter(change_id for _, change_id, _, _ in stats.moves)
    twice = [c for c, n in seen.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} stage changes reported to two clients")
    by_id = {row.id: row for row in history}
    for deal_id, change_id, to_stage, _ in stats.moves:
        row = by_id.get(change_id)
        if row is None:
            problems.append(f"move {change_id} of deal {deal_id} is missing from the history")
        elif row.deal_id != deal_id or stage_names[row.to_stage_id] != to_stage:
            problems.append(f"history row {change_id} does not match the move a client made")
    reported = set(seen)
    extra = Counter(row.deal_id for row in history if row.id not in reported)
    for deal_id, n in extra.items():
        if n > stats.unknown[deal_id]:  # a move nobody made (a timed-out request may have made one)
            problems.append(f"deal {deal_id} has {n} history rows no client saw, after {stats.unknown[deal_id]} timed-out moves")
    last: dict[int, int] = {}
    per_deal: Counter[int] = Counter()
    for row in history:
        last[row.deal_id] = row.to_stage_id
        per_deal[row.deal_id] += 1
    versions: dict[int, list[int]] = defaultdict(list)
    for deal_id, _, _, version in stats.moves:
        versions[deal_id].append(version)
    for deal_id, (stage_id, version) in deals.items():
        if deal_id in last and last[deal_id] != stage_id:
            problems.append(f"deal {deal_id} is in stage {stage_id} but its last history row says {last[deal_id]}")
        if version != 1 + per_deal[deal_id]:
            problems.append(f"deal {deal_id} is at version {version} after {per_deal[deal_id]} moves")
        if not stats.unknown[deal_id] and sorted(versions[deal_id]) != list(range(2, 2 + per_deal[deal_id])):
            problems.append(f"deal {deal_id}: the moves clients saw succeed do not go up one version each")
    return problems


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the clients run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (threads)")
    parser.add_argument("--deals", type=int, default=200, help="open deals to move around")
    parser.add_argument("--server", default=os.environ.get("DEALFLOW_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test"),
                        help="a PostgreSQL database on the server to use; a fresh database is created beside it")
    args = parser.parse_args()

    name = f"dealflow_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.server.rsplit("/", 1)[0] + "/" + name
    server = None
    store = None
    try:
        store = Store(url)
        deal_ids = build(store, args.deals)
        port = free_port()
        code = ("import uvicorn; from dealflow.settings import Settings; from dealflow.store import Store; "
                "from dealflow.web import create_app; import sys; "
                "s = Settings(database_url=sys.argv[1], secret_key='load-test'); "
                "uvicorn.run(create_app(s, Store(s.database_url)), host='127.0.0.1', port=int(sys.argv[2]), "
                "log_level='warning', access_log=False)")
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
        server = subprocess.Popen([sys.executable, "-c", code, url, str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        import httpx

        if not wait_until_up(base, 20):
            print("the server did not start", file=sys.stderr)
            return 1
        token = httpx.post(base + "/api/token", data={"username": EMAIL, "password": PASSWORD}).json()["access_token"]
        stats = Stats()
        start = time.monotonic()
        deadline = start + args.seconds
        threads = [threading.Thread(target=client_loop, args=(base, token, deal_ids, deadline, stats, i), daemon=True)
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 120)
        elapsed = time.monotonic() - start
        server.terminate()
        server.wait(30)
        server = None

        total = sum(len(v) for v in stats.latency.values())
        print(f"{args.clients} clients, {elapsed:.1f} s, {args.deals} deals, PostgreSQL, uvicorn (1 process) on loopback")
        print(f"requests: {total} ({total / elapsed:.0f}/s); successful moves: {len(stats.moves)} ({len(stats.moves) / elapsed:.0f}/s); "
              f"stale moves answered 409: {stats.counts['move 409']}")
        everything = [x for v in stats.latency.values() for x in v]
        for kind in ("read", "list", "move"):
            lat = stats.latency.get(kind, [])
            print(f"  {kind:5} n={len(lat):6}  p50 {pct(lat, 0.5):7.1f} ms  p99 {pct(lat, 0.99):7.1f} ms")
        print(f"  all   n={len(everything):6}  p50 {pct(everything, 0.5):7.1f} ms  p99 {pct(everything, 0.99):7.1f} ms"
              f"  (mean {statistics.fmean(everything) * 1000 if everything else float('nan'):.1f} ms)")
        errors = {k: n for k, n in stats.counts.items() if not k.endswith((" 200", " 201", " 409"))}
        if errors:
            print(f"unexpected answers (status 0: no answer in 60 s): {errors}")
        problems = verify(store, stats)
        if problems:
            print(f"LOST UPDATES OR MISMATCHES ({len(problems)}):")
            for p in problems[:20]:
                print("  " + p)
            return 1
        print("no lost update: every successful move is in the history exactly once, versions went up one per move, "
              "and every deal's stage is its last history row's")
        return 0 if not errors else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        if store is not None:
            store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
