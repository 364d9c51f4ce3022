"""Per-interchange spool of what phase 1 decided about each declaration
message, kept on disk so a large interchange costs no memory. Phase 2 reads
it back once the interchange has proved sound, and posts or rejects."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from diagnostics import Finding, Location, Severity
from diagnostics.field_paths import nearest_source
from domain import Declaration
from mappings.cusdec_declaration import Source, source_location


@dataclass
class SpooledDocument:
    message_ref: str
    message_type: str
    declaration: Declaration | None
    filer_reference: str | None
    errors: list[Finding] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)

    def locate(self, pointer: str | None) -> Location:
        """The position of a domain pointer (or of its nearest parent)."""
        return source_location(self.message_ref, nearest_source(self.sources, pointer))


def _finding_to_json(finding: Finding) -> dict[str, Any]:
    return {"code": finding.code, "message": finding.message, "severity": finding.severity.value, "location": finding.location.to_dict()}


def _finding_from_json(data: dict[str, Any]) -> Finding:
    return Finding(data["code"], data["message"], Location(**data["location"]), Severity(data["severity"]))


class DeclarationSpool:
    def __init__(self, memory_limit: int = 4 << 20) -> None:
        self._file: IO[str] = tempfile.SpooledTemporaryFile(max_size=memory_limit, mode="w+", encoding="utf-8")
        self.count = 0

    def add(self, item: SpooledDocument) -> None:
        row = {
            "message_ref": item.message_ref,
            "message_type": item.message_type,
            "declaration": item.declaration.model_dump(mode="json") if item.declaration else None,
            "filer_reference": item.filer_reference,
            "errors": [_finding_to_json(f) for f in item.errors],
            "sources": item.sources,
        }
        self._file.write(json.dumps(row) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[SpooledDocument]:
        self._file.seek(0)
        for line in self._file:
            row = json.loads(line)
            yield SpooledDocument(
                message_ref=row["message_ref"],
                message_type=row["message_type"],
                declaration=Declaration.model_validate(row["declaration"]) if row["declaration"] else None,
                filer_reference=row["filer_reference"],
                errors=[_finding_from_json(f) for f in row["errors"]],
                sources={path: tuple(source) for path, source in row["sources"].items()},  # type: ignore[misc]
            )

    def close(self) -> None:
        self._file.close()
