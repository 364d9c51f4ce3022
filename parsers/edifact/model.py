"""The EDIFACT syntax tree: what the streaming reader yields.

Positions are 1-based. ``Segment.position`` counts segments from the start of
the interchange (UNB = 1); a segment's position within its message (UNH = 1,
as CONTRL UCS 0096 wants) is its index in ``Message.segments`` plus one.
Element 1 is the first data element after the tag, component 1 its first
component — the numbering CONTRL UCD 0098/0104 uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from diagnostics import Finding


@dataclass(frozen=True, slots=True)
class Delimiters:
    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None
    terminator: str = "'"

    def service_string(self) -> str:
        """The 9-character UNA string for these delimiters."""
        return (
            "UNA"
            + self.component
            + self.element
            + self.decimal
            + (self.release or " ")
            + (self.repetition or " ")
            + self.terminator
        )


class Segment:
    """One segment: its tag and data elements, each a list of components.

    A simple data element is a one-item list. Where syntax version 4 repeats an
    element, ``elements`` keeps the first occurrence and ``repetitions`` maps
    the element's 1-based position to every occurrence.

    ``text`` is the segment as decoded (tag and elements with its interchange's
    separators, no terminator) when the reader can vouch that splitting it on
    those separators gives exactly ``elements`` (no release or repetition
    character in it); otherwise None. Consumers may validate it instead of
    joining ``elements`` again (see ``Message.delimiters``). It is not part of
    equality; code that changes ``elements`` must set it to None. The C
    tokenizer (``parsers.edifact._tokenizer``) fills these slots directly,
    without calling ``__init__``; the segments (and their element lists) it
    builds are not tracked by the cyclic garbage collector, as they hold only
    strings and ints: do not store other objects in them.
    """

    __slots__ = ("tag", "elements", "position", "offset", "repetitions", "text")

    def __init__(
        self,
        tag: str,
        elements: list[list[str]],
        position: int = 0,
        offset: int = 0,
        repetitions: dict[int, list[list[str]]] | None = None,
        text: str | None = None,
    ) -> None:
        self.tag = tag
        self.elements = elements
        self.position = position
        self.offset = offset
        self.repetitions = repetitions
        self.text = text

    def get(self, element: int, component: int = 1, default: str = "") -> str:
        """Value at a 1-based element and component position, or ``default``."""
        try:
            value = self.elements[element - 1][component - 1]
        except IndexError:
            return default
        return value if value != "" else default

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segment) and self.tag == other.tag and self.elements == other.elements

    def __repr__(self) -> str:
        return f"Segment({self.tag!r}, {self.elements!r}, position={self.position})"


@dataclass(slots=True)
class InterchangeHeader:
    """What UNB (and UNA) declare about an interchange."""

    segment: Segment
    delimiters: Delimiters
    una_present: bool
    syntax_identifier: str  # UNOA … UNOY (0001)
    syntax_version: str  # 1 … 4 (0002)
    sender: str  # 0004
    sender_qualifier: str  # 0007
    recipient: str  # 0010
    recipient_qualifier: str  # 0007
    prepared_date: str  # 0017
    prepared_time: str  # 0019
    control_reference: str  # 0020
    application_reference: str = ""  # 0026
    ack_requested: bool = False  # 0031 == "1"
    test_indicator: bool = False  # 0035 == "1"
    encoding: str = "latin-1"  # the Python codec used to decode the interchange


@dataclass(slots=True)
class GroupHeader:
    segment: Segment
    reference: str  # UNG 0048


@dataclass(slots=True)
class Message:
    """One message, UNH to UNT inclusive (UNT may be missing: see findings)."""

    reference: str  # UNH 0062
    type: str  # 0065, e.g. CUSDEC
    version: str  # 0052, e.g. D
    release: str  # 0054, e.g. 96B
    agency: str  # 0051, e.g. UN
    association_code: str  # 0057, e.g. CAD01
    segments: list[Segment]
    findings: list[Finding] = field(default_factory=list)
    delimiters: Delimiters | None = field(default=None, compare=False, repr=False)
    """The delimiters of the interchange the message was read from (None when
    built by hand): what ``Segment.text`` is separated with."""
    skipped: int = 0
    """Segments between UNH and UNT not kept: the message outgrew the reader's
    ``max_message_bytes`` (a finding says so; the message is rejected unread)."""

    @property
    def header(self) -> Segment:
        return self.segments[0]

    @property
    def trailer(self) -> Segment | None:
        last = self.segments[-1]
        return last if last.tag == "UNT" else None


# Events, in file order -------------------------------------------------------


@dataclass(slots=True)
class InterchangeStart:
    header: InterchangeHeader


@dataclass(slots=True)
class GroupStart:
    group: GroupHeader


@dataclass(slots=True)
class MessageRead:
    message: Message


@dataclass(slots=True)
class GroupEnd:
    trailer: Segment | None  # UNE, or None when the group was never closed


@dataclass(slots=True)
class InterchangeEnd:
    trailer: Segment | None  # UNZ, or None when the interchange was never closed
    segment_count: int  # segments read in the interchange, UNB and UNZ included


@dataclass(slots=True)
class SyntaxProblem:
    """A syntax finding outside any message (bytes between interchanges,
    a missing UNB, undecodable input, …). Findings inside a message travel
    on ``Message.findings``."""

    finding: Finding


Event = InterchangeStart | GroupStart | MessageRead | GroupEnd | InterchangeEnd | SyntaxProblem
