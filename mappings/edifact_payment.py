"""One payment of a PAYMUL or REMADV (guide ``CARMPY``), from what the guide read.

``mappings.carmpy_guide`` reads a message into the shape of the message; the
channel's module (``mappings.paymul_payment``, ``mappings.remadv_payment``)
gathers one payment's values from it (a PAYMUL payment takes its value date,
payer and default currency from its LIN) and ``finish_payment`` does what is not
a field: remittance items from ``DOC`` groups or from the free text, the checks
that a payment has what it needs (0085 code 13), and the ``Payment`` itself.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import nearest_source, path_from_loc
from domain.payment import Payment, PaymentChannel, RemittanceItem
from mappings.edifact_guide import Source, source_location
from mappings.remittance_text import items_from_text

_PERIOD = re.compile(r"^[0-9]{4}-[0-9]{2}$")
_FIELDS = ("amount", "currency", "value_date", "end_to_end_reference", "payer_name", "payer_account")


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
        source = nearest_source(self.sources, pointer) or (
            self.segment,
            "BGM" if self.segment == 2 else "SEQ",
            None,
            None,
        )
        location = source_location(self.message_ref, source)
        return Location(
            message_ref=location.message_ref,
            segment=location.segment,
            tag=location.tag,
            element=location.element,
            component=location.component,
            field=pointer,
        )


@dataclass
class EdiPaymentMapping:
    message_id: str | None
    findings: list[Finding] = field(default_factory=list)  # syntax (0085): CONTRL
    group_findings: list[Finding] = field(default_factory=list)  # business, whole message: APERAK
    payments: list[EdiPayment] = field(default_factory=list)


@dataclass
class PaymentValues:
    """One payment's values as the guide read them, with their sources under
    the domain's pointers (``amount``, ``remittance[0].account``)."""

    amount: Decimal | None = None
    currency: str | None = None
    value_date: dt.date | None = None
    end_to_end_reference: str | None = None
    payer_name: str | None = None
    payer_account: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)  # DOC groups: RemittanceItem's fields
    texts: list[str] = field(default_factory=list)  # FTX+PMD
    sources: dict[str, Source] = field(default_factory=dict)


def take_values(values: PaymentValues, data: Mapping[str, Any], sources: Mapping[str, Source], prefix: str) -> None:
    """Add what the guide read into ``data`` (the object at ``prefix``: ``""``,
    ``"lins[0]."``) to ``values``: a value or source found there replaces one
    taken before (a PAYMUL's SEQ after its LIN)."""
    for name in _FIELDS:
        if prefix + name in sources:
            values.sources[name] = sources[prefix + name]
        if data.get(name) is not None:
            setattr(values, name, data[name])
    texts = data.get("texts", [])
    if texts:
        values.texts = list(texts)
        position, tag, element, _whole = sources[f"{prefix}texts[0]"]
        values.sources["remittance"] = (position, tag, element, 1)  # where the text starts, as acknowledgements say
    for index, read in enumerate(data.get("remittance", [])):
        path = f"remittance[{index}]"
        number = read.get("number")
        statement = number if number and _PERIOD.match(number) else None
        values.items.append(
            {
                "account": read.get("account"),
                "amount": read.get("amount"),
                "statement": statement,
                "transaction_numbers": [number] if number and not statement else [],
            }
        )
        values.sources[path] = sources[prefix + path]
        if number:
            values.sources[f"{path}.statement" if statement else f"{path}.transaction_numbers[0]"] = sources[
                f"{prefix}{path}.number"
            ]
        for name in ("account", "amount"):
            if f"{prefix}{path}.{name}" in sources:
                values.sources[f"{path}.{name}"] = sources[f"{prefix}{path}.{name}"]


def finish_payment(
    values: PaymentValues,
    findings: list[Finding],
    message_ref: str,
    segment: int,
    message_id: str | None,
    channel: PaymentChannel,
) -> EdiPayment:
    """The payment (None when something is missing or wrong: ``findings``, the
    guide's about its values, then what is missing, say why)."""
    result = EdiPayment(message_ref, None, values.end_to_end_reference, list(findings), dict(values.sources), segment)

    def missing(
        message: str, position: int, tag: str, element: int | None = None, component: int | None = None
    ) -> None:
        where = Location(message_ref=message_ref, segment=position, tag=tag, element=element, component=component)
        result.findings.append(Finding("13", message, where))

    items: list[RemittanceItem | dict[str, Any]] = []  # read items are validated with the payment: located
    for index, item in enumerate(values.items):
        if not item["account"]:
            missing(
                "remittance DOC without RFF+ADE: the BN15 RM account to pay is missing",
                result.sources[f"remittance[{index}]"][0],
                "DOC",
            )
            continue
        items.append(item)
    unstructured = " ".join(values.texts) or None
    if not values.items and unstructured:
        items = list(items_from_text(unstructured))
    if values.amount is None and not any(f.location.tag == "MOA" for f in result.findings):
        missing(
            "the payment has no amount (MOA+9 / MOA+12)", segment, "SEQ" if channel is PaymentChannel.PAYMUL else "UNS"
        )
    if values.currency is None:
        missing("the payment has no currency (MOA 6345 or CUX)", segment, "MOA", 1, 3)
    if values.value_date is None and not any(f.location.tag == "DTM" for f in result.findings):
        missing("the payment has no value date (DTM+203 / DTM+209)", segment, "DTM")
    if values.end_to_end_reference is None:
        missing("the payment has no end-to-end reference (RFF+CR)", segment, "RFF")
    if message_id is None:
        missing("BGM has no message id (1004)", 2, "BGM", 2, 1)
    if result.findings:
        return result
    try:
        result.payment = Payment.model_validate(
            {
                "message_id": message_id,
                "end_to_end_reference": values.end_to_end_reference,
                "payer_name": values.payer_name,
                "payer_account": values.payer_account,
                "amount": values.amount,
                "currency": values.currency,
                "value_date": values.value_date,
                "channel": channel,
                "remittance": items,
                "unstructured": unstructured,
            }
        )
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            pointer = path_from_loc(problem["loc"])
            result.findings.append(Finding("12", f"{pointer}: {problem['msg']}", result.locate(pointer)))
    return result
