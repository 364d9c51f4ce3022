"""Pending outcomes: declaration versions waiting for a final answer from the portal.

* waiting: one row per (transaction, version) whose answer was not final (CARM 200
  or 42): when to query it next, until when, how often it was queried, and, once
  final, when and where the partner was answered (ledger/tables.py ``WaitingRecord``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waiting",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("transaction_number", sa.String(14), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.JSON, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_query_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("location", sa.String(1024)),
        sa.UniqueConstraint("transaction_number", "version"),
    )
    op.create_index("ix_waiting_partner", "waiting", ["partner"])
    op.create_index("ix_waiting_state", "waiting", ["state"])
    op.create_index("ix_waiting_next_query_at", "waiting", ["next_query_at"])


def downgrade() -> None:
    op.drop_table("waiting")
