"""UN/EDIFACT PAYMUL D.96B (our guide ``CARMPY``, docs/formats/payments.md) → domain ``Payment``s.

One ``Payment`` per SG11 ``SEQ`` (a credit transfer); its LIN (SG4) gives the value date
(``DTM+203``), the payer's account (``FII+OR``) and the payer (``NAD+OY``). In the SEQ:
``MOA+9`` amount and currency, ``RFF+CR`` end-to-end reference, ``FTX+PMD`` unstructured
remittance, and one remittance item per SG17 ``DOC``: ``DOC+929+<transaction number or
YYYY-MM statement>`` (number optional), ``RFF+ADE:<BN15>``, ``MOA+12:<amount>``.
Message level: ``BGM+452+<message id>``; ``MOA+9`` of a LIN (SG5) is checked against
the sum of its SEQ amounts (PAY-CTL), ``CNT+2`` against the number of SEQs (PAY-NB).

Syntax findings carry UN/EDIFACT 0085 codes (12 invalid value, 13 missing) and go to the
CONTRL; ``group_findings`` are business findings about the whole message (APERAK).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import nearest_source
from domain.payment import Payment, PaymentChannel, RemittanceItem
from mappings.cusdec_declaration import Source, source_location
from mappings.edifact_values import ValueProblem, parse_date_102, parse_decimal
from mappings.pain001_payment import CONTROL_SUM_MISMATCH, COUNT_MISMATCH, _from_text
from parsers.edifact.model import Message, Segment

PAYMUL = ("PAYMUL", "D", "96B")
_PERIOD = re.compile(r"^\d{4}-\d{2}$")


@dataclass
class EdiPayment:
    """One payment of a message: the payment, or why there is none."""

    message_ref: str
    payment: Payment | None
    end_to_end_reference: str | None
    findings: list[Finding] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    segment: int = 1  # where it starts (SEQ, or BGM for REMADV)

    def locate(self, pointer: str | None) -> Location:
        source = nearest_source(self.sources, pointer) or (self.segment, "BGM" if self.segment == 2 else "SEQ", None, None)
        location = source_location(self.message_ref, source)
        return Location(message_ref=location.message_ref, segment=location.segment, tag=location.tag, element=location.element, component=location.component, field=pointer)


@dataclass
class EdiPaymentMapping:
    message_id: str | None
    findings: list[Finding] = field(default_factory=list)  # syntax (0085): CONTRL
    group_findings: list[Finding] = field(default_factory=list)  # business, whole message: APERAK
    payments: list[EdiPayment] = field(default_factory=list)


class _Builder:
    """Collects one payment's values and their sources while the segments are walked."""

    def __init__(self, message: Message, decimal: str, mapping: EdiPaymentMapping, position: int) -> None:
        self.message = message
        self.decimal = decimal
        self.mapping = mapping
        self.result = EdiPayment(message.reference, None, None, segment=position)
        self.amount: Decimal | None = None
        self.currency: str | None = None
        self.value_date = None
        self.payer_name: str | None = None
        self.payer_account: str | None = None
        self.items: list[dict] = []
        self.texts: list[str] = []

    def where(self, position: int, tag: str, element: int | None = None, component: int | None = None) -> Location:
        return Location(message_ref=self.message.reference, segment=position, tag=tag, element=element, component=component)

    def problem(self, code: str, message: str, position: int, tag: str, element: int | None = None, component: int | None = None) -> None:
        finding = Finding(code, message, self.where(position, tag, element, component))
        self.result.findings.append(finding)

    def number(self, segment: Segment, position: int, element: int, component: int, what: str) -> Decimal | None:
        text = segment.get(element, component)
        if not text:
            self.problem("13", f"{what}: {segment.tag} has no amount", position, segment.tag, element, component)
            return None
        try:
            return parse_decimal(text, self.decimal)
        except ValueProblem as error:
            self.problem(error.code, f"{what}: {error}", position, segment.tag, element, component)
            return None

    def date(self, segment: Segment, position: int) -> None:
        try:
            if segment.get(1, 3) not in ("", "102"):
                raise ValueProblem("12", f"date format {segment.get(1, 3)!r} is not 102 (CCYYMMDD)")
            self.value_date = parse_date_102(segment.get(1, 2))
            self.result.sources["value_date"] = (position, "DTM", 1, 2)
        except ValueProblem as error:
            self.problem(error.code, f"value date: {error}", position, "DTM", 1, 2)

    def start_item(self, segment: Segment, position: int) -> None:
        index = len(self.items)
        number = segment.get(2, 1)
        item: dict = {"transaction_numbers": [], "statement": None, "account": None, "amount": None}
        self.result.sources[f"remittance[{index}]"] = (position, "DOC", None, None)
        if number:
            if _PERIOD.match(number):
                item["statement"] = number
                self.result.sources[f"remittance[{index}].statement"] = (position, "DOC", 2, 1)
            else:
                item["transaction_numbers"].append(number)
                self.result.sources[f"remittance[{index}].transaction_numbers[0]"] = (position, "DOC", 2, 1)
        self.items.append(item)

    def item_reference(self, segment: Segment, position: int) -> None:
        index = len(self.items) - 1
        if segment.get(1, 1) == "ADE":
            self.items[index]["account"] = segment.get(1, 2)
            self.result.sources[f"remittance[{index}].account"] = (position, "RFF", 1, 2)

    def item_amount(self, segment: Segment, position: int) -> None:
        index = len(self.items) - 1
        if segment.get(1, 1) == "12":
            self.items[index]["amount"] = self.number(segment, position, 1, 2, "remitted amount")
            self.result.sources[f"remittance[{index}].amount"] = (position, "MOA", 1, 2)

    def finish(self, message_id: str | None, channel: PaymentChannel) -> EdiPayment:
        result = self.result
        items = []
        for index, item in enumerate(self.items):
            if not item["account"]:
                where = result.sources[f"remittance[{index}]"]
                self.problem("13", "remittance DOC without RFF+ADE: the BN15 RM account to pay is missing", where[0], "DOC")
                continue
            items.append(RemittanceItem(**item))
        unstructured = " ".join(self.texts) or None
        if not self.items and unstructured:
            items = _from_text(unstructured)
        if self.amount is None and not any(f.location.tag == "MOA" for f in result.findings):
            self.problem("13", "the payment has no amount (MOA+9 / MOA+12)", result.segment, "SEQ" if channel is PaymentChannel.PAYMUL else "UNS")
        if self.currency is None:
            self.problem("13", "the payment has no currency (MOA 6345 or CUX)", result.segment, "MOA", 1, 3)
        if self.value_date is None and not any(f.location.tag == "DTM" for f in result.findings):
            self.problem("13", "the payment has no value date (DTM+203 / DTM+209)", result.segment, "DTM")
        if result.end_to_end_reference is None:
            self.problem("13", "the payment has no end-to-end reference (RFF+CR)", result.segment, "RFF")
        if message_id is None:
            self.problem("13", "BGM has no message id (1004)", 2, "BGM", 2, 1)
        if result.findings:
            return result
        try:
            result.payment = Payment(
                message_id=message_id, end_to_end_reference=result.end_to_end_reference, payer_name=self.payer_name,
                payer_account=self.payer_account, amount=self.amount, currency=self.currency, value_date=self.value_date,
                channel=channel, remittance=items, unstructured=unstructured,
            )
        except ValidationError as error:
            for problem in error.errors():
                pointer = ".".join(str(part) for part in problem["loc"])
                location = result.locate(pointer)
                result.findings.append(Finding("12", f"{pointer}: {problem['msg']}", location))
        return result


