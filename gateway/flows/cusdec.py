"""CUSDEC D.96B (guide CAD01) in an EDIFACT interchange: each message mapped to
a Declaration and checked (business rules, the partner's importers) as the
interchange streams, then spooled; once the interchange is sound, each is posted
and answered with a CUSRES (``<file>.cusres.edi``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from array import array
from collections.abc import Mapping

from diagnostics import Finding, Location, Severity
from diagnostics.field_paths import nearest_source
from domain import DeclarationOutcome, OutcomeStatus
from gateway.document_log import DocumentLog
from gateway.flows.answering import post_and_answer
from gateway.flows.contract import FlowOptions, PendingAnswer, acknowledgement_name
from gateway.flows.replies import InterchangeReplies, preferred_syntax
from gateway.flows.spool import SpooledDeclaration, finding_to_json
from gateway.partners import may_file_for
from gateway.report import DocumentReport, DocumentStatus
from mappings.cusdec_declaration import Source, map_cusdec, source_location
from mappings.cusres import IDENTIFIER as CUSRES_IDENTIFIER
from mappings.cusres import CusresError, cusres_segments
from mappings.edifact_writer import InterchangeWriter
from parsers.edifact.model import Message
from validators.declaration_rules import check_declaration


class CusdecHandler:
    """The CUSDEC messages of one interchange (``handlers.MessageHandler``)."""

    def __init__(self, replies: InterchangeReplies, options: FlowOptions) -> None:
        self.replies = replies
        self.options = options
        # None: phase 2 neither posts nor answers (``carm-edi check``), so nothing is spooled
        self.spool = options.spool() if options.answers else None
        # Where the report's entries of the spooled messages are, in spool order:
        # message references repeat across interchanges (and, wrongly, within
        # one), so documents are never looked up by reference.
        self.entries = array("Q")

    def read(
        self, message: Message, decimal: str, syntax: list[Finding], document: DocumentReport, entry: int
    ) -> list[Finding]:
        spooled = self._map(message, decimal, syntax, document)
        if spooled is None:
            return []
        if self.spool is not None:
            self.spool.add(spooled)
        self.entries.append(entry)
        return spooled.errors

    def _map(
        self, message: Message, decimal: str, syntax: list[Finding], document: DocumentReport
    ) -> SpooledDeclaration | None:
        """Map a guide message and apply the business rules. Syntax findings
        are appended to ``syntax`` (the guide's own, where the directory has
        not already reported that position with that code); the result is what
        phase 2 needs, or None when the message is syntactically rejected."""
        mapping = map_cusdec(message, decimal)
        if mapping.findings:  # most messages have none
            reported = {position_key(f) for f in syntax}
            syntax.extend(f for f in mapping.findings if position_key(f) not in reported)
        declaration = mapping.declaration
        if declaration is not None:
            document.reference = declaration.reference
        if declaration is None or syntax:
            return None
        sources = mapping.sources  # worked out when first asked: most declarations have no finding to place
        spooled = SpooledDeclaration(
            message.reference,
            message.type,
            declaration,
            sources=dict(sources) if self.spool is not None and self.spool.keeps_sources else {},
            filer_reference=declaration.filer_reference,
        )
        partner = self.options.partner
        if partner is not None and not may_file_for(partner, declaration.importer.account):
            message_text = f"partner {partner.id} is not registered to file for importer {declaration.importer.account}"
            where = _located(message.reference, sources, "importer.account")
            spooled.errors.append(Finding("PTN-IMP", message_text, where))
        for violation in check_declaration(declaration, self.options.rules_context):
            where = _located(message.reference, sources, violation.pointer)
            spooled.errors.append(Finding(violation.rule_id, violation.message, where, violation.severity))
        rejected = rejecting(spooled.errors)
        spooled.status = OutcomeStatus.REJECTED.value if rejected else None
        document.status = DocumentStatus.REJECTED if rejected else DocumentStatus.ACCEPTED
        return spooled

    def answer(self, documents: DocumentLog[DocumentReport]) -> None:
        if self.spool is None or self.spool.count == 0:
            return
        charset, version = preferred_syntax(self.options)
        writer = self.replies.writer("cusres", syntax=(charset or "UNOC", version or "3"))
        sent: list[str] = []

        def answer(item: SpooledDeclaration, outcome: DeclarationOutcome | None, portal: list[Finding]) -> None:
            if writer is None:
                return
            status = (
                outcome.status if outcome is not None else OutcomeStatus(item.status or OutcomeStatus.ACCEPTED.value)
            )
            reference = item.declaration.reference if item.declaration else item.ref
            write_cusres(
                writer, item, reference, status, self.replies.header.control_reference, outcome,
                [*item.errors, *portal], self.options.now(),
            )  # fmt: skip
            sent.append(item.ref)
            if outcome is not None and not outcome.status.final and self.options.pending is not None:
                self.options.pending.wait(
                    PendingAnswer(
                        outcome.transaction_number, outcome.version, outcome.status.value, "cusres",
                        (self.replies.header.sender, self.replies.header.sender_qualifier),
                        self.replies.header.control_reference, item.ref, item.filer_reference,
                        (charset or "UNOC", version or "3"),
                        acknowledgement_name(
                            self.options, self.replies.files.name,
                            f"{outcome.transaction_number}-{outcome.version:05d}.final.cusres.edi",
                        ),
                        sources=item.sources, findings=tuple(finding_to_json(f) for f in item.errors),
                    )
                )  # fmt: skip

        spooled = self.spool.read(declarations=writer is not None or self.options.poster is not None)
        window = self.options.posts_in_flight
        entries = documents.reopened(self.entries, keep=window)
        post_and_answer(zip(spooled, entries, strict=True), self.options.poster, locate, answer, window)
        if writer is not None:
            writer.close()
            self.replies.record_sent(writer.control_reference, "cusres", sent)

    def withdraw(self, documents: DocumentLog[DocumentReport]) -> None:
        for document in documents.reopened(self.entries):
            if document.status == DocumentStatus.ACCEPTED:
                document.status = DocumentStatus.REJECTED
                document.errors.append(
                    Finding(
                        "18", "not processed: the interchange was rejected", Location(message_ref=document.message_ref)
                    )
                )

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


def write_cusres(
    writer: InterchangeWriter,
    item: SpooledDeclaration,
    reference: str,
    status: OutcomeStatus,
    inbound_interchange: str,
    outcome: DeclarationOutcome | None,
    findings: list[Finding],
    issued: dt.datetime,
) -> None:
    """One CUSRES answering the message ``item``: the status, the assessment of an accepted
    ``outcome``, and ``findings`` (errors and warnings) at their places in the partner's message.
    The immediate answer and a pending version's final one (``gateway.waiting``) both write it."""
    writer.write_message(
        item.ref,
        CUSRES_IDENTIFIER,
        cusres_segments(
            reference=reference,
            status=status,
            inbound_interchange=inbound_interchange,
            inbound_message=item.ref,
            filer_reference=item.filer_reference,
            outcome=outcome,
            errors=[_cusres_error(f) for f in findings],
            issued=issued,
        ),
    )


def locate(item: SpooledDeclaration, pointer: str | None) -> Location:
    """The position of a domain pointer (or of its nearest parent), with the pointer as its field."""
    return _located(item.ref, item.sources, pointer)


def _located(reference: str, sources: Mapping[str, Source], pointer: str | None) -> Location:
    return dataclasses.replace(source_location(reference, nearest_source(sources, pointer)), field=pointer)


def _cusres_error(finding: Finding) -> CusresError:
    pointer = finding.location.field
    warning = finding.severity is Severity.WARNING
    return CusresError(finding.code, finding.message, pointer, finding.location.describe(), _line_of(pointer), warning)


def _line_of(pointer: str | None) -> int | None:
    if pointer and pointer.startswith("lines["):
        return int(pointer[6 : pointer.index("]")]) + 1
    return None


def position_key(finding: Finding) -> tuple[str, int | None, int | None, int | None]:
    location = finding.location
    return finding.code, location.segment, location.element, location.component


def rejecting(findings: list[Finding]) -> bool:
    """Errors reject a declaration; warnings travel with it."""
    return any(f.severity is Severity.ERROR for f in findings) if findings else False  # most have none
