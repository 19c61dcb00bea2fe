"""certificates (lab_id, seq): a lab's certificates in acceptance order. With 0012's (lab_id, certificate_number)
alone, SQLite answered a lab's listing page, and each chunk of the worker's anomaly scan of a lab, through that
index and a sort of every certificate of the lab (a cost that grew with the ledger) instead of walking the
acceptance order from the cursor.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index("ix_certificates_lab_seq", ["lab_id", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_lab_seq")
