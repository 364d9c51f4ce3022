"""Poison files: the failed attempts of a file.

* files: failures, the attempts at the file that ended in an unexpected error
  (an exception out of its flow); at the configured limit the file ends
  ``failed`` (quarantined, answered). The state is a plain string: ``failed``
  needs no schema change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("failures")
