"""Types of the optional C accelerator ``validators/directory/_content.c`` (its header comment is the reference)."""

from collections.abc import Sequence

from parsers.edifact.model import Segment
from validators.directory.content import SlotSpec

class Checker:
    """The content check of a directory for one decimal mark."""

    def __new__(cls, segment_class: type[Segment], spec: dict[str, tuple[SlotSpec, ...]], decimal_mark: str) -> Checker:
        """``spec`` is ``content.content_spec(...)``; ``decimal_mark`` one character."""

    def suspects(self, segments: Sequence[object], /) -> list[int]:
        """The 1-based positions of the segments whose content might be wrong (every other one is clean)."""

    def tags(self, segments: Sequence[object], /) -> tuple[str, ...] | None:
        """The segments' tags; None when an item is not exactly a Segment with an exact str tag."""
