"""One EDIFACT file through the gateway, interchange by interchange.

Phase 1 streams the interchange: syntax and envelope checks, then each message
goes to the handler registered for its type, version and release
(``gateway.flows.handlers``: CUSDEC, PAYMUL, REMADV), which maps and checks it
and keeps what phase 2 needs; every message gets its CONTRL verdict. Phase 2
runs when the interchange has been read to its end: only if the interchange is
sound do the handlers post and answer (CUSRES, APERAK); a truncated or
miscounted interchange posts nothing. The CONTRL is written last, when its UCI
verdict is known.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

from diagnostics import Finding, Location
from gateway.finding_budget import Findings
from gateway.flows.contract import FlowOptions
from gateway.flows.handlers import (
    EDIFACT_MESSAGES,
    MessageHandler,
    edifact_registration,
)
from gateway.flows.received_contrl import received_contrl
from gateway.flows.replies import (
    AcknowledgementFiles,
    InterchangeReplies,
    preferred_syntax,
)
from gateway.partners import owns_sender
from gateway.report import DocumentReport, DocumentStatus, FileReport, InterchangeReport
from mappings.contrl import ACKNOWLEDGED, ContrlBuilder, MessageVerdict
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
from validators.directory import validate_message
from validators.envelope import EnvelopeValidator


@dataclass
class _OpenInterchange:
    replies: InterchangeReplies
    contrl: ContrlBuilder
    handlers: dict[object, MessageHandler]  # by handler factory, in registration order
    envelope_findings: Findings  # the file's budget; the interchange's report lists them
    ended: bool = False
    only_acknowledgements: bool = True  # a CONTRL is never answered with a CONTRL
    receipt_sent: bool = False
    registered: bool = False  # its (sender, reference) was registered for it: released if it is refused

    @property
    def header(self) -> InterchangeHeader:
        return self.replies.header

    def close(self) -> None:
        for handler in self.handlers.values():
            handler.close()


class EdifactFlow:
    def __init__(self, name: str, options: FlowOptions) -> None:
        self.name = name
        self.options = options
        self.report = FileReport(file=name, format="edifact")
        self._stack = ExitStack()
        self._files = AcknowledgementFiles(name, options, self.report, self._stack)
        self._orphans = self.report.findings()  # outside any interchange: the next one's, or the file's
        self._count = 0
        self._registered: set[tuple[str, str, str]] = set()  # (sender, qualifier, reference) held by this file
        self._detached: _OpenInterchange | None = (
            None  # handlers of messages outside any interchange (answered by nobody)
        )

    def run(self, stream: BinaryIO) -> FileReport:
        with self._stack:
            current: _OpenInterchange | None = None
            envelope = EnvelopeValidator()
            partner = self.options.partner
            keep_line_breaks = partner is not None and partner.edifact_line_breaks == "data"
            for event in read_edifact(stream, keep_line_breaks=keep_line_breaks):
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
            elif self._orphans.found or not self.report.documents:
                self._answer_unreadable()
            if self._detached is not None:
                self._detached.close()
        return self.report

    # phase 1 -------------------------------------------------------------------
    def _open(self, header: InterchangeHeader, index: int) -> _OpenInterchange:
        replies = InterchangeReplies(self._files, self.options, header, index)
        handlers: dict[object, MessageHandler] = {}
        for registration in EDIFACT_MESSAGES:
            if registration.handler not in handlers:
                handlers[registration.handler] = registration.handler(replies, self.options)
        return _OpenInterchange(replies, self._contrl(header), handlers, self.report.findings())

    def _contrl(self, header: InterchangeHeader) -> ContrlBuilder:
        """The interchange's CONTRL builder: it keeps the UCMs only when acknowledgements are written."""
        return ContrlBuilder(header, preferred_syntax(self.options), segments=self.options.sink is not None)

    def _start(self, header: InterchangeHeader) -> _OpenInterchange:
        self._count += 1
        current = self._open(header, self._count)
        if self._orphans.found:  # handed on, not copied: a copy would count against the budget twice
            current.envelope_findings = self._orphans
            self._orphans = self.report.findings()
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
            return current  # not the sender's to spend: its reference is not registered
        self._register(current)
        return current

    def _register(self, current: _OpenInterchange) -> None:
        """Duplicate detection (26); what this interchange registers is released
        again in ``_finish`` if it is refused."""
        header = current.header
        registry = self.options.registry
        if registry is None or not header.control_reference:
            return
        if not registry.register(header):
            current.envelope_findings.append(
                Finding(
                    "26",
                    f"duplicate interchange: sender {header.sender} used control reference "
                    f"{header.control_reference!r} before",
                    Location(segment=header.segment.position or 1, tag="UNB", element=5),
                )
            )
            return
        key = (header.sender, header.sender_qualifier, header.control_reference)
        current.registered = key not in self._registered  # an earlier interchange of this file holds it otherwise
        self._registered.add(key)

    def _problem(self, current: _OpenInterchange | None, *findings: Finding) -> None:
        if current is None:
            self._orphans.extend(findings)
        else:
            current.envelope_findings.extend(findings)

    def _message(self, current: _OpenInterchange | None, message: Message, envelope: list[Finding]) -> None:
        decimal = current.header.delimiters.decimal if current else "."
        syntax = [*message.findings, *envelope]
        if not message.skipped:  # a message the reader did not keep whole is rejected on its finding alone
            syntax += validate_message(message, decimal)
        if message.type == "CONTRL":
            self.report.documents.append(
                received_contrl(message, self.report.findings(syntax), self.options.acknowledgements)
            )
            self.report.documents.settle()
            return
        if current is not None:
            current.only_acknowledgements = False
            self._write_receipt(current)
        document = DocumentReport(
            message.reference, message.type, DocumentStatus.REJECTED, errors=self.report.findings()
        )
        entry = self.report.documents.append(document)
        registration = edifact_registration(message)
        errors: list[Finding] = []
        if message.skipped:
            pass  # rejected unread: nothing of it is mapped
        elif registration is None and not _identified(message):
            pass  # the envelope check reported the missing identifier (13): the message is rejected
        elif registration is None:
            syntax.append(_not_supported(message))
            document.status = DocumentStatus.NOT_SUPPORTED
        else:
            holder = current if current is not None else self._detached_interchange()
            errors = holder.handlers[registration.handler].read(message, decimal, syntax, document, entry)
        document.errors.extend(syntax)
        listed_syntax = list(document.errors)  # the CONTRL lists what the report lists; its verdict counts them all
        document.errors.extend(errors)
        if current is not None:
            current.contrl.add(
                MessageVerdict(
                    message.reference, _message_identifier(message), accepted=not syntax, findings=listed_syntax
                )
            )
        self.report.documents.settle()  # phase 2 takes it back from the log (``DocumentLog.reopened``)

    def _detached_interchange(self) -> _OpenInterchange:
        if self._detached is None:
            self._detached = self._open(self._unreadable_header(), 0)
        return self._detached

    # phase 2 -------------------------------------------------------------------
    def _finish(self, current: _OpenInterchange) -> None:
        header = current.header
        if not current.ended and not any(f.location.tag == "UNZ" for f in current.envelope_findings):
            current.envelope_findings.append(
                Finding("13", "the interchange has no UNZ trailer (truncated file?)", Location(tag="UNZ"))
            )
        sound = not current.envelope_findings.found
        answered = not current.only_acknowledgements
        accepted = sound and (not answered or current.contrl.action(current.envelope_findings.head()) == ACKNOWLEDGED)
        summary = InterchangeReport(
            header.sender, header.control_reference, accepted=accepted, errors=current.envelope_findings
        )
        self.report.interchanges.append(summary)
        for handler in current.handlers.values():
            if sound:
                handler.answer(self.report.documents)
            else:
                handler.withdraw(self.report.documents)
        if current.registered and not accepted and self.options.registry is not None:
            self.options.registry.release(header)  # a refused interchange burns nothing
            self._registered.discard((header.sender, header.sender_qualifier, header.control_reference))
        wanted = self.options.partner is None or self.options.partner.acknowledgements.contrl
        if answered and (wanted or not accepted):  # a rejection is always answered
            summary.contrl_action = self._write_contrl(current)
        current.close()

    # acknowledgements ------------------------------------------------------------
    def _write_contrl(self, current: _OpenInterchange) -> str:
        out = self._files.stream("contrl")
        reference = current.replies.reference("contrl")
        if out is None:
            return current.contrl.action(current.envelope_findings.head())
        action = current.contrl.write(
            out,
            our_id=self.options.our_id,
            control_reference=reference,
            interchange_findings=current.envelope_findings.head(),  # the UCI names the first
            prepared=self.options.now(),
        )
        current.replies.record_sent(reference, "contrl", ["1"])
        return action

    def _write_receipt(self, current: _OpenInterchange) -> None:
        """The receipt CONTRL (UCI 8), once per interchange, before anything else
        is written for it. It waits for the first message that is not a CONTRL:
        an interchange of acknowledgements gets no CONTRL, not even a receipt."""
        if not self.options.receipt_contrl or current.receipt_sent:
            return
        current.receipt_sent = True
        out = self._files.stream("contrl")
        if out is None:
            return
        reference = current.replies.reference("receipt")
        current.contrl.write_receipt(
            out, our_id=self.options.our_id, control_reference=reference, prepared=self.options.now()
        )
        current.replies.record_sent(reference, "contrl-receipt", ["1"])

    def reject(self, findings: list[Finding]) -> FileReport:
        """Refuse a file without reading it (too large, unsafe name): the report
        and a rejecting CONTRL addressed to the partner."""
        with self._stack:
            self._answer_unreadable(findings)
        return self.report

    def _answer_unreadable(self, findings: list[Finding] | None = None) -> None:
        """No interchange could be read: reject with a CONTRL addressed to the partner."""
        if findings:
            self.report.errors.extend(findings)
        elif self._orphans.found:  # handed on, not copied (see ``Findings``)
            self.report.errors = self._orphans
        else:
            self.report.errors.append(Finding("13", "no UNB interchange header found", Location(segment=1, tag="UNB")))
        self._count += 1
        header = self._unreadable_header()
        replies = InterchangeReplies(self._files, self.options, header, self._count)
        current = _OpenInterchange(
            replies,
            self._contrl(header),
            {},
            self.report.errors,
            ended=True,
            only_acknowledgements=False,
        )
        self._write_contrl(current)

    def _unreadable_header(self) -> InterchangeHeader:
        """The partner's interchange as far as we can tell, when none was read:
        from the partner's first registered interchange id (the registry key
        only when it has none)."""
        sender, qualifier = self.options.partner_id, "ZZZ"
        partner = self.options.partner
        if partner is not None and partner.edifact_senders:
            identity = partner.edifact_senders[0]
            sender, qualifier = identity.id, identity.qualifier or ""
        return InterchangeHeader(
            segment=Segment("UNB", []),
            delimiters=Delimiters(),
            una_present=False,
            syntax_identifier="UNOC",
            syntax_version="3",
            sender=sender,
            sender_qualifier=qualifier,
            recipient=self.options.our_id[0],
            recipient_qualifier=self.options.our_id[1],
            prepared_date="",
            prepared_time="",
            control_reference="0",
        )


def _not_supported(message: Message) -> Finding:
    return Finding(
        "17",
        f"message type {message.type} {message.version}:{message.release} is not supported; this gateway accepts "
        "CUSDEC D:96B (guide CAD01), PAYMUL and REMADV D:96B, and acknowledgements (CONTRL)",
        Location(message_ref=message.reference, segment=1, tag="UNH", element=2, component=1),
    )


def _identified(message: Message) -> bool:
    """Whether UNH S009 names the message's type, version, release and agency."""
    return all(part.strip() for part in (message.type, message.version, message.release, message.agency))


def _message_identifier(message: Message) -> list[str]:
    """UNH S009 as received (CONTRL UCM echoes it), or its four mandatory parts."""
    header = message.segments[0].elements if message.segments else []
    if len(header) > 1 and any(header[1]):
        return list(header[1])
    return [message.type, message.version, message.release, message.agency]
