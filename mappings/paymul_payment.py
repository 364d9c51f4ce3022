"""UN/EDIFACT PAYMUL D.96B (our guide ``CARMPY``, docs/formats/payments.md) → domain ``Payment``s.

The guide (``mappings.carmpy_guide.CARMPY_PAYMUL``) reads the message into its
own shape: LIN groups (value date, payer's account, payer, the total ``MOA+9``)
holding SEQ groups. Each SEQ is one ``Payment`` with its LIN's value date and
payer (``mappings.edifact_payment``). What is not a field is here: the LIN
total against the sum of its SEQ amounts (PAY-CTL) and ``CNT+2`` against the
number of SEQs (PAY-NB).

Syntax findings carry UN/EDIFACT 0085 codes (12 invalid value, 13 missing) and go to the
CONTRL; ``group_findings`` are business findings about the whole message (APERAK).
"""

from __future__ import annotations

import re
from decimal import Decimal

from diagnostics import Finding, Location
from domain.identifiers import is_ascii_digits
from domain.payment import PaymentChannel
from mappings.carmpy_guide import CARMPY_PAYMUL
from mappings.edifact_payment import (
    EdiPayment,
    EdiPaymentMapping,
    PaymentValues,
    finish_payment,
    take_values,
)
from mappings.edifact_walk import Reading, read_message
from mappings.payment_codes import CONTROL_SUM_MISMATCH, COUNT_MISMATCH
from parsers.edifact.model import Message

PAYMUL = CARMPY_PAYMUL.identifier
_PAYMENT = re.compile(r"^lins\[[0-9]+\]\.payments\[[0-9]+\]")

__all__ = ["PAYMUL", "EdiPayment", "EdiPaymentMapping", "is_paymul", "map_paymul"]


def map_paymul(message: Message, decimal: str = ".") -> EdiPaymentMapping:
    reading = read_message(CARMPY_PAYMUL, message, decimal)
    mapping = EdiPaymentMapping(reading.data.get("message_id"))
    of_payment: dict[str, list[Finding]] = {}
    owners = _payment_of_segment(reading)
    for finding in reading.findings:  # about a LIN's values: the message's; about a SEQ's: its payment's
        owner = owners.get(finding.location.segment or 0)
        if owner is None:
            mapping.findings.append(finding)
        else:
            of_payment.setdefault(owner, []).append(finding)
    sources = reading.sources
    for number, lin in enumerate(reading.data.get("lins", [])):
        amounts: list[Decimal] = []
        for index, seq in enumerate(lin.get("payments", [])):
            path = f"lins[{number}].payments[{index}]"
            values = PaymentValues()
            take_values(values, lin, sources, f"lins[{number}].")
            take_values(values, seq, sources, path + ".")
            payment = finish_payment(
                values,
                of_payment.get(path, []),
                message.reference,
                sources[path][0],
                mapping.message_id,
                PaymentChannel.PAYMUL,
            )
            mapping.payments.append(payment)
            if values.amount is not None:
                amounts.append(values.amount)
        total = lin.get("total")
        if total is not None and sum(amounts, Decimal(0)) != total:
            mapping.group_findings.append(
                Finding(
                    CONTROL_SUM_MISMATCH,
                    f"LIN total MOA+9 is {total} but its payments add up to {sum(amounts, Decimal(0))}",
                    Location(
                        message_ref=message.reference,
                        segment=sources[f"lins[{number}].total"][0],
                        tag="MOA",
                        element=1,
                        component=2,
                    ),
                )
            )
    if "CNT+2" in reading.seen:
        position, segment = reading.seen["CNT+2"]
        declared = segment.get(1, 2)
        if not is_ascii_digits(declared) or int(declared) != len(mapping.payments):
            mapping.group_findings.append(
                Finding(
                    COUNT_MISMATCH,
                    f"CNT+2 says {declared} payments but the message holds {len(mapping.payments)} SEQ group(s)",
                    Location(message_ref=message.reference, segment=position, tag="CNT", element=1, component=2),
                )
            )
    for payment in mapping.payments:
        if payment.payment is None:
            mapping.findings.extend(f for f in payment.findings if f not in mapping.findings)
    return mapping


def _payment_of_segment(reading: Reading) -> dict[int, str]:
    """Segment position → the payment (``lins[0].payments[1]``) whose SEQ group holds it."""
    owners: dict[int, str] = {}
    for item, segments in reading.layout.items():
        match = _PAYMENT.match(item)
        if match:
            owners.update((position, match.group(0)) for position, _tag in segments)
    return owners


def is_paymul(message: Message) -> bool:
    return (message.type, message.version, message.release) == PAYMUL
