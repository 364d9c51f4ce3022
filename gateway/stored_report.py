"""A file's report as the ledger keeps it (``files.summary``), for the attempt
that finds the file already acknowledged: an upgrade may sit between the attempt
that stored it and the one that reads it, so the stored report carries its
format version.

The ledger row holds a bounded summary, never the whole report (the partner's
``report.json`` has that): counts of interchanges and documents, the first
findings and the count of the rest, at most ``SUMMARY_BYTES`` serialized."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.report import FileReport

FORMAT = 3
"""1: ``FileReport.to_dict()`` as such (commit 4df739d and before, no version key);
2: the same with ``report_format``; 3: the bounded summary of ``stored_summary``."""

VERSION_KEY = "report_format"

SUMMARY_BYTES = 64 * 1024
"""The most a stored summary takes serialized (issue 15: "a ledger row holds a summary, never the whole report")."""

STORED_FINDINGS = 20
"""Findings the summary quotes (errors before warnings, as ``FileReport.all_errors``, each with its severity)."""

_STORED_NAMES = 100  # acknowledgement names kept (a file has a few: one per kind)
_TEXT = 1000  # characters of a file name or a finding's message kept


class StoredReportError(ValueError):
    """A stored report this gateway cannot read (written by a newer one)."""


def stored_summary(report: FileReport) -> dict[str, Any]:
    """What the ledger stores for ``report``: at most ``SUMMARY_BYTES`` as JSON."""
    findings = [
        {
            "code": f.code,
            "severity": f.severity.value,  # a warning (a rule's, the portal's P310) rejected nothing
            "message": f.message[:_TEXT],
            "where": f.location.describe()[:_TEXT],
        }
        for f in report.all_errors()[:STORED_FINDINGS]
    ]
    budget = report.budget
    summary: dict[str, Any] = {
        VERSION_KEY: FORMAT,
        "file": report.file[:_TEXT],
        "format": report.format,
        "accepted": report.accepted,
        "interchanges": {
            "count": len(report.interchanges),
            "accepted": sum(1 for i in report.interchanges if i.accepted),
        },
        "documents": {"count": len(report.documents), "statuses": dict(report.documents.statuses())},
        "findings": {"listed": budget.listed, "omitted": dict(budget.omitted.most_common())},
        "errors": findings,
        "acknowledgements": report.acknowledgements[:_STORED_NAMES],
    }
    while len(json.dumps(summary).encode()) > SUMMARY_BYTES and (summary["errors"] or summary["findings"]["omitted"]):
        if summary["errors"]:  # quote fewer findings
            summary["errors"] = summary["errors"][: len(summary["errors"]) // 2]
        else:  # a flood of distinct codes: the total alone
            summary["findings"]["omitted"] = {"*": budget.omitted_total}
    return summary


@dataclass
class StoredDocument:
    status: str | None


@dataclass
class StoredInterchange:
    accepted: bool


class StoredReport:
    """The report an earlier attempt stored: what filing the file away and the
    batch summary need (``FileReport``'s reading side)."""

    def __init__(self, data: dict[str, Any], version: int = FORMAT) -> None:
        self._data = data
        self.file = str(data.get("file", ""))
        self.format = data.get("format")
        self.accepted = bool(data.get("accepted"))
        self.acknowledgements: list[str] = list(data.get("acknowledgements") or [])
        if version < 3:  # the whole report
            self.documents = [StoredDocument(d.get("status")) for d in data.get("documents") or []]
            self.interchanges = [StoredInterchange(bool(i.get("accepted"))) for i in data.get("interchanges") or []]
            self._errors = [e.get("message", "") for e in data.get("errors") or []]
            for item in [*(data.get("interchanges") or []), *(data.get("documents") or [])]:
                self._errors.extend(e.get("message", "") for e in item.get("errors") or [])
            self._findings = [{"code": "", "severity": "error", "where": "", "message": m} for m in self._errors]
            return
        # one shared entry per status: a file of a million documents costs a list of references
        documents = data.get("documents") or {}
        self.documents = [
            entry
            for status, count in (documents.get("statuses") or {}).items()
            for entry in [StoredDocument(status)] * int(count)
        ]
        interchanges = data.get("interchanges") or {}
        accepted = int(interchanges.get("accepted", 0))
        self.interchanges = [StoredInterchange(True)] * accepted + [StoredInterchange(False)] * (
            int(interchanges.get("count", 0)) - accepted
        )
        self._errors = [e.get("message", "") for e in data.get("errors") or []]
        self._findings = [
            {
                "code": str(e.get("code", "")),
                "severity": str(e.get("severity") or "error"),
                "where": str(e.get("where", "")),
                "message": str(e.get("message", "")),
            }
            for e in data.get("errors") or []
            if isinstance(e, dict)
        ]

    @classmethod
    def from_ledger(cls, summary: dict[str, Any] | None) -> StoredReport:
        data = dict(summary or {})
        version = data.pop(VERSION_KEY, 1)
        if version not in (1, 2, FORMAT):
            raise StoredReportError(f"stored report of format {version!r}; this gateway reads formats 1 to {FORMAT}")
        return cls(data, version)

    def all_errors(self) -> list[str]:
        return list(self._errors)

    def findings(self) -> list[dict[str, str]]:
        """The quoted findings as ``{code, severity, where, message}``, errors before warnings
        (format 1 and 2 reports kept messages only: their code and place are empty)."""
        return sorted(self._findings, key=lambda f: f["severity"] == "warning")

    def to_dict(self) -> dict[str, Any]:
        return self._data
