"""Validation of one message against our UN/EDIFACT directory definitions.

``validate_message(message, decimal_mark)`` returns every finding: the
segment-table walk (structure.py: 13 missing, 15 not allowed here, 35/36 too
many repetitions) and each defined segment's content (content.py: 12, 13,
16, 19, 37, 38, 39, 40). Locations carry the message reference and the
segment position in the message (UNH = 1), as CONTRL UCS 0096 wants. A
message whose type/version/release has no definition returns ``[]``: the
caller reports it as not supported.

Definitions are loaded once per process, on first use; segment checks are
compiled per decimal mark, and table transitions as they are first taken.

Per segment the cost is kept small: a segment whose decoded text the reader
kept (``Segment.text``, no release character) is checked on that text with
checks compiled for its interchange's separators (``Message.delimiters``), no
re-join, and texts that passed are remembered (one memo for every tag: the text
starts with it); other segments are checked on their joined elements as
before. The segment-table walk is a function of the message's tag sequence
only, so its findings are remembered per tag sequence (most messages share a
handful) and only re-located with the message reference.

With the optional C extension ``validators.directory._content`` (built by
``pip install -e .``), one C call first names the segments whose content
might be wrong (``Checker.suspects``: every other one is certainly clean) and
only those go through the Python checks above, so findings are the same.
``CARM_EDIFACT_ACCELERATOR=0`` switches it off, with the C tokenizer;
tests/test_directory_accelerator.py compares the two paths.
"""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from diagnostics import Finding, Location
from parsers.edifact.model import Message, Segment
from validators.directory.content import COMPONENT_SEPARATOR as _C
from validators.directory.content import ELEMENT_SEPARATOR as _E
from validators.directory.content import SegmentCheck, SlotSpec, compile_segment, content_spec, text_separators_safe
from validators.directory.definitions import Directory, load_directory
from validators.directory.structure import Structure

if TYPE_CHECKING:
    from validators.directory import _content

__all__ = ["DirectoryValidator", "accelerator_available", "default_validator", "use_accelerator", "validate_message"]

_Checker = Callable[[type[Segment], dict[str, tuple[SlotSpec, ...]], str], "_content.Checker"]
"""``_content.Checker`` (see validators/directory/_content.pyi)."""
_Tags = Callable[[list[Segment]], tuple[str, ...] | None]


def _load_accelerator() -> tuple[_Checker, _Tags] | None:
    """The C ``Checker`` class and a definition-free checker's ``tags``; None when not built."""
    try:
        from validators.directory import _content

        # refuses a Segment without the slots it reads; its tags() needs no definitions
        tags = _content.Checker(Segment, {}, ".").tags
    except Exception:  # not built, or built for another Segment layout  # pragma: no cover
        return None
    return _content.Checker, tags


_ACCELERATOR = _load_accelerator()
_c_checker, _c_tags = _ACCELERATOR if _ACCELERATOR is not None else (None, None)
_accelerated = _ACCELERATOR is not None and os.environ.get("CARM_EDIFACT_ACCELERATOR", "1") != "0"


def accelerator_available() -> bool:
    """Whether the C content check was built and imported."""
    return _ACCELERATOR is not None


def use_accelerator(enabled: bool) -> bool:
    """Switch the C content check on or off (when available); returns whether it was on."""
    global _accelerated
    was = _accelerated
    _accelerated = enabled and _ACCELERATOR is not None
    return was


_tag = operator.attrgetter("tag")


def _raised_first(item: tuple[int, int, list[Finding]]) -> tuple[int, int]:
    return item[0], item[1]


_WALK_MEMO_SIZE = 2048  # tag sequences remembered per message type
_WALK_MEMO_SEGMENTS = 10_000
"""Longer tag sequences are walked without being remembered: the memo is for the
many small messages that share a sequence, and one huge (or junk) message would
otherwise keep its tags and findings for the life of the process."""
_TEXT_MEMO_SIZE = 1 << 16  # segment texts remembered as valid, per decimal mark and separators

_Suspects = Callable[[list[Segment]], list[int]]
"""The C content check of one decimal mark: positions (UNH = 1) of the
segments that might be wrong."""

