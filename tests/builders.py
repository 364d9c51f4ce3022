"""Valid domain objects for tests, overridable field by field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from domain import Declaration


def declaration(**overrides: Any) -> Declaration:
    """Fixture v01's declaration: one line of T-shirts, MFN, USD at 1.35."""
    return Declaration.model_validate(declaration_data(**overrides))


def declaration_data(**overrides: Any) -> dict[str, Any]:
    """What ``declaration`` validates: a new dict each time (its parts too)."""
    data: dict[str, Any] = {
        "transaction_number": "10207003000585",
        "version": 1,
        "function": "9",
        "type_code": "AB",
        "importer": {"account": "123456782RM0001", "name": "MAPLE LEAF IMPORTS INC"},
        "declarant": {"account": "123026635RM0001", "name": "NORTHERN CUSTOMS BROKERS LTD"},
        "office_of_release": "0497",
        "release_date": dt.date(2025, 1, 15),
        "currency": "USD",
        "exchange_rate": Decimal("1.35"),
        "invoice": {"number": "INV-88231", "issue_date": dt.date(2025, 1, 10), "total_amount": Decimal("600.00")},
        "vendor": {
            "name": "GLOBAL TEXTILES CO",
            "street": "12 HARBOUR ROAD",
            "city": "SHANGHAI",
            "postcode": "200000",
            "country": "CN",
        },
        "filer_reference": "BRK-2025-0001",
        "lines": [
            {
                "line_number": 1,
                "description": "COTTON T-SHIRTS, MEN'S",
                "hs_code": "6109100010",
                "tariff_treatment": "2",
                "country_of_origin": "CN",
                "quantity": Decimal("120"),
                "unit": "NMB",
                "invoice_amount": Decimal("600.00"),
                "value_for_duty": Decimal("810.00"),
                "duty_rate": Decimal("18"),
                "customs_duty": Decimal("145.80"),
                "value_for_tax": Decimal("955.80"),
                "gst": Decimal("47.79"),
            }
        ],
    }
    data.update(overrides)
    return data


def with_lines(d: Declaration, lines: list[Any], **updates: Any) -> Declaration:
    """``d`` (one invoice) with that invoice's lines replaced, and other fields updated."""
    [invoice] = d.invoices
    return d.model_copy(update={"invoices": [invoice.model_copy(update={"lines": lines})], **updates})


NO_OTHER_CHARGES: dict[str, Any] = {
    "specific_duty": "0.00",
    "specific_rate": None,
    "specific_unit": None,
    "excise_duty": "0.00",
    "excise": [],
    "anti_dumping_duty": "0.00",
    "countervailing_duty": "0.00",
    "surtax": "0.00",
    "surtax_code": None,
    "safeguard": "0.00",
    "safeguard_code": None,
    "gst_status_code": None,
}
"""An assessed line's charges beyond duty, excise tax and GST, for ordinary goods: none (the portal's JSON)."""
