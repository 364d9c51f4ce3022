"""A finding is one thing wrong with an input: a code, a message and a location.

Codes are UN/EDIFACT syntax error codes (data element 0085, e.g. ``"29"``) for
syntax errors and ``CARM-…`` / portal validation codes for business errors, so
one finding can become a CONTRL UCS/UCD, a CUSRES ERP/ERC or a JSON object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding points. EDIFACT positions are 1-based.

    ``segment`` is the segment's position in the interchange (UNB is 1),
    ``element``/``component`` its data element and component positions
    (the tag is element 0), ``field`` the domain-model path (``lines[0].hs_code``),
    ``xpath`` an XML pointer.
    """

    message_ref: str | None = None
    segment: int | None = None
    tag: str | None = None
    element: int | None = None
    component: int | None = None
    field: str | None = None
    xpath: str | None = None
    line: int | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.message_ref is not None:
            parts.append(f"message {self.message_ref}")
        if self.segment is not None:
            seg = f"segment {self.segment}"
            if self.tag:
                seg += f" ({self.tag})"
            parts.append(seg)
        elif self.tag:
            parts.append(f"segment {self.tag}")
        if self.element is not None:
            parts.append(f"element {self.element}")
        if self.component is not None:
            parts.append(f"component {self.component}")
        if self.xpath:
            parts.append(self.xpath)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts) or "file"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    location: Location = field(default_factory=Location)
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity.value,
            "location": self.location.to_dict(),
            "where": self.location.describe(),
        }

    def __str__(self) -> str:
        marker = " warning" if self.severity is Severity.WARNING else ""
        return f"[{self.code}]{marker} {self.location.describe()}: {self.message}"
