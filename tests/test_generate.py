"""The synthetic generator: realistic shape, known true probabilities, bulk speed."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.errors import DomainError
from dealflow.store.frames import load_history
from dealflow.synthetic import generate


def test_generate_writes_deals_with_history_and_true_probabilities(store):
    result = generate(store, deals=400, seed=5, days=365)
    h = load_history(store)
    assert h.deals.height == 400 == result.deals
    assert result.won + result.lost + result.open == 400
    assert h.deals["true_probability"].null_count() == 0
    assert h.deals["true_probability"].is_between(0, 1).all()
    # outcomes follow the true probabilities (mean within a few standard errors)
    closed = h.deals.filter(pl.col("status") != "open")
    won_share = (closed["status"] == "won").mean()
    assert abs(won_share - closed["true_probability"].mean()) < 0.08
    # stage history: every deal starts in Qualify; some fall back a stage
    first = h.stage_changes.group_by("deal_id").agg(pl.col("to_stage").first())
    assert set(first["to_stage"]) == {"Qualify"}
    log = h.stage_log()
    back = log.with_columns(pl.col("rank").shift(1).over("deal_id").alias("prev")).filter(
        (pl.col("rank") < pl.col("prev")) & (pl.col("kind") == "open"))
    assert back.height > 10
    # close dates slip, recorded as field changes that move the date later
    fc = h.field_changes.filter(pl.col("field") == "expected_close_date")
    assert fc.height > 20 and (fc["new_value"] > fc["old_value"]).all()
    assert set(h.activities["kind"].unique()) == {"call", "email", "meeting"}
    assert h.deals.filter(pl.col("status") == "lost")["lost_reason"].null_count() == 0
    assert h.deals["owner"].n_unique() == 24 and h.deals["product"].n_unique() == 6


def test_generate_is_reproducible_and_refuses_a_second_run_with_the_same_seed(store, file_store):
    generate(store, deals=50, seed=9, days=200)
    generate(file_store, deals=50, seed=9, days=200)
    a, b = load_history(store).deals, load_history(file_store).deals
    assert a["amount"].to_list() == b["amount"].to_list()
    with pytest.raises(DomainError, match="seed 9"):
        generate(store, deals=50, seed=9)
    generate(store, deals=50, seed=10, days=200)  # another seed adds to the same store
    assert load_history(store).deals.height == 100


@pytest.mark.slow
def test_twenty_thousand_deals_load_into_a_file_store(file_store):
    # (how fast: benchmarks/run.py and docs/benchmarks.md, not a timed test)
    result = generate(file_store, deals=20_000, seed=1)
    assert load_history(file_store).deals.height == result.deals == 20_000


def test_records_written_after_generating_get_fresh_ids(store):
    """Bulk inserts use explicit ids; later one-at-a-time writes must not collide with them."""
    from tests.factories import add_deal

    generate(store, deals=30, seed=12, days=100)
    add_deal(store, "AFTER", [("Qualify", "2024-01-01"), ("Won", "2024-01-05")], product="Widget",
             activities=[("call", "2024-01-02")])
    deals = load_history(store).deals
    assert deals.height == 31 and deals["id"].n_unique() == 31


# -- scale-independent shape of the columnar simulation and of the import-ready files ---------------

def _simulate(deals: int, seed: int):  # type: ignore[no-untyped-def]
    from dealflow.synthetic.generator import simulate

    return simulate(deals=deals, seed=seed)


@pytest.mark.parametrize("deals", [3_000, 30_000])
def test_each_deal_has_about_ten_events_and_a_consistent_path_at_any_size(deals):
    syn = _simulate(deals, seed=3)
    r = syn.result
    events = (r.stage_changes + r.activities) / deals
    assert 9.0 < events < 13.0  # "about ten stage and activity events each", whatever the size
    assert r.won + r.lost + r.open == deals == syn.deals.height
    sc = syn.stage_changes
    # every path starts in Qualify at creation; a closed deal's last change is Won/Lost at its close
    first = sc.group_by("deal").agg(pl.col("stage").first(), pl.col("at").first()).sort("deal")
    assert (first["stage"] == 0).all() and first["at"].equals(syn.deals.sort("deal")["created_at"].alias("at"))
    last = sc.group_by("deal").agg(pl.col("stage").last(), pl.col("at").last(), pl.col("lost_reason").last()).sort("deal")
    closed = syn.deals.sort("deal").with_columns(last["stage"].alias("last_stage"), last["at"].alias("last_at"))
    done = closed.filter(pl.col("status") != "open")
    assert (done["last_stage"] == pl.Series(done["status"]).replace_strict({"won": 4, "lost": 5})).all()
    assert (done["last_at"] == done["closed_at"]).all()
    assert closed.filter(pl.col("status") == "open")["last_stage"].is_between(0, 3).all()
    # nothing after the window's end is known; histories are in time order
    window_end = pl.datetime(2024, 1, 1)
    assert syn.activities.select((pl.col("at") <= window_end).all()).item()
    assert sc.select((pl.col("at").diff().over("deal").fill_null(pl.duration(seconds=0)) > pl.duration(seconds=0))
                     | (pl.col("at").diff().over("deal").is_null())).to_series().all()
    # outcome follows the true probability at scale too
    won_share = r.won / (r.won + r.lost)
    p_closed = syn.deals.filter(pl.col("status") != "open")["true_probability"].mean()
    assert abs(won_share - p_closed) < 3 * (0.25 / (r.won + r.lost)) ** 0.5 + 0.01


def test_files_map_with_no_options_and_import_to_the_same_store_as_generate(tmp_path, store, file_store):
    from dealflow.ingest import read_table, run_import
    from dealflow.ingest.mapping import resolve_mapping
    from dealflow.synthetic.generator import FILE_KINDS, generate_files

    result, paths = generate_files(tmp_path / "files", deals=300, seed=7, days=400)
    assert list(paths) == list(FILE_KINDS)
    for kind, path in paths.items():
        headers = [c for c in read_table(path).columns if c != "__row__"]
        used = resolve_mapping(kind, headers, mapping=None, overrides={})
        assert sorted(used.columns) == sorted(headers), f"{kind}: unmapped {set(headers) - set(used.columns)}"
        run_import(file_store, kind, path)
    generate(store, deals=300, seed=7, days=400)
    a, b = load_history(file_store), load_history(store)
    cols = ["external_id", "status", "stage", "amount", "created_at", "closed_at", "lost_reason", "owner", "product", "expected_close_date"]
    assert a.deals.select(cols).sort("external_id").equals(b.deals.select(cols).sort("external_id"))
    key = ["deal", "from_stage", "to_stage", "at", "lost_reason"]

    def changes(h):  # type: ignore[no-untyped-def]
        ext = h.deals.select(pl.col("id").alias("deal_id"), pl.col("external_id").alias("deal"))
        return h.stage_changes.join(ext, on="deal_id").select(key).sort("deal", "at")

    assert changes(a).height == result.stage_changes
    assert changes(a).equals(changes(b))
    assert a.activities.height == result.activities == b.activities.height
    assert a.stages.filter(pl.col("pipeline") == "Synthetic sales").sort("position")["name"].to_list() == \
        ["Qualify", "Develop", "Propose", "Negotiate", "Won", "Lost"]


def test_parquet_files_hold_the_same_rows_as_csv(tmp_path):
    from dealflow.synthetic.generator import generate_files

    _, csv = generate_files(tmp_path / "c", deals=200, seed=4, days=300)
    _, pq = generate_files(tmp_path / "p", deals=200, seed=4, days=300, fmt="parquet")
    for kind in csv:
        a = pl.read_csv(csv[kind], infer_schema=False)
        b = pl.read_parquet(pq[kind])
        assert a.columns == b.columns and a.height == b.height
    deals = pl.read_parquet(pq["deals"])
    assert deals.schema["created_at"] == pl.Datetime("us") and deals["external_id"][0] == "SYN4-D1"
    with pytest.raises(DomainError, match="csv or parquet"):
        generate_files(tmp_path / "x", deals=10, fmt="xlsx")  # type: ignore[arg-type]
