"""activities and stage changes: their unique keys become named unique indexes

A table constraint cannot be dropped in SQLite; an index can. Bulk imports set these two
indexes aside while they append millions of rows and build them once afterwards, from
sorted keys (746,509 activities: 4.1 s of B-tree inserts at random text keys against 0.3 s
to build the index). Both tables are leaves (nothing references them), so rebuilding them
on SQLite is safe with foreign keys on.

Revision ID: 0003_unique_keys_as_indexes
Revises: 0002_exchange_rates
"""
import re

from alembic import op
import sqlalchemy as sa


revision = "0003_unique_keys_as_indexes"
down_revision = "0002_exchange_rates"
branch_labels = None
depends_on = None

# table -> (unique index, its columns, the PostgreSQL constraint it replaces)
KEYS = {
    "activities": ("uq_activities_external_id", ["external_id"], "activities_external_id_key"),
    "stage_changes": ("uq_stage_change", ["deal_id", "at", "to_stage_id"], "uq_stage_change"),
}


def _rebuild_without_unique(table: str) -> None:
    """SQLite: copy ``table`` into one whose CREATE statement lacks the UNIQUE clause."""
    conn = op.get_bind()
    create = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}).scalar_one()
    indexes = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"),
                           {"t": table}).scalars().all()
    bare = re.sub(r",\s*(CONSTRAINT \w+ )?UNIQUE \([^)]*\)", "", create, count=1)
    op.execute(bare.replace(f"CREATE TABLE {table} (", f"CREATE TABLE _new_{table} (", 1))
    op.execute(f"INSERT INTO _new_{table} SELECT * FROM {table}")
    op.execute(f"DROP TABLE {table}")  # its triggers go with it; Store.upgrade re-creates them
    op.execute(f"ALTER TABLE _new_{table} RENAME TO {table}")
    for sql in indexes:
        op.execute(sql)


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    for table, (index, columns, constraint) in KEYS.items():
        if any(i["name"] == index and not i.get("duplicates_constraint") for i in sa.inspect(conn).get_indexes(table)):
            continue  # a schema made by the models as they are now
        if sqlite:
            _rebuild_without_unique(table)
        else:
            op.drop_constraint(constraint, table, type_="unique")
        op.create_index(index, table, columns, unique=True)


def downgrade() -> None:
    for table, (index, columns, constraint) in KEYS.items():
        op.drop_index(index, table)
        with op.batch_alter_table(table) as batch:
            batch.create_unique_constraint(constraint, columns)
