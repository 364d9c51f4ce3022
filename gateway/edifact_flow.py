"""One EDIFACT file through the gateway, interchange by interchange.

Phase 1 streams the interchange: syntax and envelope checks, mapping to the
domain model and business rules, message by message; every message gets its
CONTRL verdict and its declaration (or its errors) goes to a disk spool.
Phase 2 runs when the interchange has been read to its end: only if the
interchange is sound are its declarations posted (a truncated or miscounted
interchange posts nothing), and each gets its CUSRES. The CONTRL is written
last, when its UCI verdict is known.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from diagnostics import Finding, Location, Severity
from domain import Declaration, DeclarationOutcome, OutcomeStatus
from mappings.contrl import ACKNOWLEDGED, Preference, RECEIVED, REJECTED, ContrlBuilder, MessageVerdict, ReceivedContrl, read_contrl
from mappings.cusdec_declaration import is_guide_message, map_cusdec
from mappings.cusres import IDENTIFIER as CUSRES_IDENTIFIER
from mappings.cusres import CusresError, cusres_segments
from mappings.edifact_writer import InterchangeWriter
from parsers.edifact.model import (
    Delimiters,
    InterchangeEnd,
    InterchangeHeader,
    InterchangeStart,
    Message,
    MessageRead,
    Segment,
    SyntaxProblem,
)
from parsers.edifact.reader import read_edifact
from validators.declaration_rules import check_declaration
from validators.rules import RuleContext
from gateway.partners import Partner, may_file_for, owns_sender
from validators.directory import validate_message
from validators.envelope import EnvelopeValidator
from gateway.declaration_spool import DeclarationSpool, SpooledDocument
from gateway.report import DocumentReport, DocumentStatus, FileReport, InterchangeReport
from gateway import payment_flow  # PAYMUL / REMADV (hooks marked "payments")

Poster = Callable[[Declaration, str], DeclarationOutcome]


class AckSink(Protocol):
    """Where acknowledgements go: an atomic writer per file name."""

    def open(self, name: str) -> AbstractContextManager[BinaryIO]: ...


class InterchangeRegistry(Protocol):
    def register(self, header: InterchangeHeader) -> bool:
        """False when this sender used this control reference before."""


@dataclass(frozen=True)
class SentInterchange:
    """An interchange the gateway wrote to a partner (a CONTRL, a receipt or CUSRES)."""

    control_reference: str  # our UNB 0020
    kind: str  # "contrl", "contrl-receipt" or "cusres"
    recipient: str  # UNB 0010: the partner's EDI id
    message_references: tuple[str, ...]  # UNH 0062 of each message in it
    answers: str  # UNB 0020 of the inbound interchange it answers
    file: str  # the inbound file it answers


class AcknowledgementRegistry(Protocol):
    """Remembers what the gateway sent, so partners' CONTRLs can be matched to it."""

    def record_sent(self, sent: SentInterchange) -> None: ...

    def match_received(self, received: ReceivedContrl) -> SentInterchange | None:
        """Record the partner's verdict on the interchange UCI 0020 names and
        return what that interchange was; None when we never sent it."""


def idempotency_key(declaration: Declaration) -> str:
    """Deterministic per document version and content: a retry sends the same key."""
    digest = hashlib.sha256(declaration.model_dump_json().encode()).hexdigest()[:16]
    return f"cad-{declaration.transaction_number}-{declaration.version:05d}-{digest}"


def control_reference(seed: str) -> str:
    """A 14-character interchange reference derived from what it answers, so a
    rerun writes the same acknowledgement."""
    return hashlib.sha256(seed.encode()).hexdigest()[:14].upper()


@dataclass
class FlowOptions:
    our_id: tuple[str, str] = ("CARMGW", "ZZZ")
    poster: Poster | None = None  # None: check only, post nothing
    sink: AckSink | None = None  # None: write no acknowledgements
    registry: InterchangeRegistry | None = None  # None: no duplicate detection
    partner_id: str = "UNKNOWN"
    seed: str = ""  # e.g. the file's SHA-256: makes our control references stable
    receipt_contrl: bool = False  # also send a receipt CONTRL (UCI 0083 = 8) per interchange, before the verdict
    acknowledgements: AcknowledgementRegistry | None = None  # None: sent interchanges are not recorded
    rules_context: RuleContext | None = None  # None: the rules that need no reference beyond the file
    payment_poster: payment_flow.PaymentPoster | None = None  # None: payments are checked, not posted
    partner: Partner | None = None  # the inbox owner: whose sender ids and importer accounts are allowed
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


