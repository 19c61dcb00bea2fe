"""certificates (lab_id, certificate_number): an index for looking a lab's number up whatever the certificate's
state. The unique index on the pair is partial (certificates not superseded), which a lookup of every certificate
under a number (the verifier's: ``GET /v1/certificates?lab_id=&number=``) cannot use: it read the whole table, a
cost that grew with the ledger on every verification.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index("ix_certificates_lab_number", ["lab_id", "certificate_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_lab_number")
