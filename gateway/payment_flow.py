"""Payment files through the gateway (docs/formats/payments.md).

Both payment formats end in the same place: a domain ``Payment`` per credit transfer,
checked with the payment rules (``validators.rules.payments``), posted to the portal's
``/v1/payments`` with a deterministic Idempotency-Key (the portal applies it to the
account ledger, or rejects it: unknown account, duplicate end-to-end reference ...),
and answered.

- ISO 20022 pain.001 (09 and later): ``Pain001Flow``, the file in the role of the
  interchange, answered with one pain.002 (``<file>.pain002.xml``): group status and
  reasons, then a status per transaction with ISO reason codes.
- UN/EDIFACT PAYMUL and REMADV D.96B run in ``EdifactFlow`` (same envelope checks,
  same CONTRL); its two hooks call ``map_payment_message`` in phase 1 and
  ``answer_payment_messages`` in phase 2, which posts and writes one APERAK per
  message into ``<file>.aperak.edi`` — only when the interchange is sound, as with
  CUSRES. Why APERAK and not BANSTA: docs/formats/payments.md.

A message id (GrpHdr/MsgId, BGM 1004) seen before from the same sender is a
duplicate (through the gateway ledger's registry, as interchanges are): the whole
message is rejected (PAY-DUPM, pain.002 DU01). A repeated end-to-end reference is
caught within the file (PAY-DUPE) and, across files, by the portal (P404): nothing is
applied twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from diagnostics import Finding, Location, Severity
from domain.payment import Payment, PaymentOutcome
from gateway.report import DocumentReport, DocumentStatus, FileReport, InterchangeReport
from mappings.aperak import IDENTIFIER as APERAK_IDENTIFIER
from mappings.aperak import AperakError, AperakPayment, aperak_segments
from mappings.edifact_writer import InterchangeWriter
from mappings.pain001_payment import DUPLICATE_REFERENCE, MappedPayment, Pain001Message, map_pain001
from mappings.pain002 import ACCEPTED, ACCEPTED_SETTLED, REJECTED, Reason, TransactionStatus, pain002_document, write_pain002
from mappings.paymul_payment import EdiPayment, EdiPaymentMapping, is_paymul, map_paymul
from mappings.remadv_payment import is_remadv, map_remadv
from parsers.edifact.model import Message
from parsers.xml.pain001_reader import read_pain001
from validators.rules import RuleContext
from validators.rules.payments import check_payment

if TYPE_CHECKING:
    from gateway.edifact_flow import EdifactFlow, FlowOptions

PaymentPoster = Callable[[Payment, str], PaymentOutcome]

DUPLICATE_MESSAGE = "PAY-DUPM"
NOT_PROCESSED = "PAY-NOTP"
PAIN001_TYPE = "pain.001"


def payment_idempotency_key(payment: Payment) -> str:
    """Deterministic per payment content: a retried file posts with the same key."""
    digest = hashlib.sha256(payment.model_dump_json().encode()).hexdigest()[:32]
    return f"pay-{digest}"


@dataclass(frozen=True)
class _MessageKey:
    """The duplicate registry's view of a payment message (an InterchangeHeader's shape)."""

    sender: str
    sender_qualifier: str
    control_reference: str


def register_message(options: FlowOptions, sender: str, kind: str, message_id: str | None) -> bool:
    """False when this sender sent this message id before (gateway ledger)."""
    registry = options.registry
    if registry is None or not message_id:
        return True
    reference = message_id if len(message_id) <= 32 else hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return registry.register(_MessageKey(sender, kind[:8], reference))  # type: ignore[arg-type]


@dataclass
class Decision:
    accepted: bool
    findings: list[Finding] = field(default_factory=list)
    outcome: PaymentOutcome | None = None


def decide(payment: Payment, locate: Callable[[str | None], Location], options: FlowOptions) -> Decision:
    """The payment rules, then (when they pass and there is a poster) the portal."""
    findings = [Finding(v.rule_id, v.message, locate(v.pointer), v.severity) for v in check_payment(payment, RuleContext())]
    if any(f.severity is Severity.ERROR for f in findings):
        return Decision(False, findings)
    poster = options.payment_poster
    if poster is None:
        return Decision(True, findings)
    outcome = poster(payment, payment_idempotency_key(payment))
    findings.extend(Finding(e.code, e.message, locate(e.pointer)) for e in outcome.errors)
    return Decision(outcome.status.accepted, findings, outcome)


def summary(payment: Payment | None, decision: Decision | None, end_to_end: str | None = None) -> dict[str, Any]:
    """What the JSON report says about one payment."""
    data: dict[str, Any] = {"end_to_end_reference": payment.end_to_end_reference if payment else end_to_end}
    if payment is not None:
        data.update(amount=str(payment.amount), currency=payment.currency, value_date=payment.value_date.isoformat(),
                    accounts=payment.accounts)
    if decision is not None and decision.outcome is not None:
        outcome = decision.outcome
        data["portal_status"] = outcome.status.value
        data["payment_id"] = outcome.payment_id
        data["applied"] = [
            {"account": a.account, "transaction_number": a.transaction_number, "amount": str(a.amount)} for a in outcome.applications
        ]
    return data


def applied_text(payment: Payment, decision: Decision) -> str:
    outcome = decision.outcome
    if outcome is None:
        return f"payment {payment.amount} {payment.currency} passed every check (not posted)"
    parts = [f"{a.amount} to {a.transaction_number}" for a in outcome.applications if a.transaction_number]
    unapplied = outcome.unapplied
    text = f"applied {payment.amount} {payment.currency}" + (": " + ", ".join(parts) if parts else "")
    if unapplied:
        text += f"; {unapplied} unapplied on {', '.join(payment.accounts)}"
    return text


# --- pain.001 ---------------------------------------------------------------------------------


class Pain001Flow:
    """``Pain001Flow(name, options).run(stream) -> FileReport``; answered with a pain.002."""

    def __init__(self, name: str, options: FlowOptions) -> None:
        self.name = name
        self.options = options
        self.report = FileReport(file=name, format="xml")

    def run(self, stream: BinaryIO) -> FileReport:
        read = read_pain001(stream)
        if isinstance(read, Finding):
            self.report.errors.append(read)
            self._answer(None, [read], [])
            return self.report
        message = map_pain001(read.root, read.namespace)
        name = f"pain.001.001.{read.version:02d}"
        sender = message.initiating_party or self.options.partner_id
        group = list(message.findings)
        if not group and not register_message(self.options, sender, "PAIN001", message.message_id):
            group.append(Finding(DUPLICATE_MESSAGE, f"duplicate message: {sender} sent MsgId {message.message_id!r} before",
                                 Location(xpath="/Document/CstmrCdtTrfInitn/GrpHdr/MsgId")))
        interchange = InterchangeReport(sender, (message.message_id or "")[:32], accepted=not group, errors=list(group))
        self.report.interchanges.append(interchange)
        statuses = [self._transaction(mapped, group) for mapped in message.payments]
        self._answer(message, group, statuses, name)
        return self.report

    def _transaction(self, mapped: MappedPayment, group: list[Finding]) -> TransactionStatus:
        document = DocumentReport(mapped.ref, PAIN001_TYPE, DocumentStatus.REJECTED)
        self.report.documents.append(document)
        findings = list(mapped.findings)
        decision: Decision | None = None
        if group:
            findings.append(Finding(NOT_PROCESSED, "not processed: the message was rejected", Location(xpath=mapped.xpath, line=mapped.line)))
            if mapped.payment is not None:  # still say what else is wrong with it (nothing is posted)
                findings.extend(Finding(v.rule_id, v.message, mapped.locate(v.pointer), v.severity) for v in check_payment(mapped.payment))
        elif mapped.payment is not None and not findings:
            decision = decide(mapped.payment, mapped.locate, self.options)
            findings.extend(decision.findings)
        elif mapped.payment is not None and any(f.code == DUPLICATE_REFERENCE for f in findings):
            findings.extend(Finding(v.rule_id, v.message, mapped.locate(v.pointer), v.severity) for v in check_payment(mapped.payment))
        document.errors = findings
        document.acknowledgement = {"payment": summary(mapped.payment, decision, mapped.end_to_end_reference)}
        accepted = decision is not None and decision.accepted
        if accepted:
            document.status = DocumentStatus.ACCEPTED
            if decision is not None and decision.outcome is not None:
                document.carm_status = decision.outcome.status.value
        status = (ACCEPTED_SETTLED if decision and decision.outcome else ACCEPTED) if accepted else REJECTED
        reasons = [Reason(f.code, f.message) for f in findings if f.severity is Severity.ERROR or not accepted]
        return TransactionStatus(mapped.payment_information_id, mapped.end_to_end_reference, status, reasons)

    def _answer(self, message: Pain001Message | None, group: list[Finding], statuses: list[TransactionStatus], name: str = "pain.001.001.09") -> None:
        sink = self.options.sink
        if sink is None:
            return
        out_name = f"{self.name}.pain002.xml"
        root = pain002_document(
            message_id=_answer_id(self.options.seed or self.name),
            created=self.options.now(),
            initiating_party=self.options.our_id[0],
            original_message_id=message.message_id if message else None,
            original_name=name,
            original_count=message.number_of_transactions if message else None,
            original_sum=message.control_sum if message else None,
            group_reasons=[Reason(f.code, f.message) for f in group],
            transactions=statuses,
        )
        with sink.open(out_name) as out:
            write_pain002(out, root)
        self.report.acknowledgements.append(out_name)


def _answer_id(seed: str) -> str:
    return "CARMGW-" + hashlib.sha256(f"{seed}:pain002".encode()).hexdigest()[:20].upper()


# --- PAYMUL / REMADV in the EDIFACT flow ------------------------------------------------------


@dataclass
class PaymentMessage:
    """Phase 1's result for one PAYMUL/REMADV message (kept in memory: payment messages are small)."""

    message_ref: str
    message_type: str
    mapping: EdiPaymentMapping
    document: DocumentReport


