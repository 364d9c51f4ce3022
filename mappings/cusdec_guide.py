"""Our CUSDEC D.96B message implementation guide ``CAD01``, as data.

One CUSDEC message is one version of one CAD (``domain.Declaration``). The rules
follow the directory's segment groups (SG5 DOC, SG6 NAD, SG8 MOA/SG9 CUX in the
header; SG30 CST per line with SG33 MOA, SG37 DOC and SG41 TAX/MOA); the
qualifiers are this guide's choices.

Invoices: the n-th ``DOC+380`` group, the n-th ``NAD+SE`` and the n-th
``MOA+39`` (with its ``CUX``) are the n-th invoice; a line names its invoice by
number in a ``DOC+380`` of its CST group, which a message with one invoice may
leave out (so the files of the one-invoice guide read as they did). ``mappings.edifact_guide`` reads, writes and documents
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


def _invoice_total(invoice: Any, root: Any) -> Decimal:
    """What the writer declares when the invoice total is not given: the sum of its lines."""
    return sum((line.invoice_amount or Decimal(0) for line in invoice.lines), Decimal("0.00"))


def _invoice_of(line: Any, declaration: Any) -> str | None:
    """The number of a line's invoice, written only when the declaration has several."""
    if len(declaration.invoices) < 2:
        return None
    return str(_owners(declaration)[id(line)].number)


def _currency_of(line: Any, declaration: Any) -> str:
    """The currency of a line's invoice."""
    if len(declaration.invoices) == 1:
        return str(declaration.invoices[0].currency)
    return str(_owners(declaration)[id(line)].currency)


_LAST_OWNERS: list[tuple[Any, dict[int, Any]]] = []


def _owners(declaration: Any) -> dict[int, Any]:
    """id(line) → its invoice, for the declaration being written (built once per declaration)."""
    if _LAST_OWNERS and _LAST_OWNERS[0][0] is declaration:
        return _LAST_OWNERS[0][1]
    owners = {id(line): invoice for invoice in declaration.invoices for line in invoice.lines}
    _LAST_OWNERS[:] = [(declaration, owners)]
    return owners


class YesNo(Codec):
    """``Y`` / ``N`` as True / False."""

    def read(self, text: str, segment: Segment, value: Value, mark: str) -> Any:
        if text not in ("Y", "N"):
            raise ValueProblem("12", f"{text!r} is not Y or N")
        return text == "Y"

    def write(self, value: Any) -> str:
        return "Y" if value else "N"


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


def _specific_duty() -> tuple[Value, ...]:
    return (
        Value("specific_duty_rate", 5, 4, "C243 5278", DECIMAL, note="specific customs duty: CAD per unit"),
        Value("specific_duty_unit", 5, 5, "C243 5273", note="the unit of the rate (UN/ECE Rec. 20)"),
    )


