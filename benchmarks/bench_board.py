"""How fast the board renders with 10,000 open deals (a benchmark, not a test).

    .venv/bin/python benchmarks/bench_board.py [--deals 10000] [--db path.db]

Builds a store of open deals spread over four open stages (plus won and lost ones), then
times GET /board through the whole app (auth, history cache, flags, Jinja): the first
request (loads the history and computes flags), warm requests (cached history, the default
500 cards per column), and the full board with every card (``?all=1``).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dealflow.store import Store, crm  # noqa: E402
from dealflow.store import models as m  # noqa: E402
from dealflow.web.testing import add_login, make_app, page_client  # noqa: E402

STAGES = [("Lead", "open", 0.1), ("Qualified", "open", 0.3), ("Proposal", "open", 0.6), ("Negotiation", "open", 0.8),
          ("Won", "won", 1.0), ("Lost", "lost", 0.0)]


def build(store: Store, n_open: int, n_closed: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    with store.atomic() as s:
        pipeline = crm.ensure_pipeline(s, "Sales", STAGES)
        stages = {st.name: st.id for st in s.scalars(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id))}
        s.execute(insert(m.Owner), [{"external_id": f"o{i}", "name": f"Rep {i}"} for i in range(40)])
        owners = list(s.scalars(select(m.Owner.id)))
        s.execute(insert(m.Account), [{"external_id": f"a{i}", "name": f"Account {i}"} for i in range(3000)])
        accounts = list(s.scalars(select(m.Account.id)))
        deals, changes = [], []
        open_names = [n for n, k, _ in STAGES if k == "open"]
        for i in range(n_open + n_closed):
            created = start + timedelta(days=rng.randrange(0, 300), hours=rng.randrange(24))
            if i < n_open:
                stage, status, closed = rng.choice(open_names), "open", None
            else:
                stage = rng.choice(["Won", "Lost"])
                status, closed = stage.lower(), created + timedelta(days=rng.randrange(5, 90))
            deals.append({"external_id": f"D{i}", "name": f"Deal {i}", "pipeline_id": pipeline.id, "stage_id": stages[stage],
                          "status": status, "amount": float(rng.randrange(500, 100_000)), "owner_id": rng.choice(owners),
                          "account_id": rng.choice(accounts), "created_at": created, "closed_at": closed, "version": 1,
                          "lost_reason": "price" if stage == "Lost" else None})
        s.execute(insert(m.Deal), deals)
        ids = dict(s.execute(select(m.Deal.external_id, m.Deal.id)).all())
        for d in deals:
            changes.append({"deal_id": ids[d["external_id"]], "from_stage_id": None, "to_stage_id": stages["Lead"], "at": d["created_at"]})
            if d["stage_id"] != stages["Lead"]:
                changes.append({"deal_id": ids[d["external_id"]], "from_stage_id": stages["Lead"], "to_stage_id": d["stage_id"],
                                "at": d["closed_at"] or d["created_at"] + timedelta(days=3), "lost_reason": d["lost_reason"]})
        s.execute(insert(m.StageChange), changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000, help="open deals on the board")
    parser.add_argument("--closed", type=int, default=5_000, help="won and lost deals besides")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default=None, help="SQLite file to build in (default: a temporary file)")
    args = parser.parse_args()

    path = args.db or str(Path(tempfile.mkdtemp()) / "bench.db")
    store = Store(path)
    t0 = time.perf_counter()
    build(store, args.deals, args.closed)
    add_login(store)
    print(f"built {args.deals:,} open + {args.closed:,} closed deals in {time.perf_counter() - t0:.2f}s ({path})")

    client, csrf = page_client(make_app(store))

    def timed(url: str) -> tuple[float, int]:
        t = time.perf_counter()
        r = client.get(url)
        assert r.status_code == 200, r.text[:500]
        return time.perf_counter() - t, len(r.content)

    first, size = timed("/board")
    print(f"GET /board, first request (loads history, computes flags): {first * 1000:.0f} ms, {size / 1024:.0f} KiB")
    warm = [timed("/board")[0] for _ in range(args.repeat)]
    print(f"GET /board, warm (500 cards per column):                 median {statistics.median(warm) * 1000:.0f} ms")
    full = [timed("/board?all=1") for _ in range(args.repeat)]
    print(f"GET /board?all=1, every one of {args.deals:,} open cards:       median "
          f"{statistics.median(t for t, _ in full) * 1000:.0f} ms, {full[0][1] / 1024:.0f} KiB")
    totals = [timed("/board/totals")[0] for _ in range(args.repeat)]
    print(f"GET /board/totals (after a drag):                          median {statistics.median(totals) * 1000:.0f} ms")
    # A write marks the moved deal: the next board merges its rows into the history held.
    deal_id = client.get("/api/deals?status=open&limit=1").json()["items"][0]["id"]
    moved = client.post(f"/api/deals/{deal_id}/moves", json={"stage": "Won"}, headers={"X-CSRF-Token": csrf})
    assert moved.status_code == 201, moved.text
    moved_totals, _size = timed("/board/totals")
    print(f"GET /board/totals right after a move:                      {moved_totals * 1000:.0f} ms")
    after_write, _size = timed("/board")
    print(f"GET /board right after a move (the deal's rows merged):    {after_write * 1000:.0f} ms")
    worst = max(statistics.median(warm), statistics.median(t for t, _ in full))
    print(f"under a second: {'yes' if worst < 1.0 else 'NO'}")


if __name__ == "__main__":
    main()
