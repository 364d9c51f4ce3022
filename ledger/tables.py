"""Ledger tables (SQLAlchemy 2). Portable SQL: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class FileRecord(Base):
    """One inbound file (one content: a rerun or a reprocess reuses the record) and
    the state it has reached; ``file_events`` keeps every move."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    format: Mapped[str | None] = mapped_column(String(16))
    accepted: Mapped[bool | None]
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(250))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Revision 0002: where the bytes are and who holds them.
    claim_id: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(1024))  # processing/, archive/ or quarantine/ path or key
    task: Mapped[str | None] = mapped_column(String(250))  # the task (or CLI command) that moved it last
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))  # "archive" / "quarantine", decided when acknowledged
    note: Mapped[str | None] = mapped_column(Text)  # quarantine or parking reason
    # Revision 0003: attempts that ended in an unexpected error (a poison file fails at the limit).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Revision 0004: operator reprocess requests that sent the file back to the inbox.
    reprocessed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Revision 0006: the outcome in words (ledger.outcomes: accepted, partly rejected, rejected, refused...).
    result: Mapped[str] = mapped_column(String(24), default="in progress", server_default="in progress", index=True)


class FileEvent(Base):
    """One state move of a file: from, to, when, by which run and task, why."""

    __tablename__ = "file_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(250))
    task: Mapped[str | None] = mapped_column(String(250))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InterchangeRecord(Base):
    """An interchange seen from a sender: the key of duplicate detection."""

    __tablename__ = "interchanges"
    __table_args__ = (UniqueConstraint("sender", "sender_qualifier", "control_reference"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    sender: Mapped[str] = mapped_column(String(64))
    sender_qualifier: Mapped[str] = mapped_column(String(8))
    control_reference: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocumentRecord(Base):
    """One declaration (or payment) version sent to the portal (or refused before).

    Keyed by (file, position in the file's report): a rerun rewrites the rows of
    its file instead of adding more. A post is recorded as soon as the portal
    answers (position still NULL), before any acknowledgement is written."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_file_position", "file_id", "position", unique=True),
        Index("ix_documents_idempotency_key", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    message_reference: Mapped[str] = mapped_column(String(32))
    transaction_number: Mapped[str | None] = mapped_column(String(14), index=True)
    version: Mapped[int | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    position: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="declaration", server_default="declaration")


class AcknowledgementRecord(Base):
    """One acknowledgement file written to a partner's outbox (one row per file and location)."""

    __tablename__ = "acknowledgements"
    __table_args__ = (Index("ix_acknowledgements_file_location", "file_id", "location", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    kind: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SentInterchangeRecord(Base):
    """An interchange the gateway sent to a partner (CONTRL, receipt, CUSRES) and
    the partner's CONTRL verdict on it, once one arrives."""

    __tablename__ = "sent_interchanges"
    __table_args__ = (UniqueConstraint("partner", "control_reference"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner: Mapped[str] = mapped_column(String(64), index=True)
    recipient: Mapped[str] = mapped_column(String(64))  # UNB 0010 as we wrote it
    control_reference: Mapped[str] = mapped_column(String(32))  # our UNB 0020
    kind: Mapped[str] = mapped_column(String(16))  # contrl, contrl-receipt, cusres
    message_references: Mapped[list[str]] = mapped_column(JSON)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))  # the inbound file it answered
    answers_reference: Mapped[str] = mapped_column(String(32))  # UNB 0020 of the inbound interchange
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The partner's verdict (its CONTRL's UCI 0083 and UCM rejections), when received.
    ack_action: Mapped[str | None] = mapped_column(String(3))
    ack_code: Mapped[str | None] = mapped_column(String(3))
    ack_rejections: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    ack_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OperatorAction(Base):
    """One operator action (reprocess, resend, an adjustment approval...): the audit trail.

    ``source`` says where it was asked: ``page`` (the Airflow operations page),
    ``cli``, ``dag`` (the DAG's ``reprocess`` param) or ``portal``."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    who: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(256))  # "file 12", "declaration 10207000300014 v2"...
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class AcknowledgementResend(Base):
    """An acknowledgement written again to the outbox under a new name (same bytes):
    a resend, not a second acknowledgement of the file."""

    __tablename__ = "acknowledgement_resends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acknowledgement_id: Mapped[int] = mapped_column(ForeignKey("acknowledgements.id"))
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"), index=True)
    location: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    who: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WaitingRecord(Base):
    """A declaration version whose portal answer was not final (CARM 200 or 42): queried by
    transaction number until it is (backoff, deadline), then answered to the partner once
    (revision 0005): ``answered`` with the final answer, or ``expired``, told that none came by
    the deadline. ``answer`` holds what the answer needs (recipient, references, where each
    field was in the partner's file, the gateway's own warnings: ``gateway.flows.contract.PendingAnswer``)."""

    __tablename__ = "waiting"
    __table_args__ = (UniqueConstraint("transaction_number", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    partner: Mapped[str] = mapped_column(String(64), index=True)
    transaction_number: Mapped[str] = mapped_column(String(14))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)  # waiting, answered, expired
    status: Mapped[str] = mapped_column(String(16))  # the portal's latest status (the final one once answered)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_query_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    deadline: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    queries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(String(1024))  # the final (or expired) answer in the outbox
