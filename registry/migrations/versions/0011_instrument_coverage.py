"""instrument_coverage: each registered instrument's in-force stretches and verification days, derived from its
certificates (registry.coverage_index); batches.covered_at and lifecycle_ops.covered_at, what has been brought into
it. Instruments without a row are computed by the worker (all of them, after this migration).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instrument_coverage",
        sa.Column("instrument_id", sa.Integer(), sa.ForeignKey("instruments.id"), primary_key=True),
        sa.Column("registered_day", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )
    for table in ("batches", "lifecycle_ops"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("covered_at", sa.DateTime(timezone=True), nullable=True))
        # What happened before: every instrument is computed afresh from its certificates (it has no row yet).
        op.execute(sa.text(f"UPDATE {table} SET covered_at = CURRENT_TIMESTAMP"))  # noqa: S608 - a fixed name


def downgrade() -> None:
    for table in ("lifecycle_ops", "batches"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("covered_at")
    op.drop_table("instrument_coverage")
