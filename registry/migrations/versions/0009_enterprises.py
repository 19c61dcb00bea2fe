"""enterprises, sites, instruments (强检器具备案); enterprise API tokens; what links a certificate to a registered
instrument (manufacturer, asset number, customer USCI) and its validity date, on the certificate's row

Revision ID: 0009
Revises: 0008
"""

import json
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _manufacturer_key(name: str | None) -> str | None:
    # As registry.instruments.manufacturer_key reads it on the day of this migration.
    if not name:
        return None
    return re.sub(r"[\s\.,，。·()（）-]+", "", unicodedata.normalize("NFKC", name).casefold()) or None


def upgrade() -> None:
    op.create_table(
        "enterprises",
        sa.Column("usci", sa.String(length=18), primary_key=True),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=42), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_enterprises_region", "enterprises", ["region"])
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("usci", sa.String(length=18), sa.ForeignKey("enterprises.usci"), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("usci", "name", name="uq_sites_usci_name"),
    )
    op.create_index("ix_sites_region", "sites", ["region"])
    op.create_table(
        "instruments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("usci", sa.String(length=18), sa.ForeignKey("enterprises.usci"), nullable=False),
        sa.Column("site_id", sa.String(length=16), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("region", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("catalogue_no", sa.Integer(), nullable=True),
        sa.Column("use", sa.String(length=16), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("manufacturer", sa.String(length=256), nullable=False),
        sa.Column("manufacturer_key", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("serial_number", sa.String(length=128), nullable=False),
        sa.Column("asset_number", sa.String(length=128), nullable=True),
        sa.Column("period_months", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_instruments_usci", "instruments", ["usci"])
    op.create_index("ix_instruments_site_id", "instruments", ["site_id"])
    op.create_index("ix_instruments_region_category", "instruments", ["region", "category"])
    op.create_index("ix_instruments_serial", "instruments", ["serial_number", "manufacturer_key"])
    op.create_index("uq_instruments_usci_asset", "instruments", ["usci", "asset_number"], unique=True)
    op.create_index(
        "uq_instruments_usci_serial", "instruments", ["usci", "manufacturer_key", "serial_number"], unique=True
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usci", sa.String(length=18), nullable=True))
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manufacturer_key", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("asset_number", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("customer_usci", sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.String(length=10), nullable=True))
        batch_op.create_index("ix_certificates_customer_asset", ["customer_usci", "asset_number"], unique=False)
    # Certificates accepted before: the values are in their canonical record.
    bind = op.get_bind()
    certificates = sa.table(
        "certificates",
        sa.column("digest", sa.String),
        sa.column("record_json", sa.Text),
        sa.column("manufacturer_key", sa.String),
        sa.column("asset_number", sa.String),
        sa.column("customer_usci", sa.String),
        sa.column("valid_until", sa.String),
    )
    for digest, record_json in bind.execute(sa.select(certificates.c.digest, certificates.c.record_json)).all():
        record = json.loads(record_json)
        item = record.get("item") or {}
        bind.execute(
            certificates.update()
            .where(certificates.c.digest == digest)
            .values(
                manufacturer_key=_manufacturer_key(item.get("manufacturer")),
                asset_number=item.get("asset_number"),
                customer_usci=(record.get("customer") or {}).get("usci"),
                valid_until=(record.get("dates") or {}).get("valid_until"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_customer_asset")
        for column in ("valid_until", "customer_usci", "asset_number", "manufacturer_key"):
            batch_op.drop_column(column)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("usci")
    op.drop_table("instruments")
    op.drop_table("sites")
    op.drop_table("enterprises")
