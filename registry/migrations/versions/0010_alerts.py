"""alerts: what enterprises watch (watches), where they are told (webhooks), what they are told (alerts: the
feed) and the webhooks' outbox (deliveries); lifecycle_ops.alerted_at; alert_marks (what the producer last saw)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("usci", sa.String(length=18), sa.ForeignKey("enterprises.usci"), nullable=False),
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("note", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("usci", "digest", name="uq_watches_usci_digest"),
    )
    op.create_index("ix_watches_digest", "watches", ["digest"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("usci", sa.String(length=18), sa.ForeignKey("enterprises.usci"), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhooks_usci", "webhooks", ["usci"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("usci", sa.String(length=18), sa.ForeignKey("enterprises.usci"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("usci", "key", name="uq_alerts_usci_key"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("alert_id", "webhook_id", name="uq_deliveries_alert_webhook"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "alert_marks",
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("lifecycle_ops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
    # Operations done before alerts existed had no watchers to tell: mark them, so nobody is told of old news.
    op.execute("UPDATE lifecycle_ops SET alerted_at = done_at WHERE state = 'DONE'")


def downgrade() -> None:
    with op.batch_alter_table("lifecycle_ops", schema=None) as batch_op:
        batch_op.drop_column("alerted_at")
    for table in ("alert_marks", "deliveries", "alerts", "webhooks", "watches"):
        op.drop_table(table)