def is_payment_message(message: Message) -> bool:
    return is_paymul(message) or is_remadv(message)


def map_payment_message(message: Message, decimal: str, syntax: list[Finding], document: DocumentReport) -> PaymentMessage | None:
    """Map a PAYMUL/REMADV; its syntax findings join ``syntax`` (the CONTRL's). None when
    the message is syntactically rejected (it then gets no APERAK, like CUSDEC no CUSRES)."""
    mapping = map_paymul(message, decimal) if is_paymul(message) else map_remadv(message, decimal)
    reported = {(f.code, f.location.segment, f.location.element, f.location.component) for f in syntax}
    syntax.extend(f for f in mapping.findings if (f.code, f.location.segment, f.location.element, f.location.component) not in reported)
    document.acknowledgement = {"payments": [summary(p.payment, None, p.end_to_end_reference) for p in mapping.payments]}
    if syntax:
        return None
    document.status = DocumentStatus.ACCEPTED
    return PaymentMessage(message.reference, message.type, mapping, document)


def withdraw_payment_messages(items: list[PaymentMessage]) -> None:
    for item in items:
        item.document.status = DocumentStatus.REJECTED
        item.document.errors.append(Finding("18", "not processed: the interchange was rejected", Location(message_ref=item.message_ref)))


def answer_payment_messages(flow: EdifactFlow, current: Any, items: list[PaymentMessage]) -> None:
    """Phase 2 for a sound interchange: duplicates, rules, posting, one APERAK per message."""
    if not items:
        return
    from gateway.edifact_flow import control_reference

    header = current.header
    out = flow._stream("aperak")
    writer = None
    if out is not None:
        writer = InterchangeWriter(
            out, sender=flow.options.our_id, recipient=(header.sender, header.sender_qualifier),
            control_reference=control_reference(f"{flow.options.seed}:{current.index}:aperak"), prepared=flow.options.now(),
        )
    sent: list[str] = []
    for item in items:
        message_errors, payments = _answer_message(flow.options, header.sender, item)
        if writer is not None:
            writer.write_message(
                item.message_ref, APERAK_IDENTIFIER,
                aperak_segments(
                    message_id=item.mapping.message_id, inbound_interchange=header.control_reference, inbound_message=item.message_ref,
                    issued=flow.options.now(), message_errors=message_errors, payments=payments,
                ),
            )
            sent.append(item.message_ref)
    if writer is not None:
        writer.close()
        flow._record_sent(current, writer.control_reference, "aperak", sent)


