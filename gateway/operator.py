"""Operator paths: what the ledger knows about a file, an interchange or a
transaction, preparing a quarantined file or the parked files for
reprocessing (``service.reprocess`` then processes them) and resending a
file's acknowledgements. Every action is written to the ledger's audit trail
with who asked and from where (``Requester``).

Reprocessing keeps the history: the file record is continued (same id, its
``file_events`` grow), never replaced. A quarantined file's bytes go back to
the inbox and are claimed again; a parked (or abandoned) file is resumed from
processing/ at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from ledger import Ledger
from ledger.store import FileState
from ledger.tables import utcnow
from transports.base import ClaimedFile, InboundFile, Transport

SOURCES = ("page", "cli", "dag", "portal")
"""Where an operator action is asked: the Airflow operations page, ``carm-edi``, the DAG's
``reprocess`` param, the portal's adjustment approvals."""


class OperatorError(Exception):
    """The request cannot be carried out (unknown file, nothing to reprocess)."""


@dataclass(frozen=True)
class Requester:
    """Who asked for an operator action and from where: the audit trail's who and source."""

    who: str
    source: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r} of an operator action: one of {', '.join(SOURCES)}")
        if not self.who.strip():
            raise ValueError("an operator action needs who asked for it")

    @property
    def task(self) -> str:
        """How the ledger's history names the mover of a file."""
        return f"{self.source}: {self.who}"


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def file_view(ledger: Ledger, file_id: int) -> dict[str, Any]:
    record = ledger.find_file(file_id)
    if record is None:
        raise OperatorError(f"no file {file_id} in the ledger")
    with ledger.session() as s:
        from sqlalchemy import select

        from ledger.tables import InterchangeRecord

        interchanges = list(s.scalars(select(InterchangeRecord).where(InterchangeRecord.file_id == file_id)))
    return {
        "id": record.id,
        "partner": record.partner,
        "name": record.name,
        "sha256": record.sha256,
        "size": record.size,
        "state": record.state,
        "accepted": record.accepted,
        "attempts": record.attempts,
        "run_id": record.run_id,
        "task": record.task,
        "location": record.location,
        "lease_until": _time(record.lease_until),
        "duplicate_of": record.duplicate_of,
        "note": record.note,
        "received_at": _time(record.received_at),
        "updated_at": _time(record.updated_at),
        "history": [
            {
                "at": _time(e.at),
                "from": e.from_state,
                "to": e.to_state,
                "run_id": e.run_id,
                "task": e.task,
                "note": e.note,
            }
            for e in ledger.events(file_id)
        ],
        "interchanges": [
            {"sender": i.sender, "qualifier": i.sender_qualifier, "control_reference": i.control_reference}
            for i in interchanges
        ],
        "documents": [
            {
                "message_reference": d.message_reference,
                "transaction_number": d.transaction_number,
                "version": d.version,
                "idempotency_key": d.idempotency_key,
                "status": d.status,
            }
            for d in ledger.documents(file_id)
        ],
        "acknowledgements": [
            {"kind": a.kind, "location": a.location, "sha256": a.sha256} for a in ledger.acknowledgements(file_id)
        ],
    }


def show(
    ledger: Ledger, *, file_id: int | None = None, interchange: str | None = None, transaction: str | None = None
) -> dict[str, Any]:
    """``ledger show``: by file id, by interchange (``SENDER:REFERENCE``) or by transaction number."""
    if file_id is not None:
        return {"files": [file_view(ledger, file_id)]}
    if interchange is not None:
        sender, _, reference = interchange.rpartition(":")
        if not sender:
            raise OperatorError("--interchange takes SENDER:CONTROL_REFERENCE")
        records = ledger.interchange(sender, reference)
        if not records:
            raise OperatorError(f"no interchange {reference} from {sender} in the ledger")
        return {"files": [file_view(ledger, r.file_id) for r in records if r.file_id is not None]}
    if transaction is not None:
        documents = ledger.documents_of_transaction(transaction)
        if not documents:
            raise OperatorError(f"no document of transaction {transaction} in the ledger")
        file_ids = sorted({d.file_id for d in documents if d.file_id is not None})
        return {
            "transaction_number": transaction,
            "versions": [
                {"version": d.version, "status": d.status, "file_id": d.file_id, "idempotency_key": d.idempotency_key}
                for d in documents
            ],
            "files": [file_view(ledger, i) for i in file_ids],
        }
    raise OperatorError("give --file, --interchange or --transaction")