@dataclass
class _OpenInterchange:
    header: InterchangeHeader
    index: int
    contrl: ContrlBuilder
    spool: DeclarationSpool
    envelope_findings: list[Finding] = field(default_factory=list)
    ended: bool = False
    only_acknowledgements: bool = True  # a CONTRL is never answered with a CONTRL
    receipt_sent: bool = False
    # The report entries of this interchange's spooled messages, in spool order:
    # message references repeat across interchanges (and, wrongly, within one),
    # so documents are never looked up by reference.
    spooled: list[DocumentReport] = field(default_factory=list)
    payments: list[payment_flow.PaymentMessage] = field(default_factory=list)  # payments: answered with APERAK


class EdifactFlow:
    def __init__(self, name: str, options: FlowOptions) -> None:
        self.name = name
        self.options = options
        self.report = FileReport(file=name, format="edifact")
        self._stack = ExitStack()
        self._writers: dict[str, BinaryIO] = {}
        self._orphans: list[Finding] = []
        self._count = 0

    def run(self, stream: BinaryIO) -> FileReport:
        with self._stack:
            current: _OpenInterchange | None = None
            envelope = EnvelopeValidator()
            for event in read_edifact(stream):
                findings = envelope.observe(event)
                if isinstance(event, InterchangeStart):
                    if current is not None:
                        self._finish(current)
                    current = self._start(event.header)
                    current.envelope_findings.extend(findings)
                elif isinstance(event, MessageRead):
                    self._message(current, event.message, findings)
                elif isinstance(event, SyntaxProblem):
                    self._problem(current, event.finding)
                    self._problem(current, *findings)
                elif isinstance(event, InterchangeEnd):
                    if current is not None:
                        current.envelope_findings.extend(findings)
                        current.ended = True
                else:  # group start/end: only envelope findings matter here
                    self._problem(current, *findings)
            if current is not None:
                self._finish(current)
            elif self._orphans or not self.report.documents:
                self._answer_unreadable()
        return self.report

    # phase 1 -------------------------------------------------------------------
    def _start(self, header: InterchangeHeader) -> _OpenInterchange:
        self._count += 1
        current = _OpenInterchange(header, self._count, ContrlBuilder(header, self._preferred_syntax()), DeclarationSpool())
        current.envelope_findings.extend(self._orphans)
        self._orphans = []
        partner = self.options.partner
        if partner is not None and not owns_sender(partner, header.sender, header.sender_qualifier):
            current.envelope_findings.append(
                Finding(
                    "23",
                    f"interchange sender {header.sender}:{header.sender_qualifier} is not one of partner "
                    f"{partner.id}'s identifications; the interchange is refused",
                    Location(segment=header.segment.position or 1, tag="UNB", element=2),
                )
            )
        registry = self.options.registry
        if registry is not None and header.control_reference and not registry.register(header):
            current.envelope_findings.append(
                Finding(
                    "26",
                    f"duplicate interchange: sender {header.sender} used control reference "
                    f"{header.control_reference!r} before",
                    Location(segment=header.segment.position or 1, tag="UNB", element=5),
                )
            )
        return current

    def _problem(self, current: _OpenInterchange | None, *findings: Finding) -> None:
        if current is None:
            self._orphans.extend(findings)
        else:
            current.envelope_findings.extend(findings)

    def _message(self, current: _OpenInterchange | None, message: Message, envelope: list[Finding]) -> None:
        decimal = current.header.delimiters.decimal if current else "."
        syntax = [*message.findings, *envelope, *validate_message(message, decimal)]
        if message.type == "CONTRL":
            self.report.documents.append(self._received_contrl(message, syntax))
            return
        if current is not None:
            current.only_acknowledgements = False
            self._write_receipt(current)
        document = DocumentReport(message.reference, message.type, DocumentStatus.REJECTED)
        self.report.documents.append(document)
        spooled: SpooledDocument | None = None
        payments: payment_flow.PaymentMessage | None = None
        if payment_flow.is_payment_message(message):  # payments
            payments = payment_flow.map_payment_message(message, decimal, syntax, document)
        elif not is_guide_message(message):
            syntax.append(_not_supported(message))
            document.status = DocumentStatus.NOT_SUPPORTED
        else:
            spooled = self._map(message, decimal, syntax, document)
        document.errors = syntax + (spooled.errors if spooled else [])
        if current is not None:
            identifier = _message_identifier(message)
            current.contrl.add(MessageVerdict(message.reference, identifier, accepted=not syntax, findings=syntax))
            if spooled is not None:
                current.spool.add(spooled)
                current.spooled.append(document)
            if payments is not None:  # payments
                current.payments.append(payments)

    def _map(self, message: Message, decimal: str, syntax: list[Finding], document: DocumentReport) -> SpooledDocument | None:
        """Map a guide message and apply the business rules. Syntax findings
        are appended to ``syntax`` (the guide's own, where the directory has
        not already reported that position with that code); the result is what
        phase 2 needs, or None when the message is syntactically rejected."""
        mapping = map_cusdec(message, decimal)
        reported = {_position_key(f) for f in syntax}
        syntax.extend(f for f in mapping.findings if _position_key(f) not in reported)
        declaration = mapping.declaration
        if declaration is not None:
            document.reference = declaration.reference
        if declaration is None or syntax:
            return None
        spooled = SpooledDocument(message.reference, message.type, declaration, declaration.filer_reference, sources=mapping.sources)
        partner = self.options.partner
        if partner is not None and not may_file_for(partner, declaration.importer.account):
            location = _with_field(spooled.locate("importer.account"), "importer.account")
            message_text = f"partner {partner.id} is not registered to file for importer {declaration.importer.account}"
            spooled.errors.append(Finding("PTN-IMP", message_text, location))
        for violation in check_declaration(declaration, self.options.rules_context):
            location = _with_field(spooled.locate(violation.pointer), violation.pointer)
            spooled.errors.append(Finding(violation.rule_id, violation.message, location, violation.severity))
        document.status = DocumentStatus.REJECTED if _rejecting(spooled.errors) else DocumentStatus.ACCEPTED
        return spooled

    # phase 2 -------------------------------------------------------------------
    def _finish(self, current: _OpenInterchange) -> None:
        header = current.header
        if not current.ended and not any(f.location.tag == "UNZ" for f in current.envelope_findings):
            current.envelope_findings.append(
                Finding("13", "the interchange has no UNZ trailer (truncated file?)", Location(tag="UNZ"))
            )
        sound = not current.envelope_findings
        answered = not current.only_acknowledgements
        accepted = sound and (not answered or current.contrl.action(current.envelope_findings) == ACKNOWLEDGED)
        summary = InterchangeReport(header.sender, header.control_reference, accepted=accepted, errors=list(current.envelope_findings))
        self.report.interchanges.append(summary)
        if sound:
            self._answer_documents(current)
            payment_flow.answer_payment_messages(self, current, current.payments)  # payments: APERAK
        else:
            self._withdraw_documents(current)
            payment_flow.withdraw_payment_messages(current.payments)  # payments
        wanted = self.options.partner is None or self.options.partner.acknowledgements.contrl
        if answered and (wanted or not accepted):  # a rejection is always answered
            summary.contrl_action = self._write_contrl(current)
        current.spool.close()

    def _withdraw_documents(self, current: _OpenInterchange) -> None:
        """A rejected interchange posts nothing: its documents are rejected with it."""
        for document in current.spooled:
            if document.status == DocumentStatus.ACCEPTED:
                document.status = DocumentStatus.REJECTED
                document.errors.append(Finding("18", "not processed: the interchange was rejected", Location(message_ref=document.message_ref)))

    def _answer_documents(self, current: _OpenInterchange) -> None:
        if current.spool.count == 0:
            return
        header = current.header
        writer = self._cusres_writer(current)
        sent: list[str] = []
        for item, document in zip(current.spool, current.spooled, strict=True):
            outcome: DeclarationOutcome | None = None
            errors = [CusresError(f.code, f.message, f.location.field, f.location.describe(), _line_of(f.location.field)) for f in item.errors]
            rejected = _rejecting(item.errors)
            status = OutcomeStatus.REJECTED if rejected else OutcomeStatus.ACCEPTED
            if not rejected and item.declaration is not None and self.options.poster is not None:
                outcome = self.options.poster(item.declaration, idempotency_key(item.declaration))
                status = outcome.status
                for error in outcome.errors:
                    location = _with_field(item.locate(error.pointer), error.pointer)
                    finding = Finding(error.code, error.message, location)
                    document.errors.append(finding)
                    errors.append(CusresError(error.code, error.message, error.pointer, location.describe(), _line_of(error.pointer)))
                document.record_outcome(outcome)
            if writer is not None:
                reference = item.declaration.reference if item.declaration else item.message_ref
                writer.write_message(
                    item.message_ref,
                    CUSRES_IDENTIFIER,
                    cusres_segments(
                        reference=reference,
                        status=status,
                        inbound_interchange=header.control_reference,
                        inbound_message=item.message_ref,
                        filer_reference=item.filer_reference,
                        outcome=outcome,
                        errors=errors,
                        issued=self.options.now(),
                    ),
                )
                sent.append(item.message_ref)
        if writer is not None:
            writer.close()
            self._record_sent(current, writer.control_reference, "cusres", sent)

    # acknowledgements ------------------------------------------------------------
    def _stream(self, kind: str) -> BinaryIO | None:
        sink = self.options.sink
        if sink is None:
            return None
        if kind not in self._writers:
            name = f"{self.name}.{kind}.edi"
            self._writers[kind] = self._stack.enter_context(sink.open(name))
            self.report.acknowledgements.append(name)
        return self._writers[kind]

    def _preferred_syntax(self) -> Preference:
        """The partner's syntax identifier and version for our replies, if it set them."""
        partner = self.options.partner
        if partner is None:
            return (None, None)
        wish = partner.acknowledgements
        return (wish.charset, str(wish.syntax_version) if wish.syntax_version else None)

    def _cusres_writer(self, current: _OpenInterchange) -> InterchangeWriter | None:
        out = self._stream("cusres")
        if out is None:
            return None
        header = current.header
        charset, version = self._preferred_syntax()
        return InterchangeWriter(
            out,
            sender=self.options.our_id,
            recipient=(header.sender, header.sender_qualifier),
            control_reference=control_reference(f"{self.options.seed}:{current.index}:cusres"),
            syntax=(charset or "UNOC", version or "3"),
            prepared=self.options.now(),
        )

    def _write_contrl(self, current: _OpenInterchange) -> str:
        out = self._stream("contrl")
        reference = control_reference(f"{self.options.seed}:{current.index}:contrl")
        if out is None:
            return current.contrl.action(current.envelope_findings)
        action = current.contrl.write(
            out,
            our_id=self.options.our_id,
            control_reference=reference,
            interchange_findings=current.envelope_findings,
            prepared=self.options.now(),
        )
        self._record_sent(current, reference, "contrl", ["1"])
        return action

    def _write_receipt(self, current: _OpenInterchange) -> None:
        """The receipt CONTRL (UCI 8), once per interchange, before anything else
        is written for it. It waits for the first message that is not a CONTRL:
        an interchange of acknowledgements gets no CONTRL, not even a receipt."""
        if not self.options.receipt_contrl or current.receipt_sent:
            return
        current.receipt_sent = True
        out = self._stream("contrl")
        if out is None:
            return
        reference = control_reference(f"{self.options.seed}:{current.index}:receipt")
        current.contrl.write_receipt(out, our_id=self.options.our_id, control_reference=reference, prepared=self.options.now())
        self._record_sent(current, reference, "contrl-receipt", ["1"])

    def _record_sent(self, current: _OpenInterchange, reference: str, kind: str, messages: list[str]) -> None:
        registry = self.options.acknowledgements
        if registry is not None:
            header = current.header
            registry.record_sent(SentInterchange(reference, kind, header.sender, tuple(messages), header.control_reference, self.name))

    def _received_contrl(self, message: Message, syntax: list[Finding]) -> DocumentReport:
        """A partner's CONTRL: recorded (never answered) and matched to what we sent."""
        document = DocumentReport(message.reference, "CONTRL", DocumentStatus.RECEIVED, errors=syntax)
        received = read_contrl(message)
        if received is None:
            document.errors.append(Finding("13", "CONTRL without UCI segment: cannot tell which interchange it answers", Location(message_ref=message.reference, segment=2, tag="UCI")))
            return document
        verdict: dict[str, object] = {"interchange": received.interchange, "action": received.action}
        if received.code:
            verdict["code"] = received.code
        ucm_rejections = {m.reference: m.code or next(iter(m.errors), "") for m in received.rejected}
        verdict["rejected"] = [{"message_ref": ref, "code": code} for ref, code in ucm_rejections.items()]
        registry = self.options.acknowledgements
        if registry is not None:
            sent = registry.match_received(received)
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

    def reject(self, findings: list[Finding]) -> FileReport:
        """Refuse a file without reading it (too large, unsafe name): the report
        and a rejecting CONTRL addressed to the partner."""
        with self._stack:
            self._answer_unreadable(findings)
        return self.report

    def _answer_unreadable(self, findings: list[Finding] | None = None) -> None:
        """No interchange could be read: reject with a CONTRL addressed to the partner."""
        findings = findings or self._orphans or [Finding("13", "no UNB interchange header found", Location(segment=1, tag="UNB"))]
        self.report.errors.extend(findings)
        header = InterchangeHeader(
            segment=Segment("UNB", []),
            delimiters=Delimiters(),
            una_present=False,
            syntax_identifier="UNOC",
            syntax_version="3",
            sender=self.options.partner_id,
            sender_qualifier="ZZZ",
            recipient=self.options.our_id[0],
            recipient_qualifier=self.options.our_id[1],
            prepared_date="",
            prepared_time="",
            control_reference="0",
        )
        self._count += 1
        current = _OpenInterchange(header, self._count, ContrlBuilder(header, self._preferred_syntax()), DeclarationSpool(), list(findings), ended=True, only_acknowledgements=False)
        self._write_contrl(current)
        current.spool.close()


