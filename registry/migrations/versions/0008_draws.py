"""draws: the random inspection draws regulators published, checked against the chain, and their results

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "draws",
        sa.Column("commitment", sa.String(length=66), primary_key=True),
        sa.Column("regulator", sa.String(length=42), nullable=False),
        sa.Column("jurisdiction", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("published", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("result_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_draws_regulator", "draws", ["regulator"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_draws_regulator", table_name="draws")
    op.drop_table("draws")
