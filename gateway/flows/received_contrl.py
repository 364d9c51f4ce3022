"""A partner's CONTRL in an inbound interchange: recorded (never answered) and
matched to the interchange of ours it answers."""

from __future__ import annotations

from diagnostics import Finding, Location, Severity
from gateway.finding_budget import Findings
from gateway.flows.contract import AcknowledgementRegistry
from gateway.report import DocumentReport, DocumentStatus
from mappings.contrl import RECEIVED, REJECTED, read_contrl
from parsers.edifact.model import Message


def received_contrl(
    message: Message, syntax: Findings, acknowledgements: AcknowledgementRegistry | None
) -> DocumentReport:
    """``syntax``: the CONTRL's syntax findings, in its file's budget (the document's list)."""
    document = DocumentReport(message.reference, "CONTRL", DocumentStatus.RECEIVED, errors=syntax)
    received = read_contrl(message)
    if received is None:
        document.errors.append(
            Finding(
                "13",
                "CONTRL without UCI segment: cannot tell which interchange it answers",
                Location(message_ref=message.reference, segment=2, tag="UCI"),
            )
        )
        return document
    verdict: dict[str, object] = {"interchange": received.interchange, "action": received.action}
    if received.code:
        verdict["code"] = received.code
    ucm_rejections = {m.reference: m.code or next(iter(m.errors), "") for m in received.rejected}
    verdict["rejected"] = [{"message_ref": ref, "code": code} for ref, code in ucm_rejections.items()]
    if acknowledgements is not None:
        sent = acknowledgements.match_received(received)
        verdict["matched"] = sent is not None
        if sent is None:
            document.errors.append(
                Finding(
                    "ACK-REF",
                    f"CONTRL answers interchange {received.interchange!r}, which this gateway did not send to this partner",
                    Location(message_ref=message.reference, segment=2, tag="UCI", element=1),
                    Severity.WARNING,
                )
            )
        else:
            verdict["kind"] = sent.kind
            verdict["answers"] = {"file": sent.file, "interchange": sent.answers}
            if received.action == REJECTED:  # this level and all lower levels rejected
                ucm_rejections = {ref: ucm_rejections.get(ref, received.code) for ref in sent.message_references}
                verdict["rejected"] = [{"message_ref": ref, "code": code} for ref, code in ucm_rejections.items()]
                verdict["accepted"] = []
            elif received.action == RECEIVED:  # received, not yet checked
                verdict["accepted"] = []
            else:
                verdict["accepted"] = [ref for ref in sent.message_references if ref not in ucm_rejections]
    document.acknowledgement = verdict
    return document
