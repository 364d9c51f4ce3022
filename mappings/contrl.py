"""CONTRL (ISO 9735 syntax and service report) for one inbound interchange.

UCI reports the interchange (action 7 acknowledged, 4 rejected); one UCM per
message (7 or 4) follows, and under a rejected UCM one UCS per erroneous
segment (0096 = position in the message, UNH = 1) with one UCD per erroneous
data element (S011 = element:component). A finding on UNH/UNT, or one with no
segment, is carried by the UCM itself. Only one interchange-level error fits
in UCI; all of them are in the JSON report.

The CONTRL is written in the syntax identifier and version of the interchange
it answers. Syntax version 4 (ISO 9735-1:2002, service directory V4) differs:

* UNH S009 ``CONTRL:4:1:UN`` (versions 1-3: ``CONTRL:D:3:UN``);
* UNA ``:+.?*'``: ``*`` is the repetition separator and is released in data;
* UCI S002/S003 have four components (0004, 0007, 0008/0014, 0042/0046;
  versions 1-3: three), echoed from the inbound UNB;
* UCM S009 has seven components (0065, 0052, 0054, 0051, 0057, 0110, 0113;
  versions 1-3: five), echoed from the inbound UNH; UCM 0062 is conditional;
* S011 (UCI, UCM, UCD) has a third component 0136, the occurrence of a
  repeated element (we report none: findings do not carry occurrences);
* UCI/UCM end with the security elements 0534/0325, which we never use.

UCS (0096 n..6, 0085) is the same in every version. UCI 0083 ``8``
("interchange received", no checks made yet) is the optional receipt that
``write_receipt`` sends as soon as an interchange's UNB has been read.

``read_contrl`` is the reading side: the verdict of a partner's CONTRL on an
interchange the gateway sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from pydifact.segments import Segment as OutSegment

from diagnostics import Finding
from mappings.edifact_writer import InterchangeWriter, segment
from mappings.segment_spool import SegmentSpool
from parsers.edifact.model import Delimiters, InterchangeHeader, Message
from parsers.edifact.reader import CODECS

ACKNOWLEDGED = "7"
REJECTED = "4"
RECEIVED = "8"
_CLEAN = "clean"  # spool mark of a message group without findings


SYNTAX_VERSIONS = ("1", "2", "3", "4")


def contrl_identifier(syntax_version: str) -> tuple[str, ...]:
    """CONTRL's S009 in the syntax version of the interchange it answers."""
    if syntax_version.strip() == "4":
        return ("CONTRL", "4", "1", "UN")
    return ("CONTRL", "D", "3", "UN")


Preference = tuple[str | None, str | None]
"""A partner's wish for its replies: (syntax identifier, syntax version); None: as received."""


def reply_syntax(header: InterchangeHeader, preferred: Preference = (None, None)) -> tuple[str, str]:
    """UNB S001 of a reply: the partner's preference, else the inbound syntax
    identifier and version, or UNOC / 3 where the inbound one is unknown (or missing)."""
    identifier = preferred[0] or header.syntax_identifier.strip()
    version = preferred[1] or header.syntax_version.strip()
    return (identifier if identifier in CODECS else "UNOC", version if version in SYNTAX_VERSIONS else "3")


def _composite_width(syntax_version: str, v4: int, older: int) -> int:
    return v4 if syntax_version == "4" else older


def _echo(elements: list[list[str]], index: int, fallback: list[str], width: int) -> list[str]:
    """A composite of the inbound segment, as received, cut to ``width`` components."""
    if index < len(elements) and any(elements[index]):
        return list(elements[index][:width])
    return fallback


def syntax_code(finding: Finding) -> str:
    """The finding's code as a 0085 syntax error code: gateway-specific codes
    (``SIZE``, ``NAME`` …) become 18, "unspecified error"; the JSON report keeps them."""
    return finding.code if finding.code.isdigit() else "18"


def _element_position(finding: Finding) -> list[str]:
    """S011 for a finding. ISO 9735 counts the segment tag as data element
    position 1, so the first data element is 2; our Locations number data
    elements from 1 after the tag (docs/formats/acknowledgements.md)."""
    location = finding.location
    if location.element is None:
        return []
    element = str(location.element + 1)
    return [element, str(location.component)] if location.component else [element]


@dataclass(frozen=True)
class MessageVerdict:
    reference: str
    identifier: Sequence[str]  # type, version, release, agency
    accepted: bool
    findings: Sequence[Finding] = ()


