"""UN/EDIFACT REMADV D.96B (our guide ``CARMPY``, docs/formats/payments.md) → one domain ``Payment``.

A REMADV advises one payment. The guide (``mappings.carmpy_guide.CARMPY_REMADV``)
reads its fields; ``mappings.edifact_payment`` makes the payment of them.
"""

from __future__ import annotations

from domain.payment import PaymentChannel
from mappings.carmpy_guide import CARMPY_REMADV
from mappings.edifact_payment import (
    EdiPaymentMapping,
    PaymentValues,
    finish_payment,
    take_values,
)
from mappings.edifact_walk import read_message
from parsers.edifact.model import Message

REMADV = CARMPY_REMADV.identifier
_BGM = 2  # where a REMADV's payment is placed when nothing closer is known


def map_remadv(message: Message, decimal: str = ".") -> EdiPaymentMapping:
    reading = read_message(CARMPY_REMADV, message, decimal)
    mapping = EdiPaymentMapping(reading.data.get("message_id"))
    values = PaymentValues()
    take_values(values, reading.data, reading.sources, "")
    payment = finish_payment(
        values, reading.findings, message.reference, _BGM, mapping.message_id, PaymentChannel.REMADV
    )
    mapping.payments.append(payment)
    if payment.payment is None:
        mapping.findings.extend(payment.findings)
    return mapping


def is_remadv(message: Message) -> bool:
    return (message.type, message.version, message.release) == REMADV
