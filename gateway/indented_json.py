"""``json.dumps(value, indent=...)`` for a report's values, without the stdlib's pure-Python encoder.

With an ``indent``, CPython's ``json`` (3.11) leaves its C encoder aside and walks the value with
nested generators: for the small entries a report writes per document (``check --json`` on a file
of ten thousand declarations writes ten thousand of them) that walk costs more than building the
entry. ``indented_json`` writes the same text with one direct recursion, strings through the C
string encoder ``json`` itself uses; a value of any other kind than ``dict`` (with ``str`` keys),
``list``, ``tuple``, ``str``, ``int``, ``bool`` and ``None`` (a float, a subclass) is handed to
``json.dumps`` whole, so the text is always exactly ``json.dumps``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii  # the C functions json itself uses
from typing import Any


class _Unsupported(Exception):
    """A value ``_render`` leaves to ``json.dumps``."""


def indented_json(value: Any, indent: int = 2, ensure_ascii: bool = True, level: int = 0) -> str:
    """``json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)``, as if the value stood
    ``level`` levels deep in a larger document (every line after the first indented by
    ``level * indent`` more spaces)."""
    encode: Callable[[str], str] = encode_basestring_ascii if ensure_ascii else encode_basestring
    try:
        return _render(value, encode, " " * indent, "\n" + " " * (indent * level))
    except _Unsupported:
        text = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)
        return text.replace("\n", "\n" + " " * (indent * level)) if level else text


def _render(value: Any, encode: Callable[[str], str], step: str, newline: str) -> str:
    """``value`` whose first line is already placed; ``newline`` starts a line at its level."""
    kind = type(value)
    if kind is str:
        return encode(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    inner = newline + step
    if kind is dict:
        if not value:
            return "{}"
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unsupported
            # strings and nulls, most of a report's values, without a call each
            if type(item) is str:
                parts.append(f"{encode(key)}: {encode(item)}")
            elif item is None:
                parts.append(f"{encode(key)}: null")
            else:
                parts.append(f"{encode(key)}: {_render(item, encode, step, inner)}")
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join([_render(item, encode, step, inner) for item in value]) + newline + "]"
    raise _Unsupported