def _aperak_error(finding: Finding) -> AperakError:
    return AperakError(finding.code, finding.message, finding.location.field, finding.location.describe())


def _answer_message(options: FlowOptions, sender: str, item: PaymentMessage) -> tuple[list[AperakError], list[AperakPayment]]:
    document = item.document
    group = list(item.mapping.group_findings)
    if not group and not register_message(options, sender, item.message_type, item.mapping.message_id):
        group.append(Finding(DUPLICATE_MESSAGE, f"duplicate message: {sender} sent {item.message_type} {item.mapping.message_id!r} before",
                             Location(message_ref=item.message_ref, segment=2, tag="BGM", element=2, component=1)))
    document.errors.extend(group)
    answers: list[AperakPayment] = []
    seen: set[str] = set()
    for mapped in item.mapping.payments:
        if mapped.end_to_end_reference in seen:  # within the message: never posted (a replay would say "applied")
            finding = Finding(DUPLICATE_REFERENCE, f"end-to-end reference {mapped.end_to_end_reference} is used twice in this message",
                              mapped.locate("end_to_end_reference"))
            document.errors.append(finding)
            answers.append(AperakPayment(mapped.end_to_end_reference, False, errors=[_aperak_error(finding)]))
            continue
        seen.add(mapped.end_to_end_reference or "")
        answers.append(_answer_payment(options, mapped, group, document))
    applied = [a.applied for a in answers]
    document.status = DocumentStatus.ACCEPTED if applied and all(applied) and not group else DocumentStatus.REJECTED
    return [_aperak_error(f) for f in group], answers


def _answer_payment(options: FlowOptions, mapped: EdiPayment, group: list[Finding], document: DocumentReport) -> AperakPayment:
    payment = mapped.payment
    index = next((i for i, p in enumerate(document.acknowledgement["payments"]) if p.get("end_to_end_reference") == mapped.end_to_end_reference), None) if document.acknowledgement else None
    if group or payment is None:
        finding = Finding(NOT_PROCESSED, "not processed: the message was rejected", mapped.locate(None))
        return AperakPayment(mapped.end_to_end_reference, False, errors=[_aperak_error(finding)])
    decision = decide(payment, mapped.locate, options)
    document.errors.extend(decision.findings)
    if index is not None and document.acknowledgement is not None:
        document.acknowledgement["payments"][index] = summary(payment, decision)
    if decision.outcome is not None and decision.accepted:
        document.carm_status = decision.outcome.status.value
    errors = [_aperak_error(f) for f in decision.findings if f.severity is Severity.ERROR]
    return AperakPayment(payment.end_to_end_reference, decision.accepted, applied_text(payment, decision) if decision.accepted else "", errors)
