"""Processing claimed files: the work the DAG's tasks and ``carm-edi process`` do.

For each file: claim it, record it in the ledger with its SHA-256, run it
through the flow for its format (acknowledgements to the partner's outbox),
then archive it — or quarantine it when nothing in it could be accepted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from diagnostics import Finding, Location
from gateway.edifact_flow import EdifactFlow, FlowOptions, Poster, SentInterchange
from gateway.report import FileReport
from gateway.settings import Settings
from gateway.partners import PartnerRegistry, owns_xml_sender
from gateway.sniff import sniff
from gateway.xml_flow import XmlFlow
from ledger import Ledger
from ledger.store import FileState
from validators.rules import RuleContext
from mappings.contrl import ReceivedContrl
from parsers.edifact.model import InterchangeHeader
from transports.base import ClaimedFile, InboundFile, Transport
from transports.local import is_plain_name


@dataclass
class ProcessedFile:
    partner: str
    name: str
    state: str
    report: FileReport

    def to_dict(self) -> dict[str, object]:
        return {"partner": self.partner, "name": self.name, "state": self.state, "report": self.report.to_dict()}


def file_digest(stream: BinaryIO) -> tuple[str, int]:
    """SHA-256 and size, read in chunks; the stream is rewound."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


CAD_IN_ROOT = "{urn:wco:datamodel:WCO:Declaration:1}DocumentMetaData"
OFFLINE_RULES = RuleContext()
"""Offline checking has no portal to ask, so the gateway applies every rule it
can on its own, warnings included (the portal-backed ones are skipped)."""


def check_stream(stream: BinaryIO, name: str, options: FlowOptions | None = None) -> FileReport:
    """Run one file through the flow for its format; with default options,
    check it offline without posting or answering (``carm-edi check``)."""
    options = options or FlowOptions(rules_context=OFFLINE_RULES)
    sniffed = sniff(stream)
    if sniffed.format == "xml":
        if sniffed.root == CAD_IN_ROOT:
            partner = options.partner
            known = (lambda sender: owns_xml_sender(partner, sender)) if partner is not None else None
            return XmlFlow(name, options, sender_known=known).run(stream)
        return _unsupported_xml(name, sniffed.root)
    return EdifactFlow(name, options).run(stream)


def _unsupported_xml(name: str, root: str | None) -> FileReport:
    report = FileReport(file=name, format="xml")
    report.errors.append(
        Finding(
            "XML-TYPE",
            f"XML document {root or '(unreadable root element)'} is not supported: this gateway accepts "
            f"CAD-IN ({CAD_IN_ROOT}) and EDIFACT CUSDEC D:96B (guide CAD01)",
            Location(xpath="/*[1]"),
        )
    )
    return report


class _LedgerRegistry:
    def __init__(self, ledger: Ledger, file_id: int) -> None:
        self._ledger = ledger
        self._file_id = file_id

    def register(self, header: InterchangeHeader) -> bool:
        return self._ledger.register_interchange(self._file_id, header.sender, header.sender_qualifier, header.control_reference)


class _LedgerAcknowledgements:
    """The flow's ``AcknowledgementRegistry`` on the ledger's ``sent_interchanges``."""

    def __init__(self, ledger: Ledger, partner: str, file_id: int) -> None:
        self._ledger = ledger
        self._partner = partner
        self._file_id = file_id

    def record_sent(self, sent: SentInterchange) -> None:
        self._ledger.record_sent_interchange(
            partner=self._partner,
            control_reference=sent.control_reference,
            kind=sent.kind,
            recipient=sent.recipient,
            message_references=list(sent.message_references),
            file_id=self._file_id,
            answers_reference=sent.answers,
        )

    def match_received(self, received: ReceivedContrl) -> SentInterchange | None:
        rejections = [
            {"message_ref": m.reference, "code": m.code or next(iter(m.errors), "")} for m in received.rejected
        ]
        record = self._ledger.record_contrl_verdict(
            partner=self._partner,
            control_reference=received.interchange,
            action=received.action,
            code=received.code,
            rejections=rejections,
            file_id=self._file_id,
        )
        if record is None:
            return None
        answered = self._ledger.file(record.file_id).name if record.file_id else ""
        return SentInterchange(
            record.control_reference, record.kind, record.recipient, tuple(record.message_references),
            record.answers_reference, answered,
        )


