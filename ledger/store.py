"""Ledger operations. Every state move is its own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from storage import create_database_engine

from ledger.tables import (
    AcknowledgementRecord,
    Base,
    DocumentRecord,
    FileRecord,
    InterchangeRecord,
    SentInterchangeRecord,
    utcnow,
)

RECEIPT_ACTION = "8"  # CONTRL UCI 0083 "interchange received": never overrides a verdict


class FileState:
    CLAIMED = "claimed"
    PROCESSED = "processed"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"
    RELEASED = "released"


class Ledger:
    def __init__(self, url: str) -> None:
        self.engine = create_database_engine(url)
        _create_schema(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # files ----------------------------------------------------------------
    def record_claim(self, partner: str, name: str, sha256: str, size: int, run_id: str | None) -> int:
        with self.session() as s:
            record = FileRecord(partner=partner, name=name, sha256=sha256, size=size, state=FileState.CLAIMED, run_id=run_id)
            s.add(record)
            s.flush()
            return record.id

    def move_file(self, file_id: int, state: str, **fields: Any) -> None:
        with self.session() as s:
            record = s.get_one(FileRecord, file_id)
            record.state = state
            for key, value in fields.items():
                setattr(record, key, value)

    def file(self, file_id: int) -> FileRecord:
        with self.session() as s:
            return s.get_one(FileRecord, file_id)

    def files(self, partner: str | None = None) -> list[FileRecord]:
        with self.session() as s:
            query = select(FileRecord).order_by(FileRecord.id)
            if partner:
                query = query.where(FileRecord.partner == partner)
            return list(s.scalars(query))

    # interchanges ---------------------------------------------------------
    def register_interchange(self, file_id: int | None, sender: str, qualifier: str, reference: str) -> bool:
        """Remember an interchange; False when the sender used this control
        reference before (a duplicate, ISO 9735 code 26).

        A retry of the same file after an interrupted run is not a duplicate:
        when the earlier record belongs to a file with the same content that
        never reached a final state, the record is handed to the new attempt.
        """
        try:
            with self.session() as s:
                s.add(InterchangeRecord(file_id=file_id, sender=sender, sender_qualifier=qualifier, control_reference=reference))
            return True
        except IntegrityError:
            pass
        with self.session() as s:
            earlier = s.scalars(
                select(InterchangeRecord).where(
                    InterchangeRecord.sender == sender,
                    InterchangeRecord.sender_qualifier == qualifier,
                    InterchangeRecord.control_reference == reference,
                )
            ).one()
            earlier_file = s.get(FileRecord, earlier.file_id) if earlier.file_id else None
            current_file = s.get(FileRecord, file_id) if file_id else None
            retry = (
                earlier_file is not None
                and current_file is not None
                and earlier_file.id != current_file.id
                and earlier_file.sha256 == current_file.sha256
                and earlier_file.state in (FileState.CLAIMED, FileState.RELEASED)
            )
            if retry:
                earlier.file_id = file_id
            return retry

    # documents ------------------------------------------------------------
    def record_document(self, file_id: int | None, **fields: Any) -> None:
        with self.session() as s:
            s.add(DocumentRecord(file_id=file_id, **fields))

    def documents(self, file_id: int | None = None) -> list[DocumentRecord]:
        with self.session() as s:
            query = select(DocumentRecord).order_by(DocumentRecord.id)
            if file_id is not None:
                query = query.where(DocumentRecord.file_id == file_id)
            return list(s.scalars(query))

    # acknowledgements -----------------------------------------------------
    def record_acknowledgement(self, file_id: int | None, kind: str, location: str, sha256: str) -> None:
        with self.session() as s:
            s.add(AcknowledgementRecord(file_id=file_id, kind=kind, location=location, sha256=sha256))

    def acknowledgements(self, file_id: int | None = None) -> list[AcknowledgementRecord]:
        with self.session() as s:
            query = select(AcknowledgementRecord).order_by(AcknowledgementRecord.id)
            if file_id is not None:
                query = query.where(AcknowledgementRecord.file_id == file_id)
            return list(s.scalars(query))

    # interchanges we sent -------------------------------------------------
    def record_sent_interchange(
        self,
        *,
        partner: str,
        control_reference: str,
        kind: str,
        recipient: str,
        message_references: list[str],
        file_id: int | None,
        answers_reference: str,
    ) -> None:
        """Remember an interchange we wrote. Our control references are derived
        from the inbound file, so a rerun of the same file writes the same
        reference: the existing record is kept (with any verdict on it)."""
        try:
            with self.session() as s:
                s.add(
                    SentInterchangeRecord(
                        partner=partner,
                        control_reference=control_reference,
                        kind=kind,
                        recipient=recipient,
                        message_references=list(message_references),
                        file_id=file_id,
                        answers_reference=answers_reference,
                    )
                )
        except IntegrityError:
            with self.session() as s:
                record = s.scalars(
                    select(SentInterchangeRecord).where(
                        SentInterchangeRecord.partner == partner,
                        SentInterchangeRecord.control_reference == control_reference,
                    )
                ).one()
                record.file_id = file_id
                record.message_references = list(message_references)

    def record_contrl_verdict(
        self,
        *,
        partner: str,
        control_reference: str,
        action: str,
        code: str | None,
        rejections: list[dict[str, str]],
        file_id: int | None,
    ) -> SentInterchangeRecord | None:
        """Put a partner's CONTRL verdict on the interchange it answers; None
        when we never sent that control reference to this partner. A receipt
        (action 8) never overwrites an acknowledgement (7) or rejection (4)."""
        with self.session() as s:
            record = s.scalars(
                select(SentInterchangeRecord).where(
                    SentInterchangeRecord.partner == partner,
                    SentInterchangeRecord.control_reference == control_reference,
                )
            ).one_or_none()
            if record is None:
                return None
            if not (action == RECEIPT_ACTION and record.ack_action not in (None, RECEIPT_ACTION)):
                record.ack_action = action
                record.ack_code = code or None
                record.ack_rejections = list(rejections)
                record.ack_file_id = file_id
                record.acknowledged_at = utcnow()
            s.flush()
            return record

    def sent_interchanges(self, partner: str | None = None) -> list[SentInterchangeRecord]:
        with self.session() as s:
            query = select(SentInterchangeRecord).order_by(SentInterchangeRecord.id)
            if partner:
                query = query.where(SentInterchangeRecord.partner == partner)
            return list(s.scalars(query))


def _create_schema(engine: Engine) -> None:
    """Create missing tables. Two workers starting at once may both try; the
    loser's "already exists" error is harmless, so it checks again."""
    try:
        Base.metadata.create_all(engine)
    except (OperationalError, ProgrammingError, IntegrityError):
        Base.metadata.create_all(engine)
