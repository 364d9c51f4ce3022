"""What processing (or checking) one file found: the shape of ``check --json``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from diagnostics import Finding, Severity
from domain import DeclarationOutcome
from gateway.document_log import DocumentLog
from gateway.finding_budget import FindingBudget, Findings, quoted

_DOCUMENTS = "\x00documents\x00"
"""Where ``write_json`` streams the document entries into the rest of the report."""
_CHUNK = 1 << 16  # characters ``write_json`` gathers before writing them


def _indented(value: Any, step: str, at: str, string: Callable[[str], str]) -> str:
    """``json.dumps(value, indent=len(step))`` with every line after the first starting with
    ``at`` (a line break and the indent of the level ``value`` sits at), for the report's
    entries: their keys are strings and their values strings, numbers, booleans, None, lists and
    dicts. ``json.dumps`` with an indent runs the pure-Python encoder, which was a twentieth of a
    check; here the strings and scalars go through the C encoder's functions."""
    if isinstance(value, str):
        return string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = at + step
        items = [f"{inner}{string(key)}: {_indented(item, step, inner, string)}" for key, item in value.items()]
        return "{" + ",".join(items) + at + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = at + step
        return "[" + ",".join(inner + _indented(item, step, inner, string) for item in value) + at + "]"
    return json.dumps(value)  # numbers, booleans, None


class DocumentStatus:
    ACCEPTED = "accepted"  # valid (check) or accepted by the portal (process)
    REJECTED = "rejected"
    PENDING = "pending"
    RECEIVED = "received"  # an inbound acknowledgement, recorded not answered
    NOT_SUPPORTED = "not-supported"


@dataclass
class DocumentReport:
    message_ref: str
    message_type: str
    status: str
    reference: str | None = None  # 19-digit CARM reference when known
    carm_status: str | None = None
    errors: Findings = field(default_factory=Findings)  # the file's: ``FileReport.findings()``
    assessed: dict[str, str] | None = None
    acknowledgement: dict[str, Any] | None = None  # a received CONTRL: its verdict and what it answers

    def record_outcome(self, outcome: DeclarationOutcome) -> None:
        """The portal's verdict on this declaration: its status and, when
        accepted, the assessed totals."""
        status = outcome.status
        self.carm_status = status.value
        if status.accepted:
            self.status = DocumentStatus.ACCEPTED
            self.assessed = {
                "duty": str(outcome.total_duty),
                "excise": str(outcome.total_excise),
                "gst": str(outcome.total_gst),
                "total": str(outcome.total_due),
            }
            for name in (
                "total_excise_duty",
                "total_anti_dumping",
                "total_countervailing",
                "total_surtax",
                "total_safeguard",
            ):
                if getattr(outcome, name):  # only when owed: reports of ordinary goods read as before
                    self.assessed[name.removeprefix("total_")] = str(getattr(outcome, name))
        else:
            self.status = DocumentStatus.PENDING if not status.final else DocumentStatus.REJECTED

    def saved(self) -> tuple[Any, ...]:
        """This entry as ``DocumentLog`` saves it (``restored`` reads it back)."""
        errors = self.errors
        return (
            self.message_ref,
            self.message_type,
            self.status,
            self.reference,
            self.carm_status,
            list(errors),
            errors.found,
            errors.first,
            self.assessed,
            self.acknowledgement,
        )

    @classmethod
    def restored(cls, saved: tuple[Any, ...], budget: FindingBudget) -> DocumentReport:
        """The entry ``saved()`` returned, its findings under ``budget`` (not counted again)."""
        ref, kind, status, reference, carm_status, listed, found, first, assessed, acknowledgement = saved
        errors = Findings.restored(budget, listed, found, first)
        return cls(ref, kind, status, reference, carm_status, errors, assessed, acknowledgement)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_ref": quoted(self.message_ref),
            "type": quoted(self.message_type),
            "status": self.status,
            "reference": quoted(self.reference),
            "errors": [e.to_dict() for e in self.errors],
        }
        if self.carm_status is not None:
            data["carm_status"] = self.carm_status
        if self.assessed is not None:
            data["assessed"] = self.assessed
        if self.acknowledgement is not None:
            data["acknowledgement"] = self.acknowledgement
        return data


