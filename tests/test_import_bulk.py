"""Columnar import of stage histories and activities (issue #9): exact results, idempotent
re-imports, updates found by comparing with what is stored, and all-or-nothing failures."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select, text

from dealflow.errors import ImportFailed
from dealflow.ingest.runner import run_import
from dealflow.store import models as m
from dealflow.store.bulk import insert_frame, select_frame
from dealflow.store.revision import revision

STAGES = ["Qualify", "Develop", "Propose", "Won", "Lost"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _dump(store) -> dict[str, list[tuple]]:
    """Every row of the tables an import writes (and SQLite's triggers), for before/after comparisons."""
    with store.session() as s:
        out = {
            t.__tablename__: sorted(tuple(r) for r in s.execute(select(*t.__table__.columns)).all())
            for t in (m.Deal, m.StageChange, m.Activity, m.Stage, m.Pipeline, m.ImportRun)
        }
        if store.is_sqlite:
            # Bulk writes set triggers and indexes aside inside their transaction: both must come back.
            out["schema"] = sorted(tuple(r) for r in s.execute(text("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index')")))
        return out


def _deals(tmp_path: Path, n: int) -> Path:
    rows = "\n".join(f"D{i},Deal {i},Qualify,2024-01-01" for i in range(n))
    return _write(tmp_path / "deals.csv", "id,name,stage,created\n" + rows + "\n")


def _history(n: int) -> str:
    """Deal i walks Qualify -> Develop -> Propose, then deal i % 3 == 0 is won, == 1 lost, == 2 stays open."""
    lines = []
    for i in range(n):
        day = 1 + i % 20
        lines += [f"D{i},Qualify,2024-02-{day:02d} 09:00:00", f"D{i},Develop,2024-02-{day:02d} 10:00:00",
                  f"D{i},Propose,2024-02-{day:02d} 11:00:00"]
        if i % 3 == 0:
            lines.append(f"D{i},Won,2024-03-{day:02d} 12:00:00")
        elif i % 3 == 1:
            lines.append(f"D{i},Lost,2024-03-{day:02d} 12:00:00")
    return "deal,stage,date\n" + "\n".join(lines) + "\n"


def test_stage_history_links_stages_and_sets_the_current_stage(store, tmp_path):
    run_import(store, "deals", _deals(tmp_path, 300))
    result = run_import(store, "stage_history", _write(tmp_path / "h.csv", _history(300)))
    # 300 deals x 3 open stages + 100 won + 100 lost = 1,100 rows. Each deal already entered
    # Qualify (on 2024-01-01, from the deals file); entering it again at once is no move.
    assert (result.rows, result.inserted, result.unchanged) == (1100, 800, 300)
    with store.session() as s:
        stage = dict(s.execute(select(m.Stage.name, m.Stage.id)).all())
        name = {v: k for k, v in stage.items()}
        moves = s.execute(select(m.Deal.external_id, m.StageChange.from_stage_id, m.StageChange.to_stage_id, m.StageChange.at)
                          .join(m.Deal, m.Deal.id == m.StageChange.deal_id).where(m.Deal.external_id == "D4")
                          .order_by(m.StageChange.at)).all()
        assert [(name.get(f), name[t], at) for _, f, t, at in moves] == [
            (None, "Qualify", datetime(2024, 1, 1)),
            ("Qualify", "Develop", datetime(2024, 2, 5, 10)),
            ("Develop", "Propose", datetime(2024, 2, 5, 11)),
            ("Propose", "Lost", datetime(2024, 3, 5, 12)),
        ]
        by_status = dict(s.execute(select(m.Deal.status, func.count()).group_by(m.Deal.status)).all())
        assert by_status == {"won": 100, "lost": 100, "open": 100}
        d3 = s.execute(select(m.Deal.stage_id, m.Deal.closed_at).where(m.Deal.external_id == "D3")).one()
        d5 = s.execute(select(m.Deal.stage_id, m.Deal.closed_at).where(m.Deal.external_id == "D5")).one()
    assert (name[d3.stage_id], d3.closed_at) == ("Won", datetime(2024, 3, 4, 12))
    assert (name[d5.stage_id], d5.closed_at) == ("Propose", None)


def test_reimporting_an_unchanged_history_changes_nothing(store, tmp_path):
    run_import(store, "deals", _deals(tmp_path, 200))
    history = _write(tmp_path / "h.csv", _history(200))
    run_import(store, "stage_history", history)
    before = _dump(store)
    again = run_import(store, "stage_history", history)
    assert (again.inserted, again.unchanged) == (0, again.rows)
    after = _dump(store)
    assert after["import_runs"][:-1] == before["import_runs"]  # one more run recorded, nothing else
    assert {k: v for k, v in after.items() if k != "import_runs"} == {k: v for k, v in before.items() if k != "import_runs"}


def test_new_rows_between_stored_ones_are_linked_both_ways(store, tmp_path):
    """A move found later between two stored ones follows the one before, and the one after now follows it."""
    run_import(store, "deals", _write(tmp_path / "d.csv", "id,stage,created\nA,Qualify,2024-01-01\n"))
    run_import(store, "stage_history", _write(tmp_path / "h1.csv", "deal,stage,date\nA,Propose,2024-01-10\n"))
    run_import(store, "stage_history", _write(tmp_path / "h2.csv", "deal,stage,date\nA,Develop,2024-01-05\nA,Won,2024-01-20\n"))
    with store.session() as s:
        name = {v: k for k, v in s.execute(select(m.Stage.name, m.Stage.id)).all()}
        rows = s.execute(select(m.StageChange.from_stage_id, m.StageChange.to_stage_id).order_by(m.StageChange.at)).all()
        deal = s.execute(select(m.Deal.stage_id, m.Deal.status, m.Deal.closed_at)).one()
    assert [(name.get(f), name[t]) for f, t in rows] == [(None, "Qualify"), ("Qualify", "Develop"), ("Develop", "Propose"), ("Propose", "Won")]
    assert (name[deal.stage_id], deal.status, deal.closed_at) == ("Won", "won", datetime(2024, 1, 20))


def test_equal_times_keep_the_file_order(store, tmp_path):
    run_import(store, "deals", _write(tmp_path / "d.csv", "id,stage,created\nA,Qualify,2024-01-01\n"))
    run_import(store, "stage_history", _write(tmp_path / "h.csv", "deal,stage,date,lost reason\nA,Develop,2024-01-05\nA,Lost,2024-01-05,price\n"))
    with store.session() as s:
        name = {v: k for k, v in s.execute(select(m.Stage.name, m.Stage.id)).all()}
        deal = s.execute(select(m.Deal.stage_id, m.Deal.lost_reason)).one()
    assert (name[deal.stage_id], deal.lost_reason) == ("Lost", "price")


def test_activities_insert_then_update_only_what_changed(store, tmp_path):
    run_import(store, "deals", _deals(tmp_path, 50))
    rows = [f"X{i},D{i % 50},call,Call {i},2024-02-01 10:{i % 60:02d}:00" for i in range(120)]
    first = run_import(store, "activities", _write(tmp_path / "a.csv", "id,deal,type,subject,date\n" + "\n".join(rows) + "\n"))
    assert (first.inserted, first.updated, first.unchanged) == (120, 0, 0)
    rows[7] = "X7,D7,meeting,Call 7,2024-02-01 10:07:00"   # kind changed
    rows[8] = "X8,D9,call,Call 8,2024-02-01 10:08:00"      # moved to another deal
    rows.append("X500,D1,email,Hello,2024-02-02 08:00:00")  # new
    second = run_import(store, "activities", _write(tmp_path / "a.csv", "id,deal,type,subject,date\n" + "\n".join(rows) + "\n"))
    assert (second.inserted, second.updated, second.unchanged) == (1, 2, 118)
    with store.session() as s:
        got = s.execute(select(m.Activity.external_id, m.Deal.external_id, m.Activity.kind, m.Activity.at)
                        .join(m.Deal, m.Deal.id == m.Activity.deal_id).where(m.Activity.external_id.in_(["X7", "X8", "X500"]))
                        .order_by(m.Activity.external_id)).all()
        total = s.scalar(select(func.count()).select_from(m.Activity))
    assert [tuple(r) for r in got] == [("X500", "D1", "email", datetime(2024, 2, 2, 8)), ("X7", "D7", "meeting", datetime(2024, 2, 1, 10, 7)),
                                       ("X8", "D9", "call", datetime(2024, 2, 1, 10, 8))]
    assert total == 121
    third = run_import(store, "activities", tmp_path / "a.csv")
    assert (third.inserted, third.updated, third.unchanged) == (0, 0, 121)


def test_activities_without_ids_are_keyed_by_deal_kind_and_time(store, tmp_path):
    run_import(store, "deals", _deals(tmp_path, 2))
    path = _write(tmp_path / "a.csv", "deal,type,date\nD0,call,2024-02-01 10:00:00\nD1,email,2024-02-01 10:00:00.250000\n")
    assert run_import(store, "activities", path).inserted == 2
    assert run_import(store, "activities", path).unchanged == 2
    with store.session() as s:
        ids = sorted(s.scalars(select(m.Activity.external_id)))
    assert ids == ["D0|call|2024-02-01T10:00:00", "D1|email|2024-02-01T10:00:00.250000"]


def test_a_failing_write_leaves_the_store_as_it_was(store, tmp_path, monkeypatch):
    run_import(store, "deals", _deals(tmp_path, 300))
    run_import(store, "stage_history", _write(tmp_path / "h.csv", _history(100)))
    before = _dump(store)

    import dealflow.ingest.writers as writers

    def broken(*args, **kwargs):  # fails after the new stage changes are inserted
        raise RuntimeError("disk full")

    monkeypatch.setattr(writers, "sync_current_stage", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_import(store, "stage_history", _write(tmp_path / "h2.csv", _history(300)))  # 533 new rows: the bulk path
    assert _dump(store) == before
    monkeypatch.undo()
    # The store still works: temporary tables of the failed run are gone with it.
    # Deals 100-299: Develop and Propose each (Qualify repeats the stage they are in), 66 won, 67 lost.
    assert run_import(store, "stage_history", tmp_path / "h2.csv").inserted == 200 * 2 + 66 + 67


def test_unknown_deal_fails_the_whole_file(store, tmp_path):
    run_import(store, "deals", _deals(tmp_path, 3))
    before = _dump(store)
    with pytest.raises(ImportFailed) as err:
        run_import(store, "activities", _write(tmp_path / "a.csv", "deal,type,date\nD0,call,2024-02-01\nD9,call,2024-02-01\n"))
    assert [(p.row, p.value) for p in err.value.problems] == [(3, "D9")]
    assert _dump(store) == before


def test_frames_round_trip_like_orm_rows(store):
    """Rows written from frames read back through the ORM exactly as ORM-written rows do."""
    with store.atomic() as s:
        p = m.Pipeline(name="P")
        s.add(p)
        s.flush()
        st = m.Stage(pipeline_id=p.id, name="Qualify", position=0, kind="open", probability=0.1)
        s.add(st)
        s.flush()
        d = m.Deal(external_id="A", pipeline_id=p.id, stage_id=st.id, status="open")
        s.add(d)
        s.flush()
        s.add(m.StageChange(deal_id=d.id, to_stage_id=st.id, at=datetime(2024, 5, 6, 7, 8, 9, 123456), by="orm"))
        frame = pl.DataFrame({"deal_id": [d.id], "to_stage_id": [st.id], "at": [datetime(2024, 5, 6, 7, 8, 10)], "by": ["frame"]},
                             schema={"deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us"), "by": pl.String})
        assert insert_frame(s, "stage_changes", frame) == 1
    with store.session() as s:
        got = s.execute(select(m.StageChange.by, m.StageChange.at).order_by(m.StageChange.at)).all()
        read = select_frame(s, "stage_changes", {"by": pl.String, "at": pl.Datetime("us")})
    assert [tuple(r) for r in got] == [("orm", datetime(2024, 5, 6, 7, 8, 9, 123456)), ("frame", datetime(2024, 5, 6, 7, 8, 10))]
    assert read.sort("at").rows() == [("orm", datetime(2024, 5, 6, 7, 8, 9, 123456)), ("frame", datetime(2024, 5, 6, 7, 8, 10))]


def test_select_frame_by_few_keys_and_by_many(store):
    """Few keys go to the database as one parameter; many make it read the table and filter."""
    with store.atomic() as s:
        p = m.Pipeline(name="P")
        s.add(p)
        s.flush()
        st = m.Stage(pipeline_id=p.id, name="Qualify", position=0, kind="open", probability=0.1)
        s.add(st)
        s.flush()
        frame = pl.DataFrame({"external_id": [f"K{i}" for i in range(40)], "pipeline_id": [p.id] * 40, "stage_id": [st.id] * 40,
                              "status": ["open"] * 40, "amount": [float(i) for i in range(40)], "version": [1] * 40})
        insert_frame(s, "deals", frame)
        cols = {"external_id": pl.String, "amount": pl.Float64}
        few = select_frame(s, "deals", cols, where_in=("external_id", pl.Series(["K3", "K7", "nope", None])))
        many = select_frame(s, "deals", cols, where_in=("external_id", pl.Series([f"K{i}" for i in range(0, 40, 2)])))
    assert sorted(few.rows()) == [("K3", 3.0), ("K7", 7.0)]
    assert sorted(many["amount"].to_list()) == [float(i) for i in range(0, 40, 2)]


def _deal_file(tmp_path: Path, rows: list[str]) -> Path:
    return _write(tmp_path / "deals.csv", "id,name,stage,amount,product,created,closed,region\n" + "\n".join(rows) + "\n")


def test_deals_reimport_updates_only_what_changed(store, tmp_path):
    """300 deals (the bulk path): a second file moves one, edits one amount, changes one product and one
    extra column; every other deal is left as stored."""
    for kind, text_ in (("products", "id,name\nP1,Atlas\nP2,Beacon\n"),):
        run_import(store, kind, _write(tmp_path / f"{kind}.csv", text_))
    rows = [f"D{i},Deal {i},Qualify,{100 + i},Atlas,2024-01-01,,north" for i in range(300)]
    first = run_import(store, "deals", _deal_file(tmp_path, rows))
    assert (first.inserted, first.updated, first.unchanged) == (300, 0, 0)
    token = revision(store)
    rows[1] = "D1,Deal 1,Won,101,Atlas,2024-01-01,2024-03-01,north"   # moved and closed
    rows[2] = "D2,Deal 2,Qualify,250,Atlas,2024-01-01,,north"         # amount edited
    rows[3] = "D3,Deal 3,Qualify,103,Beacon,2024-01-01,,north"        # other product: the line is replaced
    rows[4] = "D4,Deal 4,Qualify,104,Atlas,2024-01-01,,south"         # an extra column (attribute) changed
    rows.append("D300,Deal 300,Lost,1,Atlas,2024-01-02,2024-02-02,west")
    second = run_import(store, "deals", _deal_file(tmp_path, rows), now=datetime(2024, 4, 1))
    assert (second.inserted, second.updated, second.unchanged) == (1, 3, 297)  # a product line is not a field of the deal
    assert revision(store) != token
    with store.session() as s:
        name = {v: k for k, v in s.execute(select(m.Stage.name, m.Stage.id)).all()}
        deals = {r.external_id: r for r in s.execute(select(m.Deal.external_id, m.Deal.stage_id, m.Deal.status, m.Deal.closed_at,
                                                            m.Deal.amount, m.Deal.attributes))}
        edits = s.execute(select(m.FieldChange.field, m.FieldChange.old_value, m.FieldChange.new_value, m.FieldChange.at)).all()
        lines = dict(s.execute(select(m.Deal.external_id, m.Product.name).join(m.DealProduct, m.DealProduct.deal_id == m.Deal.id)
                               .join(m.Product, m.Product.id == m.DealProduct.product_id).where(m.Deal.external_id.in_(["D2", "D3"]))).all())
        moves = s.execute(select(m.StageChange.from_stage_id, m.StageChange.to_stage_id, m.StageChange.at)
                          .join(m.Deal, m.Deal.id == m.StageChange.deal_id).where(m.Deal.external_id == "D1").order_by(m.StageChange.at)).all()
        n_lines = s.scalar(select(func.count()).select_from(m.DealProduct))
    assert (name[deals["D1"].stage_id], deals["D1"].status, deals["D1"].closed_at) == ("Won", "won", datetime(2024, 3, 1))
    assert (name[deals["D300"].stage_id], deals["D300"].status, deals["D300"].closed_at) == ("Lost", "lost", datetime(2024, 2, 2))
    assert [tuple(e) for e in edits] == [("amount", "102.0", "250.0", datetime(2024, 4, 1))]
    assert (deals["D4"].attributes, deals["D5"].attributes) == ({"region": "south"}, {"region": "north"})
    assert lines == {"D2": "Atlas", "D3": "Beacon"} and n_lines == 301
    assert [(name.get(f), name[t], at) for f, t, at in moves] == [(None, "Qualify", datetime(2024, 1, 1)), ("Qualify", "Won", datetime(2024, 3, 1))]
    third = run_import(store, "deals", tmp_path / "deals.csv")
    assert (third.inserted, third.updated, third.unchanged) == (0, 0, 301)


def test_a_failing_deals_write_leaves_the_store_as_it_was(store, tmp_path, monkeypatch):
    run_import(store, "deals", _deals(tmp_path, 50))
    before = _dump(store)

    import dealflow.ingest.deals as deals

    def broken(*args, **kwargs):  # fails after 300 deals went in with their indexes and trigger set aside
        raise RuntimeError("disk full")

    monkeypatch.setattr(deals, "_write_deal_history", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_import(store, "deals", _deals(tmp_path, 350))
    assert _dump(store) == before


def test_a_row_the_database_refuses_mid_batch_undoes_the_batch(store, tmp_path):
    """The 500th row of a bulk insert names no stored deal: the rows before it, and the indexes and
    trigger set aside for the insert, are all as they were."""
    run_import(store, "deals", _deals(tmp_path, 3))
    before = _dump(store)
    with store.session() as s:
        deal, stage = s.execute(select(m.Deal.id, m.Deal.stage_id)).first()
    n = 500
    frame = pl.DataFrame({"deal_id": [deal] * (n - 1) + [10_000], "to_stage_id": [stage] * n,
                          "at": [datetime(2024, 1, 2, 0, i // 60, i % 60) for i in range(n)]},
                         schema={"deal_id": pl.Int64, "to_stage_id": pl.Int64, "at": pl.Datetime("us")})
    with pytest.raises(Exception, match="(?i)foreign key"):
        with store.atomic() as s:
            insert_frame(s, "stage_changes", frame)
    assert _dump(store) == before


def test_after_a_bulk_insert_rebuilt_the_indexes_ids_stay_unique(store, tmp_path):
    """A first import of 400 activities rebuilds the plain indexes after the insert; the UNIQUE
    ones are never set aside: a second import finds every row, and a repeated id is refused."""
    run_import(store, "deals", _deals(tmp_path, 40))
    path = _write(tmp_path / "a.csv", "id,deal,type,date\n" + "\n".join(f"X{i},D{i % 40},call,2024-02-01" for i in range(400)) + "\n")
    before = _dump(store)
    assert run_import(store, "activities", path).inserted == 400
    assert run_import(store, "activities", path).unchanged == 400
    if store.is_sqlite:
        assert _dump(store)["schema"] == before["schema"]
    with store.session() as s:
        deal = s.scalar(select(m.Deal.id).where(m.Deal.external_id == "D1"))
        assert s.scalar(select(func.count()).select_from(m.Activity).where(m.Activity.deal_id == deal)) == 10
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        with store.atomic() as s:
            insert_frame(s, "activities", pl.DataFrame({"external_id": ["X7"], "deal_id": [deal], "kind": ["call"],
                                                         "at": [datetime(2024, 3, 1)]}))
