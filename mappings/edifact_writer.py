"""Writing EDIFACT interchanges, serialized by pydifact.

``InterchangeWriter`` streams: UNA/UNB first, then one message at a time (UNH
and UNT with the right segment count are added), then UNZ with the message
count. Segments are written one per line; readers ignore line breaks between
segments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from pydifact.control import Characters
from pydifact.segments import Segment as OutSegment
from pydifact.serializer import Serializer

from parsers.edifact.model import Delimiters
from parsers.edifact.reader import CODECS

Element = str | list[str]



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
        self._delimiters = delimiters
        self._serializer = Serializer(
            Characters(
                component_separator=delimiters.component,
                data_separator=delimiters.element,
                decimal_point=delimiters.decimal,
                escape_character=delimiters.release or "?",
                reserved=delimiters.repetition or " ",
                segment_terminator=delimiters.terminator,
            )
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
                    [when.strftime("%y%m%d"), when.strftime("%H%M")],
                    control_reference,
                    "",
                    application_reference,
                )
            ]
        )

    @property
    def message_count(self) -> int:
        return self._messages

    def _write_text(self, text: str) -> None:
        self._out.write(text.encode(self._codec, errors="replace"))

    def write_segments(self, segments: Sequence[OutSegment]) -> None:
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
