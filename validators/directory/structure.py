"""The segment-table walk: a state machine built lazily from a ``MessageDef``.

A state is the path from the message root to the innermost open segment
group: for each level, the group and the index of its entry matched last
(the root behaves as a group whose trigger is UNH). For a segment tag, the
next state is found by searching forward from that index in the innermost
group, then in each enclosing group (leaving the inner ones); within a group
its own trigger is never a candidate, because a trigger that reappears is a
new repetition of the group, found one level up. Mandatory entries jumped
over, in the groups left and in the group matched, are missing (13, at the
segment processed just before the one found instead, as ISO 9735 UCS 0096 says). A tag found nowhere ahead is not allowed
here (15) and is skipped, the state unchanged, so the walk resynchronises on
the next expected segment.

Each (state, tag) transition is computed once and cached as a ``Step``; at
run time a segment costs one dict lookup plus the repetition counters, kept
per level because they are the only part of the walk that is not a function
of the state.
"""

from __future__ import annotations

from typing import NamedTuple

from validators.directory.definitions import GroupEntry, MessageDef, SegmentEntry

__all__ = ["Step", "Structure"]

Path = tuple[tuple[GroupEntry, int], ...]


class Step(NamedTuple):
    """What one segment tag does in one state. ``level`` < 0: not allowed here."""

    state: int
    level: int
    repeat: bool  # the entry matched is the one matched last: count + 1
    push: bool  # a group was entered: a new level, its trigger counted once
    limit: int
    excess: str  # message when the count exceeds ``limit`` ("" for unexpected)
    excess_code: str  # 35 segment, 36 group
    missing: tuple[str, ...]  # messages of the mandatory entries jumped over


def _label(entry: SegmentEntry | GroupEntry) -> str:
    if isinstance(entry, GroupEntry):
        return f"segment group {entry.name} ({entry.trigger})"
    return f"segment {entry.tag}"


def _opens_with(entry: SegmentEntry | GroupEntry, tag: str) -> bool:
    return (entry.trigger if isinstance(entry, GroupEntry) else entry.tag) == tag


def _tags(group: GroupEntry) -> set[str]:
    found: set[str] = set()
    for entry in group.entries:
        found |= _tags(entry) if isinstance(entry, GroupEntry) else {entry.tag}
    return found


class Structure:
    """The compiled segment table of one message type."""

    def __init__(self, message: MessageDef) -> None:
        self.message = message
        self.tags = frozenset(_tags(message.root))
        self._paths: list[Path] = []
        self._ids: dict[tuple[tuple[int, int], ...], int] = {}
        self.transitions: list[dict[str, Step]] = []  # by state id
        self.start = self._intern(((message.root, 0),))

    def _intern(self, path: Path) -> int:
        key = tuple((id(group), index) for group, index in path)
        found = self._ids.get(key)
        if found is None:
            found = len(self._paths)
            self._ids[key] = found
            self._paths.append(path)
            self.transitions.append({})
        return found

    def step(self, state: int, tag: str) -> Step:
        """The transition for ``tag`` in ``state`` (computed once, then cached)."""
        step = self.transitions[state].get(tag)
        if step is None:
            step = self._compute(state, tag)
            self.transitions[state][tag] = step
        return step

    def _compute(self, state: int, tag: str) -> Step:
        path = self._paths[state]
        missing: list[str] = []
        for level in range(len(path) - 1, -1, -1):
            group, index = path[level]
            for candidate in range(max(index, 1), len(group.entries)):
                entry = group.entries[candidate]
                if not _opens_with(entry, tag):
                    continue
                missing.extend(
                    f"mandatory {_label(e)} missing" for e in group.entries[index + 1 : candidate] if e.mandatory
                )
                return self._matched(path, level, candidate, entry, missing)
            missing.extend(f"mandatory {_label(e)} missing" for e in group.entries[index + 1 :] if e.mandatory)
        return Step(state, -1, False, False, 0, "", "", ())

    def _matched(
        self, path: Path, level: int, candidate: int, entry: SegmentEntry | GroupEntry, missing: list[str]
    ) -> Step:
        group, index = path[level]
        repeat = candidate == index
        new_path: Path = (*path[:level], (group, candidate))
        if isinstance(entry, GroupEntry):
            new_path = (*new_path, (entry, 0))
            excess = f"segment group {entry.name} ({entry.trigger}) repeated more than {entry.max_repeats} times"
            code = "36"
        else:
            excess = f"segment {entry.tag} repeated more than {entry.max_repeats} times"
            code = "35"
        if level > 0:
            excess += f" in segment group {group.name}"
        return Step(
            self._intern(new_path),
            level,
            repeat,
            isinstance(entry, GroupEntry),
            entry.max_repeats,
            excess,
            code,
            tuple(missing),
        )

    def expected(self, state: int) -> list[str]:
        """Tags that may follow in ``state`` without any finding."""
        tags: list[str] = []
        for group, index in reversed(self._paths[state]):
            for candidate in range(max(index, 1), len(group.entries)):
                entry = group.entries[candidate]
                if candidate > index or entry.max_repeats > 1:
                    tag = entry.trigger if isinstance(entry, GroupEntry) else entry.tag
                    if tag not in tags:
                        tags.append(tag)
                if entry.mandatory and candidate > index:
                    return tags
        return tags
