"""Web latency under load: the board and dashboard APIs with 10,000 open deals and 20 clients
(a benchmark, not a test; issue #9's target is p99 under 150 ms).

    .venv/bin/python benchmarks/bench_web.py [--seconds 30] [--clients 20] [--deals 10000] [--closed 5000]
                                             [--moves 1] [--workers 1] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
                                             [--etag] [--endpoints /api/board,/api/analyses/report,...]

Builds a store (SQLite in a temporary file, or a fresh database beside ``--pg``) with ``--deals``
open and ``--closed`` won/lost deals (benchmarks/bench_board.py's builder), starts the app the way
``dealflow serve`` does (the CLI command, uvicorn on 127.0.0.1, access log on), signs in
``--clients`` API users (one bearer token each) and has them GET the endpoints for ``--seconds``.
One more client moves a random open deal ``--moves`` times a second and then reads the board at
once (``board after move``: the cost of a write to the next reader). Every endpoint is requested
once before the clock starts (the first forecast takes seconds; that is not what this measures).

Prints p50/p90/p99/max per endpoint and requests per second; exit status 1 when a request failed.
``--etag`` makes the clients send If-None-Match with the ETag they last saw, as a browser does.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_board import build  # noqa: E402
from serving import free_port, wait_until_up  # noqa: E402

DEFAULT_ENDPOINTS = ("/api/board,/api/analyses/report,/api/analyses/funnel,/api/analyses/inspect,"
                     "/api/analyses/forecast,/api/analyses/flow")
OPEN_STAGES = ["Lead", "Qualified", "Proposal", "Negotiation"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its child processes (uvicorn's workers), from /proc."""
    def one(p: str) -> tuple[int, float]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return -1, 0.0
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    total = one(str(pid))[1]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent, seconds = one(entry)
            if parent == pid:
                total += seconds
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter[str] = Counter()

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            self.status[f"{kind} {status}"] += 1


def reader(base: str, token: str, endpoints: list[str], deadline: float, stats: Stats, seed: int, etag: bool) -> None:
    """One client: a keep-alive connection (the standard library's, lighter than httpx, so the
    clients take less of the CPU the server needs), a random endpoint after each answer."""
    import http.client
    from urllib.parse import urlsplit

    rng = random.Random(seed)
    seen: dict[str, str] = {}
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    while time.monotonic() < deadline:
        url = rng.choice(endpoints)
        headers = {"Authorization": f"Bearer {token}"}
        if etag and url in seen:
            headers["If-None-Match"] = seen[url]
        t0 = time.perf_counter()
        try:
            conn.request("GET", url, headers=headers)
            r = conn.getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            stats.add(url, time.perf_counter() - t0, 0)
            conn.close()
            conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
            continue
        stats.add(url, time.perf_counter() - t0, r.status)
        if r.getheader("etag"):
            seen[url] = r.getheader("etag")  # type: ignore[assignment]
    conn.close()


