"""PAYMUL and REMADV on the guide mechanism (guide CARMPY): what each payment takes
from where, the directory's groups, and where problems are reported."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from diagnostics import Location
from mappings.paymul_payment import map_paymul
from mappings.remadv_payment import map_remadv
from parsers.edifact.model import Message, Segment

ACCOUNT = "123456782RM0001"


def _message(kind: str, *texts: str) -> Message:
    """A message from segment texts like ``"DOC+929+2025-01"`` (``:`` between components)."""
    segments = [Segment("UNH", [["1"], [kind, "D", "96B", "UN", "CARMPY"]])]
    for text in texts:
        tag, *elements = text.split("+")
        segments.append(Segment(tag, [element.split(":") for element in elements]))
    segments.append(Segment("UNT", [[str(len(segments) + 1)], ["1"]]))
    return Message(
        reference="1", type=kind, version="D", release="96B", agency="UN", association_code="CARMPY", segments=segments
    )


def at(
    position: int, tag: str, element: int | None = None, component: int | None = None, pointer: str | None = None
) -> Location:
    return Location(message_ref="1", segment=position, tag=tag, element=element, component=component, field=pointer)


LIN = ("LIN+1", "DTM+203:20250210:102", "MOA+9:30.00:CAD", "FII+OR+00012-003-1234567", "NAD+OY+PAYER1")
SEQ_A = (
    "SEQ++1",
    "MOA+9:10.00",
    "RFF+CR:E2E-A",
    "PRC+8",
    "DOC+929+10207000300014",
    "MOA+12:10.00",
    f"RFF+ADE:{ACCOUNT}",
)
SEQ_B = ("SEQ++2", "MOA+9:20.00:CAD", "RFF+CR:E2E-B", "PRC+8", "DOC+929+2025-01", f"RFF+ADE:{ACCOUNT}", "MOA+9:99.00")


def test_each_seq_is_a_payment_with_its_lins_value_date_payer_and_currency() -> None:
    mapping = map_paymul(_message("PAYMUL", "BGM+452+PM-1+9", "DTM+137:20250210:102", *LIN, *SEQ_A, *SEQ_B, "CNT+2:2"))
    assert (mapping.findings, mapping.group_findings) == ([], [])
    first, second = (mapped.payment for mapped in mapping.payments)
    assert first is not None and second is not None
    assert (first.message_id, first.value_date, first.payer_account) == (
        "PM-1",
        dt.date(2025, 2, 10),
        "00012-003-1234567",
    )
    assert first.payer_name == "PAYER1"  # NAD 3039 when 3036 is empty
    assert first.currency == "CAD"  # the LIN's MOA: the SEQ's MOA has none
    assert [item.transaction_numbers for item in first.remittance] == [["10207000300014"]]
    # the MOA+9 after DOC is the document's (SG17), not the payment's
    assert (second.amount, second.remittance[0].statement, second.remittance[0].amount) == (
        Decimal("20.00"),
        "2025-01",
        None,
    )


def test_fields_are_located_where_they_were_read() -> None:
    mapping = map_paymul(_message("PAYMUL", "BGM+452+PM-1+9", *LIN, *SEQ_A, *SEQ_B))
    first, second = mapping.payments
    assert first.locate("value_date") == at(4, "DTM", 1, 2, "value_date")
    assert first.locate("payer_name") == at(7, "NAD", 2, 1, "payer_name")
    assert first.locate("amount") == at(9, "MOA", 1, 2, "amount")
    assert first.locate("remittance[0].transaction_numbers[0]") == at(
        12, "DOC", 2, 1, "remittance[0].transaction_numbers[0]"
    )
    assert first.locate("remittance[0].account") == at(14, "RFF", 1, 2, "remittance[0].account")
    assert second.locate("remittance[0].statement") == at(19, "DOC", 2, 1, "remittance[0].statement")
    assert second.locate("unstructured") == at(15, "SEQ", None, None, "unstructured")  # nothing closer: the SEQ


def test_a_dtm_after_lin_stays_in_the_lin_group() -> None:
    """SG4 has a DTM of its own: a DTM+137 there must not close the LIN (and lose its payments)."""
    mapping = map_paymul(_message("PAYMUL", "BGM+452+PM-1+9", "LIN+1", "DTM+137:20250210:102", *LIN[1:], *SEQ_A))
    assert [mapped.end_to_end_reference for mapped in mapping.payments] == ["E2E-A"]
    assert mapping.payments[0].payment is not None


def test_free_text_is_joined_and_read_for_items_when_there_is_no_doc() -> None:
    seq = (
        "SEQ++1",
        "MOA+9:30.00",
        "RFF+CR:E2E-A",
        "PRC+8",
        f"FTX+PMD+++RM {ACCOUNT}:SOA 2025-01",
        "FTX+PMD+++TXN 10207000300014",
    )
    [mapped] = map_paymul(_message("PAYMUL", "BGM+452+PM-1+9", *LIN, *seq)).payments
    assert mapped.payment is not None
    assert mapped.payment.unstructured == f"RM {ACCOUNT} SOA 2025-01 TXN 10207000300014"
    [item] = mapped.payment.remittance
    assert (item.account, item.statement, item.transaction_numbers) == (ACCOUNT, "2025-01", ["10207000300014"])
    assert mapped.locate("remittance[0].account") == at(12, "FTX", 4, 1, "remittance[0].account")  # the first FTX


def test_lin_total_and_count_are_checked_for_the_aperak() -> None:
    lin = (*LIN[:2], "MOA+9:31.00:CAD", *LIN[3:])
    mapping = map_paymul(_message("PAYMUL", "BGM+452+PM-1+9", *lin, *SEQ_A, *SEQ_B, "CNT+2:3"))
    assert [(f.code, f.message, f.location) for f in mapping.group_findings] == [
        ("PAY-CTL", "LIN total MOA+9 is 31.00 but its payments add up to 30.00", at(5, "MOA", 1, 2)),
        ("PAY-NB", "CNT+2 says 3 payments but the message holds 2 SEQ group(s)", at(22, "CNT", 1, 2)),
    ]
    assert mapping.findings == []


def test_value_problems_go_to_the_contrl_where_they_stand() -> None:
    lin = ("LIN+1", "DTM+203:20250210:203", *LIN[2:])
    seq = ("SEQ++1", "MOA+9", "RFF+CR:E2E-A", "PRC+8", "DOC+929", "MOA+12:1.2.3")
    mapping = map_paymul(_message("PAYMUL", "BGM+452+PM-1+9", *lin, *seq))
    assert [(f.code, f.message, f.location) for f in mapping.findings] == [
        ("12", "value date: date format '203' is not 102 (CCYYMMDD)", at(4, "DTM", 1, 2)),  # the LIN's: the message's
        ("13", "payment amount: MOA has no amount", at(9, "MOA", 1, 2)),
        ("12", "remitted amount: '1.2.3' is not a decimal number", at(13, "MOA", 1, 2)),
        ("13", "remittance DOC without RFF+ADE: the BN15 RM account to pay is missing", at(12, "DOC")),
        ("13", "the payment has no value date (DTM+203 / DTM+209)", at(8, "DTM")),
    ]
    assert mapping.payments[0].payment is None


REMADV = (
    "BGM+481+RA-1+9",
    "DTM+137:20250210:102",
    "DTM+209:20250211:102",
    "RFF+CR:E2E-R",
    "FII+OR+00012-003-1234567",
    "NAD+PL+++MAPLE LEAF",
    "CUX+2:CAD:11",
    "DOC+929+2025-01",
    "MOA+12:60.00",
    f"RFF+ADE:{ACCOUNT}",
    "DOC+929",
    "MOA+12:40.00",
    f"RFF+ADE:{ACCOUNT}",
    "UNS+S",
)


def test_a_remadv_is_one_payment_its_amount_after_uns() -> None:
    mapping = map_remadv(_message("REMADV", *REMADV, "MOA+12:100.00"))
    [mapped] = mapping.payments
    payment = mapped.payment
    assert payment is not None and mapping.findings == []
    assert (payment.amount, payment.currency, payment.value_date) == (Decimal("100.00"), "CAD", dt.date(2025, 2, 11))
    assert payment.payer_name == "MAPLE LEAF"
    assert [(item.statement, item.amount) for item in payment.remittance] == [
        ("2025-01", Decimal("60.00")),
        (None, Decimal("40.00")),
    ]
    assert mapped.locate("currency") == at(8, "CUX", 1, 2, "currency")  # the MOA gives none: the CUX's stands
    assert mapped.locate("amount") == at(16, "MOA", 1, 2, "amount")


def test_the_summary_currency_overrides_the_cux() -> None:
    [mapped] = map_remadv(_message("REMADV", *REMADV, "MOA+12:100.00:USD")).payments
    assert mapped.payment is not None and mapped.payment.currency == "USD"
    assert mapped.locate("currency") == at(16, "MOA", 1, 3, "currency")


def test_a_remadv_without_summary_has_no_amount() -> None:
    mapping = map_remadv(_message("REMADV", *REMADV[:-1]))
    assert [(f.code, f.message, f.location) for f in mapping.findings] == [
        ("13", "the payment has no amount (MOA+9 / MOA+12)", at(2, "UNS")),
    ]
