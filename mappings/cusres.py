"""CUSRES D.96B (guide CAD01, docs/formats/cusres-outcome.md): the business
answer to one declaration message — the portal's outcome, or the gateway's
own rejection before posting."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydifact.segments import Segment as OutSegment

from domain import AssessedLine, DeclarationOutcome, OutcomeStatus
from mappings.edifact_writer import segment

IDENTIFIER = ("CUSRES", "D", "96B", "UN", "CAD01")


@dataclass(frozen=True)
class CusresError:
    """One error line: a code (portal validation code or rule id, at most 8
    characters), a message, the domain pointer and the EDIFACT position; a
    ``warning`` (a rule's or the portal's, e.g. ``P310``) rejects nothing."""

    code: str
    message: str
    pointer: str | None = None
    where: str | None = None
    line_number: int | None = None
    warning: bool = False


# FTX 4451 of an error line's message: AAO "error description" for an error, AAI "general
# information" for a warning (docs/decisions.md), so a reader tells them apart in any response.
_ERROR_TEXT, _WARNING_TEXT = "AAO", "AAI"


def _text(value: str) -> list[str]:
    """Free text as at most five 70-character C108 components, broken between words."""
    return textwrap.wrap(value, 70, break_on_hyphens=False)[:5] or [""]


# CUSRES carries the CARM status in GIS 7365, whose D.96B code list holds 40, 41
# and 42 but no three-digit codes: any other status is reported as rejected (41)
# with its errors, and a functional acknowledgement (200, not final) as pending (42).
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
    response = "AP" if status.accepted else ("RE" if status.final else "CA")
    yield segment("BGM", "929", reference, "9", response)
    yield segment("DTM", ["137", issued.strftime("%Y%m%d%H%M"), "203"])
    reported = OutcomeStatus.REJECTED if status.final else OutcomeStatus.PENDING
    yield segment("GIS", (status if status in _GIS_STATUSES else reported).value)
    yield segment("RFF", ["ACW", inbound_interchange])
    yield segment("RFF", ["ACE", inbound_message])
    if filer_reference:
        yield segment("RFF", ["ABE", filer_reference])
    for error in errors[:99]:
        yield segment("ERP", ["2" if error.line_number else "1", str(error.line_number or "")])
        yield segment("ERC", error.code[:8])
        yield segment("FTX", _WARNING_TEXT if error.warning else _ERROR_TEXT, "", "", _text(error.message))
        if error.pointer or error.where:
            where = _text(error.where)[:4] if error.where else []
            yield segment("FTX", "ZZZ", "", "", [(error.pointer or "")[:70], *where])
    if outcome is not None and status.accepted:
        yield from _assessment(outcome)


# The totals beyond duty, excise tax and GST, each written only when not zero (so that an answer
# without them reads as before): TAX 5153 and, for the total of the excise duties, C533 5289 "DUTY".
_MORE_TOTALS = (
    (("EXC", "DUTY"), "total_excise_duty"),
    (("ADD",), "total_anti_dumping"),
    (("CVD",), "total_countervailing"),
    (("SUR",), "total_surtax"),
    (("OTH",), "total_safeguard"),
)


def _assessment(outcome: DeclarationOutcome) -> Iterator[OutSegment]:
    totals: list[tuple[tuple[str, ...], Decimal]] = [(("CUD",), outcome.total_duty), (("EXC",), outcome.total_excise)]
    totals += [(kind, getattr(outcome, name)) for kind, name in _MORE_TOTALS if getattr(outcome, name)]
    totals += [(("GST",), outcome.total_gst), (("TOT",), outcome.total_due)]
    for kind, amount in totals:
        yield segment("TAX", "7", *kind)
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
        yield from _line_charges(line)
        yield segment("TAX", "7", "GST", "", "", "", line.gst_status_code or "")
        yield segment("MOA", ["125", _amount(line.value_for_tax), "CAD"])
        yield segment("MOA", ["124", _amount(line.gst), "CAD"])


def _line_charges(line: AssessedLine) -> Iterator[OutSegment]:
    """The line's other duties and taxes as CUSDEC ``CAD01`` declares them (``TAX`` 5283 ``1``):
    the specific part of the customs duty with its unit (C243 5273), each excise by its code, SIMA
    anti-dumping and countervailing duty, surtax and safeguard with their codes; only those not zero."""
    if line.specific_duty:
        rate = "" if line.specific_rate is None else _amount(line.specific_rate)
        yield segment("TAX", "1", "CUD", "", "", ["", "", "", rate, line.specific_unit or ""])
        yield segment("MOA", ["124", _amount(line.specific_duty), "CAD"])
    for charge in line.excise:
        yield segment("TAX", "1", "EXC", charge.code)
        yield segment("MOA", ["124", _amount(charge.amount), "CAD"])
    for kind, code, amount in (
        ("ADD", None, line.anti_dumping_duty),
        ("CVD", None, line.countervailing_duty),
        ("SUR", line.surtax_code, line.surtax),
        ("OTH", line.safeguard_code, line.safeguard),
    ):
        if amount:
            yield segment("TAX", "1", kind, *([code] if code else []))
            yield segment("MOA", ["124", _amount(amount), "CAD"])
