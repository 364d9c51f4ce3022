"""Our UN/EDIFACT directory definitions: the compact text format and its loader.

A directory is five hand-written text files (see ``d96b/`` and
docs/formats/directory.md): ``elements.def`` (simple data elements and their
representation), ``composites.def``, ``segments.def``, ``messages.def``
(segment tables) and ``codes.def`` (code lists). Each file documents its own
syntax at the top; ``parse_directory`` turns the texts into the immutable
objects below, and raises ``DefinitionError`` (file and line) on anything it
does not understand, so a typo in a definition fails loudly at load time.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "D96B",
    "CompositeDef",
    "DefinitionError",
    "Directory",
    "ElementDef",
    "GroupEntry",
    "MessageDef",
    "SegmentDef",
    "SegmentEntry",
    "Slot",
    "load_directory",
    "parse_directory",
]

D96B = Path(__file__).with_name("d96b")
FILES = ("elements", "composites", "segments", "messages", "codes")

_REPRESENTATION = re.compile(r"(an|a|n)(\.\.)?([1-9][0-9]*)")
_ELEMENT_NUMBER = re.compile(r"[0-9]{4}")
_COMPOSITE_NUMBER = re.compile(r"[CS][0-9]{3}")
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
_GROUP = re.compile(r"SG([1-9][0-9]*)")


class DefinitionError(ValueError):
    """A definition file line that does not follow the format."""

    def __init__(self, file: str, line: int, problem: str) -> None:
        super().__init__(f"{file}.def line {line}: {problem}")


@dataclass(frozen=True, slots=True)
class ElementDef:
    """A simple data element: ``kind`` is ``a``, ``n`` or ``an``."""

    number: str
    kind: str
    min_length: int
    max_length: int
    name: str

    @property
    def representation(self) -> str:
        if self.min_length == self.max_length:
            return f"{self.kind}{self.max_length}"
        return f"{self.kind}..{self.max_length}"


@dataclass(frozen=True, slots=True)
class CompositeDef:
    number: str
    components: tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    """One position of a segment or composite: a simple element or a
    composite (never both), mandatory or conditional."""

    number: str
    mandatory: bool
    element: ElementDef | None = None
    composite: CompositeDef | None = None


@dataclass(frozen=True, slots=True)
class SegmentDef:
    tag: str
    elements: tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """A segment's place in a segment table."""

    tag: str
    mandatory: bool
    max_repeats: int


@dataclass(frozen=True, slots=True)
class GroupEntry:
    """A segment group; ``entries[0]`` is its trigger segment."""

    name: str
    mandatory: bool
    max_repeats: int
    entries: tuple[SegmentEntry | GroupEntry, ...]

    @property
    def trigger(self) -> str:
        first = self.entries[0]
        assert isinstance(first, SegmentEntry)
        return first.tag


@dataclass(frozen=True, slots=True)
class MessageDef:
    """A message's segment table; the root behaves as a group triggered by UNH."""

    type: str
    version: str
    release: str
    root: GroupEntry

    @property
    def identifier(self) -> str:
        return f"{self.type}:{self.version}:{self.release}"


@dataclass(frozen=True, slots=True)
class Directory:
    elements: Mapping[str, ElementDef]
    composites: Mapping[str, CompositeDef]
    segments: Mapping[str, SegmentDef]
    messages: Mapping[tuple[str, str, str], MessageDef]
    codes: Mapping[str, frozenset[str]]


def load_directory(folder: Path = D96B) -> Directory:
    """Read and parse the five ``.def`` files of a directory folder."""
    return parse_directory({name: (folder / f"{name}.def").read_text(encoding="utf-8") for name in FILES})


def parse_directory(texts: Mapping[str, str]) -> Directory:
    """Parse definition texts keyed by file stem (``elements``, ``composites``,
    ``segments``, ``messages``, ``codes``)."""
    elements = _parse_elements(texts["elements"])
    composites = _parse_composites(texts["composites"], elements)
    segments = _parse_segments(texts["segments"], elements, composites)
    messages = _parse_messages(texts["messages"])
    codes = _parse_codes(texts["codes"], elements)
    return Directory(elements, composites, segments, messages, codes)


