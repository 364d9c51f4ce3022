"""Phase 1's verdicts on disk, one line per declaration, so a large interchange
or file costs no memory; phase 2 reads them back once the interchange (or the
file) has proved sound, and posts or rejects.

The spool is a per-run temporary file, but its rows have a format version all
the same: the first line names it, and rows of another version are refused
with a clear error rather than misread (``FORMAT`` changes whenever a row's
fields do)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from diagnostics import Finding, Location, Severity
from domain import Declaration

FORMAT = 4
"""1: the two spools of commit 4df739d (``DeclarationSpool``, ``xml_flow._Spool``), no version line.
2: the declaration with one invoice at its level (``currency``, ``invoice``, ``vendor``, ``lines``).
3: the declaration with its ``invoices`` (CUSDEC sources: a line at its place in ``lines``;
CAD-IN sources: a line under its invoice, ``invoices[k].lines[j]``).
4: the same fields; the declaration after a tab, as pydantic writes it (``model_dump_json``), so
that pydantic-core writes and reads it back (``model_validate_json``) without a Python dict."""


class SpoolFormatError(ValueError):
    """A spool written under another row format."""


@dataclass
class SpooledDeclaration:
    """What phase 1 decided about one declaration message."""

    ref: str  # EDIFACT: the UNH message reference; CAD-IN: the Declaration's position in the file
    message_type: str
    declaration: Declaration | None  # None: not mapped, or rejected before posting
    status: str | None = None  # the answer's status when the gateway rejects it; None: passed every check
    errors: list[Finding] = field(default_factory=list)
    # domain path → where the format read it (as JSON gives it back)
    sources: dict[str, Any] = field(default_factory=dict)
    filer_reference: str | None = None
    transaction_number: str | None = None  # CAD-IN: as read, also when the declaration was not mapped
    version: str | None = None
    xpath: str | None = None  # CAD-IN: the Declaration element
    line: int | None = None


def finding_to_json(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "message": finding.message,
        "severity": finding.severity.value,
        "location": finding.location.to_dict(),
    }


def finding_from_json(data: dict[str, Any]) -> Finding:
    return Finding(data["code"], data["message"], Location(**data["location"]), Severity(data["severity"]))


class Spool:
    """Spooled declarations, in the order they were added (in memory up to ``memory_limit`` bytes)."""

    def __init__(self, memory_limit: int = 4 << 20, *, sources: bool = True, declarations: bool = True) -> None:
        """``sources=False``: the rows keep no field sources (read back as ``{}``): they
        serve only to locate the portal's findings, so a flow that posts nothing needs none.
        ``declarations=False``: the rows keep no declaration (read back as None): a phase 2
        that neither posts nor answers (``carm-edi check``) needs only the verdicts."""
        self.keeps_sources = sources
        self._declarations = declarations
        self._file: IO[str] = tempfile.SpooledTemporaryFile(max_size=memory_limit, mode="w+", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self._file.write(json.dumps({"spool_format": FORMAT}) + "\n")
        self.count = 0

    def add(self, item: SpooledDeclaration) -> None:
        row = {
            "ref": item.ref,
            "type": item.message_type,
            "status": item.status,
            "errors": [finding_to_json(f) for f in item.errors],
            "sources": item.sources if self.keeps_sources else {},
            "ids": [item.filer_reference, item.transaction_number, item.version],
            "at": [item.xpath, item.line],
        }
        # JSON never holds a raw tab or newline: the tab ends the row's fields, the line the row
        declaration = item.declaration.model_dump_json() if item.declaration and self._declarations else ""
        self._file.write(f"{json.dumps(row, separators=(',', ':'))}\t{declaration}\n")
        self.count += 1

    def __iter__(self) -> Iterator[SpooledDeclaration]:
        return self.read()

    def read(self, declarations: bool = True) -> Iterator[SpooledDeclaration]:
        """The spooled declarations in order. ``declarations=False`` leaves every
        ``declaration`` None, unread: for a phase 2 that neither posts nor answers
        (``carm-edi check``), which needs only the verdicts."""
        self._file.seek(0)
        header = json.loads(self._file.readline())
        if header.get("spool_format") != FORMAT:
            raise SpoolFormatError(
                f"spool rows of format {header.get('spool_format')!r}; this gateway reads format {FORMAT}"
            )
        for text in self._file:
            fields, _, declaration = text.rstrip("\n").partition("\t")
            row = json.loads(fields)
            filer, transaction, version = row["ids"]
            xpath, line = row["at"]
            yield SpooledDeclaration(
                ref=row["ref"],
                message_type=row["type"],
                declaration=Declaration.model_validate_json(declaration) if declaration and declarations else None,
                status=row["status"],
                errors=[finding_from_json(f) for f in row["errors"]],
                sources=row["sources"],
                filer_reference=filer,
                transaction_number=transaction,
                version=version,
                xpath=xpath,
                line=line,
            )

    def close(self) -> None:
        self._file.close()