def mover(base: str, token: str, per_second: float, deadline: float, stats: Stats, board: str, seed: int) -> None:
    import httpx

    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        ids = [d["id"] for d in http.get("/api/deals", params={"status": "open", "limit": 1000}).json()["items"]]
        while time.monotonic() < deadline:
            start = time.monotonic()
            deal_id = rng.choice(ids)
            now_in = http.get(f"/api/deals/{deal_id}").json()["stage"]
            t0 = time.perf_counter()
            r = http.post(f"/api/deals/{deal_id}/moves", json={"stage": rng.choice([s for s in OPEN_STAGES if s != now_in])})
            stats.add("move", time.perf_counter() - t0, r.status_code)
            t0 = time.perf_counter()
            r = http.get(board)
            stats.add("board after move", time.perf_counter() - t0, r.status_code)
            time.sleep(max(0.0, 1.0 / per_second - (time.monotonic() - start)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20, help="concurrent reading clients (threads, one token each)")
    parser.add_argument("--deals", type=int, default=10_000, help="open deals")
    parser.add_argument("--closed", type=int, default=5_000, help="won and lost deals besides")
    parser.add_argument("--moves", type=float, default=1.0, help="moves per second by one writing client (0: none)")
    parser.add_argument("--workers", type=int, default=1, help="dealflow serve --workers")
    parser.add_argument("--endpoints", default=DEFAULT_ENDPOINTS, help="comma-separated GET paths the readers pick from")
    parser.add_argument("--etag", action="store_true", help="send If-None-Match with the last ETag seen")
    parser.add_argument("--pg", default=None, help="a PostgreSQL database URL; a fresh database is created beside it")
    parser.add_argument("--db", default=None, help="SQLite file to build in (default: a temporary file)")
    args = parser.parse_args()

    from sqlalchemy import create_engine, text

    from dealflow.store import Store
    from dealflow.web.testing import PASSWORD, add_login

    admin = None
    if args.pg:
        name = f"dealflow_web_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg.rsplit("/", 1)[0] + "/" + name
    else:
        url = args.db or str(Path(tempfile.mkdtemp(prefix="dealflow-bench-web-")) / "web.db")
    server = None
    try:
        store = Store(url)
        t0 = time.perf_counter()
        build(store, args.deals, args.closed)
        emails = [f"client{i}@example.com" for i in range(args.clients + 1)]
        for email in emails:
            add_login(store, email, "admin")
        store.dispose()
        print(f"built {args.deals:,} open + {args.closed:,} closed deals in {time.perf_counter() - t0:.1f} s "
              f"({'PostgreSQL' if args.pg else 'SQLite'})")

        port = free_port()
        command = [sys.executable, "-c", "import sys; from dealflow.cli import main; main()", "serve", "--db", url, "--port", str(port)]
        if args.workers > 1:
            command += ["--workers", str(args.workers)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DEALFLOW_SECRET_KEY": "bench-web"}
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        import httpx

        if not wait_until_up(base, 60):
            print("the server did not start", file=sys.stderr)
            return 1
        tokens = [httpx.post(base + "/api/token", data={"username": e, "password": PASSWORD}).json()["access_token"] for e in emails]
        endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
        from concurrent.futures import ThreadPoolExecutor

        def first(url_: str) -> httpx.Response:
            return httpx.get(base + url_, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=900)

        # The first computation of each is not what this measures. Several connections at once, so
        # that every worker process (which each compute their own) gets some.
        with ThreadPoolExecutor(max(1, 3 * args.workers if args.workers > 1 else 1)) as pool:
            for url_ in endpoints:
                t1 = time.perf_counter()
                answers = list(pool.map(first, [url_] * (3 * args.workers if args.workers > 1 else 1)))
                print(f"  first {url_}: {answers[0].status_code} in {(time.perf_counter() - t1) * 1000:.0f} ms, "
                      f"{len(answers[0].content) / 1024:.0f} KiB")
                if any(r.status_code != 200 for r in answers):
                    print(answers[0].text[:500], file=sys.stderr)
                    return 1

        stats = Stats()
        cpu_before = cpu_seconds(server.pid)
        start = time.monotonic()
        deadline = start + args.seconds
        threads = [threading.Thread(target=reader, args=(base, tokens[i], endpoints, deadline, stats, i, args.etag), daemon=True)
                   for i in range(args.clients)]
        if args.moves > 0:
            threads.append(threading.Thread(target=mover, args=(base, tokens[-1], args.moves, deadline, stats, endpoints[0], 99),
                                            daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 600)
        elapsed = time.monotonic() - start
        server_cpu = cpu_seconds(server.pid) - cpu_before

        total = sum(len(v) for v in stats.latency.values())
        print(f"{args.clients} clients + {'1 mover' if args.moves else 'no writes'}, {elapsed:.1f} s, "
              f"{'PostgreSQL' if args.pg else 'SQLite'}, dealflow serve ({args.workers} worker{'s' if args.workers > 1 else ''}) "
              f"on loopback, {os.cpu_count()} cores{', ETag' if args.etag else ''}")
        print(f"requests: {total} ({total / elapsed:.0f}/s); server CPU {server_cpu:.1f} s = "
              f"{server_cpu / max(total, 1) * 1000:.1f} ms per request; load average {os.getloadavg()[0]:.1f}")
        print(f"  {'endpoint':28} {'n':>6} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  (ms)")
        everything: list[float] = []
        for kind in [*endpoints, "move", "board after move"]:
            lat = stats.latency.get(kind, [])
            everything += lat if kind in endpoints else []
            if lat:
                print(f"  {kind:28} {len(lat):6} {pct(lat, .5):8.1f} {pct(lat, .9):8.1f} {pct(lat, .99):8.1f} {max(lat) * 1000:8.1f}")
        print(f"  {'all reads':28} {len(everything):6} {pct(everything, .5):8.1f} {pct(everything, .9):8.1f} "
              f"{pct(everything, .99):8.1f} {max(everything, default=0) * 1000:8.1f}")
        not_modified = sum(n for k, n in stats.status.items() if k.endswith(" 304"))
        if not_modified:
            print(f"answered 304 Not Modified: {not_modified}")
        errors = {k: n for k, n in stats.status.items() if not k.endswith((" 200", " 201", " 304"))}
        if errors:
            print(f"unexpected answers (status 0: no answer): {errors}")
        return 1 if errors else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        if not args.pg and not args.db:
            import shutil

            shutil.rmtree(Path(url).parent, ignore_errors=True)
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
