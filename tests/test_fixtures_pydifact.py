"""Our reader and pydifact agree segment by segment on every CUSDEC fixture
that is an interchange at all (the garbage and empty files are not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edifact_helpers import CUSDEC
from tests.test_samples_corpus import _our_segments, _pydifact_segments, _read

NOT_EDIFACT = {"i01_garbage.bin", "i02_empty.edi"}
FIXTURES = sorted(p for p in CUSDEC.rglob("*") if p.suffix in (".edi", ".bin") and p.name not in NOT_EDIFACT)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_reader_agrees_with_pydifact(path: Path) -> None:
    data = path.read_bytes()
    ours = _our_segments(_read(data))
    # pydifact refuses a second UNA in one text: give it one interchange at a time.
    text = data.decode("latin-1")
    parts = ["UNA" + part for part in text.split("UNA")[1:]] or [text]
    theirs = [segment for part in parts for segment in _pydifact_segments(part)]
    assert ours == theirs


def test_there_are_enough_fixtures() -> None:
    assert len([p for p in FIXTURES if p.parent.name == "valid"]) >= 6
    assert len(list((CUSDEC / "invalid").iterdir())) >= 8
