"""Pending outcomes: declaration versions whose portal answer was not final, followed up.

A post answered 200 (CARM's functional acknowledgement) or 42 (pending, e.g. an
adjustment awaiting an officer) is answered to the partner at once with an
interim CUSRES (BGM 4343 "CA", GIS 42) and recorded in the ledger as waiting
(``gateway.pipeline.LedgerPending``), with where each field was in the partner's
file and the gateway's own warnings on it. Each run (the DAG's ``follow_up`` task,
or ``carm-edi``) queries the due ones by transaction number (``PortalConnector.query``):

* final: the partner gets one more CUSRES with the final status, the assessment or
  the errors, and the warnings, each finding at its segment/element (a CAD-IN partner
  a CAD-OUT Response, at its XPath and line): written by the flows' own builders
  (``write_cusres``, ``cadout_response``) as an immediate answer is
  (``<stem>.<txn>-<version>.final.cusres.edi`` / ``….final.cadout.xml``);
* still not final: the next query waits twice as long (from ``pending_first_query_seconds``
  up to ``pending_max_interval_seconds``);
* still not final ``pending_deadline_hours`` after the post: the partner is told once that
  CARM gave no final answer by the deadline (code ``CARM-EXP``, the last status; the
  declaration's status at CARM is unknown and an operator must follow it up:
  ``….expired.cusres.edi`` / ``….expired.cadout.xml``), and the version is ``expired``.

Every answer is recorded as the immediate ones are: an acknowledgement of the
inbound file (with its SHA-256), and a CUSRES among the interchanges sent, so the
partner's CONTRL to it is matched. Answered once: an answer's name and control
reference derive from the version, so a run killed between writing it and recording
it rewrites the same file, and a recorded one is never queried again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from diagnostics import Finding, Location
from domain import DeclarationOutcome, OutcomeStatus
from gateway.flows.answering import placed
from gateway.flows.cadxml import cadout_response, locate_field
from gateway.flows.contract import PendingAnswer, SentInterchange, control_reference
from gateway.flows.cusdec import locate, write_cusres
from gateway.flows.spool import SpooledDeclaration, finding_from_json
from gateway.pipeline import ChannelWatch, LedgerAcknowledgements, OutboxSink
from gateway.settings import Settings
from ledger.store import Ledger, as_utc
from ledger.tables import WaitingRecord
from mappings.cadout import CadOutWriter
from mappings.edifact_writer import InterchangeWriter
from transports.base import Transport

log = logging.getLogger(__name__)

NO_FINAL_ANSWER = "CARM-EXP"
"""The code of the answer telling the partner CARM gave no final answer by the deadline."""


class Querier(Protocol):
    def query(
        self, transaction_number: str, version: int, starts: Sequence[int] = (0,)
    ) -> DeclarationOutcome | None: ...


def follow_up(
    settings: Settings, ledger: Ledger, portal: Querier, transport: Transport, now: dt.datetime
) -> dict[str, int]:
    """Query every waiting version that is due; answer the final ones and those past their deadline."""
    counts = {"answered": 0, "waiting": 0, "expired": 0}
    for waiting in ledger.due_waiting(now):
        outcome = portal.query(waiting.transaction_number, waiting.version, pending_answer(waiting).starts)
        if outcome is not None and outcome.status.final:
            location = answer_partner(settings, ledger, transport, waiting, outcome, now)
            ledger.answered(waiting.id, status=outcome.status.value, location=location, at=now)
            counts["answered"] += 1
            continue
        status = outcome.status.value if outcome is not None else waiting.status
        if now >= as_utc(waiting.deadline):
            location = answer_expired(settings, ledger, transport, waiting, status, now)
            ledger.answered(waiting.id, status=status, location=location, at=now, state="expired")
            log.warning(
                "%s version %d: no final answer by the deadline %s (status %s); the partner was told (%s): "
                "an operator must follow it up",
                waiting.transaction_number, waiting.version, waiting.deadline, status, location,
            )  # fmt: skip
            counts["expired"] += 1
            continue
        delay = min(
            settings.pending_first_query_seconds * 2 ** (waiting.queries + 1), settings.pending_max_interval_seconds
        )
        ledger.wait_again(waiting.id, status=status, next_query_at=now + dt.timedelta(seconds=delay))
        counts["waiting"] += 1
    return counts


def pending_answer(waiting: WaitingRecord) -> PendingAnswer:
    """What the waiting row recorded for the final answer (JSON gave the tuples back as lists)."""
    fields: dict[str, Any] = dict(waiting.answer)
    for name in ("recipient", "syntax", "starts", "findings"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return PendingAnswer(**fields)


def spooled(pending: PendingAnswer) -> SpooledDeclaration:
    """The declaration as its flow spooled it, as far as an answer needs: its position, field
    sources and own findings (the flows' locators and answer builders take it). A row recorded
    before the sources were kept places every pointer at the message (the Declaration)."""
    declaration = f"/DocumentMetaData/Declaration[{pending.inbound_message}]" if pending.kind == "cadout" else None
    return SpooledDeclaration(
        pending.inbound_message,
        "",
        None,
        errors=[finding_from_json(f) for f in pending.findings],
        sources=pending.sources,
        filer_reference=pending.filer_reference,
        transaction_number=pending.transaction_number,
        version=f"{pending.version:05d}",
        xpath=pending.xpath or declaration,
        line=pending.line,
    )


def answer_partner(
    settings: Settings,
    ledger: Ledger,
    transport: Transport,
    waiting: WaitingRecord,
    outcome: DeclarationOutcome,
    now: dt.datetime,
) -> str:
    """Write the final answer of a waiting version (a CUSRES, or a CAD-OUT for a CAD-IN partner)
    to its partner's outbox, as the immediate answer would have been: the gateway's own warnings,
    then the portal's errors and warnings, each at its place in the partner's file; its location."""
    pending = pending_answer(waiting)
    item = spooled(pending)
    if pending.kind == "cadout":
        findings = placed(item, outcome, lambda i, pointer: locate_field(i, pointer, pending.starts))
    else:
        findings = placed(item, outcome, locate)
    return _write(settings, ledger, transport, waiting, pending, item, "final", outcome.status, outcome, findings, now)


def answer_expired(
    settings: Settings, ledger: Ledger, transport: Transport, waiting: WaitingRecord, status: str, now: dt.datetime
) -> str:
    """Tell the partner that CARM gave no final answer by the deadline: the last status and one
    ``CARM-EXP`` error at the declaration (its status at CARM is unknown: an operator must follow it
    up before it is filed again); its location."""
    pending = pending_answer(waiting)
    item = spooled(pending)
    message = (
        f"no final answer from CARM by the deadline {as_utc(waiting.deadline):%Y-%m-%d %H:%M} UTC "
        f"({waiting.queries + 1} queries, last status {status}): the declaration's status at CARM is unknown; "
        "an operator must follow it up with CBSA before it is filed again"
    )
    where = Location(xpath=item.xpath, line=item.line) if pending.kind == "cadout" else Location(message_ref=item.ref)
    last = OutcomeStatus(status) if status in {s.value for s in OutcomeStatus} else OutcomeStatus.PENDING
    findings = [Finding(NO_FINAL_ANSWER, message, where)]
    return _write(settings, ledger, transport, waiting, pending, item, "expired", last, None, findings, now)


def _write(
    settings: Settings,
    ledger: Ledger,
    transport: Transport,
    waiting: WaitingRecord,
    pending: PendingAnswer,
    item: SpooledDeclaration,
    purpose: str,
    status: OutcomeStatus,
    outcome: DeclarationOutcome | None,
    findings: list[Finding],
    now: dt.datetime,
) -> str:
    """One answer (``purpose``: final or expired) into the partner's outbox, recorded as the
    immediate answers are (``OutboxSink``: the file's acknowledgement; a CUSRES among the
    interchanges sent, for the partner's CONTRL to match)."""
    name = pending.name.replace(".final.", f".{purpose}.")
    sink = OutboxSink(transport, waiting.partner, ledger, waiting.file_id, ChannelWatch())
    reference = control_reference(f"{purpose}:{pending.transaction_number}:{pending.version}")
    with sink.open(name) as out:
        if pending.kind == "cadout":
            writer = CadOutWriter(
                out, sender_id=settings.gateway_id, application_reference=pending.inbound_interchange or None,
                issued=now,
            )  # fmt: skip
            writer.write(cadout_response(item, status.value, item.version, findings, outcome))
            writer.close()
        else:
            edifact = InterchangeWriter(
                out,
                sender=(settings.gateway_id, settings.gateway_id_qualifier),
                recipient=pending.recipient,
                control_reference=reference,
                syntax=pending.syntax,
                prepared=now,
            )
            write_cusres(
                edifact, item, f"{pending.transaction_number}{pending.version:05d}", status,
                pending.inbound_interchange, outcome, findings, now,
            )  # fmt: skip
            edifact.close()
    if pending.kind != "cadout":
        LedgerAcknowledgements(ledger, waiting.partner, waiting.file_id).record_sent(
            SentInterchange(
                reference, "cusres", pending.recipient[0], (pending.inbound_message,), pending.inbound_interchange, ""
            )
        )
    return f"{waiting.partner}/outbox/{name}"


def waiting_report(ledger: Ledger, now: dt.datetime) -> list[dict[str, Any]]:
    """The versions still waiting, then those whose deadline passed without a final answer (an
    operator must follow them up), each oldest first, with their age (the ops view)."""
    return [
        {
            "partner": w.partner,
            "transaction_number": w.transaction_number,
            "version": w.version,
            "state": w.state,
            "status": w.status,
            "age_seconds": int((now - as_utc(w.since)).total_seconds()),
            "queries": w.queries,
            "next_query_at": as_utc(w.next_query_at).isoformat() if w.state == "waiting" else None,
            "deadline": as_utc(w.deadline).isoformat(),
            "answer": w.location,
        }
        for state in ("waiting", "expired")
        for w in ledger.waiting(state)
    ]