def prepare_reprocess(ledger: Ledger, transport: Transport, file_ids: list[int], requester: Requester) -> list[str]:
    """Make the named files due for the next run: a quarantined (or failed) file's bytes, or
    those of an archived file with something rejected in it (the portal refused a
    declaration for a cause an operator can fix: a missing delegation, a tariff item), go back
    to the inbox (ledger ``released``, claimed again later under the same record; what the
    portal accepted before is replayed under the same idempotency keys); a
    parked file is resumable at once; an id the ledger does not know is named in its note
    and the others are still prepared. Returns one note per file, each also written to
    the audit trail."""
    notes = []
    who = requester.task
    for file_id in file_ids:
        record = ledger.find_file(file_id)
        if record is None:
            notes.append(f"file {file_id} is not in the ledger: nothing to reprocess")
        elif record.duplicate_of is not None:
            notes.append(f"file {file_id} is a duplicate delivery of file {record.duplicate_of}: reprocess that one")
        elif record.state in (FileState.QUARANTINED, FileState.FAILED) or (
            record.state == FileState.ARCHIVED and not record.accepted
        ):
            claimed = ClaimedFile(
                InboundFile(record.partner, record.name, record.size), record.claim_id or "", record.location or ""
            )
            transport.release(claimed)
            ledger.move_file(
                file_id,
                FileState.RELEASED,
                task=who,
                note=f"reprocess requested by {who}: back to the inbox",
                lease_until=None,
                failures=0,  # a failed file gets its attempts again
                reprocessed=(record.reprocessed or 0) + 1,  # what the portal refused is decided anew
            )
            notes.append(f"file {file_id} ({record.name}): {record.state} → inbox")
        elif record.state in FileState.RESUMABLE:
            ledger.end_lease(file_id, f"reprocess requested by {who}", task=who)
            notes.append(f"file {file_id} ({record.name}): {record.state}, resumed by the next run")
        else:
            notes.append(f"file {file_id} ({record.name}) is {record.state}: nothing to reprocess")
        ledger.record_action(
            who=requester.who, action="reprocess", target=f"file {file_id}", source=requester.source, detail=notes[-1]
        )
    return notes


def resend_acknowledgements(ledger: Ledger, transport: Transport, file_id: int, requester: Requester) -> list[str]:
    """Write a file's acknowledgements to its partner's outbox again, the same bytes under
    new names (``<stem>.<file id>.r<when><random>.<kind>.<ext>``: a partner that took the
    first copy does not see it overwritten, one that lost it finds a new file). Each copy is
    recorded as a resend of its acknowledgement, never as a second acknowledgement; an
    acknowledgement the partner already collected from the outbox cannot be resent. Returns
    one note per acknowledgement, also written to the audit trail."""
    record = ledger.find_file(file_id)
    if record is None:
        raise OperatorError(f"no file {file_id} in the ledger")
    acknowledgements = ledger.acknowledgements(file_id)
    if not acknowledgements:
        raise OperatorError(f"file {file_id} ({record.name}) has no acknowledgement to resend")
    mark = f"r{utcnow():%Y%m%dT%H%M%S}{uuid.uuid4().hex[:4]}"
    notes = []
    for ack in acknowledgements:
        partner, name = outbox_name(ack.location)
        source = transport.read_outbox(partner, name)
        if source is None:
            notes.append(f"{name}: no longer in the outbox (collected by the partner), not resent")
            continue
        new_name = resend_name(name, mark)
        digest = hashlib.sha256()
        with source, transport.write_outbox(partner, new_name) as out:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        ledger.record_resend(ack.id, f"{partner}/outbox/{new_name}", digest.hexdigest(), requester.task)
        same = "" if digest.hexdigest() == ack.sha256 else " (its content differs from the one first written)"
        notes.append(f"{name} resent as {new_name}{same}")
    ledger.record_action(
        who=requester.who, action="resend", target=f"file {file_id}", source=requester.source, detail="; ".join(notes)
    )
    return notes


def outbox_name(location: str) -> tuple[str, str]:
    """(partner, name) of an acknowledgement's recorded location ``<partner>/outbox/<name>``."""
    partner, area, name = location.split("/", 2)
    if area != "outbox" or not partner or not name:
        raise OperatorError(f"acknowledgement location {location!r} is not <partner>/outbox/<name>")
    return partner, name


def resend_name(name: str, mark: str) -> str:
    """``v01.edi.3.contrl.edi`` → ``v01.edi.3.<mark>.contrl.edi``: the kind and extension stay last."""
    stem, kind, extension = name.rsplit(".", 2)
    return f"{stem}.{mark}.{kind}.{extension}"
