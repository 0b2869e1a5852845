"""The store skips Alembic when the schema is already current, so that must be decided right."""
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from dealflow.store.db import HEAD_REVISION, MIGRATIONS, Store


def test_head_revision_is_alembics_newest_migration():
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_an_older_schema_is_upgraded_on_open(tmp_path):
    path = tmp_path / "old.db"
    Store(str(path)).dispose()
    old = Store(str(path), upgrade=False)
    with old.engine.begin() as conn:
        conn.execute(text("DROP TABLE exchange_rates"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    old.dispose()
    store = Store(str(path))
    assert "exchange_rates" in store.tables()
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD_REVISION
    store.dispose()
