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
    assert "choose one of" in result.output
