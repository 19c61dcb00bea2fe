"""citations: each certificate's reference standards by their certificates' digests, indexed by the cited digest,
so that everything depending on a standard's certificate is found by a recursive query (registry.impact)

Revision ID: 0006
Revises: 0005
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citations",
        sa.Column("citing_digest", sa.String(length=66), sa.ForeignKey("certificates.digest"), primary_key=True),
        sa.Column("cited_digest", sa.String(length=66), primary_key=True),
    )
    op.create_index("ix_citations_cited_digest", "citations", ["cited_digest"], unique=False)
    # Certificates accepted before: their standards are in their canonical record.
    bind = op.get_bind()
    certificates = sa.table("certificates", sa.column("digest", sa.String), sa.column("record_json", sa.Text))
    citations = sa.table("citations", sa.column("citing_digest", sa.String), sa.column("cited_digest", sa.String))
    rows = []
    for digest, record_json in bind.execute(sa.select(certificates.c.digest, certificates.c.record_json)).all():
        cited = {
            str(s["certificate_digest"]).lower()
            for s in json.loads(record_json).get("standards_used") or []
            if s.get("certificate_digest")
        }
        rows += [{"citing_digest": digest, "cited_digest": c} for c in sorted(cited)]
    if rows:
        bind.execute(citations.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_citations_cited_digest", table_name="citations")
    op.drop_table("citations")
