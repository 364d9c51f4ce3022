"""A file's report as the ledger keeps it (``files.summary``), for the attempt
that finds the file already acknowledged: an upgrade may sit between the attempt
that stored it and the one that reads it, so the stored report carries its
format version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.report import FileReport

FORMAT = 2
"""1: ``FileReport.to_dict()`` as such (commit 4df739d and before, no version key);
2: the same with ``report_format``."""

VERSION_KEY = "report_format"


class StoredReportError(ValueError):
    """A stored report this gateway cannot read (written by a newer one)."""


def stored_summary(report: FileReport) -> dict[str, Any]:
    """What the ledger stores for ``report``."""
    return {VERSION_KEY: FORMAT, **report.to_dict()}


@dataclass
class StoredDocument:
    status: str | None


@dataclass
class StoredInterchange:
    accepted: bool


class StoredReport:
    """The report an earlier attempt stored: what filing the file away and the
    batch summary need (``FileReport``'s reading side)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.file = str(data.get("file", ""))
        self.format = data.get("format")
        self.accepted = bool(data.get("accepted"))
        self.acknowledgements: list[str] = list(data.get("acknowledgements") or [])
        self.documents = [StoredDocument(d.get("status")) for d in data.get("documents") or []]
        self.interchanges = [StoredInterchange(bool(i.get("accepted"))) for i in data.get("interchanges") or []]

    @classmethod
    def from_ledger(cls, summary: dict[str, Any] | None) -> StoredReport:
        data = dict(summary or {})
        version = data.pop(VERSION_KEY, 1)
        if version not in (1, FORMAT):
            raise StoredReportError(f"stored report of format {version!r}; this gateway reads formats 1 and {FORMAT}")
        return cls(data)

    def all_errors(self) -> list[str]:
        found = [e.get("message", "") for e in self._data.get("errors") or []]
        for item in [*(self._data.get("interchanges") or []), *(self._data.get("documents") or [])]:
            found.extend(e.get("message", "") for e in item.get("errors") or [])
        return found

    def to_dict(self) -> dict[str, Any]:
        return self._data