@dataclass
class InterchangeReport:
    sender: str
    control_reference: str
    accepted: bool
    contrl_action: str | None = None
    errors: Findings = field(default_factory=Findings)  # the file's: ``FileReport.findings()``

    def to_dict(self) -> dict[str, Any]:
        return {
            "sender": quoted(self.sender),
            "control_reference": quoted(self.control_reference),
            "accepted": self.accepted,
            "contrl_action": self.contrl_action,
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass
class FileReport:
    file: str
    format: str
    interchanges: list[InterchangeReport] = field(default_factory=list)
    acknowledgements: list[str] = field(default_factory=list)
    budget: FindingBudget = field(default_factory=FindingBudget, repr=False, compare=False)
    documents: DocumentLog[DocumentReport] = field(init=False)  # settled entries on disk (``DocumentLog``)
    errors: Findings = field(init=False)

    def __post_init__(self) -> None:
        self.documents = DocumentLog(partial(DocumentReport.restored, budget=self.budget))
        self.errors = self.findings()

    def findings(self, found: Iterable[Finding] = ()) -> Findings:
        """A new collection of this file's findings (a document's, an
        interchange's), listed under the file's budget."""
        return Findings(self.budget, found)

    @property
    def accepted(self) -> bool:
        return (
            not self.errors.found
            and bool(self.interchanges or self.documents)
            and all(i.accepted for i in self.interchanges)
            and set(self.documents.statuses()) <= {DocumentStatus.ACCEPTED, DocumentStatus.RECEIVED}
        )

    @property
    def parsed(self) -> bool:
        """False when nothing in the file could be read as an interchange."""
        return bool(self.interchanges)

    def all_errors(self) -> list[Finding]:
        """Every finding of the file, errors before warnings, each group in file order."""
        found = list(self.errors)
        for interchange in self.interchanges:
            found.extend(interchange.errors)
        for document in self.documents:
            found.extend(document.errors)
        return sorted(found, key=lambda finding: finding.severity is Severity.WARNING)

    def to_dict(self) -> dict[str, Any]:
        """The whole report as one dict (every document entry in memory: for
        small reports; ``write_json`` streams a large one)."""
        return {**self._head(), "documents": [d.to_dict() for d in self.documents]}

    def write_json(self, write: Callable[[str], object], indent: int = 2, ensure_ascii: bool = True) -> None:
        """``json.dumps(self.to_dict(), indent=indent, ensure_ascii=ensure_ascii)``,
        the same text, handed to ``write`` in pieces of about ``_CHUNK``
        characters: the document entries are read from the log one at a time,
        so a report of a million documents is never whole in memory (issue 18)."""
        text = json.dumps({**self._head(), "documents": _DOCUMENTS}, indent=indent, ensure_ascii=ensure_ascii)
        # the top level's key and the placeholder, found where no quoted input can be: after a line break
        key = "\n" + " " * indent + '"documents": '
        before, after = text.split(key + json.dumps(_DOCUMENTS, ensure_ascii=ensure_ascii))
        pending = [before, key]
        size = 0
        if not self.documents:
            pending.append("[]")
        else:
            inner = "\n" + " " * (2 * indent)  # a document entry sits two levels in
            string = encode_basestring_ascii if ensure_ascii else encode_basestring
            pending.append("[")
            for position, document in enumerate(self.documents):
                entry = _indented(document.to_dict(), " " * indent, inner, string)
                pending.append(("," if position else "") + inner + entry)
                size += len(pending[-1])
                if size >= _CHUNK:
                    write("".join(pending))
                    pending, size = [], 0
            pending.append("\n" + " " * indent + "]")
        pending.append(after)
        write("".join(pending))

    def _head(self) -> dict[str, Any]:
        """Every key of the report but its documents, in the report's order."""
        return {
            "file": self.file,
            "format": self.format,
            "accepted": self.accepted,
            "interchanges": [i.to_dict() for i in self.interchanges],
            "documents": None,  # its place in the order
            "errors": [e.to_dict() for e in self.errors],
            "acknowledgements": self.acknowledgements,
            **self.omitted(),
        }

    def omitted(self) -> dict[str, Any]:
        """The report's keys for the findings past the budget: none when all are listed."""
        sentence = self.budget.sentence()
        if sentence is None:
            return {}
        return {"findings_omitted": dict(self.budget.omitted.most_common()), "findings_note": sentence}
