"""Which module answers which message: EDIFACT messages by type, version and
release (and the guide their mapping follows), XML documents by root element.
The flows look messages up here; no flow reaches into another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from diagnostics import Finding
from gateway.document_log import DocumentLog
from gateway.flows.cadxml import CAD_IN_ROOT, XmlFlow
from gateway.flows.contract import FlowOptions
from gateway.flows.cusdec import CusdecHandler
from gateway.flows.edifact_payments import PaymentMessagesHandler
from gateway.flows.pain001 import Pain001Flow
from gateway.flows.replies import InterchangeReplies
from gateway.partners import owns_xml_sender
from gateway.report import DocumentReport, FileReport
from parsers.edifact.model import Message
from parsers.xml.pain001_reader import pain001_version


class MessageHandler(Protocol):
    """The messages of one registration in one interchange."""

    def read(
        self, message: Message, decimal: str, syntax: list[Finding], document: DocumentReport, entry: int
    ) -> list[Finding]:
        """Phase 1: map and check one message (``document``: its report entry,
        ``entry`` where it is in the file's ``DocumentLog``). Its syntax findings
        join ``syntax`` (the CONTRL's); returns its other errors (rules, partner)."""

    def answer(self, documents: DocumentLog[DocumentReport]) -> None:
        """Phase 2 of a sound interchange: post and answer what phase 1 kept
        (its report entries taken back from ``documents``)."""

    def withdraw(self, documents: DocumentLog[DocumentReport]) -> None:
        """The interchange was rejected: nothing is posted, its documents are rejected with it."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class MessageRegistration:
    type: str  # UNH S009 0065
    version: str  # 0052
    release: str  # 0054
    guide: str  # the guide its mapping follows (docs/formats/)
    handler: Callable[[InterchangeReplies, FlowOptions], MessageHandler]


EDIFACT_MESSAGES = (
    MessageRegistration("CUSDEC", "D", "96B", "CAD01", CusdecHandler),
    MessageRegistration("PAYMUL", "D", "96B", "CARMPY", PaymentMessagesHandler),
    MessageRegistration("REMADV", "D", "96B", "CARMPY", PaymentMessagesHandler),
)
"""In the order phase 2 answers them; registrations with the same handler share
one handler (and one answer interchange) per inbound interchange."""


_BY_IDENTIFIER = {(r.type, r.version, r.release): r for r in reversed(EDIFACT_MESSAGES)}
"""The registrations by UNH type, version and release (the first of an identifier wins)."""


def edifact_registration(message: Message) -> MessageRegistration | None:
    return _BY_IDENTIFIER.get((message.type, message.version, message.release))


class FileFlow(Protocol):
    def run(self, stream: BinaryIO) -> FileReport: ...


@dataclass(frozen=True)
class DocumentRegistration:
    type: str
    guide: str
    accepts: Callable[[str | None], bool]  # the root element's Clark name
    flow: Callable[[str, FlowOptions], FileFlow]


def _cad_in(name: str, options: FlowOptions) -> FileFlow:
    partner = options.partner
    known = (lambda sender: owns_xml_sender(partner, sender)) if partner is not None else None
    return XmlFlow(name, options, sender_known=known)


XML_DOCUMENTS = (
    DocumentRegistration("CAD-IN", "WCO DM (docs/formats/cad-xml.md)", lambda root: root == CAD_IN_ROOT, _cad_in),
    DocumentRegistration(
        "pain.001", "ISO 20022 (docs/formats/payments.md)", lambda root: pain001_version(root) is not None, Pain001Flow
    ),
)


def xml_registration(root: str | None) -> DocumentRegistration | None:
    return next((r for r in XML_DOCUMENTS if r.accepts(root)), None)
