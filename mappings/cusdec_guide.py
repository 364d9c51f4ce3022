"""Our CUSDEC D.96B message implementation guide ``CAD01``, as data.

One CUSDEC message is one version of one CAD (``domain.Declaration``). The rules
follow the directory's segment groups (SG5 DOC, SG6 NAD, SG8 MOA/SG9 CUX in the
header; SG30 CST per line with SG33 MOA and SG41 TAX/MOA); the qualifiers are
this guide's choices. ``mappings.edifact_guide`` reads, writes and documents
messages with it (docs/formats/cusdec-cad.md is generated from it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.declaration import AmendmentKind
from mappings.edifact_guide import COUNTER, DATE_102, DECIMAL, Codec, Flag, Guide, Section, SegmentRule, Value
from mappings.edifact_values import ValueProblem
from parsers.edifact.model import Segment


class Reference19(Codec):
    """BGM 1004: the 14-digit transaction number and the 5-digit version."""

    fills = ("transaction_number", "version")
    own_message = True

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        if len(text) != 19 or not (text.isascii() and text.isdigit()):
            raise ValueProblem(
                "12",
                f"BGM 1004 {text!r} must be 19 digits: the 14-digit transaction number and the 5-digit version",
            )
        return {"transaction_number": text[:14], "version": int(text[14:])}


def _invoice_total(declaration: Any, root: Any) -> Decimal:
    """What the writer declares when the invoice total is not given: the sum of the lines."""
    return sum((line.invoice_amount or Decimal(0) for line in declaration.lines), Decimal("0.00"))


def _line_count(declaration: Any, root: Any) -> int:
    return len(declaration.lines)


_DATE_FORMAT = Value("", 1, 3, "2379", constant="102", note="format 102 = `CCYYMMDD` only")


def _amount(path: str, qualifier: str, note: str = "", label: str = "", status: str = "C") -> SegmentRule:
    """``MOA+{qualifier}:{amount}`` carrying ``path``."""
    return SegmentRule(
        "MOA",
        qualifier,
        directory="SG41 MOA",
        values=(Value(path, 1, 2, "C516 5004", DECIMAL, status=status, note=note, label=label),),
    )


_OTHER_MOA = SegmentRule("MOA", directory="SG41 MOA", note="other amounts of the duty or tax: not read")

_LINE = SegmentRule(
    "CST",
    target="lines[]",
    directory="SG30",
    status="M",
    note="one group per CAD line",
    values=(
        Value("line_number", 1, 1, "1496", COUNTER, status="M", note="1, 2, 3 … in order"),
        Value("hs_code", 2, 1, "C246 #1 7361", status="M", note="10-digit classification"),
        Value("tariff_treatment", 3, 1, "C246 #2 7361", status="M", note="e.g. `2` MFN, `10` UST"),
    ),
    group=(
        SegmentRule(
            "FTX",
            "AAA",
            values=(Value("description", 4, 1, "C108 4440", joined=True, status="M", note="joined with a space"),),
        ),
        SegmentRule(
            "LOC",
            "27",
            values=(Value("country_of_origin", 2, 1, "C517 3225", status="M", note="ISO 3166 alpha-2 (XK allowed)"),),
        ),
        SegmentRule(
            "MEA",
            "AAE",
            values=(
                Value("unit", 3, 1, "C174 6411", status="M", note="UN/ECE Rec. 20 code (`NMB`, `KGM` …)"),
                Value("quantity", 3, 2, "C174 6314", DECIMAL, status="M"),
            ),
        ),
        SegmentRule(
            "MOA",
            "38",
            directory="SG33",
            values=(
                Value("invoice_amount", 1, 2, "C516 5004", DECIMAL, note="in the invoice currency"),
                Value("", 1, 3, "C516 6345", same_as="currency", read=False, note="written: the invoice currency"),
            ),
        ),
        SegmentRule(
            "MOA",
            "40",
            directory="SG33",
            values=(
                Value("value_for_duty", 1, 2, "C516 5004", DECIMAL, status="M", note="in CAD"),
                Value(
                    "",
                    1,
                    3,
                    "C516 6345",
                    constant="CAD",
                    expect="if-given",
                    failed_path="value_for_duty",
                    mismatch="value for duty must be in CAD, not {value!r}",
                    note="CAD when given",
                ),
            ),
        ),
        SegmentRule(
            "TAX",
            "CUD",
            select=(2, 1),
            label="TAX+7+CUD",
            directory="SG41",
            values=(
                Value("", 1, 1, "5283", constant="7"),
                Value("duty_rate", 5, 4, "C243 5278", DECIMAL, note="percent"),
            ),
            group=(
                _amount("customs_duty", "124", "declared; CARM assesses its own", "MOA+124 after TAX CUD"),
                _OTHER_MOA,
            ),
        ),
        SegmentRule(
            "TAX",
            "EXC",
            select=(2, 1),
            label="TAX+7+EXC",
            directory="SG41",
            values=(Value("", 1, 1, "5283", constant="7"),),
            group=(_amount("excise_tax", "124", label="MOA+124 after TAX EXC"), _OTHER_MOA),
        ),
        SegmentRule(
            "TAX",
            "GST",
            select=(2, 1),
            label="TAX+7+GST",
            directory="SG41",
            values=(Value("", 1, 1, "5283", constant="7"),),
            group=(
                _amount("gst", "124", label="MOA+124 after TAX GST"),
                _amount("value_for_tax", "125", "the GST base", "MOA+125 after TAX GST"),
                _OTHER_MOA,
            ),
        ),
        SegmentRule(
            "TAX",
            directory="SG41",
            note="other duty or tax types: not read (their MOA neither)",
            group=(_OTHER_MOA,),
        ),
    ),
)


def _party(qualifier: str, target: str, note: str) -> SegmentRule:
    return SegmentRule(
        "NAD",
        qualifier,
        target=target,
        directory="SG6",
        status="M",
        note=note,
        values=(
            Value("account", 2, 1, "C082 3039", status="M", note="RM program account `#########RM####`"),
            Value("name", 4, 1, "C080 3036"),
        ),
    )


CAD01 = Guide(
    identifier=("CUSDEC", "D", "96B"),
    labels={"lines": "CST segment group (UNS+D … UNS+S)"},
    sections=(
        Section(
            (
                SegmentRule(
                    "BGM",
                    status="M",
                    values=(
                        Value(
                            "",
                            1,
                            1,
                            "C002 1001",
                            constant="929",
                            expect="always",
                            status="M",
                            mismatch="BGM C002 1001 is {value!r}; this guide expects 929 (goods declaration)",
                            note="goods declaration",
                        ),
                        Value(
                            "transaction_number",
                            2,
                            None,
                            "1004",
                            Reference19(),
                            status="M",
                            write_from="reference",
                            label="BGM 1004 (first 14 digits)",
                            note="19 digits: the 14-digit transaction number and the 5-digit version",
                        ),
                        Value(
                            "version",
                            2,
                            None,
                            "1004",
                            read=False,
                            write=False,
                            status="M",
                            label="BGM 1004 (last 5 digits)",
                        ),
                        Value("function", 3, 1, "1225", status="M", note="`9` original, `4` change, `1` cancellation"),
                    ),
                ),
                SegmentRule(
                    "CST",
                    status="M",
                    values=(
                        Value(
                            "type_code", 2, 1, "C246 7361", status="M", label="CST C246 7361 (header)", note="CAD type"
                        ),
                    ),
                ),
                SegmentRule(
                    "LOC",
                    "22",
                    values=(Value("office_of_release", 2, 1, "C517 3225", status="M", note="4-digit CBSA office"),),
                ),
                SegmentRule(
                    "DTM",
                    "271",
                    values=(
                        Value("release_date", 1, 2, "C507 2380", DATE_102, status="M"),
                        _DATE_FORMAT,
                    ),
                ),
                SegmentRule(
                    "FTX",
                    "CHG",
                    note="M when BGM 1225 = 4",
                    values=(
                        Value("amendment.reason_code", 4, 1, "C108 4440", status="M", note="D17-2-1 reason code"),
                        Value("amendment.explanation", 4, 2, "C108 4440", joined=True, note="joined with a space"),
                        Value(
                            "amendment.kind",
                            3,
                            1,
                            "C107 4441",
                            Flag("ADJ", AmendmentKind.ADJUSTMENT),
                            note="`ADJ`: an adjustment (filed after the payment due date); empty: a correction",
                        ),
                    ),
                ),
                SegmentRule(
                    "RFF",
                    "ABE",
                    directory="SG1",
                    values=(Value("filer_reference", 1, 2, "C506 1154", note="the declarant's own reference"),),
                ),
                SegmentRule("RFF", "CN", directory="SG1", values=(Value("cargo_control_number", 1, 2, "C506 1154"),)),
                SegmentRule(
                    "DOC",
                    "380",
                    directory="SG5",
                    status="M",
                    values=(Value("invoice.number", 2, 1, "C503 1004", status="M", note="commercial invoice"),),
                    group=(
                        SegmentRule(
                            "DTM", "3", values=(Value("invoice.issue_date", 1, 2, "C507 2380", DATE_102), _DATE_FORMAT)
                        ),
                        SegmentRule("DTM", note="other dates of the document: not read"),
                    ),
                ),
                _party("IM", "importer", "the importer"),
                _party("DT", "declarant", "the broker (or the importer filing for itself)"),
                SegmentRule(
                    "NAD",
                    "SE",
                    target="vendor",
                    directory="SG6",
                    status="M",
                    values=(
                        Value("name", 4, 1, "C080 3036", status="M"),
                        Value("street", 5, 1, "C059 3042"),
                        Value("city", 6, 1, "3164"),
                        Value("postcode", 8, 1, "3251"),
                        Value("country", 9, 1, "3207", note="ISO 3166 alpha-2"),
                    ),
                ),
                SegmentRule(
                    "MOA",
                    "39",
                    directory="SG8",
                    status="M",
                    values=(
                        Value(
                            "invoice.total_amount",
                            1,
                            2,
                            "C516 5004",
                            DECIMAL,
                            default=_invoice_total,
                            note="in the invoice currency",
                        ),
                        Value("currency", 1, 3, "C516 6345", status="M"),
                    ),
                    group=(
                        SegmentRule(
                            "CUX",
                            repeat=1,
                            directory="SG9",
                            status="M",
                            values=(
                                Value("", 1, 1, "6347", constant="2"),
                                Value(
                                    "",
                                    1,
                                    2,
                                    "C504 6345",
                                    same_as="currency",
                                    status="M",
                                    note="must equal the MOA currency",
                                    mismatch="CUX currency {value!r} differs from the invoice currency {expected!r} in MOA+39",
                                ),
                                Value("", 1, 3, "6343", constant="4"),
                                Value("", 2, 1, "6347", constant="3"),
                                Value("", 2, 2, "C504 6345", constant="CAD"),
                                Value("", 2, 3, "6343", constant="11"),
                                Value(
                                    "exchange_rate",
                                    3,
                                    1,
                                    "5402",
                                    DECIMAL,
                                    status="M",
                                    note="CAD per one unit of the invoice currency",
                                ),
                            ),
                        ),
                    ),
                ),
            )
        ),
        Section((_LINE,), opened_by="D", strict="{tag} before the first CST of the detail section"),
        Section(
            (
                SegmentRule(
                    "CNT",
                    "5",
                    values=(
                        Value(
                            "",
                            1,
                            2,
                            "C270 6066",
                            default=_line_count,
                            status="M",
                            note="the number of CST groups (0085 code 29 when it differs)",
                        ),
                    ),
                ),
            ),
            opened_by="S",
        ),
    ),
)
