"""certificates.superseded_by: a certificate that never reached the chain (FAILED) may be superseded by another one
under the same number, kept for audit; a lab's number is unique among the certificates not superseded

Revision ID: 0004
Revises: 0003
"""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_LIVE = sa.text("superseded_by IS NULL")


def upgrade() -> None:
    with _documents_set_aside(), op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded_by", sa.String(length=66), nullable=True))
        batch_op.drop_constraint("uq_certificates_lab_number", type_="unique")
    op.create_index(
        "uq_certificates_lab_number_live",
        "certificates",
        ["lab_id", "certificate_number"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    # Refused (unique violation) while a superseded certificate shares its number with another one.
    op.drop_index("uq_certificates_lab_number_live", table_name="certificates")
    with _documents_set_aside(), op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_certificates_lab_number", ["lab_id", "certificate_number"])
        batch_op.drop_column("superseded_by")


@contextlib.contextmanager
def _documents_set_aside() -> Iterator[None]:
    """SQLite cannot drop a constraint: the batch operation copies the table and drops the old one, which the
    documents reference (foreign keys are on, and cannot be turned off inside the migration's transaction). Their
    rows are set aside in a temporary table meanwhile and put back after. PostgreSQL alters in place."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    columns = ", ".join(c["name"] for c in sa.inspect(bind).get_columns("documents"))
    op.execute(f"CREATE TEMPORARY TABLE _documents_0004 AS SELECT {columns} FROM documents")  # noqa: S608 - own names
    op.execute("DELETE FROM documents")
    yield
    op.execute(f"INSERT INTO documents ({columns}) SELECT {columns} FROM _documents_0004")  # noqa: S608 - own names
    op.execute("DROP TABLE _documents_0004")
