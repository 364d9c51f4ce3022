"""APERAK D.96B (guide CARMPY, docs/formats/payments.md): the business answer to one
PAYMUL or REMADV message — whether each of its payments was applied to the account
ledger, and why not.

    BGM+23+<inbound BGM message id>+9+AP|RE|CA'     AP all applied, RE none, CA some
    DTM+137:<CCYYMMDDHHMM>:203'
    RFF+ACW:<inbound interchange reference>'       SG1
    RFF+ACE:<inbound message reference>'           SG1
    then per message-level error (SG3):
    ERC+<code>'  FTX+AAO+++<message>'  RFF+ACE:<inbound message reference>'  FTX+ZZZ+++<pointer>:<position>'
    then per payment (SG3):
    ERC+PAY-OK | <code>'  FTX+AAO+++<message>'  RFF+CR:<end-to-end reference>'  [FTX+ZZZ+++<pointer>:<position>']

A payment with several errors has one SG3 group per error. ``PAY-OK``'s text says how
the payment was applied (to which transactions, how much unapplied).
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pydifact.segments import Segment as OutSegment

from mappings.edifact_writer import segment

IDENTIFIER = ("APERAK", "D", "96B", "UN", "CARMPY")
DOCUMENT_CODE = "23"  # D.96B 1001 has no "application acknowledgement" code; our guide uses 23
APPLIED = "PAY-OK"
ALL_APPLIED, NONE_APPLIED, SOME_APPLIED = "AP", "RE", "CA"


@dataclass(frozen=True)
class AperakError:
    code: str  # at most 8 characters (ERC 9321)
    message: str
    pointer: str | None = None
    where: str | None = None


@dataclass
class AperakPayment:
    end_to_end_reference: str | None
    applied: bool
    text: str = ""  # for an applied payment: how it was applied
    errors: list[AperakError] = field(default_factory=list)


def _text(value: str, parts: int = 5) -> list[str]:
    return textwrap.wrap(value, 70, break_on_hyphens=False)[:parts] or [""]


def verdict(payments: Sequence[AperakPayment], message_errors: Sequence[AperakError]) -> str:
    applied = [p.applied for p in payments]
    if message_errors or not any(applied):
        return NONE_APPLIED
    return ALL_APPLIED if all(applied) else SOME_APPLIED


def _error(error: AperakError, reference: tuple[str, str]) -> Iterator[OutSegment]:
    yield segment("ERC", error.code[:8])
    yield segment("FTX", "AAO", "", "", _text(error.message))
    yield segment("RFF", list(reference))
    if error.pointer or error.where:
        where = _text(error.where, 4) if error.where else []
        yield segment("FTX", "ZZZ", "", "", [(error.pointer or "")[:70], *where])


def aperak_segments(
    *,
    message_id: str | None,
    inbound_interchange: str,
    inbound_message: str,
    issued: dt.datetime,
    message_errors: Sequence[AperakError],
    payments: Sequence[AperakPayment],
) -> Iterator[OutSegment]:
    yield segment("BGM", DOCUMENT_CODE, (message_id or inbound_message)[:35], "9", verdict(payments, message_errors))
    yield segment("DTM", ["137", issued.strftime("%Y%m%d%H%M"), "203"])
    yield segment("RFF", ["ACW", inbound_interchange])
    yield segment("RFF", ["ACE", inbound_message])
    for error in message_errors:
        yield from _error(error, ("ACE", inbound_message))
    for payment in payments:
        reference = ("CR", payment.end_to_end_reference or "")
        if payment.applied:
            yield from _error(AperakError(APPLIED, payment.text or "payment applied"), reference)
        for error in payment.errors:
            yield from _error(error, reference)
