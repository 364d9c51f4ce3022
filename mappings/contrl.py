"""CONTRL (ISO 9735-4 syntax and service report) for one inbound interchange.

UCI reports the interchange (action 7 acknowledged, 4 rejected); one UCM per
message (7 or 4) follows, and under a rejected UCM one UCS per erroneous
segment (0096 = position in the message, UNH = 1) with one UCD per erroneous
data element (S011 = element:component). A finding on UNH/UNT, or one with no
segment, is carried by the UCM itself. Only one interchange-level error fits
in UCI; all of them are in the JSON report.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from pydifact.segments import Segment as OutSegment

from diagnostics import Finding
from mappings.edifact_writer import InterchangeWriter, segment
from mappings.segment_spool import SegmentSpool
from parsers.edifact.model import Delimiters, InterchangeHeader

ACKNOWLEDGED = "7"
REJECTED = "4"
RECEIVED = "8"
_CLEAN = "clean"  # spool mark of a message group without findings


def contrl_identifier(syntax_version: str) -> tuple[str, ...]:
    """CONTRL's S009 in the syntax version of the interchange it answers."""
    if syntax_version == "4":
        return ("CONTRL", "4", "1", "UN")
    return ("CONTRL", "D", "3", "UN")


def _element_position(finding: Finding) -> list[str]:
    location = finding.location
    if location.element is None:
        return []
    return [str(location.element), str(location.component)] if location.component else [str(location.element)]


@dataclass(frozen=True)
class MessageVerdict:
    reference: str
    identifier: Sequence[str]  # type, version, release, agency
    accepted: bool
    findings: Sequence[Finding] = ()


class ContrlBuilder:
    """Collects message verdicts while the interchange streams, then writes
    the CONTRL once the interchange's own verdict is known."""

    def __init__(self, inbound: InterchangeHeader) -> None:
        self.inbound = inbound
        self._spool = SegmentSpool()
        self.accepted = 0
        self.rejected = 0

    def add(self, verdict: MessageVerdict) -> None:
        mark = "" if verdict.findings else _CLEAN
        for item in ucm_group(verdict):
            self._spool.append(item, mark)
        if verdict.accepted:
            self.accepted += 1
        else:
            self.rejected += 1

    def action(self, interchange_findings: Sequence[Finding]) -> str:
        """UCI 0083: rejected when the interchange itself is faulty or every
        message was rejected; otherwise acknowledged (UCMs say which messages
        were rejected)."""
        if interchange_findings or (self.rejected > 0 and self.accepted == 0):
            return REJECTED
        return ACKNOWLEDGED

    def write(
        self,
        out: BinaryIO,
        *,
        our_id: tuple[str, str],
        control_reference: str,
        interchange_findings: Sequence[Finding],
        prepared: dt.datetime | None = None,
    ) -> str:
        """Write the CONTRL interchange; returns the UCI action code."""
        action = self.action(interchange_findings)
        header = self.inbound
        writer = InterchangeWriter(
            out,
            sender=our_id,
            recipient=(header.sender, header.sender_qualifier),
            control_reference=control_reference,
            syntax=(_reply_syntax(header), header.syntax_version if header.syntax_version in "1234" else "3"),
            delimiters=Delimiters(),
            prepared=prepared,
        )
        writer.write_message("1", contrl_identifier(header.syntax_version), self._body(action, interchange_findings))
        writer.close()
        self._spool.close()
        return action

    def _body(self, action: str, interchange_findings: Sequence[Finding]) -> Iterator[OutSegment]:
        h = self.inbound
        first = interchange_findings[0] if interchange_findings else None
        yield segment(
            "UCI",
            h.control_reference,
            [h.sender, h.sender_qualifier],
            [h.recipient, h.recipient_qualifier],
            action,
            first.code if first else "",
            (first.location.tag or "") if first else "",
            _element_position(first) if first else "",
        )
        # Under a UCI rejected for the interchange's own faults, every message is
        # rejected with it: only messages with errors of their own are listed.
        yield from self._spool.read(skip_mark=_CLEAN if interchange_findings else None)


def _reply_syntax(header: InterchangeHeader) -> str:
    known = {"UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOW", "UNOY"}
    return header.syntax_identifier if header.syntax_identifier in known else "UNOC"


def ucm_group(verdict: MessageVerdict) -> Iterator[OutSegment]:
    """UCM and, for a rejected message, its UCS/UCD children."""
    message_level = [
        f for f in verdict.findings if f.location.segment is None or f.location.tag in ("UNH", "UNT")
    ]
    head = message_level[0] if message_level else None
    yield segment(
        "UCM",
        verdict.reference,
        list(verdict.identifier),
        ACKNOWLEDGED if verdict.accepted else REJECTED,
        head.code if head else "",
        (head.location.tag or "") if head else "",
        _element_position(head) if head else "",
    )
    if verdict.accepted:
        return
    by_segment: dict[int, list[Finding]] = defaultdict(list)
    for finding in verdict.findings:
        if finding is not head and finding.location.segment is not None:
            by_segment[finding.location.segment].append(finding)
    for position in sorted(by_segment)[:999]:
        yield from _ucs_group(position, by_segment[position])


def _ucs_group(position: int, findings: Iterable[Finding]) -> Iterator[OutSegment]:
    element_level = [f for f in findings if f.location.element is not None]
    segment_level = [f for f in findings if f.location.element is None]
    yield segment("UCS", str(position), segment_level[0].code if segment_level else "")
    for finding in element_level[:99]:
        yield segment("UCD", finding.code, _element_position(finding))