def _not_supported(message: Message) -> Finding:
    return Finding(
        "17",
        f"message type {message.type} {message.version}:{message.release} is not supported; this gateway accepts "
        "CUSDEC D:96B (guide CAD01), PAYMUL and REMADV D:96B, and acknowledgements (CONTRL)",
        Location(message_ref=message.reference, segment=1, tag="UNH", element=2, component=1),
    )


def _message_identifier(message: Message) -> list[str]:
    """UNH S009 as received (CONTRL UCM echoes it), or its four mandatory parts."""
    header = message.segments[0].elements if message.segments else []
    if len(header) > 1 and any(header[1]):
        return list(header[1])
    return [message.type, message.version, message.release, message.agency]


def _position_key(finding: Finding) -> tuple[str, int | None, int | None, int | None]:
    location = finding.location
    return finding.code, location.segment, location.element, location.component


def _rejecting(findings: list[Finding]) -> bool:
    """Errors reject a declaration; warnings travel with it."""
    return any(f.severity is Severity.ERROR for f in findings)


def _with_field(location: Location, pointer: str | None) -> Location:
    return dataclasses.replace(location, field=pointer)


def _line_of(pointer: str | None) -> int | None:
    if pointer and pointer.startswith("lines["):
        return int(pointer[6 : pointer.index("]")]) + 1
    return None


def iter_messages(stream: BinaryIO) -> Iterator[Message]:
    """Only the messages of a file (benchmarks and tests)."""
    for event in read_edifact(stream):
        if isinstance(event, MessageRead):
            yield event.message
