"""Exports round-trip through CSV and Parquet with the same rows as the history."""
import polars as pl
from typer.testing import CliRunner

from dealflow.cli.app import app

from tests.factories import add_deal


def test_export_deals_parquet_and_csv_as_of(file_store, tmp_path):
    add_deal(file_store, "A", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=10)
    add_deal(file_store, "B", [("Qualify", "2024-03-01")], amount=20)
    runner = CliRunner()
    out = tmp_path / "deals.parquet"
    result = runner.invoke(app, ["export", "deals", str(out), "--db", file_store.url])
    assert result.exit_code == 0, result.output
    assert sorted(pl.read_parquet(out)["external_id"]) == ["A", "B"]
    csv = tmp_path / "then.csv"
    result = runner.invoke(app, ["export", "deals", str(csv), "--db", file_store.url, "--as-of", "2024-01-15"])
    assert result.exit_code == 0, result.output
    then = pl.read_csv(csv)
    assert then.select("external_id", "status").rows() == [("A", "open")]


def test_unknown_table_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["export", "nope", str(tmp_path / "x.csv"), "--db", str(tmp_path / "x.db")])
    assert result.exit_code != 0
    assert "is not one of" in result.output


import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from dealflow.cli.export_cmd import neutralize_formulas  # noqa: E402

BIN = Path(sys.executable).parent / "dealflow"


def test_unknown_table_lists_the_tables(tmp_path):
    out = subprocess.run([str(BIN), "export", "widgets", str(tmp_path / "x.csv"), "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "'widgets' is not one of" in out.stderr and "stage_changes" in out.stderr


def test_formula_cells_are_neutralized_but_numbers_kept():
    frame = pl.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-cmd", "@SUM(A1)", "Acme", None, "a=b"], "amount": [-5.0, 1, 2, 3, 4, 5, 6]})
    out = neutralize_formulas(frame)
    assert out["name"].to_list() == ["'=HYPERLINK(\"x\")", "'+1", "'-cmd", "'@SUM(A1)", "Acme", None, "a=b"]
    assert out["amount"].to_list() == frame["amount"].to_list()


def test_csv_to_stdout_escapes_formulas_and_drops_empty_true_probability(file_store, tmp_path):
    add_deal(file_store, "=cmd|' /C calc'!A0", [("Qualify", "2024-01-01")], amount=10)
    add_deal(file_store, "B", [("Qualify", "2024-03-01")], amount=20)
    runner = CliRunner()
    result = runner.invoke(app, ["export", "deals", "-", "--db", file_store.url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("external_id,name,account,")  # the import's field names: the file imports back
    assert "true_probability" not in lines[0]
    assert any(line.startswith("'=cmd|") for line in lines[1:])
    # Parquet keeps the values as they are
    result = runner.invoke(app, ["export", "deals", str(tmp_path / "d.parquet"), "--db", file_store.url])
    assert result.exit_code == 0, result.output
    assert "=cmd|' /C calc'!A0" in pl.read_parquet(tmp_path / "d.parquet")["external_id"].to_list()


def test_true_probability_is_kept_when_a_deal_has_one(file_store, tmp_path):
    add_deal(file_store, "A", [("Qualify", "2024-01-01")], true_probability=0.25)
    result = CliRunner().invoke(app, ["export", "deals", str(tmp_path / "d.csv"), "--db", file_store.url])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(tmp_path / "d.csv")["true_probability"].to_list() == [0.25]


def test_xlsx_export_is_a_real_workbook(file_store, tmp_path):
    from openpyxl import load_workbook

    add_deal(file_store, "@A", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], amount=10)
    target = tmp_path / "deals.xlsx"
    result = CliRunner().invoke(app, ["export", "deals", str(target), "--db", file_store.url])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert sheet.title == "deals"
    header, first = rows[0], dict(zip(rows[0], rows[1]))
    assert "external_id" in header and "true_probability" not in header
    assert first["external_id"] == "'@A" and first["amount"] == 10 and first["status"] == "won"
    assert first["created_at"].year == 2024


@pytest.mark.parametrize("where", ["missing_folder", "directory"])
def test_export_into_a_missing_folder_or_a_directory_is_a_clear_error(tmp_path, where):
    target = tmp_path / "no" / "x.csv" if where == "missing_folder" else tmp_path
    out = subprocess.run([str(BIN), "export", "deals", str(target), "--db", str(tmp_path / "x.db")], capture_output=True, text=True)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert ("does not exist" if where == "missing_folder" else "is a directory") in out.stderr
