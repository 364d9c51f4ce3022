"""Our PAYMUL and REMADV D.96B message implementation guide ``CARMPY``, as data.

A PAYMUL orders payments: per SG4 ``LIN`` (a value date, an ordering account and
a payer) one or more SG11 ``SEQ`` groups, each one credit transfer to the
Receiver General. A REMADV advises one payment. Both give what a payment pays
in remittance items, one per ``DOC`` group (SG17 in PAYMUL, SG4 in REMADV), or
in free text (``FTX+PMD``).

The rules follow the directory's segment groups; ``mappings.edifact_guide``
reads the messages with them into an intermediate shape that mirrors the
message (PAYMUL ``lins[].payments[]``; REMADV one payment), and
``mappings.paymul_payment`` / ``mappings.remadv_payment`` make ``Payment``s of
it. Rules without values take the segments the directory puts in a group, so
that they stay in it (an ``MOA+9`` after a ``DOC`` is the document's, not the
payment's); they are not read. docs/formats/payments.md is generated from here.
"""

from __future__ import annotations

from typing import Any

from mappings.edifact_guide import Date102, Decimals, Guide, Section, SegmentRule, Value
from mappings.edifact_values import ValueProblem, parse_date_102
from parsers.edifact.model import Segment


class PaymentDate(Date102):
    """C507 2380 in format 102 (``CCYYMMDD``), said in this guide's words; an
    empty date is not a date."""

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        fmt = segment.get(value.element, (value.component or 1) + 1)
        if fmt not in ("", "102"):
            raise ValueProblem("12", f"date format {fmt!r} is not 102 (CCYYMMDD)")
        return parse_date_102(text)


class Amount(Decimals):
    """C516 5004: an amount the segment must carry (13 when it is empty)."""

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        if not text:
            raise ValueProblem("13", f"{segment.tag} has no amount")
        return super().read(text, segment, value, mark)


PAYMENT_DATE, AMOUNT = PaymentDate(), Amount()


def _value_date(qualifier: str) -> SegmentRule:
    return SegmentRule(
        "DTM",
        qualifier,
        status="M",
        values=(
            Value(
                "value_date", 1, 2, "C507 2380", PAYMENT_DATE, status="M", read_empty=True, problem_prefix="value date"
            ),
            Value("", 1, 3, "2379", constant="102", note="format 102 = `CCYYMMDD` only"),
        ),
    )


def _amount(path: str, what: str, note: str = "") -> Value:
    """C516 5004: an amount; its problems said after ``what``."""
    return Value(path, 1, 2, "C516 5004", AMOUNT, status="M", read_empty=True, problem_prefix=what, note=note)


def _not_read(tag: str, directory: str = "", note: str = "") -> SegmentRule:
    """A segment the directory puts in the group: it stays there, unread."""
    return SegmentRule(tag, directory=directory, note=note or "not read")


_FREE_TEXT = SegmentRule(
    "FTX",
    "PMD",
    note="each one a part of the remittance text",
    values=(
        Value(
            "texts",
            4,
            1,
            "C108 4440",
            joined=True,
            repeats=True,
            note="→ `unstructured`, the texts joined with a space; without `DOC`, searched for BN15 RM accounts, "
            "14-digit transaction numbers and `SOA YYYY-MM`",
        ),
    ),
)


def _remittance_item(directory: str, currency_group: str) -> SegmentRule:
    """``DOC`` and its group: one remittance item."""
    return SegmentRule(
        "DOC",
        target="remittance[]",
        directory=directory,
        note="one remittance item (1001 is not checked)",
        values=(
            Value("", 1, 1, "C002 1001", constant="929"),
            Value(
                "number",
                2,
                1,
                "C503 1004",
                note="→ `transaction_numbers[0]`, or `statement` when `YYYY-MM`; empty: the account",
            ),
        ),
        group=(
            SegmentRule(
                "MOA",
                "12",
                values=(
                    _amount(
                        "amount", "remitted amount", note="the item's part of the payment; optional for a single item"
                    ),
                ),
            ),
            _not_read("MOA", note="other amounts: not read"),
            _not_read("DTM"),
            SegmentRule(
                "RFF",
                "ADE",
                status="M",
                values=(
                    Value(
                        "account",
                        1,
                        2,
                        "C506 1154",
                        status="M",
                        note="BN15 RM program account `#########RM####` (missing: 0085 `13`)",
                    ),
                ),
            ),
            _not_read("RFF", note="other references: not read"),
            _not_read("NAD"),
            _not_read("CUX", currency_group),
        ),
    )


def _message_head(code: str, note: str) -> tuple[SegmentRule, SegmentRule]:
    """BGM (the document code and the message id) and the message date, as both messages begin."""
    bgm = SegmentRule(
        "BGM",
        status="M",
        values=(
            Value("", 1, 1, "C002 1001", constant=code, note=note),
            Value("message_id", 2, 1, "C106 1004", status="M", note="sent before by the same sender: `PAY-DUPM`"),
        ),
    )
    return bgm, SegmentRule("DTM", "137", status="M", note="the message date: not read")


