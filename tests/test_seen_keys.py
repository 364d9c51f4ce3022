"""SeenKeys: the envelope check's duplicate memory, bounded by moving its keys to disk."""

from __future__ import annotations

import io

import pytest

import validators.seen_keys
from diagnostics import Finding
from parsers.edifact.reader import read_edifact
from validators.envelope import validate_envelopes
from validators.seen_keys import SeenKeys


def test_keys_are_told_new_once_before_and_after_they_move_to_disk() -> None:
    seen = SeenKeys(limit=3)
    assert [seen.add(key) for key in ("a", "b", "a", "c")] == [True, True, False, True]
    assert not seen.on_disk
    assert seen.add("d") and seen.on_disk  # the fourth key moves them all
    assert [seen.add(key) for key in ("a", "b", "c", "d", "e", "e")] == [False, False, False, False, True, False]
    seen.close()
    assert not seen.on_disk and seen.add("a")  # closed: everything forgotten


def _envelope_findings(data: str) -> list[Finding]:
    return [f for _, found in validate_envelopes(read_edifact(io.BytesIO(data.encode("latin-1")))) for f in found]


def _interchange(control: str, references: list[str]) -> str:
    messages = "".join(f"UNH+{ref}+X:D:1:UN'UNT+2+{ref}'" for ref in references)
    return f"UNB+UNOC:3+SENDER:ZZ+RECIPIENT:ZZ+250101:1200+{control}'{messages}UNZ+{len(references)}+{control}'"


@pytest.mark.parametrize("limit", [2, 50_000])
def test_duplicates_are_found_wherever_the_keys_are(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """The same findings whether the references and interchanges are kept in memory or on disk."""
    monkeypatch.setattr(validators.seen_keys, "MEMORY_LIMIT", limit)
    references = ["1", "2", "1", "3", "4", "5", "3", "6"]
    data = "".join(_interchange(f"IC{n}", references) for n in (1, 2, 3, 1, 4, 2))
    found = [(f.code, f.location.message_ref, f.location.tag) for f in _envelope_findings(data)]
    per_interchange = [("26", "1", "UNH"), ("26", "3", "UNH")]  # each interchange starts afresh
    assert found == per_interchange * 3 + [("26", None, "UNB")] + per_interchange * 2 + [("26", None, "UNB")] + (
        per_interchange
    )
