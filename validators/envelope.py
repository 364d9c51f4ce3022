"""Envelope checks on the events of ``parsers.edifact.reader.read_edifact``.

``EnvelopeValidator.observe(event)`` returns the findings that event completes;
``validate_envelopes(events)`` pairs every event with them. The validator never
mutates events (the pipeline decides whether message findings go onto
``Message.findings``) and keeps only counters and the set of message
references of the current interchange (``SeenKeys``: on disk past 50,000), so memory stays bounded.

Checks (UN/EDIFACT syntax error codes, data element 0085):

* UNB: syntax identifier (0001), syntax version (0002), sender (0004),
  recipient (0010), date (0017), time (0019) and control reference (0020)
  present (13); syntax version 1-4 (2). The date is YYMMDD (syntax version 4:
  YYMMDD or CCYYMMDD) and the time HHMM: other characters than digits 37,
  too few digits 40, too many 39, no such day or time 12.
* The same interchange (sender, qualifier and control reference) twice in one
  file: the second is a duplicate (26). Earlier files are the ledger's job.
* UNZ: 0020 equals UNB 0020 (28); 0036 equals the number of groups when the
  interchange uses UNG, else of messages (29).
* UNE: 0048 equals UNG 0048 (28); 0060 equals the messages in the group (29).
* UNZ and UNE hold two simple data elements: a further component or element
  is one too many (16, at that component or element), not a mismatch.
* UNH: the message identifier's type (0065), version (0052), release (0054)
  and agency (0051) present (13): a message that does not say what it is is
  missing its identifier, not of a type that is not supported. (An empty
  message reference 0062 is the directory validator's.)
* UNT: 0062 equals UNH 0062 (28); 0074 equals the segments of the message,
  UNH and UNT included (29).
* UNH 0062 unique within the interchange (26).
* Messages inside groups and messages outside groups are not mixed in one
  interchange (15, "not supported in this position": ISO 9735 allows either
  groups or messages directly in an interchange, never both).

Counts are compared as numbers (``'099'`` equals 99); a count that is not a
number is reported as an invalid value (12), a missing one as missing (13).
Trailers the reader reported as missing (``None``) are not checked again.

Locations: message checks carry the message reference and the segment position
within the message (UNH = 1), as the reader does for in-message findings;
UNB/UNG/UNE/UNZ checks carry the segment's position in the interchange.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from diagnostics import Finding, Location
from parsers.edifact.model import (
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Message,
    MessageRead,
    Segment,
)
from validators.seen_keys import SeenKeys

__all__ = ["EnvelopeValidator", "validate_envelopes"]

_UNB_MANDATORY = (
    (1, 1, "0001", "syntax identifier"),
    (1, 2, "0002", "syntax version number"),
    (2, 1, "0004", "interchange sender identification"),
    (3, 1, "0010", "interchange recipient identification"),
    (4, 1, "0017", "date of preparation"),
    (4, 2, "0019", "time of preparation"),
    (5, 1, "0020", "interchange control reference"),
)
_SYNTAX_VERSIONS = frozenset({"1", "2", "3", "4"})
_UNH_MANDATORY = (
    (2, 1, "0065", "message type"),
    (2, 2, "0052", "message version number"),
    (2, 3, "0054", "message release number"),
    (2, 4, "0051", "controlling agency"),
)
_DIGITS = frozenset("0123456789")


@dataclass(slots=True)
class _Scope:
    """Counters of the interchange (or run of bare messages) being validated."""

    control_reference: str = ""
    messages: int = 0  # messages directly in the interchange
    groups: int = 0
    group_reference: str = ""
    group_messages: int = 0
    in_group: bool = False
    references: SeenKeys = field(default_factory=SeenKeys)


class EnvelopeValidator:
    """Feed it every event in order; each call returns the findings for that event."""

    def __init__(self) -> None:
        self._scope = _Scope()
        # sender, qualifier and control reference of each interchange read in this file
        self._interchanges = SeenKeys()

    def observe(self, event: Event) -> list[Finding]:
        if isinstance(event, MessageRead):
            return self._message(event.message)
        if isinstance(event, InterchangeStart):
            header = event.header
            self._scope.references.close()
            self._scope = _Scope(control_reference=header.control_reference)
            return _check_unb(header.segment) + self._duplicate(header.segment)
        if isinstance(event, GroupStart):
            return self._group_start(event.group.segment, event.group.reference)
        if isinstance(event, GroupEnd):
            return self._group_end(event.trailer)
        if isinstance(event, InterchangeEnd):
            findings = self._interchange_end(event.trailer)
            self._scope.references.close()
            self._scope = _Scope()
            return findings
        return []

    def _duplicate(self, unb: Segment) -> list[Finding]:
        """26 for an interchange this file held before (same sender, qualifier and control reference)."""
        sender, qualifier, reference = unb.get(2, 1), unb.get(2, 2), unb.get(5, 1)
        if not reference:
            return []
        if self._interchanges.add(f"{sender}\x1f{qualifier}\x1f{reference}"):
            return []
        return [
            Finding(
                "26",
                f"duplicate interchange: sender {sender}:{qualifier} used control reference {reference!r} "
                "earlier in this file",
                Location(segment=unb.position or 1, tag="UNB", element=5),
            )
        ]

    # Groups --------------------------------------------------------------------

    def _group_start(self, ung: Segment, reference: str) -> list[Finding]:
        scope = self._scope
        findings = []
        if scope.messages:
            findings.append(
                Finding(
                    "15",
                    f"UNG after {scope.messages} message(s) outside any group: an interchange "
                    "holds either functional groups or messages, not both",
                    Location(segment=ung.position, tag="UNG"),
                )
            )
        scope.groups += 1
        scope.in_group = True
        scope.group_reference = reference
        scope.group_messages = 0
        return findings

    def _group_end(self, une: Segment | None) -> list[Finding]:
        scope = self._scope
        scope.in_group = False
        if une is None:
            return []
        findings = _too_many(une, ("0060", "0048"))
        findings += _count_check(une, 1, "0060", scope.group_messages, "messages", "the group has")
        if une.get(2) != scope.group_reference:
            findings.append(
                Finding(
                    "28",
                    f"UNE group reference {une.get(2)!r} does not match UNG {scope.group_reference!r}",
                    Location(segment=une.position, tag="UNE", element=2),
                )
            )
        return findings

    # Messages ------------------------------------------------------------------

    def _message(self, message: Message) -> list[Finding]:
        scope = self._scope
        reference = message.reference
        findings = _check_unh(message)
        if scope.in_group:
            scope.group_messages += 1
        else:
            scope.messages += 1
            if scope.groups:
                findings.append(
                    Finding(
                        "15",
                        f"message {reference} is outside any group in an interchange that uses functional groups",
                        Location(message_ref=reference, segment=1, tag="UNH"),
                    )
                )
        if not scope.references.add(reference):
            findings.append(
                Finding(
                    "26",
                    f"UNH message reference {reference!r} is used twice in this interchange",
                    Location(message_ref=reference, segment=1, tag="UNH", element=1),
                )
            )
        trailer = message.trailer
        if trailer is not None:
            findings += _check_unt(message, trailer)
        return findings

    # Interchange ---------------------------------------------------------------

    def _interchange_end(self, unz: Segment | None) -> list[Finding]:
        if unz is None:
            return []
        scope = self._scope
        findings = _too_many(unz, ("0036", "0020"))
        if scope.groups:
            findings += _count_check(unz, 1, "0036", scope.groups, "groups", "the interchange has")
        else:
            findings += _count_check(unz, 1, "0036", scope.messages, "messages", "the interchange has")
        if unz.get(2) != scope.control_reference:
            findings.append(
                Finding(
                    "28",
                    f"UNZ control reference {unz.get(2)!r} does not match UNB {scope.control_reference!r}",
                    Location(segment=unz.position, tag="UNZ", element=2),
                )
            )
        return findings


def validate_envelopes(events: Iterable[Event]) -> Iterator[tuple[Event, list[Finding]]]:
    """Pass events through, each with the envelope findings it completes."""
    validator = EnvelopeValidator()
    for event in events:
        yield event, validator.observe(event)


def _check_unb(unb: Segment) -> list[Finding]:
    findings = [
        Finding(
            "13",
            f"UNB {number} {name} is missing",
            Location(segment=unb.position, tag="UNB", element=element, component=component),
        )
        for element, component, number, name in _UNB_MANDATORY
        if not unb.get(element, component).strip()
    ]
    version = unb.get(1, 2).strip()
    if version and version not in _SYNTAX_VERSIONS:
        findings.append(
            Finding(
                "2",
                f"UNB syntax version {version!r} is not supported (expected 1 to 4)",
                Location(segment=unb.position, tag="UNB", element=1, component=2),
            )
        )
    date, time = unb.get(4, 1), unb.get(4, 2)
    if date.strip():
        problem = _date_problem(date, (6, 8) if version == "4" else (6,))
        if problem:
            findings.append(_unb_value(unb, 1, "0017 date of preparation", date, *problem))
    if time.strip():
        problem = _time_problem(time)
        if problem:
            findings.append(_unb_value(unb, 2, "0019 time of preparation", time, *problem))
    return findings


def _unb_value(unb: Segment, component: int, name: str, value: str, code: str, why: str) -> Finding:
    return Finding(
        code,
        f"UNB {name} {value!r} {why}",
        Location(segment=unb.position, tag="UNB", element=4, component=component),
    )


def _digits_problem(value: str, lengths: tuple[int, ...], form: str) -> tuple[str, str] | None:
    """(code, why) when ``value`` is not all ASCII digits of one of ``lengths``."""
    if not set(value) <= _DIGITS:
        return "37", f"is not {form}: digits only"
    if len(value) < lengths[0]:
        return "40", f"is {len(value)} digits, {form} has {' or '.join(map(str, lengths))}"
    if len(value) > lengths[-1]:
        return "39", f"is {len(value)} digits, {form} has {' or '.join(map(str, lengths))}"
    if len(value) not in lengths:
        return "12", f"is {len(value)} digits, {form} has {' or '.join(map(str, lengths))}"
    return None


def _date_problem(value: str, lengths: tuple[int, ...]) -> tuple[str, str] | None:
    form = " or ".join({6: "YYMMDD", 8: "CCYYMMDD"}[n] for n in lengths)
    problem = _digits_problem(value, lengths, form)
    if problem:
        return problem
    year = int(value[:-4]) + (2000 if len(value) == 6 else 0)  # YY: 20YY has every day 19YY has
    try:
        dt.date(max(year, 1), int(value[-4:-2]), int(value[-2:]))
    except ValueError:
        return "12", "is no calendar date"
    return None


def _time_problem(value: str) -> tuple[str, str] | None:
    problem = _digits_problem(value, (4,), "HHMM")
    if problem:
        return problem
    if int(value[:2]) > 23 or int(value[2:]) > 59:
        return "12", "is no time of day (HHMM, 0000 to 2359)"
    return None


def _check_unh(message: Message) -> list[Finding]:
    """13 for each mandatory part of UNH S009 that is empty or absent."""
    unh = message.header
    elements = unh.elements
    if len(elements) > 1 and len(elements[1]) >= 4 and all(map(str.strip, elements[1][:4])):
        return []  # the common case, without a ``get`` per part: S009's first four components all given
    return [
        Finding(
            "13",
            f"UNH {number} {name} is missing",
            Location(message_ref=message.reference, segment=1, tag="UNH", element=element, component=component),
        )
        for element, component, number, name in _UNH_MANDATORY
        if not unh.get(element, component).strip()
    ]


def _too_many(trailer: Segment, numbers: tuple[str, ...]) -> list[Finding]:
    """16 for a component or element beyond a trailer's simple data elements ``numbers``."""
    findings = []
    for element, values in enumerate(trailer.elements[: len(numbers)], 1):
        if len(values) > 1:
            findings.append(
                Finding(
                    "16",
                    f"{trailer.tag} {numbers[element - 1]} is a simple data element but has {len(values)} "
                    f"components: {':'.join(values)!r}",
                    Location(segment=trailer.position, tag=trailer.tag, element=element, component=2),
                )
            )
    if len(trailer.elements) > len(numbers):
        findings.append(
            Finding(
                "16",
                f"{trailer.tag} has {len(trailer.elements)} data elements, at most {len(numbers)} allowed",
                Location(segment=trailer.position, tag=trailer.tag, element=len(numbers) + 1),
            )
        )
    return findings


