"""certificates (lab_id, key_id, seq) where pending and not in a batch yet: what the anchoring worker batches next.
Its look-ups walked ix_certificates_pending, every pending row of a lab including the batches in flight, with a
table read per row for batch_root: under load (the registry benchmark's 150,000 certificates at 2,900/s) they were
two thirds of the worker's time.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WHERE = sa.text("status = 'PENDING' AND batch_root IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificates_unbatched",
            ["lab_id", "key_id", "seq"],
            unique=False,
            sqlite_where=_WHERE,
            postgresql_where=_WHERE,
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_unbatched")
