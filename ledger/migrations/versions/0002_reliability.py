"""Recovery: claims with leases, the state history, document and acknowledgement upsert keys.

* files: claim_id, location, task, lease_until, attempts, duplicate_of, outcome, note
* file_events: every state move (from, to, run, task, note, when)
* documents: position and kind; unique (file_id, position); the idempotency key is
  no longer unique (two files may carry the same declaration version: the portal
  replays, both files record the key)
* acknowledgements: unique (file_id, location)

Revision ID: 0002
Revises: 0001
Create Date: 2025-07-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _documents_0001(metadata: sa.MetaData) -> sa.Table:
    """documents as revision 0001 made it, minus the unique idempotency key: SQLite
    cannot drop an inline UNIQUE, so the batch copies the table from this definition."""
    sa.Table("files", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return sa.Table(
        "documents",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id")),
        sa.Column("message_reference", sa.String(32), nullable=False),
        sa.Column("transaction_number", sa.String(14), index=True),
        sa.Column("version", sa.Integer),
        sa.Column("idempotency_key", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", TZ, nullable=False),
    )


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("claim_id", sa.String(64)))
        batch.add_column(sa.Column("location", sa.String(1024)))
        batch.add_column(sa.Column("task", sa.String(250)))
        batch.add_column(sa.Column("lease_until", TZ))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("duplicate_of", sa.Integer))
        batch.add_column(sa.Column("outcome", sa.String(16)))
        batch.add_column(sa.Column("note", sa.Text))
    op.create_index("ix_files_lease_until", "files", ["lease_until"])

    op.create_table(
        "file_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.Column("task", sa.String(250)),
        sa.Column("note", sa.Text),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_file_events_file_id", "file_events", ["file_id"])

    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("documents", recreate="always", copy_from=_documents_0001(sa.MetaData())) as batch:
            batch.add_column(sa.Column("position", sa.Integer))
            batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="declaration"))
        indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("documents")}
        if "ix_documents_transaction_number" not in indexes:  # the copy does not carry it over
            op.create_index("ix_documents_transaction_number", "documents", ["transaction_number"])
    else:
        for unique in sa.inspect(op.get_bind()).get_unique_constraints("documents"):
            name = unique["name"]
            if unique["column_names"] == ["idempotency_key"]:  # "documents_idempotency_key_key"
                assert name is not None, "PostgreSQL names every constraint"
                op.drop_constraint(name, "documents", type_="unique")
        op.add_column("documents", sa.Column("position", sa.Integer))
        op.add_column("documents", sa.Column("kind", sa.String(16), nullable=False, server_default="declaration"))
    op.create_index("ix_documents_file_position", "documents", ["file_id", "position"], unique=True)
    op.create_index("ix_documents_idempotency_key", "documents", ["idempotency_key"])

    # Rows written before this revision may repeat (file, location): keep the last one.
    op.execute(
        "DELETE FROM acknowledgements WHERE id NOT IN (SELECT MAX(id) FROM acknowledgements GROUP BY file_id, location)"
    )
    op.create_index("ix_acknowledgements_file_location", "acknowledgements", ["file_id", "location"], unique=True)


def downgrade() -> None:
    # The idempotency key stays non-unique: rows written since may repeat it.
    op.drop_index("ix_acknowledgements_file_location", "acknowledgements")
    op.drop_index("ix_documents_idempotency_key", "documents")
    op.drop_index("ix_documents_file_position", "documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("kind")
        batch.drop_column("position")
    op.drop_index("ix_file_events_file_id", "file_events")
    op.drop_table("file_events")
    op.drop_index("ix_files_lease_until", "files")
    with op.batch_alter_table("files") as batch:
        for column in ("note", "outcome", "duplicate_of", "attempts", "lease_until", "task", "location", "claim_id"):
            batch.drop_column(column)
