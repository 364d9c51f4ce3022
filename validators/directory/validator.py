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
"""

from __future__ import annotations

import functools

from diagnostics import Finding, Location
from parsers.edifact.model import Message
from validators.directory.content import COMPONENT_SEPARATOR as _C
from validators.directory.content import ELEMENT_SEPARATOR as _E
from validators.directory.content import SegmentCheck, compile_segment
from validators.directory.definitions import Directory, load_directory
from validators.directory.structure import Structure

__all__ = ["DirectoryValidator", "default_validator", "validate_message"]


class DirectoryValidator:
    """Validates messages against one ``Directory``; keeps its compiled forms."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._structures: dict[tuple[str, str, str], Structure] = {}
        self._checks: dict[str, dict[str, SegmentCheck]] = {}

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

    def validate(self, message: Message, decimal_mark: str = ".") -> list[Finding]:
        structure = self._structure((message.type, message.version, message.release))
        if structure is None:
            return []
        checks = self._segment_checks(decimal_mark)
        reference = message.reference
        segments = message.segments
        findings: list[Finding] = []
        transitions = structure.transitions
        state = structure.start
        counts = [1]  # per level of the state: repetitions of the entry matched last
        for position, segment in enumerate(segments, 1):
            tag = segment.tag
            check = checks.get(tag)
            if check is not None:
                text = _E.join(map(_C.join, segment.elements))  # content.joined, inlined
                if text not in check.known and not check.passes_text(text):
                    findings.extend(check.findings(segment, position, reference))
            if position == 1:
                continue  # UNH: the walk's starting point
            step = transitions[state].get(tag) or structure.step(state, tag)
            next_state, level, repeat, push, limit, excess, excess_code, missing = step
            if level < 0:
                findings.append(self._unexpected(structure, state, message, position))
                continue
            if missing:
                # ISO 9735 UCS 0096: a missing segment is reported at the last
                # segment processed before the position where it was due.
                where = Location(reference, position - 1, segments[position - 2].tag)
                findings.extend(Finding("13", f"{gap} before {tag}", where) for gap in missing)
            if len(counts) > level + 1:
                del counts[level + 1 :]
            count = counts[level] = counts[level] + 1 if repeat else 1
            if push:
                counts.append(1)
            if count > limit:
                findings.append(Finding(excess_code, excess, Location(reference, position, tag)))
            state = next_state
        return findings

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
