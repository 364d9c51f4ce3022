"""Assessment and tariff look-ups, with amounts computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from domain.declaration import Declaration, DeclarationLine
from domain.outcome import AssessedLine
from duties.assessment import assess_line
from duties.tariff import Tariff, TariffRow
from portal.assessment import assess

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARIFF = Tariff.load(PROJECT_ROOT / "fixtures" / "reference" / "tariff.csv")
RELEASE = dt.date(2025, 3, 14)
D = Decimal


def _line(number: int, hs_code: str, treatment: str, value_for_duty: str, **extra: Any) -> DeclarationLine:
    return DeclarationLine(
        line_number=number,
        description="goods",
        hs_code=hs_code,
        tariff_treatment=treatment,
        country_of_origin="CN",
        quantity=D("1"),
        unit="NMB",
        value_for_duty=D(value_for_duty),
        **extra,
    )


def _declaration(*lines: DeclarationLine, release_date: dt.date = RELEASE) -> Declaration:
    return Declaration(
        transaction_number="10207003000585",
        version=1,
        function="9",
        type_code="AB",
        importer={"account": "123456782RM0001", "name": "Maple Imports Inc."},
        declarant={"account": "123026635RM0001"},
        office_of_release="0497",
        release_date=release_date,
        currency="CAD",
        exchange_rate=D("1"),
        invoice={"number": "INV-1"},
        vendor={"name": "Vendor Ltd"},
        lines=list(lines),
    )


def _assessed(line_number: int, vfd: str, duty: str, excise: str, vft: str, gst: str) -> AssessedLine:
    return AssessedLine(
        line_number=line_number,
        value_for_duty=D(vfd),
        customs_duty=D(duty),
        excise_tax=D(excise),
        value_for_tax=D(vft),
        gst=D(gst),
    )


def _row(hs_code: str, treatment: str) -> TariffRow:
    row = TARIFF.row(hs_code, treatment, RELEASE)
    assert row is not None
    return row


def test_mfn_duty_and_gst_on_value_for_tax() -> None:
    # 810.00 × 18 % = 145.80; VFT 810.00 + 145.80 = 955.80; GST 5 % = 47.79
    line = _line(1, "6109100010", "2", "810.00")
    assert assess_line(line, _row("6109100010", "2")) == _assessed(1, "810.00", "145.80", "0.00", "955.80", "47.79")


@pytest.mark.parametrize(
    ("treatment", "duty"),
    [("2", "145.80"), ("02", "145.80"), ("9", "145.80"), ("10", "0.00"), ("010", "0.00"), ("31", "0.00")],
)
def test_treatment_rows_and_default_fallback(treatment: str, duty: str) -> None:
    row = _row("6109100010", treatment)
    assert assess_line(_line(1, "6109100010", treatment, "810.00"), row).customs_duty == D(duty)


def test_gst_exempt_line_has_no_gst() -> None:
    # roasted coffee: 0 % duty, GST-exempt → VFT 200.00, GST 0.00
    line = _line(1, "0901210000", "2", "200.00")
    assert assess_line(line, _row("0901210000", "2")) == _assessed(1, "200.00", "0.00", "0.00", "200.00", "0.00")


def test_excise_is_ad_valorem_and_enters_value_for_tax() -> None:
    # 1234.56 × 10 % = 123.456 → 123.46; VFT 1358.02; GST 67.901 → 67.90
    line = _line(1, "8415100000", "2", "1234.56")
    assert assess_line(line, _row("8415100000", "2")) == _assessed(1, "1234.56", "0.00", "123.46", "1358.02", "67.90")


def test_rounding_is_half_up_per_amount() -> None:
    # 1.00 × 6.5 % = 0.065 → 0.07 (half-even would give 0.06); VFT 1.07; GST 0.0535 → 0.05
    assert assess_line(_line(1, "3926909990", "2", "1.00"), _row("3926909990", "2")) == _assessed(
        1, "1.00", "0.07", "0.00", "1.07", "0.05"
    )
    # 0.10 at 0 % duty: GST 0.005 → 0.01
    assert assess_line(_line(1, "8471300000", "2", "0.10"), _row("8471300000", "2")).gst == D("0.01")


def test_totals_are_sums_of_rounded_lines() -> None:
    # each line: duty 0.065 → 0.07, GST 0.0535 → 0.05; totals 0.14 and 0.10
    # (rounding the unrounded sums would give 0.13 and 0.11)
    assessment = assess(_declaration(_line(1, "3926909990", "2", "1.00"), _line(2, "3926909990", "2", "1.00")), TARIFF)
    assert assessment.errors == []
    assert (assessment.total_duty, assessment.total_excise, assessment.total_gst) == (D("0.14"), D("0.00"), D("0.10"))


def test_declared_amounts_do_not_change_the_assessment() -> None:
    declared = _line(1, "6109100010", "2", "810.00", duty_rate=D("5"), customs_duty=D("1.00"), gst=D("2.00"))
    assessment = assess(_declaration(declared), TARIFF)
    assert assessment.lines == [_assessed(1, "810.00", "145.80", "0.00", "955.80", "47.79")]


def test_unknown_hs_code_and_treatment_are_reported_for_every_line() -> None:
    assessment = assess(
        _declaration(
            _line(1, "6109100010", "2", "10.00"),
            _line(2, "9999999999", "2", "10.00"),
            _line(3, "6403990000", "99", "10.00"),
            _line(4, "1111111111", "98", "10.00"),
        ),
        TARIFF,
    )
    assert assessment.lines == []
    assert [(error.code, error.pointer) for error in assessment.errors] == [
        ("P201", "lines[1].hs_code"),
        ("P202", "lines[2].tariff_treatment"),
        ("P202", "lines[3].tariff_treatment"),
        ("P201", "lines[3].hs_code"),
    ]


@pytest.mark.parametrize(
    ("hs_code", "treatment", "duty_rate", "excise_rate", "gst_exempt"),
    [
        ("6109100010", "2", "18", "0", False),
        ("6109100010", "10", "0", "0", False),
        ("6109100010", "31", "0", "0", False),
        ("6403990000", "2", "18", "0", False),
        ("6403990000", "10", "0", "0", False),
        ("8471300000", "2", "0", "0", False),
        ("9503000090", "2", "0", "0", False),
        ("4202920000", "2", "8", "0", False),
        ("4202920000", "10", "0", "0", False),
        ("0901210000", "2", "0", "0", True),
        ("8415100000", "2", "0", "10", False),
    ],
)
def test_reference_tariff_has_the_shared_fixture_codes(
    hs_code: str, treatment: str, duty_rate: str, excise_rate: str, gst_exempt: bool
) -> None:
    row = _row(hs_code, treatment)
    assert (row.duty_rate, row.excise_rate, row.gst_exempt) == (D(duty_rate), D(excise_rate), gst_exempt)
    assert TARIFF.version == "2025.1-illustrative"


HEADER = "hs_code,treatment,description,unit,duty_rate,excise_rate,gst_exempt,valid_from\n"


def test_rows_apply_from_their_valid_from_date(tmp_path: Path) -> None:
    path = tmp_path / "tariff.csv"
    rows = ["6109100010,*,shirts,NMB,18,0,false,2020-01-01", "6109100010,*,shirts,NMB,16,0,false,2025-06-01"]
    path.write_text("# tariff-version: test\n" + HEADER + "\n".join(rows) + "\n")
    tariff = Tariff.load(path)

    def duty_rate(on: dt.date) -> Decimal | None:
        row = tariff.row("6109100010", "2", on)
        return None if row is None else row.duty_rate

    assert duty_rate(dt.date(2025, 5, 31)) == D("18")
    assert duty_rate(dt.date(2025, 6, 1)) == D("16")
    assert duty_rate(dt.date(2019, 12, 31)) is None
    early = assess(_declaration(_line(1, "6109100010", "2", "1.00"), release_date=dt.date(2019, 12, 31)), tariff)
    assert [(error.code, error.pointer) for error in early.errors] == [("P201", "lines[0].hs_code")]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("6109100010,*,a,NMB,18,0,maybe,2020-01-01\n", "tariff.csv:3: gst_exempt"),
        ("6109100010,*,a,NMB,x,0,false,2020-01-01\n", "tariff.csv:3:"),
        ("610910,*,a,NMB,18,0,false,2020-01-01\n", "tariff.csv:3: hs_code"),
        (
            "6109100010,*,a,NMB,18,0,false,2020-01-01\n6109100010,*,b,NMB,9,0,false,2020-01-01\n",
            "tariff.csv:4: duplicate",
        ),
    ],
)
def test_bad_tariff_rows_are_refused_with_their_line(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "tariff.csv"
    path.write_text("# comment\n" + HEADER + rows)
    with pytest.raises(ValueError, match=message):
        Tariff.load(path)
