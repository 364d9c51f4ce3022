"""Operations: the audit trail of operator actions and the resent acknowledgements.

* operator_actions: who did what to which target, when, from where (the
  operations page, the CLI, the DAG param, the portal's approvals) and the detail
* acknowledgement_resends: an acknowledgement written again under a new name
  (the same bytes), kept apart from ``acknowledgements``: a resend is not a
  second answer
* files: reprocessed, the operator reprocess requests that sent the file back to
  the inbox (a declaration the portal refused is posted again under a fresh
  idempotency key per request, so the portal decides it anew)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("reprocessed", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_operator_actions_at", "operator_actions", ["at"])
    op.create_table(
        "acknowledgement_resends",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("acknowledgement_id", sa.Integer, sa.ForeignKey("acknowledgements.id"), nullable=False),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_acknowledgement_resends_file_id", "acknowledgement_resends", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_acknowledgement_resends_file_id", "acknowledgement_resends")
    op.drop_table("acknowledgement_resends")
    op.drop_index("ix_operator_actions_at", "operator_actions")
    op.drop_table("operator_actions")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("reprocessed")