def _charge(
    kind: str,
    note: str,
    *,
    target: str = "",
    code: str = "",
    amount: str = "",
    values: tuple[Value, ...] = (),
) -> SegmentRule:
    """``TAX+1+{kind}``: one duty, tax or fee of the line (5283 ``1``: individual
    duty, tax or fee of a customs item), its code in C533 and its amount in ``MOA+124``."""
    coded = (Value(code, 3, 1, "C533 5289", note=f"{note}: its code"),) if code else ()
    return SegmentRule(
        "TAX",
        kind,
        select=(2, 1),
        also=((1, 1, "1"),),
        label=f"TAX+1+{kind}",
        directory="SG41",
        target=target,
        note=note,
        values=coded + values,
        group=(
            *((_amount(amount, "124", "declared, in CAD", f"MOA+124 after TAX+1+{kind}"),) if amount else ()),
            _OTHER_MOA,
        ),
    )


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
                Value(
                    "",
                    1,
                    3,
                    "C516 6345",
                    same_as="currency",
                    default=_currency_of,
                    read=False,
                    note="written: the invoice currency",
                ),
            ),
        ),
        SegmentRule(
            "MOA",
            "23",
            directory="SG33",
            values=(
                Value("value_additions", 1, 2, "C516 5004", DECIMAL, note="in CAD: commissions, assists, royalties…"),
                Value("", 1, 3, "C516 6345", constant="CAD", read=False),
            ),
        ),
        SegmentRule(
            "MOA",
            "204",
            directory="SG33",
            values=(
                Value("value_deductions", 1, 2, "C516 5004", DECIMAL, note="in CAD: freight after direct shipment…"),
                Value("", 1, 3, "C516 6345", constant="CAD", read=False),
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
            "DOC",
            "380",
            directory="SG37",
            note="M when the message has several invoices",
            values=(
                Value(
                    "invoice",
                    2,
                    1,
                    "C503 1004",
                    default=_invoice_of,
                    note="the number of the line's invoice (a `DOC+380` of the header)",
                ),
            ),
        ),
        _charge("CUD", "specific customs duty", values=_specific_duty()),
        _charge("EXC", "one excise duty or excise tax, by its code", target="excise[]", code="code", amount="amount"),
        _charge("ADD", "SIMA anti-dumping duty", amount="anti_dumping_duty"),
        _charge("CVD", "SIMA countervailing duty", amount="countervailing_duty"),
        _charge(
            "SUR",
            "surtax (CSCB Bulletin 5396)",
            code="surtax_code",
            amount="surtax",
            values=(Value("surtax_indicator", 6, 1, "5305", YesNo(), note="`Y`: a surtax order applies, `N`: none"),),
        ),
        _charge("OTH", "safeguard surtax", code="safeguard_code", amount="safeguard"),
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
            values=(
                Value("", 1, 1, "5283", constant="7"),
                Value("gst_status_code", 6, 1, "5305", note="D17-1-10 Appendix H GST status code"),
            ),
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
    labels={
        "lines": "CST segment group (UNS+D … UNS+S)",
        "invoices": "DOC+380 groups (SG5), with NAD+SE and MOA+39 in the same order",
        "invoices[].lines": "CST groups naming the invoice in their DOC+380",
    },
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
                    target="invoices[]",
                    directory="SG5",
                    status="M",
                    note="one per invoice (the directory allows 10)",
                    values=(Value("number", 2, 1, "C503 1004", status="M", note="commercial invoice"),),
                    group=(
                        SegmentRule(
                            "DTM", "3", values=(Value("issue_date", 1, 2, "C507 2380", DATE_102), _DATE_FORMAT)
                        ),
                        SegmentRule(
                            "DTM",
                            "11",
                            values=(
                                Value(
                                    "direct_shipment_date",
                                    1,
                                    2,
                                    "C507 2380",
                                    DATE_102,
                                    note="despatch date: the date of direct shipment (the exchange rate's date)",
                                ),
                                _DATE_FORMAT,
                            ),
                        ),
                        SegmentRule("DTM", note="other dates of the document: not read"),
                    ),
                ),
                _party("IM", "importer", "the importer"),
                _party("DT", "declarant", "the broker (or the importer filing for itself)"),
                SegmentRule(
                    "NAD",
                    "SE",
                    target="invoices[]",
                    nth=True,
                    directory="SG6",
                    status="M",
                    note="the n-th is the vendor of the n-th invoice",
                    values=(
                        Value("vendor.name", 4, 1, "C080 3036", status="M"),
                        Value("vendor.street", 5, 1, "C059 3042"),
                        Value("vendor.city", 6, 1, "3164"),
                        Value("vendor.postcode", 8, 1, "3251"),
                        Value("vendor.country", 9, 1, "3207", note="ISO 3166 alpha-2"),
                    ),
                ),
                SegmentRule(
                    "MOA",
                    "39",
                    target="invoices[]",
                    nth=True,
                    directory="SG8",
                    status="M",
                    note="the n-th is the total, currency and rate of the n-th invoice",
                    values=(
                        Value(
                            "total_amount",
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
                    remembered=True,
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
