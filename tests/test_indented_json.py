"""``indented_json`` writes exactly what ``json.dumps(value, indent=...)`` writes (the stdlib is the oracle)."""

from __future__ import annotations

import enum
import json

from hypothesis import given
from hypothesis import strategies as st

from diagnostics import Finding, Location, Severity
from gateway.indented_json import indented_json

_SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=True)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_VALUES, st.integers(min_value=0, max_value=4), st.booleans(), st.integers(min_value=0, max_value=3))
def test_same_text_as_json_dumps(value: object, indent: int, ensure_ascii: bool, level: int) -> None:
    expected = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii).replace("\n", "\n" + " " * indent * level)
    assert indented_json(value, indent, ensure_ascii, level) == expected


class _Code(enum.IntEnum):
    ONE = 1


class _Name(enum.StrEnum):
    A = "a"


def test_values_json_treats_specially_are_left_to_it() -> None:
    """Subclasses (an IntEnum, a str Enum), keys that are not strings, floats: json.dumps's own text."""
    for value in (
        {"code": _Code.ONE},
        [_Name.A, 1.5, float("inf")],
        {1: "x", None: [True]},
        {"x": {"y": [1, {"z": -0.0}]}},
    ):
        for ensure_ascii in (True, False):
            assert indented_json(value, 2, ensure_ascii, 1) == json.dumps(
                value, indent=2, ensure_ascii=ensure_ascii
            ).replace("\n", "\n  ")


def test_a_report_entry_with_findings() -> None:
    finding = Finding("XSD", 'schema: élément "x"\n\tnot expected', Location(xpath="/a[1]/b", line=7), Severity.WARNING)
    entry = {
        "message_ref": "1",
        "type": "CAD-IN",
        "status": "rejected",
        "reference": None,
        "errors": [finding.to_dict()],
    }
    for ensure_ascii in (True, False):
        assert indented_json(entry, 2, ensure_ascii) == json.dumps(entry, indent=2, ensure_ascii=ensure_ascii)
