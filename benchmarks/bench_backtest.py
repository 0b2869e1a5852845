"""How long a monthly backtest of BPI 2012 takes (the acceptance target: minutes on 2 cores).

    .venv/bin/python benchmarks/bench_backtest.py              # loads the bundled sample into a temp file
    .venv/bin/python benchmarks/bench_backtest.py --db bpi.db  # reuses a store that already holds it
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dealflow.forecast.backtest import backtest
from dealflow.store import Store
from dealflow.store.frames import load_history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a store that already holds the bpi2012 sample")
    args = parser.parse_args()
    clock = time.perf_counter()
    if args.db:
        store = Store(args.db)
    else:
        from dealflow.samples import load_sample

        store = Store(str(Path(tempfile.mkdtemp()) / "bpi.db"))
        load_sample(store, "bpi2012")
    loaded = time.perf_counter() - clock
    history = load_history(store)
    clock = time.perf_counter()
    result = backtest(history, progress=lambda m: print(f"  {m} ({time.perf_counter() - clock:.0f} s)", flush=True))
    print(f"load {loaded:.1f} s; backtest over {len(result.cutoffs)} monthly cut-offs: {result.seconds:.1f} s")
    print(result.scorers)
    print(result.forecasters)


if __name__ == "__main__":
    main()
