"""Types of the optional C accelerator ``parsers/edifact/_tokenizer.c`` (its header comment is the reference)."""

from parsers.edifact.model import Segment

def configure(segment_class: type[Segment], /) -> None:
    """Record the slot offsets of the Segment class; once, before ``tokenize``."""

def tokenize(
    text: str,
    start: int,
    base: int,
    window: int,
    first_position: int,
    replaced: bool,
    element: str,
    component: str,
    release: str | None,
    repetition: str | None,
    terminator: str,
    allowed: bytes | None,
    /,
) -> tuple[list[Segment | None], list[tuple[int, int, int, bool]], int]:
    """``(segments, stops, until)``: None in ``segments`` for a segment the per-segment path must decode;
    ``stops`` as ``(index, file offset, terminator offset, odd)``."""
