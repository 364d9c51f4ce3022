"""The ledger's files as an operator looks for them: filtered, counted, a page at a time,
and per partner what is happening now. The operations page and ``carm-edi ledger list``
share these queries (``gateway.ledger_views`` adds what needs the gateway)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from ledger.outcomes import IN_PROGRESS, WORDS
from ledger.retention import Cutoffs
from ledger.store import FileState, Ledger, as_utc
from ledger.tables import AcknowledgementRecord, DocumentRecord, FileRecord, utcnow

ACCEPTED_STATUSES = ("40", "accepted")
"""A document the portal accepted (CARM status 40) or a payment accepted."""

OUTCOMES = WORDS
"""What became of a file, as the page and the CLI filter it (``ledger.outcomes``)."""

MAX_PER_PAGE = 200


def outcome_of(record: FileRecord) -> str:
    """The file's outcome word, as the ledger keeps it (``files.result``)."""
    return record.result or IN_PROGRESS


class QueryError(ValueError):
    """A filter the ledger cannot apply (unknown outcome, bad page, dates the wrong way round)."""


@dataclass(frozen=True)
class FileQuery:
    """Filters of the file list; every one optional. Dates are UTC days, both ends included;
    ``text`` matches (case-insensitively) a part of the file name or of its note, or a
    transaction number of one of its documents."""

    partner: str | None = None
    outcome: str | None = None
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    text: str | None = None
    due: Cutoffs | None = None
    """Only the files due for purge under these cutoffs (``ledger.retention``)."""
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise QueryError(f"unknown outcome {self.outcome!r}: one of {', '.join(OUTCOMES)}")
        if self.page < 1:
            raise QueryError(f"page {self.page}: pages start at 1")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise QueryError(f"per page {self.per_page}: from 1 to {MAX_PER_PAGE}")
        if self.received_from and self.received_to and self.received_from > self.received_to:
            raise QueryError(f"received from {self.received_from} is after received to {self.received_to}")

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.partner:
            found.append(FileRecord.partner == self.partner)
        if self.outcome:
            found.append(FileRecord.result == self.outcome)
        if self.received_from:
            found.append(FileRecord.received_at >= _midnight(self.received_from))
        if self.received_to:
            found.append(FileRecord.received_at < _midnight(self.received_to + dt.timedelta(days=1)))
        if self.due is not None:
            found.append(self.due.clause())
        if self.text:
            pattern = f"%{_escape_like(self.text.strip().lower())}%"
            documents = select(DocumentRecord.file_id).where(DocumentRecord.transaction_number == self.text.strip())
            found.append(
                or_(
                    func.lower(FileRecord.name).like(pattern, escape="\\"),
                    func.lower(FileRecord.note).like(pattern, escape="\\"),
                    FileRecord.id.in_(documents),
                )
            )
        return found


@dataclass
class FileRow:
    """One file of a page: the record and its counts (documents, acknowledgements)."""

    record: FileRecord
    outcome: str
    documents_accepted: int
    documents_rejected: int
    acknowledgements: list[AcknowledgementRecord] = field(default_factory=list)


@dataclass
class FilePage:
    rows: list[FileRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_files(ledger: Ledger, query: FileQuery) -> FilePage:
    """The files matching ``query``, newest first, one page of them, with the total."""
    conditions = query.conditions()
    with ledger.session() as s:
        total = s.scalar(select(func.count()).select_from(FileRecord).where(*conditions)) or 0
        records = list(
            s.scalars(
                select(FileRecord)
                .where(*conditions)
                .order_by(FileRecord.received_at.desc(), FileRecord.id.desc())
                .offset((query.page - 1) * query.per_page)
                .limit(query.per_page)
            )
        )
        rows = _rows(s, records)
    return FilePage(rows, total, query.page, query.per_page)


def _rows(s: Session, records: list[FileRecord]) -> list[FileRow]:
    ids = [r.id for r in records]
    accepted: dict[int, int] = {}
    rejected: dict[int, int] = {}
    counts = s.execute(
        select(DocumentRecord.file_id, DocumentRecord.status, func.count())
        .where(DocumentRecord.file_id.in_(ids), DocumentRecord.position.is_not(None))
        .group_by(DocumentRecord.file_id, DocumentRecord.status)
    )
    for file_id, status, count in counts:
        if file_id is not None:
            tally = accepted if status in ACCEPTED_STATUSES else rejected
            tally[file_id] = tally.get(file_id, 0) + count
    acks: dict[int | None, list[AcknowledgementRecord]] = {}
    for ack in s.scalars(
        select(AcknowledgementRecord).where(AcknowledgementRecord.file_id.in_(ids)).order_by(AcknowledgementRecord.id)
    ):
        acks.setdefault(ack.file_id, []).append(ack)
    return [
        FileRow(r, outcome_of(r), accepted.get(r.id, 0), rejected.get(r.id, 0), acks.get(r.id, [])) for r in records
    ]


@dataclass
class PartnerActivity:
    """A partner now, as the ledger sees it."""

    received_today: int = 0
    quarantined: int = 0
    parked: int = 0
    overdue: int = 0  # in processing past its lease: its worker is gone
    last_seen: dt.datetime | None = None


def partner_activity(ledger: Ledger, now: dt.datetime | None = None) -> dict[str, PartnerActivity]:
    """Per partner seen in the ledger: files received since midnight UTC, files in
    quarantine, parked, in processing past their lease, and when its last file came."""
    now = now or utcnow()
    today = _midnight(now.date())
    found: dict[str, PartnerActivity] = {}
    with ledger.session() as s:
        for partner, received, last in s.execute(
            select(
                FileRecord.partner,
                func.count().filter(FileRecord.received_at >= today),
                func.max(FileRecord.received_at),
            ).group_by(FileRecord.partner)
        ):
            found[partner] = PartnerActivity(received_today=received, last_seen=as_utc(last) if last else None)
        for partner, state, count in s.execute(
            select(FileRecord.partner, FileRecord.state, func.count())
            .where(FileRecord.state.in_((FileState.QUARANTINED, FileState.PARKED)))
            .group_by(FileRecord.partner, FileRecord.state)
        ):
            setattr(found[partner], state, count)
        for partner, count in s.execute(
            select(FileRecord.partner, func.count())
            .where(FileRecord.state.in_(FileState.IN_FLIGHT), FileRecord.lease_until < now)
            .group_by(FileRecord.partner)
        ):
            found[partner].overdue = count
    return found


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
