"""Outcome words: ``files.result`` says what became of a file in words (accepted, partly
rejected, rejected, refused, duplicate, pending, parked, failed, in progress;
``ledger.outcomes``), where ``files.outcome`` only says where it was filed (archive or
quarantine) and hid a file whose declarations were all rejected behind "archive".

Existing rows get their word from the facts already recorded (state, accepted,
duplicate_of, the stored report), read and written in batches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.outcomes import outcome_word

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("result", sa.String(24), nullable=False, server_default="in progress"))
        batch.create_index("ix_files_result", ["result"])
    files = sa.table(
        "files",
        sa.column("id", sa.Integer),
        sa.column("state", sa.String),
        sa.column("accepted", sa.Boolean),
        sa.column("duplicate_of", sa.Integer),
        sa.column("summary", sa.JSON),
        sa.column("result", sa.String),
    )
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(files.c.id, files.c.state, files.c.accepted, files.c.duplicate_of, files.c.summary)
            .where(files.c.id > last)
            .order_by(files.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            word = outcome_word(
                state=row.state, accepted=row.accepted, duplicate_of=row.duplicate_of, summary=row.summary
            )
            connection.execute(sa.update(files).where(files.c.id == row.id).values(result=word))
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_index("ix_files_result")
        batch.drop_column("result")
