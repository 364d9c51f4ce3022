"""Pending outcomes: declaration versions whose portal answer was not final, followed up.

A post answered 200 (CARM's functional acknowledgement) or 42 (pending, e.g. an
adjustment awaiting an officer) is answered to the partner at once with an
interim CUSRES (BGM 4343 "CA", GIS 42) and recorded in the ledger as waiting
(``LedgerPending``). Each run (the DAG's ``follow_up`` task, or ``carm-edi``)
queries the due ones by transaction number (``PortalConnector.query``): still
not final, the next query waits twice as long (from ``pending_first_query_seconds``
up to ``pending_max_interval_seconds``) until ``pending_deadline_hours`` after the
post, when the version is marked expired for an operator; final, the partner
gets one more CUSRES with the final status and the assessment or the errors
(``<stem>.<txn>-<version>.final.cusres.edi``; a CAD-IN partner a CAD-OUT,
``….final.cadout.xml``) and the version stops waiting.

Answered once: the final answer's name and control reference derive from the
version, so a run killed between writing it and recording it rewrites the same
file, and a recorded one is never queried again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict
from typing import Any, BinaryIO, Protocol

from domain import DeclarationOutcome
from gateway.flows.contract import PendingAnswer, control_reference
from gateway.settings import Settings
from ledger.store import Ledger, as_utc
from ledger.tables import WaitingRecord
from mappings.cadout import CadOutError, CadOutResponse, write_cadout
from mappings.cadxml_declaration import xpath_of
from mappings.cusres import IDENTIFIER as CUSRES_IDENTIFIER
from mappings.cusres import CusresError, cusres_segments
from mappings.edifact_writer import InterchangeWriter
from transports.base import Transport

log = logging.getLogger(__name__)


class Querier(Protocol):
    def query(self, transaction_number: str, version: int) -> DeclarationOutcome | None: ...


class LedgerPending:
    """The flows' ``PendingRegistry``: a waiting version in the ledger, first queried after
    ``pending_first_query_seconds``, given up ``pending_deadline_hours`` after ``now``."""

    def __init__(self, ledger: Ledger, settings: Settings, file_id: int | None, partner: str, now: dt.datetime) -> None:
        self._ledger, self._settings, self._file_id, self._partner, self._now = ledger, settings, file_id, partner, now

    def wait(self, pending: PendingAnswer) -> None:
        self._ledger.wait(
            self._file_id,
            self._partner,
            pending.transaction_number,
            pending.version,
            status=pending.status,
            answer=asdict(pending),
            next_query_at=self._now + dt.timedelta(seconds=self._settings.pending_first_query_seconds),
            deadline=self._now + dt.timedelta(hours=self._settings.pending_deadline_hours),
        )


def follow_up(
    settings: Settings, ledger: Ledger, portal: Querier, transport: Transport, now: dt.datetime
) -> dict[str, int]:
    """Query every waiting version that is due; answer the final ones. Counts per result."""
    counts = {"answered": 0, "waiting": 0, "expired": 0}
    for waiting in ledger.due_waiting(now):
        outcome = portal.query(waiting.transaction_number, waiting.version)
        if outcome is None or not outcome.status.final:
            expired = now >= as_utc(waiting.deadline)
            delay = min(
                settings.pending_first_query_seconds * 2 ** (waiting.queries + 1), settings.pending_max_interval_seconds
            )
            status = outcome.status.value if outcome is not None else waiting.status
            ledger.wait_again(
                waiting.id, status=status, next_query_at=now + dt.timedelta(seconds=delay), expired=expired
            )
            if expired:
                log.warning(
                    "%s version %d: no final answer by the deadline %s (status %s): an operator must follow it up",
                    waiting.transaction_number, waiting.version, waiting.deadline, status,
                )  # fmt: skip
            counts["expired" if expired else "waiting"] += 1
            continue
        location = answer_partner(settings, transport, waiting, outcome, now)
        ledger.answered(waiting.id, status=outcome.status.value, location=location, at=now)
        counts["answered"] += 1
    return counts


def answer_partner(
    settings: Settings, transport: Transport, waiting: WaitingRecord, outcome: DeclarationOutcome, now: dt.datetime
) -> str:
    """Write the final answer of a waiting version (a CUSRES, or a CAD-OUT for a CAD-IN
    partner) to its partner's outbox; its location."""
    recorded = waiting.answer
    fields: dict[str, Any] = dict(recorded)
    for name in ("recipient", "syntax", "starts"):  # JSON gave them back as lists
        if name in fields:
            fields[name] = tuple(fields[name])
    pending = PendingAnswer(**fields)
    with transport.write_outbox(waiting.partner, pending.name) as out:
        if pending.kind == "cadout":
            _cadout(out, settings, pending, outcome, now)
        else:
            _cusres(out, settings, pending, outcome, now)
    return f"{waiting.partner}/outbox/{pending.name}"


def _cusres(
    out: BinaryIO, settings: Settings, pending: PendingAnswer, outcome: DeclarationOutcome, now: dt.datetime
) -> None:
    """One CUSRES answering the inbound message again, with a control reference derived from the version."""
    writer = InterchangeWriter(
        out,
        sender=(settings.gateway_id, settings.gateway_id_qualifier),
        recipient=pending.recipient,
        control_reference=control_reference(f"final:{pending.transaction_number}:{pending.version}"),
        syntax=pending.syntax,
        prepared=now,
    )
    writer.write_message(
        pending.inbound_message,
        CUSRES_IDENTIFIER,
        cusres_segments(
            reference=f"{pending.transaction_number}{pending.version:05d}",
            status=outcome.status,
            inbound_interchange=pending.inbound_interchange,
            inbound_message=pending.inbound_message,
            filer_reference=pending.filer_reference,
            outcome=outcome,
            errors=[CusresError(e.code, e.message, e.pointer) for e in outcome.errors],
            issued=now,
        ),
    )
    writer.close()


def _cadout(
    out: BinaryIO, settings: Settings, pending: PendingAnswer, outcome: DeclarationOutcome, now: dt.datetime
) -> None:
    """One Response at the declaration's position in the CAD-IN, its pointers as XPaths there."""
    base = f"/DocumentMetaData/Declaration[{pending.inbound_message}]"
    errors = [
        CadOutError(e.code, e.message, base + xpath_of(e.pointer, pending.starts) if e.pointer else base)
        for e in outcome.errors
    ]
    response = CadOutResponse(
        outcome.status.value, errors, int(pending.inbound_message), pending.transaction_number,
        f"{pending.version:05d}", pending.filer_reference, outcome,
    )  # fmt: skip
    write_cadout(
        out, [response], sender_id=settings.gateway_id, application_reference=pending.inbound_interchange or None,
        issued=now,
    )  # fmt: skip


def waiting_report(ledger: Ledger, now: dt.datetime) -> list[dict[str, Any]]:
    """The versions still waiting, oldest first, with their age (the ops view)."""
    return [
        {
            "partner": w.partner,
            "transaction_number": w.transaction_number,
            "version": w.version,
            "status": w.status,
            "age_seconds": int((now - as_utc(w.since)).total_seconds()),
            "queries": w.queries,
            "next_query_at": as_utc(w.next_query_at).isoformat(),
            "deadline": as_utc(w.deadline).isoformat(),
        }
        for w in ledger.waiting()
    ]
