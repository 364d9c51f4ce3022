"""ISO 20022 pain.001 (09 and later), the file in the role of the interchange,
answered with one pain.002 (``<file>.pain002.xml``): group status and reasons,
then a status per transaction with ISO reason codes (docs/formats/payments.md)."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from diagnostics import Finding, Location, Severity
from gateway.flows.contract import FlowOptions, acknowledgement_name, register_reference
from gateway.flows.payments import (
    DUPLICATE_MESSAGE,
    NOT_PROCESSED,
    Decision,
    decide,
    summary,
)
from gateway.report import DocumentReport, DocumentStatus, FileReport, InterchangeReport
from mappings.pain001_payment import (
    DUPLICATE_REFERENCE,
    MappedPayment,
    Pain001Message,
    map_pain001,
)
from mappings.pain002 import (
    ACCEPTED,
    ACCEPTED_SETTLED,
    REJECTED,
    Reason,
    TransactionStatus,
    pain002_document,
    write_pain002,
)
from parsers.xml.pain001_reader import read_pain001
from validators.rules.payments import check_payment

PAIN001_TYPE = "pain.001"


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
        if not group and not register_reference(self.options, sender, "PAIN001", message.message_id):
            group.append(
                Finding(
                    DUPLICATE_MESSAGE,
                    f"duplicate message: {sender} sent MsgId {message.message_id!r} before",
                    Location(xpath="/Document/CstmrCdtTrfInitn/GrpHdr/MsgId"),
                )
            )
        interchange = InterchangeReport(
            sender, (message.message_id or "")[:32], accepted=not group, errors=self.report.findings(group)
        )
        self.report.interchanges.append(interchange)
        statuses = [self._transaction(mapped, group) for mapped in message.payments]
        self._answer(message, group, statuses, name)
        return self.report

    def reject(self, findings: list[Finding]) -> FileReport:
        """Refuse a file without reading it (too large, unsafe name) or one the
        gateway failed on: the report and a pain.002 rejecting the message (RJCT)
        with the findings as its group reasons."""
        self.report.errors.extend(findings)
        self._answer(None, findings, [])
        return self.report

    def _transaction(self, mapped: MappedPayment, group: list[Finding]) -> TransactionStatus:
        document = DocumentReport(mapped.ref, PAIN001_TYPE, DocumentStatus.REJECTED, errors=self.report.findings())
        self.report.documents.append(document)
        findings = list(mapped.findings)
        decision: Decision | None = None
        if group:
            findings.append(
                Finding(
                    NOT_PROCESSED,
                    "not processed: the message was rejected",
                    Location(xpath=mapped.xpath, line=mapped.line),
                )
            )
            if mapped.payment is not None:  # still say what else is wrong with it (nothing is posted)
                findings.extend(
                    Finding(v.rule_id, v.message, mapped.locate(v.pointer), v.severity)
                    for v in check_payment(mapped.payment)
                )
        elif mapped.payment is not None and not findings:
            decision = decide(mapped.payment, mapped.locate, self.options)
            findings.extend(decision.findings)
        elif mapped.payment is not None and any(f.code == DUPLICATE_REFERENCE for f in findings):
            findings.extend(
                Finding(v.rule_id, v.message, mapped.locate(v.pointer), v.severity)
                for v in check_payment(mapped.payment)
            )
        document.errors.extend(findings)
        document.acknowledgement = {"payment": summary(mapped.payment, decision, mapped.end_to_end_reference)}
        accepted = decision is not None and decision.accepted
        if accepted:
            document.status = DocumentStatus.ACCEPTED
            if decision is not None and decision.outcome is not None:
                document.carm_status = decision.outcome.status.value
        status = (ACCEPTED_SETTLED if decision and decision.outcome else ACCEPTED) if accepted else REJECTED
        reasons = [Reason(f.code, f.message) for f in findings if f.severity is Severity.ERROR or not accepted]
        return TransactionStatus(mapped.payment_information_id, mapped.end_to_end_reference, status, reasons)

    def _answer(
        self,
        message: Pain001Message | None,
        group: list[Finding],
        statuses: list[TransactionStatus],
        name: str = "pain.001.001.09",
    ) -> None:
        sink = self.options.sink
        if sink is None:
            return
        out_name = acknowledgement_name(self.options, self.name, "pain002.xml")
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