_Walked = tuple[tuple[int, str, str, int, str], ...]
"""Structure findings of one tag sequence: (segment that raised it, code,
text, position and tag of its location); the message reference is added
when they are turned into Findings."""


class DirectoryValidator:
    """Validates messages against one ``Directory``; keeps its compiled forms."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._structures: dict[tuple[str, str, str], Structure] = {}
        self._checks: dict[str, dict[str, SegmentCheck]] = {}
        self._text_checks: dict[tuple[str, str, str], dict[str, SegmentCheck] | None] = {}
        self._text_passed: dict[tuple[str, str, str], set[str]] = {}  # segment texts that passed: a memo
        self._walks: dict[tuple[str, str, str], dict[tuple[str, ...], _Walked]] = {}
        self._suspects: dict[str, _Suspects] = {}

    def supports(self, message_type: str, version: str, release: str) -> bool:
        return (message_type, version, release) in self.directory.messages

    def _structure(self, key: tuple[str, str, str]) -> Structure | None:
        structure = self._structures.get(key)
        if structure is None:
            definition = self.directory.messages.get(key)
            if definition is None:
                return None
            structure = self._structures[key] = Structure(definition)
        return structure

    def _segment_checks(self, decimal_mark: str) -> dict[str, SegmentCheck]:
        checks = self._checks.get(decimal_mark)
        if checks is None:
            directory = self.directory
            checks = self._checks[decimal_mark] = {
                tag: compile_segment(definition, directory.codes, decimal_mark)
                for tag, definition in directory.segments.items()
            }
        return checks

    def _segment_text_checks(self, decimal_mark: str, element: str, component: str) -> dict[str, SegmentCheck] | None:
        """Checks that read ``Segment.text`` with these separators; None when they cannot."""
        key = (decimal_mark, element, component)
        if key not in self._text_checks:
            checks = None
            if text_separators_safe(element, component, decimal_mark):
                directory = self.directory
                checks = {
                    tag: compile_segment(definition, directory.codes, decimal_mark, (element, component))
                    for tag, definition in directory.segments.items()
                }
            self._text_checks[key] = checks
            self._text_passed[key] = set()
        return self._text_checks[key]

    def _suspect_finder(self, decimal_mark: str) -> _Suspects | None:
        """The C content check for this decimal mark; None when it is off,
        not built, or the mark is not one character (the Python loop then
        checks every segment)."""
        if not _accelerated or _c_checker is None or len(decimal_mark) != 1:
            return None
        finder = self._suspects.get(decimal_mark)
        if finder is None:
            spec = content_spec(self.directory.segments, self.directory.codes)
            finder = self._suspects[decimal_mark] = _c_checker(Segment, spec, decimal_mark).suspects
        return finder

    def validate(self, message: Message, decimal_mark: str = ".") -> list[Finding]:
        key = (message.type, message.version, message.release)
        structure = self._structure(key)
        if structure is None:
            return []
        segments = message.segments
        failed = self._content(message, decimal_mark)
        # Structure: the segment-table walk, a function of the tag sequence.
        tags = _c_tags(segments) if _accelerated and _c_tags is not None else None
        if tags is None:
            tags = tuple(map(_tag, segments))
        walks = self._walks.get(key)
        if walks is None:
            walks = self._walks[key] = {}
        walked = walks.get(tags)
        if walked is None:
            walked = self._walk(structure, message, tags)
            if len(tags) <= _WALK_MEMO_SEGMENTS:
                if len(walks) >= _WALK_MEMO_SIZE:
                    walks.clear()
                walks[tags] = walked
        if not failed and not walked:
            return []
        # Findings in the order of the segments that raise them, content first.
        reference = message.reference
        ordered: list[tuple[int, int, list[Finding]]] = [
            (position, 0, check.findings(segment, position, reference)) for position, check, segment in failed
        ]
        ordered += [
            (raised, 1, [Finding(code, text, Location(reference, at, tag))]) for raised, code, text, at, tag in walked
        ]
        ordered.sort(key=_raised_first)
        return [finding for _, _, found in ordered for finding in found]

    def _content(self, message: Message, decimal_mark: str) -> list[tuple[int, SegmentCheck, Segment]]:
        """The segments whose content check fails, with their position and check.

        Each segment is checked against its definition: on its own text when
        the reader kept it (no re-join), else on its elements joined. With the
        C check only the segments it names as suspects are checked here."""
        segments = message.segments
        suspects = self._suspect_finder(decimal_mark)
        candidates: Iterable[tuple[int, Segment]]
        if suspects is None:
            candidates = enumerate(segments, 1)
        else:
            positions = suspects(segments)
            if not positions:
                return []
            candidates = [(position, segments[position - 1]) for position in positions]
        joined_checks = self._segment_checks(decimal_mark)
        delimiters = message.delimiters
        text_checks = None
        if delimiters is not None:
            separators = (decimal_mark, delimiters.element, delimiters.component)
            text_checks = self._segment_text_checks(*separators)
        joined_get = joined_checks.get
        if text_checks is not None:
            text_get = text_checks.get
            passed = self._text_passed[separators]
        failed: list[tuple[int, SegmentCheck, Segment]] = []
        for position, segment in candidates:
            text = segment.text
            if text is not None and text_checks is not None:
                if text in passed:  # the text holds the tag: one memo for every tag
                    continue
                check = text_get(segment.tag)
                if check is None:
                    continue
                match = check.fast(text, check.start)  # check.accepts(text), inlined
                if match is not None and (not check.coded or check.codes_known(match)):
                    if len(passed) >= _TEXT_MEMO_SIZE:
                        passed.clear()
                    passed.add(text)
                    continue
            else:
                check = joined_get(segment.tag)
                if check is None:
                    continue
                text = _E.join(map(_C.join, segment.elements))  # content.joined, inlined
                if text in check.known or check.passes_text(text):
                    continue
            failed.append((position, check, segment))
        return failed

    def _walk(self, structure: Structure, message: Message, tags: tuple[str, ...]) -> _Walked:
        """Structure findings of a tag sequence (the walk of structure.py)."""
        found: list[tuple[int, str, str, int, str]] = []
        transitions = structure.transitions
        state = structure.start
        counts = [1]  # per level of the state: repetitions of the entry matched last
        for position in range(2, len(tags) + 1):  # UNH (position 1): the walk's starting point
            tag = tags[position - 1]
            step = transitions[state].get(tag) or structure.step(state, tag)
            next_state, level, repeat, push, limit, excess, excess_code, missing = step
            if level < 0:
                finding = self._unexpected(structure, state, message, position)
                found.append((position, finding.code, finding.message, position, tag))
                continue
            if missing:
                # ISO 9735 UCS 0096: a missing segment is reported at the last
                # segment processed before the position where it was due.
                before = tags[position - 2]
                found.extend((position, "13", f"{gap} before {tag}", position - 1, before) for gap in missing)
            if len(counts) > level + 1:
                del counts[level + 1 :]
            count = counts[level] = counts[level] + 1 if repeat else 1
            if push:
                counts.append(1)
            if count > limit:
                found.append((position, excess_code, excess, position, tag))
            state = next_state
        return tuple(found)

    def _unexpected(self, structure: Structure, state: int, message: Message, position: int) -> Finding:
        tag = message.segments[position - 1].tag
        where = Location(message.reference, position, tag)
        name = f"{message.type} {message.version}.{message.release}"
        if tag not in structure.tags:
            return Finding("15", f"segment {tag} is not part of the {name} message", where)
        expected = structure.expected(state)
        after = message.segments[position - 2].tag
        hint = f"expected one of {', '.join(expected)}" if expected else "nothing may follow"
        return Finding("15", f"segment {tag} is not allowed here: {hint} after {after}", where)


@functools.cache
def default_validator() -> DirectoryValidator:
    """The process-wide validator over our D.96B definitions (loaded on first call)."""
    return DirectoryValidator(load_directory())


def validate_message(message: Message, decimal_mark: str = ".") -> list[Finding]:
    """Every directory finding of ``message``; ``[]`` when its type is not defined."""
    return default_validator().validate(message, decimal_mark)
