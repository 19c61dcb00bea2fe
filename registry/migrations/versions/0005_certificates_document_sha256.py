"""certificates.document_sha256: the SHA-256 of the original document (PDF, DCC XML) a record binds, indexed, so
that a certificate is found by its document alone (the verifier's by-document lookup)

Revision ID: 0005
Revises: 0004
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("document_sha256", sa.String(length=66), nullable=True))
        batch_op.create_index(batch_op.f("ix_certificates_document_sha256"), ["document_sha256"], unique=False)
    # Certificates accepted before: the hash is in their canonical record.
    bind = op.get_bind()
    certificates = sa.table(
        "certificates",
        sa.column("digest", sa.String),
        sa.column("record_json", sa.Text),
        sa.column("document_sha256", sa.String),
    )
    rows = bind.execute(sa.select(certificates.c.digest, certificates.c.record_json)).all()
    for digest, record_json in rows:
        bound = (json.loads(record_json).get("original_document") or {}).get("sha256")
        if bound:
            bind.execute(
                certificates.update().where(certificates.c.digest == digest).values(document_sha256=bound.lower())
            )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_document_sha256"))
        batch_op.drop_column("document_sha256")
