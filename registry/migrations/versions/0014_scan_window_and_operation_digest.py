"""certificates (lab_id, issue_date, seq): where a lab's certificates of a period begin in acceptance order, so that
an anomaly scan of a lab's last 30 days starts there instead of walking every older certificate of the lab (the
scale benchmark, scripts/bench_scale.py: 81 µs per certificate of the window at a million certificates, 55 µs at
10,000, growing with the lab's history). lifecycle_ops (digest): the revocations and substitutions of a page of
certificates, which the listing reads by digest alone (the unique index is (lab_id, digest)): the whole table was
read for each page.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index("ix_certificates_lab_issue", ["lab_id", "issue_date", "seq"], unique=False)
    with op.batch_alter_table("lifecycle_ops", schema=None) as batch_op:
        batch_op.create_index("ix_lifecycle_ops_digest", ["digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lifecycle_ops", schema=None) as batch_op:
        batch_op.drop_index("ix_lifecycle_ops_digest")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_lab_issue")
