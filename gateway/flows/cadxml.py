"""One CAD-IN XML file through the gateway (docs/formats/cad-xml.md).

The same two-phase discipline as ``EdifactFlow`` (``gateway.flows.edifact``), with the file in the role
of the interchange:

Phase 1 streams the file (``parsers.xml.cad_reader``): each Declaration is
validated against cad-in.xsd as it completes, mapped to the domain model
(``mappings.cadxml_declaration``), checked with the business rules every
channel shares (``check_declaration``) and against the document's senders,
then spooled to disk with its verdict (when phase 2 will post or answer it:
``carm-edi check`` does neither, and its report already holds every verdict);
the element is freed.

Phase 2 runs once the file has been read to its end. Only if the file is
sound — well-formed, not refused, its header schema-valid — is anything
posted; then each declaration that passed phase 1 is posted and every
declaration gets its ``Response`` in one CAD-OUT document,
``<file>.cadout.xml``, written through ``options.sink``. A declaration with
its own schema, mapping, sender or business errors is answered with them and
does not stop the others. An unsound file posts nothing and is answered with
a single file-level Response.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from typing import BinaryIO

from diagnostics import Finding, Location, Severity
from domain import Declaration, DeclarationOutcome, OutcomeStatus
from domain.identifiers import is_ascii_digits
from gateway.flows.answering import post_and_answer
from gateway.flows.contract import (
    FlowOptions,
    PendingAnswer,
    acknowledgement_name,
    register_reference,
    release_reference,
)
from gateway.flows.spool import Spool, SpooledDeclaration, finding_to_json
from gateway.report import DocumentReport, DocumentStatus, FileReport, InterchangeReport
from mappings import cadout
from mappings.cadout import CadOutError, CadOutResponse, CadOutWriter
from mappings.cadxml_declaration import XmlMappingResult, invoice_starts, locate, map_cad_declaration
from parsers.xml.cad_reader import DeclarationRead, HeaderRead, ReadProblem, read_cad_in
from parsers.xml.secure import XmlLimits
from validators.declaration_rules import check_declaration

CAD_IN_ROOT = "{urn:wco:datamodel:WCO:Declaration:1}DocumentMetaData"
MESSAGE_TYPE = "CAD-IN"
DUPLICATE = "XML-DUP"
NOT_PROCESSED = "XML-FILE"


class XmlFlow:
    """``XmlFlow(name, options).run(stream) -> FileReport``.

    ``limits``: the XML size limits. ``sender_known``: when given, every
    CommunicationMetaData/Sender ID must satisfy it (a trading partner with a
    profile), else each declaration is answered 415 (ValidationCode 90).
    """

    def __init__(
        self,
        name: str,
        options: FlowOptions,
        *,
        limits: XmlLimits | None = None,
        sender_known: Callable[[str], bool] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.limits = limits or XmlLimits()
        self.sender_known = sender_known
        self.report = FileReport(file=name, format="xml")
        self.header: HeaderRead | None = None
        self._entries = array("Q")  # where the spooled declarations' report entries are, in spool order
        self._passed = 0  # declarations that passed the syntax checks (XSD and mapping)
        self._registered: tuple[str, str] | None = None  # (sender, ApplicationReferenceID) this file registered

    def run(self, stream: BinaryIO) -> FileReport:
        spool = self.options.spool()
        try:
            problem = self._phase1(stream, spool)
            self._phase2(spool, problem)
        finally:
            spool.close()
        return self.report

    # phase 1 -------------------------------------------------------------------
    def _phase1(self, stream: BinaryIO, spool: Spool) -> ReadProblem | None:
        for event in read_cad_in(stream, self.limits):
            if isinstance(event, DeclarationRead):
                entry, item = self._declaration(event)
                if item.status not in (cadout.SCHEMA_ERROR, cadout.SYNTAX_ERROR):
                    self._passed += 1
                if self.options.answers:  # else phase 2 reads nothing back: the report holds the verdicts
                    self._entries.append(entry)
                    spool.add(item)
                self.report.documents.settle()  # phase 2 takes it back from the log (``DocumentLog.reopened``)
            elif isinstance(event, HeaderRead):
                self.header = event
                duplicate = self._duplicate(event)
                if duplicate is not None:
                    return duplicate
            else:
                return event
        return None

    def _duplicate(self, header: HeaderRead) -> ReadProblem | None:
        sender = self._sender_id()
        if register_reference(self.options, sender, "BN15", header.application_reference):
            if header.application_reference:
                self._registered = (sender, header.application_reference)
            return None
        finding = Finding(
            DUPLICATE,
            f"duplicate file: sender {sender} sent ApplicationReferenceID {header.application_reference!r} before",
            Location(xpath="/DocumentMetaData/CommunicationMetaData/ApplicationReferenceID"),
        )
        return ReadProblem(finding, cadout.SYNTAX_ERROR)

    def _sender_id(self) -> str:
        if self.header is not None:
            for role in ("AK", "HN"):
                for sender in self.header.senders:
                    if sender.role == role and sender.id:
                        return sender.id
        return self.options.partner_id

    def _declaration(self, read: DeclarationRead) -> tuple[int, SpooledDeclaration]:
        """The declaration's report entry (its index in the report) and its verdict."""
        document = DocumentReport(str(read.index), MESSAGE_TYPE, DocumentStatus.REJECTED, errors=self.report.findings())
        entry = self.report.documents.append(document)
        if read.findings:
            document.errors.extend(read.findings)
            transaction_number, version, filer_reference = _ids(read)
            document.reference = _reference(transaction_number, version)
            return entry, SpooledDeclaration(
                str(read.index),
                MESSAGE_TYPE,
                None,
                cadout.SCHEMA_ERROR,
                list(read.findings),
                {},
                filer_reference,
                transaction_number,
                version,
                read.xpath,
                read.line,
            )
        # the sources are spooled: they place the rule findings and the portal's rejections
        mapping = map_cad_declaration(read.element, read.xpath)
        item = SpooledDeclaration(
            str(read.index),
            MESSAGE_TYPE,
            mapping.declaration,
            None,
            list(mapping.findings),
            mapping.sources,  # the mapping's own: nothing else holds it
            mapping.filer_reference,
            mapping.transaction_number,
            mapping.version,
            read.xpath,
            read.line,
        )
        declaration = mapping.declaration
        document.reference = (
            declaration.reference
            if declaration is not None
            else _reference(mapping.transaction_number, mapping.version)
        )
        if declaration is None or mapping.findings:
            item.status = cadout.SYNTAX_ERROR
            item.declaration = None
        else:
            item.status = self._check(item, declaration, mapping)
        document.errors.extend(item.errors)
        document.status = DocumentStatus.REJECTED if item.status else DocumentStatus.ACCEPTED
        return entry, item

    def _check(self, item: SpooledDeclaration, declaration: Declaration, mapping: XmlMappingResult) -> str | None:
        """Senders, then the business rules; the status of the worst finding."""
        status: str | None = None
        senders = self.header.senders if self.header else ()
        if self.sender_known is not None:
            for sender in senders:
                if not self.sender_known(sender.id):
                    item.errors.append(
                        Finding(
                            cadout.UNKNOWN_PARTNER_CODE,
                            f"sender {sender.id} ({sender.role}) has no trading partner profile with this gateway",
                            Location(xpath=sender.xpath, line=sender.line),
                        )
                    )
                    status = cadout.UNKNOWN_PARTNER
        expected = {
            "AK": ("declarant.account", declaration.declarant.account),
            "HN": ("importer.account", declaration.importer.account),
        }
        for sender in senders:
            path, account = expected.get(sender.role, (None, None))
            if path is not None and sender.id != account:
                item.errors.append(
                    Finding(
                        cadout.SENDER_MISMATCH_CODE,
                        f"sender {sender.id} (role {sender.role}) is not the declaration's "
                        f"{path.split('.')[0]} {account} ({mapping.locate(path).xpath})",
                        Location(xpath=sender.xpath, line=sender.line, field=path),
                    )
                )
                status = status or cadout.SENDER_MISMATCH
        violations = check_declaration(declaration, self.options.rules_context)
        for violation in violations:
            item.errors.append(
                Finding(violation.rule_id, violation.message, locate_field(item, violation.pointer), violation.severity)
            )
        if any(v.severity is Severity.ERROR for v in violations):
            status = status or OutcomeStatus.REJECTED.value
        return status

    def reject(self, findings: list[Finding], status: str = cadout.SYNTAX_ERROR) -> FileReport:
        """Refuse a file without reading it (too large, unsafe name) or one the
        gateway failed on: the report and a CAD-OUT with one file-level
        Response of ``status`` carrying the findings."""
        self.report.errors.extend(findings)
        sink = self.options.sink
        if sink is None:
            return self.report
        name = acknowledgement_name(self.options, self.name, "cadout.xml")
        with sink.open(name) as out:
            writer = CadOutWriter(
                out, sender_id=self.options.our_id[0], application_reference=None, issued=self.options.now()
            )
            writer.write(CadOutResponse(status, [_error(finding) for finding in findings]))
            writer.close()
        self.report.acknowledgements.append(name)
        return self.report

    # phase 2 -------------------------------------------------------------------
    def _phase2(self, spool: Spool, problem: ReadProblem | None) -> None:
        sink = self.options.sink
        if sink is None:
            self._respond(spool, problem, None)
            return
        name = acknowledgement_name(self.options, self.name, "cadout.xml")
        with sink.open(name) as out:  # an exception (portal unavailable) discards the partial CAD-OUT
            writer = CadOutWriter(
                out,
                sender_id=self.options.our_id[0],
                application_reference=self.header.application_reference if self.header else None,
                issued=self.options.now(),
            )
            self._respond(spool, problem, writer)
            writer.close()
        self.report.acknowledgements.append(name)

    def _respond(self, spool: Spool, problem: ReadProblem | None, writer: CadOutWriter | None) -> None:
        header = self.header
        interchange = InterchangeReport(
            sender=self._sender_id(),
            control_reference=(header.application_reference or "") if header else "",
            accepted=False,
            errors=self.report.findings(),
        )
        if problem is not None:
            self._reject_file(problem, interchange, writer)
        else:
            interchange.accepted = self._answer(spool, writer) > 0
        if not interchange.accepted and self._registered is not None:  # a refused file burns nothing
            sender, reference = self._registered
            release_reference(self.options, sender, "BN15", reference)
        if header is not None or problem is None:
            self.report.interchanges.append(interchange)

    def _reject_file(self, problem: ReadProblem, interchange: InterchangeReport, writer: CadOutWriter | None) -> None:
        """Nothing is posted; the file gets one Response with the problem."""
        finding = problem.finding
        if self.header is None:
            self.report.errors.append(finding)
        else:
            interchange.errors.append(finding)
        for document in self.report.documents.reopened(range(len(self.report.documents))):
            if document.status == DocumentStatus.ACCEPTED:
                document.status = DocumentStatus.REJECTED
            document.errors.append(
                Finding(
                    NOT_PROCESSED,
                    "not processed: the file was rejected",
                    Location(xpath=f"/DocumentMetaData/Declaration[{document.message_ref}]"),
                )
            )
        if writer is not None:
            writer.write(CadOutResponse(problem.status, [_error(finding)]))

    def _answer(self, spool: Spool, writer: CadOutWriter | None) -> int:
        """Post what passed, answer everything; returns how many declarations
        passed the syntax checks (XSD and mapping)."""
        if writer is None and self.options.poster is None:
            return self._passed  # nothing to post or answer (``carm-edi check``): nothing was spooled

        def answer(item: SpooledDeclaration, outcome: DeclarationOutcome | None, portal: list[Finding]) -> None:
            if writer is None:
                return
            status = outcome.status.value if outcome is not None else item.status or cadout.FUNCTIONAL_ACKNOWLEDGEMENT
            version = (
                item.version
                if item.version is not None
                else (f"{item.declaration.version:05d}" if item.declaration else None)
            )
            writer.write(cadout_response(item, status, version, [*item.errors, *portal], outcome))
            if outcome is not None and not outcome.status.final and self.options.pending is not None:
                final = f"{outcome.transaction_number}-{outcome.version:05d}.final.cadout.xml"
                self.options.pending.wait(
                    PendingAnswer(
                        outcome.transaction_number, outcome.version, outcome.status.value, "cadout",
                        (self._sender_id(), "BN15"), (self.header.application_reference or "") if self.header else "",
                        item.ref, item.filer_reference, ("", ""), acknowledgement_name(self.options, self.name, final),
                        tuple(invoice_starts(item.declaration)), item.sources,
                        tuple(finding_to_json(f) for f in item.errors), item.xpath, item.line,
                    )
                )  # fmt: skip

        spooled = spool.read(declarations=writer is not None or self.options.poster is not None)
        window = self.options.posts_in_flight
        entries = self.report.documents.reopened(self._entries, keep=window)
        post_and_answer(zip(spooled, entries, strict=True), self.options.poster, locate_field, answer, window)
        return self._passed


