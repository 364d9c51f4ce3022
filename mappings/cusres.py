"""CUSRES D.96B (guide CAD01, docs/formats/cusres-outcome.md): the business
answer to one declaration message — the portal's outcome, or the gateway's
own rejection before posting."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydifact.segments import Segment as OutSegment

from domain import DeclarationOutcome, OutcomeStatus
from mappings.edifact_writer import segment

IDENTIFIER = ("CUSRES", "D", "96B", "UN", "CAD01")


@dataclass(frozen=True)
class CusresError:
    """One error line: a code (portal validation code or rule id, at most 8
    characters), a message, the domain pointer and the EDIFACT position."""

    code: str
    message: str
    pointer: str | None = None
    where: str | None = None
    line_number: int | None = None


def _text(value: str) -> list[str]:
    """Free text as at most five 70-character C108 components, broken between words."""
    return textwrap.wrap(value, 70, break_on_hyphens=False)[:5] or [""]


# CUSRES carries the CARM status in GIS 7365, whose D.96B code list holds 40, 41
# and 42 but no three-digit codes: any other status is reported as rejected (41)
# with its errors.
_GIS_STATUSES = {OutcomeStatus.ACCEPTED, OutcomeStatus.REJECTED, OutcomeStatus.PENDING}


def _amount(value: object) -> str:
    return format(value, "f")


def cusres_segments(
    *,
    reference: str,
    status: OutcomeStatus,
    inbound_interchange: str,
    inbound_message: str,
    filer_reference: str | None,
    outcome: DeclarationOutcome | None,
    errors: Sequence[CusresError],
    issued: dt.datetime,
) -> Iterator[OutSegment]:
    """Body segments of one CUSRES. ``reference`` is the 19-digit CARM
    reference when known, else the inbound message reference."""
    response = "AP" if status.accepted else ("CA" if status is OutcomeStatus.PENDING else "RE")
    yield segment("BGM", "929", reference, "9", response)
    yield segment("DTM", ["137", issued.strftime("%Y%m%d%H%M"), "203"])
    yield segment("GIS", (status if status in _GIS_STATUSES else OutcomeStatus.REJECTED).value)
    yield segment("RFF", ["ACW", inbound_interchange])
    yield segment("RFF", ["ACE", inbound_message])
    if filer_reference:
        yield segment("RFF", ["ABE", filer_reference])
    for error in errors[:99]:
        yield segment("ERP", ["2" if error.line_number else "1", str(error.line_number or "")])
        yield segment("ERC", error.code[:8])
        yield segment("FTX", "AAO", "", "", _text(error.message))
        if error.pointer or error.where:
            where = _text(error.where)[:4] if error.where else []
            yield segment("FTX", "ZZZ", "", "", [(error.pointer or "")[:70], *where])
    if outcome is not None and status.accepted:
        yield from _assessment(outcome)


def _assessment(outcome: DeclarationOutcome) -> Iterator[OutSegment]:
    for kind, amount in (
        ("CUD", outcome.total_duty),
        ("EXC", outcome.total_excise),
        ("GST", outcome.total_gst),
        ("TOT", outcome.total_due),
    ):
        yield segment("TAX", "7", kind)
        yield segment("MOA", ["124", _amount(amount), "CAD"])
    if not outcome.lines:
        return
    yield segment("DOC", "929", f"{outcome.transaction_number}{outcome.version:05d}")
    for line in outcome.lines:
        yield segment("CST", str(line.line_number))
        yield segment("TAX", "7", "CUD")
        yield segment("MOA", ["125", _amount(line.value_for_duty), "CAD"])
        yield segment("MOA", ["124", _amount(line.customs_duty), "CAD"])
        yield segment("TAX", "7", "EXC")
        yield segment("MOA", ["124", _amount(line.excise_tax), "CAD"])
        yield segment("TAX", "7", "GST")
        yield segment("MOA", ["125", _amount(line.value_for_tax), "CAD"])
        yield segment("MOA", ["124", _amount(line.gst), "CAD"])
