"""Writing EDIFACT interchanges, serialized by pydifact.

``InterchangeWriter`` streams: UNA/UNB first, then one message at a time (UNH
and UNT with the right segment count are added), then UNZ with the message
count. Segments are written one per line; readers ignore line breaks between
segments.

In syntax version 4 the UNA reserved position is the repetition separator
(``*`` unless the delimiters say otherwise) and a data character equal to it
must be released like the other service characters. pydifact's serializer
escapes only the component and element separators, the terminator and the
release character, so the writer adds the repetition separator to its escape
map. Characters the interchange's character set cannot encode are written as
``.`` (never as ``?``, which would release the next character).
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from pydifact.control import Characters
from pydifact.segments import Segment as OutSegment
from pydifact.serializer import Serializer

from parsers.edifact.model import Delimiters
from parsers.edifact.reader import _REPERTOIRES, CODECS

Element = str | list[str]

REPETITION = "*"  # ISO 9735-4 default repetition separator
_UNENCODABLE = "carm-edifact-replace"


def _replace_unencodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "." * (error.end - error.start), error.end


codecs.register_error(_UNENCODABLE, _replace_unencodable)


def writer_delimiters(delimiters: Delimiters, syntax_version: str) -> Delimiters:
    """The delimiters to write an interchange of ``syntax_version`` with: version 4
    uses a repetition separator (``*`` by default), versions 1-3 none."""
    if syntax_version == "4":
        return dataclasses.replace(delimiters, repetition=delimiters.repetition or REPETITION)
    return dataclasses.replace(delimiters, repetition=None)


def _repertoire_filter(syntax_identifier: str) -> Callable[[str | None], str] | None:
    """For UNOA/UNOB (ISO 646 subsets): a function that maps a data value into
    the repertoire (UNOA: upper case) and writes ``.`` for anything outside it."""
    allowed = _REPERTOIRES.get(syntax_identifier)
    if allowed is None:
        return None
    keep = frozenset(allowed)
    upper = syntax_identifier == "UNOA"

    def apply(text: str | None) -> str:
        if not text:
            return ""
        if upper:
            text = text.upper()
        return "".join(c if c in keep else "." for c in text)

    return apply


class _Serializer(Serializer):
    """pydifact's serializer, also releasing the repetition separator."""

    def __init__(self, characters: Characters, repetition: str | None) -> None:
        super().__init__(characters)
        if repetition:
            self.replace_map = {**self.replace_map, repetition: characters.escape_character + repetition}
            substrs = sorted(self.replace_map, key=len, reverse=True)
            self.regexp = re.compile("|".join(map(re.escape, substrs)))


def segment(tag: str, *elements: Element) -> OutSegment:
    """A pydifact segment; trailing empty elements are dropped."""
    trimmed = list(elements)
    while trimmed and trimmed[-1] in ("", [], None):
        trimmed.pop()
    return OutSegment(tag, *trimmed)


class InterchangeWriter:
    def __init__(
        self,
        out: BinaryIO,
        *,
        sender: tuple[str, str],
        recipient: tuple[str, str],
        control_reference: str,
        syntax: tuple[str, str] = ("UNOC", "3"),
        delimiters: Delimiters = Delimiters(),
        application_reference: str = "",
        prepared: dt.datetime | None = None,
    ) -> None:
        self._out = out
        self._codec = CODECS.get(syntax[0], "latin-1")
        self._repertoire = _repertoire_filter(syntax[0])
        delimiters = writer_delimiters(delimiters, syntax[1])
        self._delimiters = delimiters
        self._serializer = _Serializer(
            Characters(  # type: ignore[no-untyped-call]  # pydifact's Characters.__init__ has no annotations
                component_separator=delimiters.component,
                data_separator=delimiters.element,
                decimal_point=delimiters.decimal,
                escape_character=delimiters.release or "?",
                reserved=delimiters.repetition or " ",
                segment_terminator=delimiters.terminator,
            ),
            delimiters.repetition,
        )
        self._control_reference = control_reference
        self._messages = 0
        when = prepared or dt.datetime.now(dt.UTC)
        self._write_text(delimiters.service_string() + "\n")
        self.write_segments(
            [
                segment(
                    "UNB",
                    list(syntax),
                    [sender[0], sender[1]],
                    [recipient[0], recipient[1]],
                    # S004 0017: YYMMDD in syntax versions 1-3, CCYYMMDD in version 4
                    [when.strftime("%Y%m%d" if syntax[1] == "4" else "%y%m%d"), when.strftime("%H%M")],
                    control_reference,
                    "",
                    application_reference,
                )
            ]
        )

    @property
    def control_reference(self) -> str:
        return self._control_reference

    @property
    def message_count(self) -> int:
        return self._messages

    def _write_text(self, text: str) -> None:
        self._out.write(text.encode(self._codec, errors=_UNENCODABLE))

    def write_segments(self, segments: Sequence[OutSegment]) -> None:
        limit = self._repertoire
        if limit is not None:
            segments = [
                OutSegment(
                    limit(s.tag), *[[limit(c) for c in e] if isinstance(e, list) else limit(e) for e in s.elements]
                )
                for s in segments
            ]
        self._write_text(self._serializer.serialize(list(segments), with_una_header=False, break_lines=True))

    def write_message(self, reference: str, identifier: Sequence[str], body: Iterable[OutSegment]) -> None:
        """Write UNH, the body (streamed in slices) and UNT with its count."""
        self.write_segments([segment("UNH", reference, list(identifier))])
        count = 2
        batch: list[OutSegment] = []
        for item in body:
            batch.append(item)
            if len(batch) >= 256:
                self.write_segments(batch)
                count += len(batch)
                batch = []
        self.write_segments(batch)
        count += len(batch)
        self.write_segments([segment("UNT", str(count), reference)])
        self._messages += 1

    def close(self) -> None:
        """Write UNZ."""
        self.write_segments([segment("UNZ", str(self._messages), self._control_reference)])
