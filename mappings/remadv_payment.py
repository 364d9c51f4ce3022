"""UN/EDIFACT REMADV D.96B (our guide ``CARMPY``, docs/formats/payments.md) → one domain ``Payment``.

A REMADV advises one payment: ``BGM+481+<message id>``, ``DTM+209`` value date,
``RFF+CR`` end-to-end reference, ``FII+OR`` payer's account, ``FTX+PMD`` unstructured
remittance, SG1 ``NAD+PL`` payer, SG3 ``CUX+2:CAD`` currency, one remittance item per
SG4 ``DOC+929+<transaction number or YYYY-MM statement>`` with ``RFF+ADE:<BN15>`` and
``MOA+12:<amount>``; after ``UNS+S`` the payment amount ``MOA+12`` (total remitted).
"""

from __future__ import annotations

from mappings.paymul_payment import EdiPaymentMapping, _Builder
from domain.payment import PaymentChannel
from parsers.edifact.model import Message

REMADV = ("REMADV", "D", "96B")


def map_remadv(message: Message, decimal: str = ".") -> EdiPaymentMapping:
    mapping = EdiPaymentMapping(None)
    builder = _Builder(message, decimal, mapping, 2)
    in_doc = False
    summary = False
    for position, segment in enumerate(message.segments, 1):
        tag, qualifier = segment.tag, segment.get(1, 1)
        if tag == "BGM":
            mapping.message_id = segment.get(2, 1) or None
        elif tag == "UNS":
            summary, in_doc = True, False
        elif tag == "DOC" and not summary:
            in_doc = True
            builder.start_item(segment, position)
        elif in_doc and tag == "RFF":
            builder.item_reference(segment, position)
        elif in_doc and tag == "MOA":
            builder.item_amount(segment, position)
        elif summary and tag == "MOA" and qualifier == "12":
            builder.amount = builder.number(segment, position, 1, 2, "payment amount")
            builder.result.sources["amount"] = (position, "MOA", 1, 2)
            if segment.get(1, 3):
                builder.currency = segment.get(1, 3)
                builder.result.sources["currency"] = (position, "MOA", 1, 3)
        elif in_doc:
            continue
        elif tag == "DTM" and qualifier == "209":
            builder.date(segment, position)
        elif tag == "RFF" and qualifier == "CR":
            builder.result.end_to_end_reference = segment.get(1, 2) or None
            builder.result.sources["end_to_end_reference"] = (position, "RFF", 1, 2)
        elif tag == "FII" and qualifier == "OR":
            builder.payer_account = segment.get(2, 1) or None
        elif tag == "NAD" and qualifier == "PL":
            builder.payer_name = segment.get(4, 1) or segment.get(2, 1) or None
        elif tag == "CUX":
            builder.currency = builder.currency or segment.get(1, 2) or None
            builder.result.sources.setdefault("currency", (position, "CUX", 1, 2))
        elif tag == "FTX" and qualifier == "PMD":
            builder.texts.append(" ".join(c for c in (segment.elements[3] if len(segment.elements) > 3 else []) if c))
            builder.result.sources.setdefault("remittance", (position, "FTX", 4, 1))
    payment = builder.finish(mapping.message_id, PaymentChannel.REMADV)
    mapping.payments.append(payment)
    if payment.payment is None:
        mapping.findings.extend(payment.findings)
    return mapping


def is_remadv(message: Message) -> bool:
    return (message.type, message.version, message.release) == REMADV