CARMPY_PAYMUL = Guide(
    identifier=("PAYMUL", "D", "96B"),
    sections=(
        Section(
            (
                *_message_head("452", "multiple payment order"),
                SegmentRule(
                    "LIN",
                    target="lins[]",
                    directory="SG4",
                    status="M",
                    documented_as="",
                    note="its values are those of each of its SEQ's payments",
                    group=(
                        _value_date("203"),
                        _not_read("DTM"),
                        _not_read("RFF"),
                        SegmentRule(
                            "MOA",
                            "9",
                            directory="SG5",
                            values=(
                                _amount(
                                    "total",
                                    "LIN total",
                                    note="not a field: must equal the sum of the SEQ amounts (`PAY-CTL`)",
                                ),
                                Value(
                                    "currency", 1, 3, "C516 6345", note="the payments' currency when their MOA has none"
                                ),
                            ),
                            group=(
                                SegmentRule(
                                    "CUX",
                                    directory="SG5",
                                    values=(Value("currency", 1, 2, "C504 6345", note="overrides the MOA currency"),),
                                ),
                            ),
                        ),
                        SegmentRule(
                            "FII",
                            "OR",
                            directory="SG6",
                            values=(Value("payer_account", 2, 1, "C078 3194", note="the payer's account"),),
                        ),
                        SegmentRule(
                            "NAD",
                            "OY",
                            directory="SG7",
                            values=(
                                Value("payer_name", 2, 1, "C082 3039", write=False, note="when 3036 is empty"),
                                Value("payer_name", 4, 1, "C080 3036", only_if_given=True, note="the payer"),
                            ),
                        ),
                        SegmentRule(
                            "SEQ",
                            target="payments[]",
                            directory="SG11",
                            status="M",
                            documented_as="",
                            note="one payment (credit transfer)",
                            group=(
                                SegmentRule(
                                    "MOA",
                                    "9",
                                    status="M",
                                    values=(
                                        _amount("amount", "payment amount"),
                                        Value("currency", 1, 3, "C516 6345", status="M", note="`CAD`; else the LIN's"),
                                    ),
                                ),
                                _not_read("MOA", note="other amounts: not read"),
                                _not_read("DTM"),
                                SegmentRule(
                                    "RFF",
                                    "CR",
                                    status="M",
                                    values=(
                                        Value(
                                            "end_to_end_reference",
                                            1,
                                            2,
                                            "C506 1154",
                                            status="M",
                                            note="repeated within the message: `PAY-DUPE`",
                                        ),
                                    ),
                                ),
                                _not_read("RFF", note="other references: not read"),
                                _not_read("FII", "SG12", "the beneficiary's bank (`FII+BF`): not read"),
                                _not_read("NAD", "SG13"),
                                SegmentRule(
                                    "PRC",
                                    directory="SG16",
                                    note="the remittance details",
                                    values=(Value("", 1, 1, "C242 7187", constant="8"),),
                                    group=(_FREE_TEXT, _remittance_item("SG17", "SG18")),
                                ),
                            ),
                        ),
                    ),
                ),
                SegmentRule(
                    "CNT",
                    "2",
                    remembered=True,
                    note="not a field: 6066, when given, must equal the number of SEQ groups (`PAY-NB`)",
                ),
            )
        ),
    ),
)


CARMPY_REMADV = Guide(
    identifier=("REMADV", "D", "96B"),
    sections=(
        Section(
            (
                *_message_head("481", "remittance advice"),
                _value_date("209"),
                SegmentRule(
                    "RFF", "CR", status="M", values=(Value("end_to_end_reference", 1, 2, "C506 1154", status="M"),)
                ),
                SegmentRule(
                    "FII", "OR", values=(Value("payer_account", 2, 1, "C078 3194", note="the payer's account"),)
                ),
                _FREE_TEXT,
                SegmentRule(
                    "NAD",
                    "PL",
                    directory="SG1",
                    values=(
                        Value("payer_name", 2, 1, "C082 3039", write=False, note="when 3036 is empty"),
                        Value("payer_name", 4, 1, "C080 3036", only_if_given=True, note="the payer"),
                    ),
                ),
                SegmentRule(
                    "CUX",
                    repeat=1,
                    directory="SG3",
                    values=(Value("currency", 1, 2, "C504 6345", status="M", note="`CAD`; the first CUX only"),),
                ),
                _remittance_item("SG4", "SG5"),
            )
        ),
        Section(
            (
                SegmentRule(
                    "MOA",
                    "12",
                    status="M",
                    values=(
                        _amount("amount", "payment amount", note="the payment: the total remitted"),
                        Value("currency", 1, 3, "C516 6345", only_if_given=True, note="overrides the CUX currency"),
                    ),
                ),
            ),
            opened_by="S",
        ),
    ),
)

__all__ = ["CARMPY_PAYMUL", "CARMPY_REMADV"]
