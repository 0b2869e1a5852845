"""A backup taken from a live store restores every row, on SQLite and on PostgreSQL."""
import shutil

import pytest

from dealflow.store.backup import backup, restore
from dealflow.store.frames import load_history

from tests.factories import add_deal


def test_backup_then_restore_brings_back_what_was_lost(file_store, tmp_path):
    if not file_store.is_sqlite and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    add_deal(file_store, "A", [("Qualify", "2024-01-01"), ("Won", "2024-01-09")], amount=700)
    saved = backup(file_store, tmp_path / "backup.bin")
    add_deal(file_store, "B", [("Qualify", "2024-02-01")])
    assert load_history(file_store).deals.height == 2
    restore(file_store, saved)
    h = load_history(file_store)
    assert h.deals["external_id"].to_list() == ["A"]
    assert h.stage_changes["to_stage"].to_list() == ["Qualify", "Won"]
