"""Which files' records have outlived their retention: the ledger's side of the purge.

A file is kept until the end of the calendar year ``years`` after the year it was
received (UTC), then it is due (docs/decisions.md, "Retention"). Only files that
reached a final state (archived, quarantined, failed) are ever due: a file still in
flight, parked or released is being worked on. ``gateway.retention`` deletes the
stored bytes and then the rows (``Ledger.purge``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_, select

from ledger.store import FileState, Ledger
from ledger.tables import AcknowledgementRecord, AcknowledgementResend, FileRecord, WaitingRecord


def cutoff(now: dt.datetime, years: int) -> dt.datetime:
    """The received time before which a file kept ``years`` full calendar years after the
    year it came is due at ``now``: 1 January (UTC) of ``now.year - years``. A file received
    in 2019 and kept 6 years is kept through 31 December 2025, due from 1 January 2026."""
    return dt.datetime(now.year - years, 1, 1, tzinfo=dt.UTC)


def kept_until(received: dt.datetime, years: int) -> dt.date:
    """The last day a file received at ``received`` is kept."""
    return dt.date(received.year + years, 12, 31)


@dataclass(frozen=True)
class Cutoffs:
    """Per partner, the received time before which its filed-away files are due for purge;
    ``default`` for a partner without its own (one no longer in the registry, too)."""

    default: dt.datetime
    partners: Mapping[str, dt.datetime] = field(default_factory=dict)

    def clause(self) -> ColumnElement[bool]:
        """The SQL condition of a file due for purge."""
        own = [and_(FileRecord.partner == p, FileRecord.received_at < c) for p, c in self.partners.items()]
        others = FileRecord.received_at < self.default
        if self.partners:
            others = and_(FileRecord.partner.not_in(list(self.partners)), others)
        return and_(FileRecord.state.in_(FileState.FINAL), or_(*own, others))


def due_files(
    ledger: Ledger, cutoffs: Cutoffs, partner: str | None = None, *, after: int = 0, limit: int | None = None
) -> list[FileRecord]:
    """The files due for purge (of ``partner`` when given) by id, those after id ``after``, at
    most ``limit`` of them: a purge reads them a page at a time."""
    query = select(FileRecord).where(cutoffs.clause(), FileRecord.id > after).order_by(FileRecord.id).limit(limit)
    if partner:
        query = query.where(FileRecord.partner == partner)
    with ledger.session() as s:
        return list(s.scalars(query))


def due_counts(ledger: Ledger, cutoffs: Cutoffs) -> dict[str, int]:
    """Per partner, how many files are due for purge (partners with none are left out)."""
    with ledger.session() as s:
        rows = s.execute(select(FileRecord.partner, func.count()).where(cutoffs.clause()).group_by(FileRecord.partner))
        return {partner: count for partner, count in rows}


def outbox_locations(ledger: Ledger, file_id: int) -> list[str]:
    """Every answer of a file the outbox may still hold (``<partner>/outbox/<name>``): its
    acknowledgements and report, their resends, the final answers of its waiting versions."""
    with ledger.session() as s:
        found = list(s.scalars(select(AcknowledgementRecord.location).where(AcknowledgementRecord.file_id == file_id)))
        found += s.scalars(select(AcknowledgementResend.location).where(AcknowledgementResend.file_id == file_id))
        found += s.scalars(
            select(WaitingRecord.location).where(WaitingRecord.file_id == file_id, WaitingRecord.location.is_not(None))
        )
    return list(dict.fromkeys(location for location in found if location))
