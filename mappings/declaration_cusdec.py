"""``Declaration`` → CUSDEC D.96B body segments (guide CAD01).

The guide's rules run the other way (``mappings.edifact_guide.write_segments``):
used to write fixtures and benchmark files and to prove the mapping round-trips.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydifact.segments import Segment as OutSegment

from domain import Declaration
from mappings.cusdec_guide import CAD01
from mappings.edifact_guide import write_segments

IDENTIFIER = (*CAD01.identifier, "UN", "CAD01")


def cusdec_segments(declaration: Declaration) -> Iterator[OutSegment]:
    """The segments between UNH and UNT for one declaration."""
    return write_segments(CAD01, declaration)
