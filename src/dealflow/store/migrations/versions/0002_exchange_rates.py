"""exchange rates: company-currency units per unit of a currency, from a date on

Revision ID: 0002_exchange_rates
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_exchange_rates"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("currency", "valid_from", name="uq_exchange_rate"),
    )


def downgrade() -> None:
    op.drop_table("exchange_rates")