class ContrlBuilder:
    """Collects message verdicts while the interchange streams, then writes
    the CONTRL once the interchange's own verdict is known."""

    def __init__(
        self, inbound: InterchangeHeader, preferred: Preference = (None, None), *, segments: bool = True
    ) -> None:
        """``segments=False``: only the verdicts are counted (``action``), no UCM is kept:
        for a flow that writes no acknowledgements (``carm-edi check``), which never calls ``write``."""
        self.inbound = inbound
        self.syntax = reply_syntax(inbound, preferred)
        self._spool = SegmentSpool() if segments else None
        self.accepted = 0
        self.rejected = 0

    def add(self, verdict: MessageVerdict) -> None:
        if verdict.accepted:
            self.accepted += 1
        else:
            self.rejected += 1
        if self._spool is None:
            return
        mark = _CLEAN if verdict.accepted else ""  # a rejected message whose findings were not listed is still rejected
        width = _composite_width(self.syntax[1], 7, 5)
        for item in ucm_group(verdict, width):
            self._spool.append(item, mark)

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
        spool = self._spool
        if spool is None:
            raise RuntimeError("this CONTRL builder counted the verdicts only (segments=False): it has no UCM to write")
        action = self.action(interchange_findings)
        self._write(out, our_id, control_reference, prepared, self._body(spool, action, interchange_findings))
        spool.close()
        return action

    def write_receipt(
        self, out: BinaryIO, *, our_id: tuple[str, str], control_reference: str, prepared: dt.datetime | None = None
    ) -> str:
        """Write a receipt CONTRL (UCI 0083 = 8, no UCM): the interchange has
        arrived, nothing has been checked yet."""
        self._write(out, our_id, control_reference, prepared, iter([self._uci(RECEIVED, None)]))
        return RECEIVED

    def _write(
        self,
        out: BinaryIO,
        our_id: tuple[str, str],
        control_reference: str,
        prepared: dt.datetime | None,
        body: Iterator[OutSegment],
    ) -> None:
        header = self.inbound
        syntax = self.syntax
        writer = InterchangeWriter(
            out,
            sender=our_id,
            recipient=(header.sender, header.sender_qualifier),
            control_reference=control_reference,
            syntax=syntax,
            delimiters=Delimiters(),
            prepared=prepared,
        )
        writer.write_message("1", contrl_identifier(syntax[1]), body)
        writer.close()

    def _uci(self, action: str, first: Finding | None) -> OutSegment:
        h = self.inbound
        width = _composite_width(self.syntax[1], 4, 3)
        elements = h.segment.elements
        return segment(
            "UCI",
            h.control_reference,
            _echo(elements, 1, [h.sender, h.sender_qualifier], width),
            _echo(elements, 2, [h.recipient, h.recipient_qualifier], width),
            action,
            syntax_code(first) if first else "",
            (first.location.tag or "") if first else "",
            _element_position(first) if first else "",
        )

    def _body(self, spool: SegmentSpool, action: str, interchange_findings: Sequence[Finding]) -> Iterator[OutSegment]:
        first = interchange_findings[0] if interchange_findings else None
        yield self._uci(action, first)
        # Under a UCI rejected for the interchange's own faults, every message is
        # rejected with it: only messages with errors of their own are listed.
        yield from spool.read(skip_mark=_CLEAN if interchange_findings else None)


def ucm_group(verdict: MessageVerdict, identifier_width: int = 5) -> Iterator[OutSegment]:
    """UCM and, for a rejected message, its UCS/UCD children. ``identifier_width``
    is the number of S009 components of the syntax version (4: 7, else 5)."""
    message_level = [f for f in verdict.findings if f.location.segment is None or f.location.tag in ("UNH", "UNT")]
    head = message_level[0] if message_level else None
    yield segment(
        "UCM",
        verdict.reference,
        list(verdict.identifier)[:identifier_width],
        ACKNOWLEDGED if verdict.accepted else REJECTED,
        syntax_code(head) if head else "",
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
    yield segment("UCS", str(position), syntax_code(segment_level[0]) if segment_level else "")
    for finding in element_level[:99]:
        yield segment("UCD", syntax_code(finding), _element_position(finding))


# Reading a partner's CONTRL ------------------------------------------------------


@dataclass(frozen=True)
class MessageResponse:
    """One UCM of a received CONTRL."""

    reference: str  # 0062 of the message in our interchange
    action: str  # 0083
    code: str = ""  # 0085, when the UCM names an error
    errors: tuple[str, ...] = ()  # 0085 codes of its UCS/UCD


@dataclass(frozen=True)
class ReceivedContrl:
    """The verdict of a partner's CONTRL on one interchange (UCI 0020)."""

    interchange: str  # UCI 0020: the control reference of the interchange it answers
    sender: str  # UCI S002 0004: the sender of that interchange (us)
    recipient: str  # UCI S003 0010
    action: str  # UCI 0083: 4 rejected, 7 acknowledged, 8 received
    code: str = ""  # UCI 0085
    messages: tuple[MessageResponse, ...] = field(default_factory=tuple)

    @property
    def rejected(self) -> list[MessageResponse]:
        return [m for m in self.messages if m.action == REJECTED]


def read_contrl(message: Message) -> ReceivedContrl | None:
    """The UCI/UCM verdict of a received CONTRL message; None without a UCI
    (UCF groups are read for their UCMs; UCF verdicts themselves are not kept)."""
    uci = None
    responses: list[MessageResponse] = []
    current: MessageResponse | None = None

    def close() -> None:
        if current is not None:
            responses.append(current)

    for seg in message.segments:
        if seg.tag == "UCI" and uci is None:
            uci = seg
        elif seg.tag == "UCM":
            close()
            current = MessageResponse(reference=seg.get(1), action=seg.get(3), code=seg.get(4))
        elif seg.tag in ("UCS", "UCD") and current is not None:
            code = seg.get(2) if seg.tag == "UCS" else seg.get(1)
            if code:
                current = dataclasses.replace(current, errors=(*current.errors, code))
    close()
    if uci is None:
        return None
    return ReceivedContrl(
        interchange=uci.get(1),
        sender=uci.get(2, 1),
        recipient=uci.get(3, 1),
        action=uci.get(4),
        code=uci.get(5),
        messages=tuple(responses),
    )