class _HashingWriter:
    """Writes through to the outbox stream and hashes what passes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._out.write(data)


class _OutboxSink:
    """Acknowledgements into the partner's outbox, each recorded in the ledger."""

    def __init__(self, transport: Transport, partner: str, ledger: Ledger, file_id: int) -> None:
        self._transport = transport
        self._partner = partner
        self._ledger = ledger
        self._file_id = file_id

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        with self._transport.write_outbox(self._partner, name) as out:
            writer = _HashingWriter(out)
            yield writer  # type: ignore[misc]
        kind = name.rsplit(".", 2)[-2]
        self._ledger.record_acknowledgement(self._file_id, kind, f"{self._partner}/outbox/{name}", writer.digest.hexdigest())


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        ledger: Ledger,
        poster: Poster | None,
        rules_context: RuleContext | None = None,
        registry: PartnerRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.ledger = ledger
        self.poster = poster
        self.rules_context = rules_context
        self.registry = registry

    def process_names(self, partner: str, names: Iterable[str], run_id: str | None = None) -> list[ProcessedFile]:
        """Claim and process the named inbox files; names already taken are skipped."""
        wanted = set(names)
        results = []
        for inbound in self.transport.list_inbox(partner):
            if inbound.name in wanted:
                result = self.process(inbound, run_id)
                if result is not None:
                    results.append(result)
        return results

    def process_inbox(self, partner: str | None = None, run_id: str | None = None) -> list[ProcessedFile]:
        partners = [partner] if partner else self.transport.partners()
        results = []
        for name in partners:
            for inbound in self.transport.list_inbox(name):
                result = self.process(inbound, run_id)
                if result is not None:
                    results.append(result)
        return results

    def process(self, inbound: InboundFile, run_id: str | None = None) -> ProcessedFile | None:
        claimed = self.transport.claim(inbound)
        if claimed is None:
            return None
        refusal = self._refusal(inbound)
        if refusal is None:
            with self.transport.open(claimed) as stream:
                sha256, size = file_digest(stream)
        else:  # refused unread: nothing is downloaded or hashed
            sha256, size = "", inbound.size
        file_id = self.ledger.record_claim(inbound.partner, inbound.name, sha256, size, run_id)
        try:
            report = self._run(claimed, file_id, sha256, refusal)
        except BaseException:
            self.transport.release(claimed)
            self.ledger.move_file(file_id, FileState.RELEASED)
            raise
        return self._file_away(claimed, file_id, report)

    def _refusal(self, inbound: InboundFile) -> Finding | None:
        """Why a file is refused without being read, if it is."""
        if inbound.size > self.settings.max_file_bytes:
            return Finding("SIZE", f"file of {inbound.size} bytes exceeds the limit of {self.settings.max_file_bytes} bytes; it was not read", Location())
        if not is_plain_name(inbound.name):
            return Finding("NAME", f"file name {inbound.name!r} is not a plain file name (path separators, '..' or a leading dot); it was not read", Location())
        return None

    def _run(self, claimed: ClaimedFile, file_id: int, sha256: str, refusal: Finding | None) -> FileReport:
        partner_id = claimed.inbound.partner
        name = claimed.inbound.name
        sink = _OutboxSink(self.transport, partner_id, self.ledger, file_id)
        options = FlowOptions(
            our_id=(self.settings.gateway_id, self.settings.gateway_id_qualifier),
            poster=self.poster,
            sink=sink,
            registry=_LedgerRegistry(self.ledger, file_id),
            acknowledgements=_LedgerAcknowledgements(self.ledger, partner_id, file_id),
            partner_id=partner_id,
            seed=sha256 or f"{partner_id}:{name}:{file_id}",
            rules_context=self.rules_context,
            partner=self.registry.get(partner_id) if self.registry else None,
        )
        if refusal is not None:
            report = EdifactFlow(name, options).reject([refusal])
        else:
            with self.transport.open(claimed) as stream:
                report = check_stream(stream, name, options)
        self._write_report(sink, report)
        for document in report.documents:
            self.ledger.record_document(
                file_id,
                message_reference=document.message_ref,
                transaction_number=document.reference[:14] if document.reference else None,
                version=int(document.reference[14:]) if document.reference else None,
                status=document.carm_status or document.status,
                response=document.to_dict(),
            )
        return report

    def _write_report(self, sink: _OutboxSink, report: FileReport) -> None:
        """A JSON report beside the EDI acknowledgements, for machines and people."""
        name = f"{report.file}.report.json"
        report.acknowledgements.append(name)
        with sink.open(name) as out:
            out.write(json.dumps(report.to_dict(), indent=2).encode())

    def _file_away(self, claimed: ClaimedFile, file_id: int, report: FileReport) -> ProcessedFile:
        nothing_accepted = not any(i.accepted for i in report.interchanges)
        if nothing_accepted:
            reason = "; ".join(str(f) for f in report.all_errors()[:5]) or "nothing in the file could be accepted"
            self.transport.quarantine(claimed, reason)
            state = FileState.QUARANTINED
        else:
            self.transport.archive(claimed)
            state = FileState.ARCHIVED
        self.ledger.move_file(file_id, state, format=report.format, accepted=report.accepted, summary=report.to_dict())
        return ProcessedFile(claimed.inbound.partner, claimed.inbound.name, state, report)
