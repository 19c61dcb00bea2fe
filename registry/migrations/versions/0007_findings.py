"""findings: the anomalies the scans found (registry.scans), each kept once from the first scan that found it

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(length=64), nullable=False, unique=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("lab_id", sa.String(length=66), nullable=False),
        sa.Column("digests", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_findings_lab_id", "findings", ["lab_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_findings_lab_id", table_name="findings")
    op.drop_table("findings")