def _lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, content without comment, is continuation) of non-blank lines."""
    for number, raw in enumerate(text.splitlines(), 1):
        content = raw.split("#", 1)[0].rstrip()
        if content.strip():
            yield number, content, content[0] in " \t"


def _parse_elements(text: str) -> dict[str, ElementDef]:
    found: dict[str, ElementDef] = {}
    for line, content, _ in _lines(text):
        parts = content.split(None, 2)
        if len(parts) < 2 or not _ELEMENT_NUMBER.fullmatch(parts[0]):
            raise DefinitionError("elements", line, "expected: NUMBER REPRESENTATION NAME")
        match = _REPRESENTATION.fullmatch(parts[1])
        if match is None:
            raise DefinitionError("elements", line, f"bad representation {parts[1]!r}")
        kind, variable, length = match.group(1), match.group(2), int(match.group(3))
        if parts[0] in found:
            raise DefinitionError("elements", line, f"{parts[0]} defined twice")
        name = parts[2] if len(parts) > 2 else ""
        found[parts[0]] = ElementDef(parts[0], kind, 1 if variable else length, length, name)
    return found


def _slots(
    file: str,
    line: int,
    words: list[str],
    elements: Mapping[str, ElementDef],
    composites: Mapping[str, CompositeDef] | None,
) -> tuple[Slot, ...]:
    slots: list[Slot] = []
    for word in words:
        number, mandatory = (word[:-1], False) if word.endswith("?") else (word, True)
        if number in elements:
            slots.append(Slot(number, mandatory, element=elements[number]))
        elif composites is not None and number in composites:
            slots.append(Slot(number, mandatory, composite=composites[number]))
        else:
            raise DefinitionError(file, line, f"unknown data element {number!r}")
    return tuple(slots)


def _parse_composites(text: str, elements: Mapping[str, ElementDef]) -> dict[str, CompositeDef]:
    found: dict[str, CompositeDef] = {}
    for line, content, _ in _lines(text):
        words = content.split()
        if len(words) < 2 or not _COMPOSITE_NUMBER.fullmatch(words[0]):
            raise DefinitionError("composites", line, "expected: NUMBER COMPONENT...")
        found[words[0]] = CompositeDef(words[0], _slots("composites", line, words[1:], elements, None))
    return found


def _parse_segments(
    text: str, elements: Mapping[str, ElementDef], composites: Mapping[str, CompositeDef]
) -> dict[str, SegmentDef]:
    found: dict[str, SegmentDef] = {}
    for line, content, _ in _lines(text):
        words = content.split()
        if not _TAG.fullmatch(words[0]):
            raise DefinitionError("segments", line, f"bad segment tag {words[0]!r}")
        if words[0] in found:
            raise DefinitionError("segments", line, f"{words[0]} defined twice")
        found[words[0]] = SegmentDef(words[0], _slots("segments", line, words[1:], elements, composites))
    return found


@dataclass(slots=True)
class _OpenGroup:
    indent: int
    name: str
    mandatory: bool
    max_repeats: int
    entries: list[SegmentEntry | GroupEntry]
    line: int

    def close(self) -> GroupEntry:
        first = self.entries[0] if self.entries else None
        if not isinstance(first, SegmentEntry) or not first.mandatory or first.max_repeats != 1:
            raise DefinitionError("messages", self.line, f"{self.name} must start with its trigger segment, M 1")
        return GroupEntry(self.name, self.mandatory, self.max_repeats, tuple(self.entries))


def _parse_messages(text: str) -> dict[tuple[str, str, str], MessageDef]:
    messages: dict[tuple[str, str, str], MessageDef] = {}
    header: tuple[str, str, str] | None = None
    stack: list[_OpenGroup] = []
    next_group = 1

    def finish() -> None:
        while len(stack) > 1:
            closed = stack.pop().close()
            stack[-1].entries.append(closed)
        if header is not None and stack:
            root = stack.pop().close()
            if root.entries[-1] != SegmentEntry("UNT", True, 1):
                raise DefinitionError("messages", root_line, "a message table must end with UNT M 1")
            messages[header] = MessageDef(*header, root)

    root_line = 0
    for line, content, _ in _lines(text):
        words = content.split()
        if words[0] == "message":
            finish()
            if len(words) != 4:
                raise DefinitionError("messages", line, "expected: message TYPE VERSION RELEASE")
            header, root_line, next_group = (words[1], words[2], words[3]), line, 1
            stack = [_OpenGroup(-1, words[1], True, 1, [], line)]
            continue
        if header is None or len(words) != 3 or words[1] not in ("M", "C") or not words[2].isdigit():
            raise DefinitionError("messages", line, "expected: TAG|SGn M|C MAX after a message line")
        indent = len(content) - len(content.lstrip())
        while indent <= stack[-1].indent:
            closed = stack.pop().close()
            stack[-1].entries.append(closed)
        mandatory, max_repeats = words[1] == "M", int(words[2])
        group = _GROUP.fullmatch(words[0])
        if group is not None:
            if int(group.group(1)) != next_group:
                raise DefinitionError("messages", line, f"expected SG{next_group} (groups are numbered depth-first)")
            next_group += 1
            stack.append(_OpenGroup(indent, words[0], mandatory, max_repeats, [], line))
        elif _TAG.fullmatch(words[0]):
            stack[-1].entries.append(SegmentEntry(words[0], mandatory, max_repeats))
        else:
            raise DefinitionError("messages", line, f"bad segment tag or group {words[0]!r}")
    finish()
    return messages


def _expand(first: str, last: str) -> list[str]:
    """The codes of a FIRST-LAST range (see codes.def)."""
    if first.isdigit() and last.isdigit():
        return [str(n) for n in range(int(first), int(last) + 1)]
    if len(first) != len(last) or any(a.isdigit() != b.isdigit() for a, b in zip(first, last, strict=True)):
        raise ValueError(f"range ends {first!r} and {last!r} differ in shape")
    alphabets = [string.digits if c.isdigit() else string.ascii_uppercase for c in first]
    if any(c not in alphabet for c, alphabet in zip(first, alphabets, strict=True)) or any(
        c not in alphabet for c, alphabet in zip(last, alphabets, strict=True)
    ):
        raise ValueError(f"range ends {first!r} and {last!r} are not made of digits and capital letters")
    # count from FIRST like an odometer whose wheels are the alphabets: the
    # codes come in alphabetical order, so it stops past LAST
    wheels = [alphabet.index(c) for c, alphabet in zip(first, alphabets, strict=True)]
    codes: list[str] = []
    while True:
        code = "".join(alphabet[wheel] for alphabet, wheel in zip(alphabets, wheels, strict=True))
        if code > last:
            return codes
        codes.append(code)
        position = len(wheels) - 1
        while position >= 0 and wheels[position] == len(alphabets[position]) - 1:
            wheels[position] = 0
            position -= 1
        if position < 0:
            return codes
        wheels[position] += 1


def _parse_codes(text: str, elements: Mapping[str, ElementDef]) -> dict[str, frozenset[str]]:
    lists: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line, content, continuation in _lines(text):
        words = content.split()
        if not continuation:
            if words[0] not in elements:
                raise DefinitionError("codes", line, f"unknown data element {words[0]!r}")
            current = lists.setdefault(words[0], set())
            words = words[1:]
        if current is None:
            raise DefinitionError("codes", line, "continuation line before any list")
        for word in words:
            first, dash, last = word.partition("-")
            try:
                current.update(_expand(first, last) if dash else [word])
            except ValueError as error:
                raise DefinitionError("codes", line, str(error)) from None
    return {number: frozenset(values) for number, values in lists.items()}
