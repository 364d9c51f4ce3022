"""PAYMUL and REMADV D.96B in an EDIFACT interchange (docs/formats/payments.md):
mapped in phase 1 (their syntax findings join the CONTRL's); once the interchange
is sound, checked for duplicates and with the payment rules, posted, and answered
with one APERAK per message (``<file>.aperak.edi``), as CUSDEC is with CUSRES. Why
APERAK and not BANSTA: docs/formats/payments.md."""

from __future__ import annotations

from dataclasses import dataclass

from diagnostics import Finding, Location, Severity
from gateway.document_log import DocumentLog
from gateway.flows.contract import FlowOptions, register_reference
from gateway.flows.payments import (
    DUPLICATE_MESSAGE,
    NOT_PROCESSED,
    applied_text,
    decide,
    summary,
)
from gateway.flows.replies import InterchangeReplies
from gateway.report import DocumentReport, DocumentStatus
from mappings.aperak import IDENTIFIER as APERAK_IDENTIFIER
from mappings.aperak import AperakError, AperakPayment, aperak_segments
from mappings.pain001_payment import DUPLICATE_REFERENCE
from mappings.paymul_payment import EdiPayment, EdiPaymentMapping, is_paymul, map_paymul
from mappings.remadv_payment import map_remadv
from parsers.edifact.model import Message


@dataclass
class PaymentMessage:
    """Phase 1's result for one PAYMUL/REMADV message (kept in memory: payment messages are small)."""

    message_ref: str
    message_type: str
    mapping: EdiPaymentMapping
    entry: int  # where its report entry is in the file's ``DocumentLog``


class PaymentMessagesHandler:
    """The PAYMUL and REMADV messages of one interchange (``handlers.MessageHandler``)."""

    def __init__(self, replies: InterchangeReplies, options: FlowOptions) -> None:
        self.replies = replies
        self.options = options
        self.items: list[PaymentMessage] = []

    def read(
        self, message: Message, decimal: str, syntax: list[Finding], document: DocumentReport, entry: int
    ) -> list[Finding]:
        """Its syntax findings join ``syntax``; a message with any is not kept (it
        then gets no APERAK, like CUSDEC no CUSRES)."""
        mapping = map_paymul(message, decimal) if is_paymul(message) else map_remadv(message, decimal)
        reported = {(f.code, f.location.segment, f.location.element, f.location.component) for f in syntax}
        syntax.extend(
            f
            for f in mapping.findings
            if (f.code, f.location.segment, f.location.element, f.location.component) not in reported
        )
        document.acknowledgement = {
            "payments": [summary(p.payment, None, p.end_to_end_reference) for p in mapping.payments]
        }
        if not syntax:
            document.status = DocumentStatus.ACCEPTED
            self.items.append(PaymentMessage(message.reference, message.type, mapping, entry))
        return []

    def withdraw(self, documents: DocumentLog[DocumentReport]) -> None:
        for item, document in zip(self.items, documents.reopened(i.entry for i in self.items), strict=True):
            document.status = DocumentStatus.REJECTED
            document.errors.append(
                Finding("18", "not processed: the interchange was rejected", Location(message_ref=item.message_ref))
            )

    def answer(self, documents: DocumentLog[DocumentReport]) -> None:
        """Duplicates, rules, posting, one APERAK per message."""
        if not self.items:
            return
        header = self.replies.header
        writer = self.replies.writer("aperak")
        sent: list[str] = []
        for item, document in zip(self.items, documents.reopened(i.entry for i in self.items), strict=True):
            message_errors, payments = self._answer_message(item, document)
            if writer is not None:
                writer.write_message(
                    item.message_ref,
                    APERAK_IDENTIFIER,
                    aperak_segments(
                        message_id=item.mapping.message_id,
                        inbound_interchange=header.control_reference,
                        inbound_message=item.message_ref,
                        issued=self.options.now(),
                        message_errors=message_errors,
                        payments=payments,
                    ),
                )
                sent.append(item.message_ref)
        if writer is not None:
            writer.close()
            self.replies.record_sent(writer.control_reference, "aperak", sent)

    def close(self) -> None:
        self.items.clear()

    def _answer_message(
        self, item: PaymentMessage, document: DocumentReport
    ) -> tuple[list[AperakError], list[AperakPayment]]:
        sender = self.replies.header.sender
        group = list(item.mapping.group_findings)
        if not group and not register_reference(self.options, sender, item.message_type[:8], item.mapping.message_id):
            group.append(
                Finding(
                    DUPLICATE_MESSAGE,
                    f"duplicate message: {sender} sent {item.message_type} {item.mapping.message_id!r} before",
                    Location(message_ref=item.message_ref, segment=2, tag="BGM", element=2, component=1),
                )
            )
        document.errors.extend(group)
        answers: list[AperakPayment] = []
        seen: set[str] = set()
        for mapped in item.mapping.payments:
            if mapped.end_to_end_reference in seen:  # within the message: never posted (a replay would say "applied")
                finding = Finding(
                    DUPLICATE_REFERENCE,
                    f"end-to-end reference {mapped.end_to_end_reference} is used twice in this message",
                    mapped.locate("end_to_end_reference"),
                )
                document.errors.append(finding)
                answers.append(AperakPayment(mapped.end_to_end_reference, False, errors=[_aperak_error(finding)]))
                continue
            seen.add(mapped.end_to_end_reference or "")
            answers.append(self._answer_payment(mapped, group, document))
        applied = [a.applied for a in answers]
        document.status = DocumentStatus.ACCEPTED if applied and all(applied) and not group else DocumentStatus.REJECTED
        return [_aperak_error(f) for f in group], answers

    def _answer_payment(self, mapped: EdiPayment, group: list[Finding], document: DocumentReport) -> AperakPayment:
        payment = mapped.payment
        listed = document.acknowledgement["payments"] if document.acknowledgement else []
        index = next(
            (i for i, p in enumerate(listed) if p.get("end_to_end_reference") == mapped.end_to_end_reference), None
        )
        if group or payment is None:
            finding = Finding(NOT_PROCESSED, "not processed: the message was rejected", mapped.locate(None))
            return AperakPayment(mapped.end_to_end_reference, False, errors=[_aperak_error(finding)])
        decision = decide(payment, mapped.locate, self.options)
        document.errors.extend(decision.findings)
        if index is not None and document.acknowledgement is not None:
            document.acknowledgement["payments"][index] = summary(payment, decision)
        if decision.outcome is not None and decision.accepted:
            document.carm_status = decision.outcome.status.value
        errors = [_aperak_error(f) for f in decision.findings if f.severity is Severity.ERROR]
        return AperakPayment(
            payment.end_to_end_reference,
            decision.accepted,
            applied_text(payment, decision) if decision.accepted else "",
            errors,
        )


def _aperak_error(finding: Finding) -> AperakError:
    return AperakError(finding.code, finding.message, finding.location.field, finding.location.describe())