def cadout_response(
    item: SpooledDeclaration,
    status: str,
    version: str | None,
    findings: list[Finding],
    outcome: DeclarationOutcome | None,
) -> CadOutResponse:
    """The Response to the declaration ``item``: the status, its errors and warnings with their
    XPaths and lines in the CAD-IN, the assessment of an accepted ``outcome``. The immediate
    answer and a pending version's final one (``gateway.waiting``) both write it."""
    errors = [_error(f) for f in findings]
    return CadOutResponse(
        status, errors, int(item.ref), item.transaction_number, version, item.filer_reference, outcome
    )


def locate_field(item: SpooledDeclaration, pointer: str | None, starts: Sequence[int] | None = None) -> Location:
    """The XPath and line of a domain pointer in the declaration, with the pointer as its field
    (``starts``: where each invoice's lines start; by default the spooled declaration's)."""
    starts = invoice_starts(item.declaration) if starts is None else starts
    location = locate(item.xpath or "", item.line, item.sources, pointer, starts=starts)
    return Location(xpath=location.xpath, line=location.line, field=pointer)


def _error(finding: Finding) -> CadOutError:
    warning = finding.severity is Severity.WARNING
    return CadOutError(finding.code, finding.message, finding.location.xpath, finding.location.line, warning)


def _reference(transaction_number: str | None, version: str | None) -> str | None:
    """The 19-digit reference from raw values, when they have the shape for it."""
    if not transaction_number or len(transaction_number) != 14 or not is_ascii_digits(transaction_number):
        return None
    if version is None:
        return f"{transaction_number}00001"
    return f"{transaction_number}{int(version):05d}" if is_ascii_digits(version) and len(version) <= 5 else None


def _ids(read: DeclarationRead) -> tuple[str | None, str | None, str | None]:
    """Transaction number, version and filer reference read straight from the
    element (a declaration with schema errors is not mapped)."""
    ns = "{urn:wco:datamodel:WCO:Declaration:1}"

    def text(tag: str) -> str | None:
        value = read.element.findtext(ns + tag)
        return value.strip() or None if value is not None else None

    return text("ID"), text("VersionID"), text("FunctionalReferenceID")
