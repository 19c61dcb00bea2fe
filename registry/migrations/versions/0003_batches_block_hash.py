"""batches.block_hash: the hash of the block that holds a batch's anchor, to notice a node that lost or replaced it;
an index on batches.block_number

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: batches anchored before this revision have no recorded hash (their block number is still checked).
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("block_hash", sa.String(length=66), nullable=True))
        # The worker looks up the highest anchored block every second.
        batch_op.create_index(batch_op.f("ix_batches_block_number"), ["block_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_block_number"))
        batch_op.drop_column("block_hash")