def _check_unt(message: Message, unt: Segment) -> list[Finding]:
    reference = message.reference
    position = len(message.segments) + message.skipped
    findings = []
    count = _number(unt.get(1))
    if count != position:  # the message is sound: no Location to build
        where = Location(message_ref=reference, segment=position, tag="UNT", element=1)
        if not unt.get(1):
            findings.append(Finding("13", "UNT 0074 number of segments is missing", where))
        elif count is None:
            findings.append(Finding("12", f"UNT 0074 {unt.get(1)!r} is not a number", where))
        else:
            findings.append(
                Finding(
                    "29",
                    f"UNT 0074 says {count} segments, message {reference} has {position}",
                    where,
                )
            )
    if unt.get(2) != reference:
        findings.append(
            Finding(
                "28",
                f"UNT message reference {unt.get(2)!r} does not match UNH {reference!r}",
                Location(message_ref=reference, segment=position, tag="UNT", element=2),
            )
        )
    return findings


def _count_check(trailer: Segment, element: int, number: str, actual: int, noun: str, subject: str) -> list[Finding]:
    """Compare a trailer's control count with what was read (29), or report it bad (12/13)."""
    raw = trailer.get(element)
    where = Location(segment=trailer.position, tag=trailer.tag, element=element)
    if not raw:
        return [Finding("13", f"{trailer.tag} {number} control count is missing", where)]
    count = _number(raw)
    if count is None:
        return [Finding("12", f"{trailer.tag} {number} control count {raw!r} is not a number", where)]
    if count != actual:
        return [Finding("29", f"{trailer.tag} {number} says {count} {noun}, {subject} {actual}", where)]
    return []


def _number(value: str) -> int | None:
    """A control count as an integer ('099' -> 99); None when it is not all digits."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None
