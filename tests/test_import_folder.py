"""`dealflow import-folder`: every file of a folder, in the order references need, in one process."""
from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from dealflow.cli.app import app
from dealflow.cli.import_cmd import folder_files
from dealflow.errors import ConfigError, ImportFailed
from dealflow.store.frames import load_history
from dealflow.synthetic.generator import generate_files


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_a_generated_folder_imports_like_its_files_one_by_one(tmp_path, file_store):
    result, _ = generate_files(tmp_path / "files", deals=300, seed=7, days=400)
    (tmp_path / "files" / "notes.txt").write_text("not data")
    out = _run("import-folder", str(tmp_path / "files"), "--db", file_store.url)
    assert out.exit_code == 0, out.output
    assert "not imported (not named for a kind): notes.txt" in out.output
    h = load_history(file_store)
    assert h.deals.height == 300
    assert h.stage_changes.height == result.stage_changes
    assert h.activities.height == result.activities
    # A second run stores nothing twice.
    again = _run("import-folder", str(tmp_path / "files"), "--db", file_store.url)
    assert again.exit_code == 0, again.output
    assert f"activities.csv (activities): {result.activities:,} row(s), 0 new, 0 updated, {result.activities:,} unchanged, 0 rejected" in again.output
    h2 = load_history(file_store)
    assert (h2.deals.height, h2.stage_changes.height, h2.activities.height) == (300, h.stage_changes.height, h.activities.height)


def test_files_go_in_reference_order_with_their_mapping_files(tmp_path):
    for name in ("activities.csv", "deals.csv.gz", "owners.parquet", "deals.toml", "README.md", "deals.csv.rejects.csv"):
        (tmp_path / name).write_text("x")
    files, ignored = folder_files(tmp_path)
    assert [(k, p.name) for k, p in files] == [("owners", "owners.parquet"), ("deals", "deals.csv.gz"), ("activities", "activities.csv")]
    assert ignored == ["README.md"]
    (tmp_path / "deals.xlsx").write_text("x")
    with pytest.raises(ConfigError, match="deals.csv.gz and deals.xlsx both hold deals; keep one"):
        folder_files(tmp_path)


def test_a_bad_file_stops_the_folder_and_is_named_with_its_row(tmp_path, file_store):
    folder = tmp_path / "in"
    folder.mkdir()
    pl.DataFrame({"name": ["Ann", "Bo"]}).write_csv(folder / "owners.csv")
    pl.DataFrame({"external_id": ["D1", "D2"], "name": ["a", "b"], "stage": ["Won", "Won"], "amount": ["10", "12x0"]}).write_csv(folder / "deals.csv")
    out = _run("import-folder", str(folder), "--db", file_store.url)
    assert isinstance(out.exception, ImportFailed)
    assert "deals.csv, row 3, column 'amount': '12x0' is not a number" in str(out.exception)
    assert load_history(file_store).deals.height == 0  # the failing file stored nothing
    assert "owners.csv (owners): 2 row(s), 2 new" in out.output
    kept = _run("import-folder", str(folder), "--db", file_store.url, "--skip-invalid")
    assert kept.exit_code == 0, kept.output
    assert "deals.csv (deals): 2 row(s), 1 new, 0 updated, 0 unchanged, 1 rejected" in kept.output
    assert pl.read_csv(folder / "deals.csv.rejects.csv")["row"].to_list() == [3]
    assert load_history(file_store).deals["external_id"].to_list() == ["D1"]


def test_mapping_files_are_checked_before_anything_is_stored(tmp_path, file_store):
    folder = tmp_path / "in"
    folder.mkdir()
    pl.DataFrame({"name": ["Ann"]}).write_csv(folder / "owners.csv")
    pl.DataFrame({"id": ["D1"], "title": ["a"], "phase": ["Won"]}).write_csv(folder / "deals.csv")
    (folder / "deals.toml").write_text('kind = "deals"\npipline = "Field sales"\n[columns]\nid = "external_id"\ntitle = "name"\nphase = "stage"\n')
    out = _run("import-folder", str(folder), "--db", file_store.url)
    assert "unknown key 'pipline'; a mapping file takes kind, pipeline, stages" in str(out.exception)
    assert load_history(file_store).owners.height == 0  # refused before the owners file was stored
    (folder / "deals.toml").write_text('kind = "deals"\npipeline = "Field sales"\n[columns]\nid = "external_id"\ntitle = "name"\nphase = "stage"\n')
    (folder / "events.csv").write_text("case,activity,time\nC1,A_SUBMITTED,2024-01-01 10:00\n")
    out = _run("import-folder", str(folder), "--db", file_store.url)
    assert "events.csv: an event log needs a mapping file events.toml beside it" in str(out.exception)
    (folder / "events.csv").unlink()
    out = _run("import-folder", str(folder), "--db", file_store.url)
    assert out.exit_code == 0, out.output
    assert "deals.csv (deals, mapping deals.toml): 1 row(s), 1 new" in out.output
    assert load_history(file_store).deals["pipeline"].to_list() == ["Field sales"]


def test_header_only_files_and_corrupt_gzip_are_clear(tmp_path, file_store):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "deals.csv").write_text("external_id,name,stage,amount\n")
    (folder / "products.csv").write_text("name,list_price\n")
    out = _run("import-folder", str(folder), "--db", file_store.url)
    assert out.exit_code == 0, out.output
    assert "note: deals.csv: no rows to import" in out.output and "deals.csv (deals): 0 row(s), 0 new" in out.output
    (folder / "accounts.csv.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 6)  # zlib: invalid block type
    out = _run("import-folder", str(folder), "--db", file_store.url)
    assert "accounts.csv.gz: not a valid gzip file" in str(out.exception)
    assert "accounts.csv.gz was not imported (files stored before it: none)" in out.output


def test_a_folder_read_again_in_another_time_zone_adds_no_stage_moves(tmp_path, file_store):
    """The same moves an hour earlier are not new moves; stored ones never become moves to themselves."""
    result, _ = generate_files(tmp_path / "files", deals=150, seed=9, days=300)
    assert _run("import-folder", str(tmp_path / "files"), "--db", file_store.url).exit_code == 0
    before = load_history(file_store).stage_changes
    for zone in ("Europe/Berlin", "America/New_York"):  # stored moves shifted back, then forward
        out = _run("import-folder", str(tmp_path / "files"), "--db", file_store.url, "--timezone", zone)
        assert out.exit_code == 0, out.output
        after = load_history(file_store).stage_changes
        assert after.height == before.height == result.stage_changes
        assert after.filter(pl.col("from_stage") == pl.col("to_stage")).height == 0
        assert after.select("deal_id", "to_stage", "at").equals(before.select("deal_id", "to_stage", "at"))


def test_a_folder_given_to_import_and_a_wrong_kind_in_a_mapping_file_are_named(tmp_path):
    from dealflow.errors import DealflowError
    from dealflow.ingest import load_mapping, read_table

    with pytest.raises(DealflowError, match="is a folder; import a folder of files named by kind with `dealflow import-folder"):
        read_table(tmp_path)
    (tmp_path / "deals.toml").write_text('kind = "deal"\n')
    with pytest.raises(DealflowError, match=r"mapping file .*deals.toml: unknown kind 'deal'; choose one of: accounts"):
        load_mapping(tmp_path / "deals.toml")
