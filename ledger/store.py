"""Ledger operations. Every state move is its own transaction, with its history row
(a file's first post answer and its ``posted`` move, its documents and its
``acknowledged`` move, are each one transaction). SQLite runs in WAL mode
(``storage.create_database_engine``).

Schema: Alembic migrations in ``ledger/migrations`` (``Ledger(url)`` upgrades to
head on first use, under a lock: PostgreSQL advisory lock, a file lock beside a
SQLite database). Claims and take-overs lock the file row: ``SELECT … FOR UPDATE
SKIP LOCKED`` on PostgreSQL; on SQLite every ledger transaction starts with
``BEGIN IMMEDIATE`` (one writer at a time), which gives the same guarantee.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, insert, inspect, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledger.outcomes import outcome_word
from ledger.tables import (
    AcknowledgementRecord,
    AcknowledgementResend,
    DocumentRecord,
    FileEvent,
    FileRecord,
    InterchangeRecord,
    OperatorAction,
    SentInterchangeRecord,
    WaitingRecord,
    utcnow,
)
from storage import create_database_engine

if TYPE_CHECKING:  # alembic is imported when a schema is upgraded, not with the ledger
    from alembic.config import Config

log = logging.getLogger(__name__)

RECEIPT_ACTION = "8"  # CONTRL UCI 0083 "interchange received": never overrides a verdict
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_INSERT_BATCH = 1000  # document rows per INSERT of record_documents
_MIGRATION_LOCK_KEY = 0x4341524D4C4447  # "CARMLDG": pg_advisory_lock key of schema upgrades


class FileState:
    """received → claimed → parsed → posted → acknowledged → archived, or quarantined.

    ``parked``: the portal is unavailable; the file waits in processing/ until its
    lease (the park delay) ends or an operator reprocesses it. ``released``: put
    back in the inbox after an error (or by an operator); the next claim of the
    same content reuses the record. ``failed``: an unexpected error (an exception
    out of its flow) ended as many attempts as the limit allows ("failed: internal
    error"): quarantined and answered, never retried unless an operator asks."""

    RECEIVED = "received"
    CLAIMING = "claiming"  # recorded before the move into processing/, confirmed after it
    CLAIMED = "claimed"
    PARSED = "parsed"
    POSTED = "posted"
    ACKNOWLEDGED = "acknowledged"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"
    PARKED = "parked"
    RELEASED = "released"
    FAILED = "failed"

    IN_FLIGHT = ("claiming", "claimed", "parsed", "posted", "acknowledged")
    """Held by a worker under a lease; resumable once the lease has ended."""
    RESUMABLE = (*IN_FLIGHT, "parked")
    FINAL = ("archived", "quarantined", "failed")
    REUSABLE = ("released", "parked")
    """A new delivery of the same content continues this record instead of starting one."""


@dataclass(frozen=True)
class Claim:
    file_id: int
    received_at: dt.datetime
    resumed: bool = False  # an earlier record of the same content was continued
    duplicate_of: int | None = None  # the content was already answered (or is being answered) as this file


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back (stored UTC); PostgreSQL aware ones in the session zone."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.engine = create_database_engine(url)  # a file-backed SQLite ledger in WAL mode (storage/engines.py)
        if self.sqlite:
            _serialize_sqlite(self.engine)
        upgrade_schema(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # files ----------------------------------------------------------------
    def _move(
        self,
        s: Session,
        record: FileRecord,
        state: str,
        *,
        run_id: str | None = None,
        task: str | None = None,
        note: str | None = None,
    ) -> None:
        s.add(
            FileEvent(
                file_id=record.id,
                from_state=record.state,
                to_state=state,
                run_id=run_id or record.run_id,
                task=task or record.task,
                note=note,
            )
        )
        record.state = state
        record.updated_at = utcnow()
        record.result = outcome_word(
            state=state, accepted=record.accepted, duplicate_of=record.duplicate_of, summary=record.summary
        )
        if run_id:
            record.run_id = run_id
        if task:
            record.task = task

    def claim_file(
        self,
        partner: str,
        name: str,
        sha256: str,
        size: int,
        *,
        run_id: str | None = None,
        task: str | None = None,
        claim_id: str | None = None,
        location: str | None = None,
        lease_seconds: float = 600.0,
    ) -> Claim:
        """``record_claim`` then ``identify``: a claimed file whose digest is known."""
        file_id = self.record_claim(
            partner,
            name,
            "",
            size,
            run_id,
            task=task,
            claim_id=claim_id,
            location=location,
            lease_seconds=lease_seconds,
        )
        return self.identify(file_id, sha256, size)

    def record_claim(
        self,
        partner: str,
        name: str,
        sha256: str,
        size: int,
        run_id: str | None,
        *,
        task: str | None = None,
        claim_id: str | None = None,
        location: str | None = None,
        lease_seconds: float = 600.0,
        intent: bool = False,
    ) -> int:
        """A file just moved into processing/ (or, with ``intent``, about to be moved
        there under ``claim_id``), recorded before it is even read, so a worker killed
        at any point leaves a record the next run resumes."""
        state = FileState.CLAIMING if intent else FileState.CLAIMED
        with self.session() as s:
            record = FileRecord(
                partner=partner, name=name, sha256=sha256, size=size, state=state, run_id=run_id, task=task,
                claim_id=claim_id, location=location, lease_until=utcnow() + dt.timedelta(seconds=lease_seconds), attempts=1,
            )  # fmt: skip
            s.add(record)
            s.flush()
            s.add(
                FileEvent(
                    file_id=record.id,
                    from_state=FileState.RECEIVED,
                    to_state=state,
                    run_id=run_id,
                    task=task,
                    note=name,
                )
            )
            return record.id

    def confirm_claim(self, file_id: int, location: str, *, run_id: str | None = None, task: str | None = None) -> None:
        """The move into processing/ announced by an intent happened: the file is held."""
        with self.session() as s:
            record = s.get_one(FileRecord, file_id)
            record.state, record.location = FileState.CLAIMED, location
            s.add(
                FileEvent(
                    file_id=file_id,
                    from_state=FileState.CLAIMING,
                    to_state=FileState.CLAIMED,
                    run_id=run_id,
                    task=task,
                    note=location,
                )
            )

    def forget(self, file_id: int) -> None:
        """A claim intent that never became a claim (another worker took the file, or
        the move did not happen): the file is still wherever it was; no record is kept."""
        with self.session() as s:
            s.execute(delete(FileEvent).where(FileEvent.file_id == file_id))
            s.execute(delete(FileRecord).where(FileRecord.id == file_id, FileRecord.state == FileState.CLAIMING))

    def identify(self, file_id: int, sha256: str, size: int) -> Claim:
        """The claimed file's digest is known: decide, in one transaction, what it is.

        Same name and content (SHA-256) seen before for this partner (a file with
        another name is another delivery: its acknowledgements have other names,
        and a repeated interchange in it is answered as a duplicate, code 26):
        a record that was released or parked is continued (same id, same
        received_at, so the rerun writes the same acknowledgements) and this
        claim's record is folded into it; a record that is final or in flight
        makes this delivery a duplicate (``duplicate_of``)."""
        with self.session() as s:
            current = s.scalars(select(FileRecord).where(FileRecord.id == file_id).with_for_update()).one()
            current.sha256, current.size = sha256, size
            if not sha256:
                return Claim(current.id, as_utc(current.received_at))
            if not self.sqlite:  # one decision per content at a time
                s.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"{current.partner}:{current.name}:{sha256}"},
                )
            earlier = s.scalars(
                select(FileRecord)
                .where(
                    FileRecord.partner == current.partner,
                    FileRecord.name == current.name,
                    FileRecord.sha256 == sha256,
                    FileRecord.duplicate_of.is_(None),
                    FileRecord.id != current.id,
                )
                .order_by(FileRecord.id.desc())
                .limit(1)
                .with_for_update()
            ).first()
            if earlier is None:
                return Claim(current.id, as_utc(current.received_at))
            if earlier.state in FileState.REUSABLE:
                earlier.size = size
                earlier.claim_id, earlier.location, earlier.lease_until = (
                    current.claim_id,
                    current.location,
                    current.lease_until,
                )
                earlier.attempts = (earlier.attempts or 0) + 1
                earlier.note = None
                self._move(
                    s,
                    earlier,
                    FileState.CLAIMED,
                    run_id=current.run_id,
                    task=current.task,
                    note=f"claimed again as {current.name}",
                )
                s.execute(delete(FileEvent).where(FileEvent.file_id == current.id))
                s.delete(current)
                return Claim(earlier.id, as_utc(earlier.received_at), resumed=True)
            current.duplicate_of = earlier.id
            return Claim(current.id, as_utc(current.received_at), duplicate_of=earlier.id)

    def move_file(
        self,
        file_id: int,
        state: str,
        *,
        run_id: str | None = None,
        task: str | None = None,
        note: str | None = None,
        expected: Iterable[str] | None = None,
        documents: Iterable[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        """Move a file to ``state`` (and set ``fields``) in one transaction, with its
        history row; with ``expected``, only from one of those states; with
        ``documents``, the file's documents are recorded in the same transaction
        (``record_documents``: an acknowledged file's documents and its move are one commit)."""
        with self.session() as s:
            record = s.scalars(select(FileRecord).where(FileRecord.id == file_id).with_for_update()).one()
            if expected is not None and record.state not in set(expected):
                raise StateConflict(f"file {file_id} is {record.state}, not one of {sorted(set(expected))}")
            if documents is not None:
                _replace_documents(s, file_id, documents)
            for key, value in fields.items():
                setattr(record, key, value)
            if note is not None and "note" not in fields:
                record.note = note
            self._move(s, record, state, run_id=run_id, task=task, note=note)

    def record_failure(self, file_id: int, note: str, *, run_id: str | None = None, task: str | None = None) -> int:
        """An attempt at the file ended in an unexpected error: count it (with a
        history row saying why) and return how many attempts have failed so far."""
        with self.session() as s:
            record = s.scalars(select(FileRecord).where(FileRecord.id == file_id).with_for_update()).one()
            record.failures = (record.failures or 0) + 1
            s.add(
                FileEvent(
                    file_id=file_id,
                    from_state=record.state,
                    to_state=record.state,
                    run_id=run_id or record.run_id,
                    task=task or record.task,
                    note=f"failed attempt {record.failures}: {note}",
                )
            )
            return record.failures

    def renew_lease(self, file_id: int, seconds: float) -> None:
        """The holder's heartbeat: its claim stays its own for ``seconds`` more."""
        with self.session() as s:
            record = s.get_one(FileRecord, file_id)
            record.lease_until = utcnow() + dt.timedelta(seconds=seconds)

    def resumable(
        self, partner: str | None = None, *, now: dt.datetime | None = None, parked: bool = True
    ) -> list[FileRecord]:
        """Files whose holder is gone (in flight, lease ended) and parked files whose
        park delay ended: the next run takes them over. Nothing is locked here."""
        now = now or utcnow()
        states = FileState.RESUMABLE if parked else FileState.IN_FLIGHT
        with self.session() as s:
            query = (
                select(FileRecord)
                .where(
                    FileRecord.state.in_(states),
                    # claims recorded before revision 0002 cannot be located; an intent is found by its claim id
                    or_(FileRecord.location.is_not(None), FileRecord.state == FileState.CLAIMING),
                    or_(FileRecord.lease_until.is_(None), FileRecord.lease_until <= now),
                )
                .order_by(FileRecord.id)
            )
            if partner:
                query = query.where(FileRecord.partner == partner)
            return list(s.scalars(query))

    def take_over(
        self,
        file_id: int,
        *,
        run_id: str | None = None,
        task: str | None = None,
        lease_seconds: float = 600.0,
        force: bool = False,
    ) -> FileRecord | None:
        """Take a resumable file for this worker: its lease has ended (or ``force``,
        an operator's reprocess). Row-locked with SKIP LOCKED, so of two workers
        one gets the file and the other None; the winner's new lease makes the
        file not resumable for anyone else. The file goes back to ``claimed``
        (a claim intent stays ``claiming`` until the pipeline has found the file)."""
        now = utcnow()
        with self.session() as s:
            record = s.scalars(
                select(FileRecord).where(FileRecord.id == file_id).with_for_update(skip_locked=True)
            ).one_or_none()
            if record is None or record.state not in FileState.RESUMABLE:
                return None
            if not force and record.lease_until is not None and as_utc(record.lease_until) > now:
                return None
            previous = record.state
            record.lease_until = now + dt.timedelta(seconds=lease_seconds)
            record.attempts = (record.attempts or 0) + 1
            if previous not in (FileState.ACKNOWLEDGED, FileState.CLAIMING):
                self._move(s, record, FileState.CLAIMED, run_id=run_id, task=task, note=f"resumed from {previous}")
            else:  # acknowledged: only the filing away is left; claiming: find the file first
                note = (
                    "resumed to file away" if previous == FileState.ACKNOWLEDGED else "resumed to find the claimed file"
                )
                s.add(
                    FileEvent(
                        file_id=record.id, from_state=previous, to_state=previous, run_id=run_id, task=task, note=note
                    )
                )
                record.run_id, record.task = run_id or record.run_id, task or record.task
            s.flush()
            return record

    def resume_stale(self, partner: str | None = None, **take: Any) -> list[FileRecord]:
        """Take over every resumable file (see ``resumable`` and ``take_over``)."""
        taken = []
        for record in self.resumable(partner):
            got = self.take_over(record.id, **take)
            if got is not None:
                taken.append(got)
        return taken

    def abandon(self, file_id: int, note: str) -> None:
        """The holder gives its claim up without releasing the bytes (the channel is
        gone): the lease ends now, so the next run resumes the file."""
        self.end_lease(file_id, f"abandoned: {note}")

    def end_lease(self, file_id: int, note: str, *, run_id: str | None = None, task: str | None = None) -> None:
        """Make a file resumable now (abandoned claim, or an operator's reprocess of a parked file)."""
        with self.session() as s:
            record = s.get_one(FileRecord, file_id)
            record.lease_until = utcnow()
            s.add(
                FileEvent(
                    file_id=file_id,
                    from_state=record.state,
                    to_state=record.state,
                    run_id=run_id or record.run_id,
                    task=task or record.task,
                    note=note,
                )
            )

    def file(self, file_id: int) -> FileRecord:
        with self.session() as s:
            return s.get_one(FileRecord, file_id)

    def find_file(self, file_id: int) -> FileRecord | None:
        with self.session() as s:
            return s.get(FileRecord, file_id)

    def files(self, partner: str | None = None, state: str | None = None) -> list[FileRecord]:
        with self.session() as s:
            query = select(FileRecord).order_by(FileRecord.id)
            if partner:
                query = query.where(FileRecord.partner == partner)
            if state:
                query = query.where(FileRecord.state == state)
            return list(s.scalars(query))

    def events(self, file_id: int) -> list[FileEvent]:
        with self.session() as s:
            return list(s.scalars(select(FileEvent).where(FileEvent.file_id == file_id).order_by(FileEvent.id)))

    def interchange(self, sender: str, reference: str) -> list[InterchangeRecord]:
        with self.session() as s:
            query = select(InterchangeRecord).where(
                InterchangeRecord.sender == sender, InterchangeRecord.control_reference == reference
            )
            return list(s.scalars(query.order_by(InterchangeRecord.id)))

    def documents_of_transaction(self, transaction_number: str) -> list[DocumentRecord]:
        with self.session() as s:
            query = select(DocumentRecord).where(DocumentRecord.transaction_number == transaction_number)
            return list(s.scalars(query.order_by(DocumentRecord.version, DocumentRecord.id)))

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
                s.add(
                    InterchangeRecord(
                        file_id=file_id, sender=sender, sender_qualifier=qualifier, control_reference=reference
                    )
                )
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
            if earlier.file_id is not None and earlier.file_id == file_id:
                return True  # this file's own interchange, seen again by a rerun
            retry = (
                earlier_file is not None
                and current_file is not None
                and earlier_file.sha256 == current_file.sha256
                and earlier_file.state == FileState.RELEASED  # never answered: this is its retry
                and current_file.duplicate_of is None
            )
            if retry:
                earlier.file_id = file_id
            return retry

    # documents ------------------------------------------------------------
    def record_post(
        self,
        file_id: int,
        *,
        idempotency_key: str,
        message_reference: str,
        transaction_number: str | None,
        version: int | None,
        status: str,
        response: dict[str, Any] | None,
        kind: str = "declaration",
        lease_seconds: float | None = None,
        move_to: str | None = None,
        run_id: str | None = None,
        task: str | None = None,
    ) -> None:
        """A post the portal answered, recorded at once (before any acknowledgement):
        one row per (file, idempotency key) until the file's documents are recorded.
        With ``move_to`` the file moves to that state in the same transaction (a
        file's first answer moves it to ``posted``: one commit, not two)."""
        with self.session() as s:
            row = s.scalars(
                select(DocumentRecord).where(
                    DocumentRecord.file_id == file_id,
                    DocumentRecord.idempotency_key == idempotency_key,
                    DocumentRecord.position.is_(None),
                )
            ).first()
            if row is None:
                row = DocumentRecord(
                    file_id=file_id, idempotency_key=idempotency_key, message_reference=message_reference
                )
                s.add(row)
            row.transaction_number, row.version, row.status, row.response, row.kind = (
                transaction_number,
                version,
                status,
                response,
                kind,
            )
            if lease_seconds is not None or move_to is not None:
                record = s.get_one(FileRecord, file_id)
                if lease_seconds is not None:  # the holder's heartbeat
                    record.lease_until = utcnow() + dt.timedelta(seconds=lease_seconds)
                if move_to is not None:
                    self._move(s, record, move_to, run_id=run_id, task=task)

    def record_documents(self, file_id: int, documents: Iterable[dict[str, Any]]) -> None:
        """The documents of a file as its report has them, replacing whatever an
        earlier attempt recorded for this file (one transaction). They are
        inserted ``_INSERT_BATCH`` rows at a time, none kept by the session: a
        file of a million documents costs no more memory than one of ten."""
        with self.session() as s:
            _replace_documents(s, file_id, documents)

    def record_document(self, file_id: int | None, **fields: Any) -> None:
        with self.session() as s:
            s.add(DocumentRecord(file_id=file_id, **fields))

    def posted_versions(self, file_id: int) -> dict[str, set[int]]:
        """Declaration versions this file had posted and the portal accepted (CARM status
        40, or "accepted"), in earlier attempts."""
        found: dict[str, set[int]] = {}
        for row in self.documents(file_id):
            if row.idempotency_key and row.transaction_number and row.version and row.status in ("40", "accepted"):
                found.setdefault(row.transaction_number, set()).add(row.version)
        return found

    def documents(self, file_id: int | None = None) -> list[DocumentRecord]:
        with self.session() as s:
            query = select(DocumentRecord).order_by(DocumentRecord.id)
            if file_id is not None:
                query = query.where(DocumentRecord.file_id == file_id)
            return list(s.scalars(query))

    # waiting for a final answer -----------------------------------------------
    def wait(
        self,
        file_id: int | None,
        partner: str,
        transaction_number: str,
        version: int,
        *,
        status: str,
        answer: dict[str, Any],
        next_query_at: dt.datetime,
        deadline: dt.datetime,
    ) -> None:
        """Record that a version's answer is not final (once: a rerun of its file keeps
        the first record, its age and its schedule)."""
        with self.session() as s:
            found = s.scalars(
                select(WaitingRecord).where(
                    WaitingRecord.transaction_number == transaction_number, WaitingRecord.version == version
                )
            ).first()
            if found is None:
                s.add(
                    WaitingRecord(
                        file_id=file_id, partner=partner, transaction_number=transaction_number, version=version,
                        state="waiting", status=status, answer=answer, next_query_at=next_query_at, deadline=deadline,
                    )
                )  # fmt: skip

    def waiting(self, state: str | None = "waiting") -> list[WaitingRecord]:
        """The versions waiting for a final answer (``state``: waiting, answered, expired; None: all), oldest first."""
        with self.session() as s:
            query = select(WaitingRecord).order_by(WaitingRecord.since, WaitingRecord.id)
            if state is not None:
                query = query.where(WaitingRecord.state == state)
            return list(s.scalars(query))

    def due_waiting(self, now: dt.datetime) -> list[WaitingRecord]:
        """The waiting versions whose next query is due."""
        return [w for w in self.waiting() if as_utc(w.next_query_at) <= now]

    def wait_again(self, waiting_id: int, *, status: str, next_query_at: dt.datetime) -> None:
        """A query that found the answer still not final: when the next one is due."""
        with self.session() as s:
            row = s.get_one(WaitingRecord, waiting_id)
            row.status, row.next_query_at, row.queries = status, next_query_at, row.queries + 1

    def answered(
        self, waiting_id: int, *, status: str, location: str, at: dt.datetime, state: str = "answered"
    ) -> None:
        """The partner was answered (``location``): with the final answer (``answered``), or told
        that none came by the deadline (``expired``). Waiting ends."""
        with self.session() as s:
            row = s.get_one(WaitingRecord, waiting_id)
            row.state, row.status, row.location, row.answered_at = state, status, location, at
            row.queries += 1

    # acknowledgements -----------------------------------------------------
    def release_interchange(self, file_id: int | None, sender: str, qualifier: str, reference: str) -> None:
        """Forget an interchange this file registered and then refused (its sender
        was not the inbox owner's, its envelope was broken ...): a refused
        interchange burns nothing. Another file's registration is left alone."""
        if file_id is None:
            return
        with self.session() as s:
            s.execute(
                delete(InterchangeRecord).where(
                    InterchangeRecord.file_id == file_id,
                    InterchangeRecord.sender == sender,
                    InterchangeRecord.sender_qualifier == qualifier,
                    InterchangeRecord.control_reference == reference,
                )
            )

    def record_acknowledgement(self, file_id: int | None, kind: str, location: str, sha256: str) -> None:
        """One row per (file, location): a rerun that rewrites the file updates it."""
        with self.session() as s:
            row = s.scalars(
                select(AcknowledgementRecord).where(
                    AcknowledgementRecord.file_id == file_id, AcknowledgementRecord.location == location
                )
            ).first()
            if row is None:
                s.add(AcknowledgementRecord(file_id=file_id, kind=kind, location=location, sha256=sha256))
            else:
                row.kind, row.sha256, row.created_at = kind, sha256, utcnow()

    def acknowledgements(self, file_id: int | None = None) -> list[AcknowledgementRecord]:
        with self.session() as s:
            query = select(AcknowledgementRecord).order_by(AcknowledgementRecord.id)
            if file_id is not None:
                query = query.where(AcknowledgementRecord.file_id == file_id)
            return list(s.scalars(query))

    def acknowledgement(self, acknowledgement_id: int) -> AcknowledgementRecord | None:
        with self.session() as s:
            return s.get(AcknowledgementRecord, acknowledgement_id)

    def record_resend(self, acknowledgement_id: int, location: str, sha256: str, who: str) -> None:
        """An acknowledgement written again under a new name: a resend, its own row,
        not a second acknowledgement of the file."""
        with self.session() as s:
            ack = s.get_one(AcknowledgementRecord, acknowledgement_id)
            if ack.file_id is None:
                raise ValueError(f"acknowledgement {acknowledgement_id} belongs to no file")
            s.add(
                AcknowledgementResend(
                    acknowledgement_id=ack.id, file_id=ack.file_id, location=location, sha256=sha256, who=who
                )
            )

    def resends(self, file_id: int) -> list[AcknowledgementResend]:
        with self.session() as s:
            query = select(AcknowledgementResend).where(AcknowledgementResend.file_id == file_id)
            return list(s.scalars(query.order_by(AcknowledgementResend.id)))

    # the audit trail ------------------------------------------------------
    def record_action(
        self, *, who: str, action: str, target: str, source: str, detail: str | None = None
    ) -> OperatorAction:
        """One operator action in the audit trail: ``who`` (the login, or the OS user of
        the CLI), ``action`` (reprocess, resend, adjustment-approval...), ``target``
        ("file 12"), ``source`` (page, cli, dag, portal) and what happened."""
        if not who.strip():
            raise ValueError("an operator action needs who did it")
        with self.session() as s:
            row = OperatorAction(who=who, action=action, target=target, source=source, detail=detail)
            s.add(row)
            s.flush()
            return row

    def actions(self, *, target: str | None = None, limit: int = 100) -> list[OperatorAction]:
        """The audit trail, newest first (of one ``target`` when given)."""
        with self.session() as s:
            query = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)
            if target is not None:
                query = query.where(OperatorAction.target == target)
            return list(s.scalars(query))

    def purge(self, file_id: int, *, who: str, source: str, detail: str) -> bool:
        """Delete every row of a file whose retention has ended (its events, interchanges,
        documents, acknowledgements and their resends, waiting versions, the interchanges we
        sent in answer; a partner's CONTRL on ours forgets the file that carried it) and
        write the purge to the audit trail, in one transaction: the audit row is the file's
        only trace. False (nothing done) when the file is gone or no longer final (an
        operator reprocessed it meanwhile)."""
        with self.session() as s:
            record = s.scalars(select(FileRecord).where(FileRecord.id == file_id).with_for_update()).one_or_none()
            if record is None or record.state not in FileState.FINAL:
                return False
            s.execute(delete(AcknowledgementResend).where(AcknowledgementResend.file_id == file_id))
            s.execute(delete(AcknowledgementRecord).where(AcknowledgementRecord.file_id == file_id))
            s.execute(delete(DocumentRecord).where(DocumentRecord.file_id == file_id))
            s.execute(delete(WaitingRecord).where(WaitingRecord.file_id == file_id))
            s.execute(
                update(SentInterchangeRecord)
                .where(SentInterchangeRecord.ack_file_id == file_id)
                .values(ack_file_id=None)
            )
            s.execute(delete(SentInterchangeRecord).where(SentInterchangeRecord.file_id == file_id))
            s.execute(delete(InterchangeRecord).where(InterchangeRecord.file_id == file_id))
            s.execute(delete(FileEvent).where(FileEvent.file_id == file_id))
            s.delete(record)
            s.add(OperatorAction(who=who, action="purge", target=f"file {file_id}", source=source, detail=detail))
            return True

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


class StateConflict(Exception):
    """A state move from a state it does not apply to."""


def _replace_documents(s: Session, file_id: int, documents: Iterable[dict[str, Any]]) -> None:
    """The file's document rows replaced by ``documents``, ``_INSERT_BATCH`` rows per INSERT."""
    s.execute(delete(DocumentRecord).where(DocumentRecord.file_id == file_id))
    rows = ({"file_id": file_id, "position": position, **fields} for position, fields in enumerate(documents))
    while batch := list(itertools.islice(rows, _INSERT_BATCH)):
        s.execute(insert(DocumentRecord), batch)


def _serialize_sqlite(engine: Engine) -> None:
    """pysqlite's own transaction handling starts transactions late (deferred);
    ``BEGIN IMMEDIATE`` takes SQLite's write lock at the start of every ledger
    transaction, so a read-then-write (claim, take-over) is never interleaved."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest migration's revision, read once."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Cheap when already there; otherwise under
    a lock, so workers starting together on a new ledger migrate it once. A
    ledger created before migrations (tables, no version) is stamped 0001 first."""
    with engine.connect() as connection:
        current = current_revision(connection)
        connection.commit()
        if revision == "head" and current == head_revision():
            return
    with _migration_lock(engine), engine.connect() as connection:
        from alembic import command

        config = alembic_config(connection)
        if current_revision(connection) is None and inspect(connection).has_table("files"):
            command.stamp(config, "0001")
            connection.commit()
        command.upgrade(config, revision)
        connection.commit()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            holder.commit()
            try:
                yield
            finally:
                holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                holder.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