def map_paymul(message: Message, decimal: str = ".") -> EdiPaymentMapping:
    mapping = EdiPaymentMapping(None)
    lin: dict = {}
    lin_payments: list[tuple[EdiPayment, _Builder]] = []
    current: _Builder | None = None
    in_doc = False
    seq_count = 0
    declared_count: tuple[int, str] | None = None

    def close_lin() -> None:
        nonlocal lin_payments
        total = lin.get("total")
        if total is not None:
            amounts = [b.amount for _, b in lin_payments if b.amount is not None]
            if sum(amounts, Decimal("0")) != total[1]:
                mapping.group_findings.append(
                    Finding(CONTROL_SUM_MISMATCH, f"LIN total MOA+9 is {total[1]} but its payments add up to {sum(amounts, Decimal('0'))}",
                            Location(message_ref=message.reference, segment=total[0], tag="MOA", element=1, component=2))
                )
        lin_payments = []

    def close_payment() -> None:
        nonlocal current
        if current is not None:
            mapping.payments.append(current.finish(mapping.message_id, PaymentChannel.PAYMUL))
            lin_payments.append((mapping.payments[-1], current))
        current = None

    for position, segment in enumerate(message.segments, 1):
        tag, qualifier = segment.tag, segment.get(1, 1)
        if tag == "BGM":
            mapping.message_id = segment.get(2, 1) or None
        elif tag == "LIN":
            close_payment()
            if lin:
                close_lin()
            lin = {"position": position}
            in_doc = False
        elif tag == "SEQ":
            close_payment()
            seq_count += 1
            current = _Builder(message, decimal, mapping, position)
            for key in ("value_date", "payer_name", "payer_account"):
                setattr(current, key, lin.get(key))
            current.currency = lin.get("currency")
            if "value_date" in lin:
                current.result.sources["value_date"] = lin["value_date_source"]
            in_doc = False
        elif current is None and lin:  # LIN level, before its first SEQ
            if tag == "DTM" and qualifier == "203":
                probe = _Builder(message, decimal, mapping, position)
                probe.date(segment, position)
                mapping.findings.extend(probe.result.findings)
                if probe.value_date is not None:
                    lin["value_date"], lin["value_date_source"] = probe.value_date, (position, "DTM", 1, 2)
            elif tag == "MOA" and qualifier == "9":
                probe = _Builder(message, decimal, mapping, position)
                value = probe.number(segment, position, 1, 2, "LIN total")
                mapping.findings.extend(probe.result.findings)
                if value is not None:
                    lin["total"] = (position, value)
                if segment.get(1, 3):
                    lin["currency"] = segment.get(1, 3)
            elif tag == "CUX":
                lin["currency"] = segment.get(1, 2) or lin.get("currency")
            elif tag == "FII" and qualifier == "OR":
                lin["payer_account"] = segment.get(2, 1) or None
            elif tag == "NAD" and qualifier == "OY":
                lin["payer_name"] = segment.get(4, 1) or segment.get(2, 1) or None
        elif current is not None:
            if tag == "DOC":
                in_doc = True
                current.start_item(segment, position)
            elif in_doc and tag == "RFF":
                current.item_reference(segment, position)
            elif in_doc and tag == "MOA":
                current.item_amount(segment, position)
            elif tag == "MOA" and qualifier == "9" and not in_doc:
                current.amount = current.number(segment, position, 1, 2, "payment amount")
                current.result.sources["amount"] = (position, "MOA", 1, 2)
                if segment.get(1, 3):
                    current.currency = segment.get(1, 3)
                current.result.sources["currency"] = (position, "MOA", 1, 3)
            elif tag == "RFF" and qualifier == "CR" and not in_doc:
                current.result.end_to_end_reference = segment.get(1, 2) or None
                current.result.sources["end_to_end_reference"] = (position, "RFF", 1, 2)
            elif tag == "FTX" and qualifier == "PMD":
                current.texts.append(" ".join(c for c in (segment.elements[3] if len(segment.elements) > 3 else []) if c))
                current.result.sources.setdefault("remittance", (position, "FTX", 4, 1))
        if tag == "CNT" and qualifier == "2":
            declared_count = (position, segment.get(1, 2))
        if tag == "CNT" or tag == "UNT":
            close_payment()
    close_payment()
    if lin:
        close_lin()
    if declared_count is not None and (not declared_count[1].isdigit() or int(declared_count[1]) != seq_count):
        mapping.group_findings.append(
            Finding(COUNT_MISMATCH, f"CNT+2 says {declared_count[1]} payments but the message holds {seq_count} SEQ group(s)",
                    Location(message_ref=message.reference, segment=declared_count[0], tag="CNT", element=1, component=2))
        )
    for payment in mapping.payments:
        if payment.payment is None:
            mapping.findings.extend(f for f in payment.findings if f not in mapping.findings)
    return mapping


def is_paymul(message: Message) -> bool:
    return (message.type, message.version, message.release) == PAYMUL
