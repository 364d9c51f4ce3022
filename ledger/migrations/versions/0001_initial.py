"""The ledger as it was created before migrations (``create_all`` of the first tables).

A ledger created that way has no ``alembic_version`` table: ``Ledger(url)``
stamps it with this revision and upgrades from here.

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("format", sa.String(16)),
        sa.Column("accepted", sa.Boolean),
        sa.Column("summary", sa.JSON),
        sa.Column("run_id", sa.String(250)),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "interchanges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("sender_qualifier", sa.String(8), nullable=False),
        sa.Column("control_reference", sa.String(32), nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.UniqueConstraint("sender", "sender_qualifier", "control_reference"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("message_reference", sa.String(32), nullable=False),
        sa.Column("transaction_number", sa.String(14), index=True),
        sa.Column("version", sa.Integer),
        sa.Column("idempotency_key", sa.String(128), unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "sent_interchanges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("partner", sa.String(64), nullable=False, index=True),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("control_reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message_references", sa.JSON, nullable=False),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("answers_reference", sa.String(32), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("ack_action", sa.String(3)),
        sa.Column("ack_code", sa.String(3)),
        sa.Column("ack_rejections", sa.JSON),
        sa.Column("ack_file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("acknowledged_at", TZ),
        sa.UniqueConstraint("partner", "control_reference"),
    )


def downgrade() -> None:
    for table in ("sent_interchanges", "acknowledgements", "documents", "interchanges", "files"):
        op.drop_table(table)
