"""Every duty and tax of a line, computed by hand: a specific duty, excise by code, SIMA
anti-dumping and countervailing duty, surtax orders, a safeguard and a GST status code, in the
portal's assessment, the CUSRES and CAD-OUT it answers with, and ``carm-edi estimate``. Then the
rules of these duties, pass and fail, through CUSDEC and CAD-IN alike.

The declaration (fixtures/duties/specific_surtax_sima.edi), released 2025-01-15, one invoice in
USD at 1.35 CAD, reference tables of fixtures/reference/:

line 1  wine 2204210000 MFN from FR, 750 LTR, 1,500.00 USD → VFD 2,025.00
        duty 0 % + 0.0187 CAD/LTR × 750 = 14.025 → 14.03 (specific); excise duty EDW 0.751 × 750 = 563.25
        VFT 2,025.00 + 14.03 + 563.25 = 2,602.28; GST 5 % = 130.114 → 130.11
line 2  galvanized steel 7210490000 MFN from CN, 10,000 KGM, 8,000.00 USD → VFD 10,800.00
        duty 0 %; surtax CNSTL 25 % × 10,800.00 = 2,700.00; anti-dumping 3,456.78 and
        countervailing 1,234.50 as declared
        VFT 10,800.00 + 2,700.00 + 3,456.78 + 1,234.50 = 18,191.28; GST 5 % = 909.564 → 909.56
line 3  electric car 8703800000 MFN from CN, 1 NMB, 30,000.00 USD → VFD 40,500.00
        duty 6.1 % = 2,470.50; surtax CNEV 100 % = 40,500.00
        VFT 40,500.00 + 2,470.50 + 40,500.00 = 83,470.50; GST 5 % = 4,173.525 → 4,173.53 (half-up)
line 4  T-shirts 6109100010 MFN from CN, 120 NMB, 600.00 USD → VFD 810.00
        duty 18 % = 145.80; safeguard SG1 50.00 as declared; VFT 810.00 + 145.80 + 50.00 = 1,005.80
        GST status NTX (non-taxable): GST 0.00

totals  customs duty 14.03 + 0.00 + 2,470.50 + 145.80 = 2,630.33; excise tax 0.00; excise duty 563.25;
        anti-dumping 3,456.78; countervailing 1,234.50; surtax 2,700.00 + 40,500.00 = 43,200.00;
        safeguard 50.00; GST 130.11 + 909.56 + 4,173.53 + 0.00 = 5,213.20
        due 2,630.33 + 563.25 + 3,456.78 + 1,234.50 + 43,200.00 + 50.00 + 5,213.20 = 56,348.06
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree

from duties.charges import Charges
from duties.tariff import Tariff
from gateway.estimate import estimate_bytes, render_text
from gateway.flows.cadxml import XmlFlow
from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from mappings.cadout import NAMESPACE
from mappings.cadxml_declaration import cadin_document
from mappings.cusdec_declaration import map_cusdec
from portal.assessment import assess
from portal.client import PortalClient
from portal.server import PortalServer
from tests.edifact_helpers import FIXTURES, messages_of
from tests.test_rules import EXPECTED, check_file, declaration_of, fixture_context
from tests.xml_helpers import MemorySink, read_cadout
from validators.reference_data import DEFAULT_DIRECTORY, default_reference
from validators.rules import check_declaration

FILE = FIXTURES / "duties" / "specific_surtax_sima.edi"
NOW = dt.datetime(2025, 1, 16, 10, 0, tzinfo=dt.UTC)
D = Decimal

# by hand (the module docstring): per line, the amounts of AssessedLine
LINES = {
    1: {
        "value_for_duty": "2025.00",
        "customs_duty": "14.03",
        "specific_duty": "14.03",
        "excise_duty": "563.25",
        "excise_tax": "0.00",
        "anti_dumping_duty": "0.00",
        "countervailing_duty": "0.00",
        "surtax": "0.00",
        "safeguard": "0.00",
        "value_for_tax": "2602.28",
        "gst": "130.11",
    },
    2: {
        "value_for_duty": "10800.00",
        "customs_duty": "0.00",
        "specific_duty": "0.00",
        "excise_duty": "0.00",
        "excise_tax": "0.00",
        "anti_dumping_duty": "3456.78",
        "countervailing_duty": "1234.50",
        "surtax": "2700.00",
        "safeguard": "0.00",
        "value_for_tax": "18191.28",
        "gst": "909.56",
    },
    3: {
        "value_for_duty": "40500.00",
        "customs_duty": "2470.50",
        "specific_duty": "0.00",
        "excise_duty": "0.00",
        "excise_tax": "0.00",
        "anti_dumping_duty": "0.00",
        "countervailing_duty": "0.00",
        "surtax": "40500.00",
        "safeguard": "0.00",
        "value_for_tax": "83470.50",
        "gst": "4173.53",
    },
    4: {
        "value_for_duty": "810.00",
        "customs_duty": "145.80",
        "specific_duty": "0.00",
        "excise_duty": "0.00",
        "excise_tax": "0.00",
        "anti_dumping_duty": "0.00",
        "countervailing_duty": "0.00",
        "surtax": "0.00",
        "safeguard": "50.00",
        "value_for_tax": "1005.80",
        "gst": "0.00",
    },
}
TOTALS = {
    "total_duty": "2630.33",
    "total_excise": "0.00",
    "total_excise_duty": "563.25",
    "total_anti_dumping": "3456.78",
    "total_countervailing": "1234.50",
    "total_surtax": "43200.00",
    "total_safeguard": "50.00",
    "total_gst": "5213.20",
}
DUE = "56348.06"


def _declaration():
    [(message, decimal)] = messages_of(FILE.read_bytes())
    mapping = map_cusdec(message, decimal)
    assert mapping.declaration is not None, mapping.findings
    return mapping.declaration


def test_the_portal_assesses_every_duty_and_tax_as_computed_by_hand() -> None:
    assessment = assess(_declaration(), default_reference().tariff)
    assert assessment.errors == []
    assert {line.line_number: {name: str(getattr(line, name)) for name in LINES[1]} for line in assessment.lines} == (
        LINES
    )
    assert {name: str(value) for name, value in assessment.totals().items()} == TOTALS
    first, second, third, fourth = assessment.lines
    assert (first.specific_rate, first.specific_unit) == (D("0.0187"), "LTR")
    assert [(c.code, c.kind, str(c.amount)) for c in first.excise] == [("EDW", "duty", "563.25")]
    assert (second.surtax_code, third.surtax_code) == ("CNSTL", "CNEV")
    assert (fourth.safeguard_code, fourth.gst_status_code) == ("SG1", "NTX")


def test_the_declared_amounts_equal_the_hand_computed_ones_so_no_rule_objects() -> None:
    assert check_declaration(_declaration(), fixture_context()) == []


def _cusres_segments(data: bytes) -> list[str]:
    [(message, _)] = messages_of(data)
    return [
        "+".join([segment.tag, *(":".join(e) if isinstance(e, list) else e for e in segment.elements)])
        for segment in message.segments
    ]


def test_cusres_carries_every_amount(portal_server: PortalServer) -> None:
    sink = MemorySink()
    with PortalClient(portal_server.url) as client:
        options = FlowOptions(poster=client.submit_declaration, sink=sink, rules_context=fixture_context())
        report = check_stream(io.BytesIO(FILE.read_bytes()), FILE.name, options)
    # the portal's statement owes every duty and tax of the declaration
    statement = httpx.get(
        f"{portal_server.url}/v1/accounts/123456782RM0001/statement", params={"as_of": "2025-01-16"}
    ).json()
    assert statement["total_assessed"] == DUE and statement["amount_due"] == DUE
    assert report.accepted
    [document] = report.documents
    assert document.assessed == {
        "duty": "2630.33",
        "excise": "0.00",
        "gst": "5213.20",
        "total": DUE,
        "excise_duty": "563.25",
        "anti_dumping": "3456.78",
        "countervailing": "1234.50",
        "surtax": "43200.00",
        "safeguard": "50.00",
    }
    segments = _cusres_segments(sink.files[f"{FILE.name}.cusres.edi"])
    doc = segments.index("DOC+929+1020700050001600001")
    assert segments[segments.index("GIS+40") + 4 : doc] == [
        "TAX+7+CUD",
        "MOA+124:2630.33:CAD",
        "TAX+7+EXC",
        "MOA+124:0.00:CAD",
        "TAX+7+EXC+DUTY",
        "MOA+124:563.25:CAD",
        "TAX+7+ADD",
        "MOA+124:3456.78:CAD",
        "TAX+7+CVD",
        "MOA+124:1234.50:CAD",
        "TAX+7+SUR",
        "MOA+124:43200.00:CAD",
        "TAX+7+OTH",
        "MOA+124:50.00:CAD",
        "TAX+7+GST",
        "MOA+124:5213.20:CAD",
        "TAX+7+TOT",
        "MOA+124:56348.06:CAD",
    ]
    lines = segments[doc + 1 : segments.index("UNT" + segments[-1][3:])]
    assert lines[: lines.index("CST+2")] == [
        "CST+1",
        "TAX+7+CUD",
        "MOA+125:2025.00:CAD",
        "MOA+124:14.03:CAD",
        "TAX+7+EXC",
        "MOA+124:0.00:CAD",
        "TAX+1+CUD+++:::0.0187:LTR",
        "MOA+124:14.03:CAD",
        "TAX+1+EXC+EDW",
        "MOA+124:563.25:CAD",
        "TAX+7+GST",
        "MOA+125:2602.28:CAD",
        "MOA+124:130.11:CAD",
    ]
    assert lines[lines.index("CST+2") : lines.index("CST+3")] == [
        "CST+2",
        "TAX+7+CUD",
        "MOA+125:10800.00:CAD",
        "MOA+124:0.00:CAD",
        "TAX+7+EXC",
        "MOA+124:0.00:CAD",
        "TAX+1+ADD",
        "MOA+124:3456.78:CAD",
        "TAX+1+CVD",
        "MOA+124:1234.50:CAD",
        "TAX+1+SUR+CNSTL",
        "MOA+124:2700.00:CAD",
        "TAX+7+GST",
        "MOA+125:18191.28:CAD",
        "MOA+124:909.56:CAD",
    ]
    assert lines[lines.index("CST+4") :] == [
        "CST+4",
        "TAX+7+CUD",
        "MOA+125:810.00:CAD",
        "MOA+124:145.80:CAD",
        "TAX+7+EXC",
        "MOA+124:0.00:CAD",
        "TAX+1+OTH+SG1",
        "MOA+124:50.00:CAD",
        "TAX+7+GST++++NTX",
        "MOA+125:1005.80:CAD",
        "MOA+124:0.00:CAD",
    ]


def test_cad_out_carries_every_amount(portal_server: PortalServer) -> None:
    declaration = _declaration()
    senders = [(declaration.declarant.account, "AK"), (declaration.importer.account, "HN")]
    document = cadin_document([declaration], "APP-DUTIES", senders)
    sink = MemorySink()
    with PortalClient(portal_server.url) as client:
        options = FlowOptions(poster=client.submit_declaration, sink=sink, rules_context=fixture_context())
        report = XmlFlow("duties.xml", options).run(io.BytesIO(document))
    assert report.accepted
    data = sink.files["duties.xml.cadout.xml"]
    [response] = read_cadout(data)  # valid against cad-out.xsd
    assert response["status"] == "40"
    assert response["totals"] == {
        "CUD": "2630.33",
        "EXC": "0.00",
        "XCD": "563.25",
        "ADD": "3456.78",
        "CVD": "1234.50",
        "SUR": "43200.00",
        "SFG": "50.00",
        "GST": "5213.20",
        "TOT": DUE,
    }
    n = {"w": NAMESPACE}
    root = etree.fromstring(data)
    commodities = root.findall(".//w:Commodity", n)

    def fees(commodity: etree._Element) -> list[tuple[str | None, ...]]:
        return [
            (
                fee.findtext("w:TypeCode", namespaces=n),
                fee.findtext("w:DutyRegimeCode", namespaces=n),
                fee.findtext("w:TaxRateNumeric", namespaces=n),
                fee.find("w:TaxRateNumeric", n).get("unitCode")
                if fee.find("w:TaxRateNumeric", n) is not None
                else None,
                fee.findtext("w:DutyTaxFeeAssessmentBasis/w:AdValoremTaxBaseAmount", namespaces=n),
                fee.findtext("w:Payment/w:TaxAssessedAmount", namespaces=n),
            )
            for fee in commodity.findall("w:DutyTaxFee", n)
        ]

    assert fees(commodities[0]) == [
        ("CUD", None, None, None, "2025.00", "14.03"),
        ("EXC", None, None, None, None, "0.00"),
        ("SPD", None, "0.0187", "LTR", None, "14.03"),
        ("XCD", "EDW", None, None, None, "563.25"),
        ("GST", None, None, None, "2602.28", "130.11"),
    ]
    assert fees(commodities[1]) == [
        ("CUD", None, None, None, "10800.00", "0.00"),
        ("EXC", None, None, None, None, "0.00"),
        ("ADD", None, None, None, None, "3456.78"),
        ("CVD", None, None, None, None, "1234.50"),
        ("SUR", "CNSTL", None, None, None, "2700.00"),
        ("GST", None, None, None, "18191.28", "909.56"),
    ]
    assert fees(commodities[3])[2:] == [
        ("SFG", "SG1", None, None, None, "50.00"),
        ("GST", "NTX", None, None, "1005.80", "0.00"),
    ]


def test_estimate_shows_every_amount() -> None:
    [estimate] = estimate_bytes(FILE.read_bytes(), default_reference().tariff)
    assert estimate.clean
    assert {
        line.line_number: {name: str(value) for name, value in (line.computed or {}).items()} for line in estimate.lines
    } == LINES
    body = estimate.to_dict()
    assert body["totals"]["surtax"] == {"declared": "43200.00", "computed": "43200.00"}
    assert body["totals"]["excise_duty"] == {"declared": "563.25", "computed": "563.25"}
    assert body["totals"]["specific_duty"] == {"declared": None, "computed": "14.03"}
    assert body["totals"]["total_due"] == {"computed": DUE}
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "estimate", str(FILE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("Line"))
    assert re.split(r"\s{2,}", header.strip()) == [
        "Line",
        "HS code",
        "TT",
        "VFD",
        "Duty",
        "of it specific",
        "Excise duty",
        "Excise",
        "ADD",
        "CVD",
        "Surtax",
        "Safeguard",
        "VFT",
        "GST",
    ]
    assert (
        "computed total due (Duty + Excise duty + Excise + ADD + CVD + Surtax + Safeguard + GST): 56348.06"
        in result.stdout
    )


def test_an_ordinary_declaration_answers_as_before() -> None:
    """A file with none of the new charges: the estimate's table keeps its five amount columns
    (the CUSRES and CAD-OUT layouts are held by fixtures/cusdec/expected.json and fixtures/xml/)."""
    tariff = Tariff.load(DEFAULT_DIRECTORY / "tariff.csv")
    estimates = estimate_bytes((FIXTURES / "cusdec" / "valid" / "v01_single.edi").read_bytes(), tariff)
    text = render_text("v01_single.edi", estimates)
    header = next(line for line in text.splitlines() if line.lstrip().startswith("Line"))
    assert re.split(r"\s{2,}", header.strip()) == ["Line", "HS code", "TT", "VFD", "Duty", "Excise", "VFT", "GST"]
    assert "computed total due (duty + excise + GST): 193.59" in text


# the rules of these duties: pass and fail, through CUSDEC and through CAD-IN -------------------

RULES = ["AMT-DUTY", "AMT-SPU", "AMT-EXC", "AMT-XCD", "AMT-SUR", "AMT-VFT", "AMT-GSC", "AMT-GST"]


def _cadin_flow(name: str):
    declaration = declaration_of(name)
    senders = [(declaration.declarant.account, "AK"), (declaration.importer.account, "HN")]
    document = cadin_document([declaration], "APP-" + Path(name).stem, senders)
    sink = MemorySink()
    report = XmlFlow("case.xml", FlowOptions(sink=sink, rules_context=fixture_context())).run(io.BytesIO(document))
    return report, read_cadout(sink.files["case.xml.cadout.xml"])


@pytest.mark.parametrize("rule_id", RULES)
def test_each_duty_rule_passes_and_fails_through_cusdec_and_cad_in(rule_id: str) -> None:
    wanted = EXPECTED["rules"][rule_id]
    assert check_file(wanted["pass"]).accepted and check_file(wanted["pass"]).all_errors() == []
    [finding] = check_file(wanted["fail"]).all_errors()
    assert (finding.code, finding.location.field) == (rule_id, wanted["pointer"])

    report, [response] = _cadin_flow(wanted["pass"])
    assert report.accepted and response["errors"] == []
    report, [response] = _cadin_flow(wanted["fail"])
    assert not report.accepted and response["status"] == "41"
    assert [error["code"] for error in response["errors"]] == [rule_id]
    assert response["errors"][0]["pointer"].startswith("/DocumentMetaData/Declaration[1]/GoodsShipment[1]/")


@pytest.mark.parametrize(
    ("rule_id", "phrase"),
    [
        ("AMT-SPU", "has a specific duty of 0.0187 CAD per LTR, but the quantity is in NMB"),
        ("AMT-XCD", "excise duty EDW 563.00 differs from 0.751 CAD per LTR × quantity 750 LTR = 563.25"),
        ("AMT-SUR", "falls under CNEV (China Surtax Order (2024): electric vehicles, 100 % from 2024-10-01)"),
        ("AMT-GSC", "GST status code ZZ9 is not a known code: STD (Taxable at the GST rate, 5 %)"),
    ],
)
def test_duty_rules_say_what_is_wrong(rule_id: str, phrase: str) -> None:
    [violation] = check_declaration(declaration_of(EXPECTED["rules"][rule_id]["fail"]), fixture_context())
    assert phrase in violation.message


def test_surtax_code_and_amount_are_checked_once_the_indicator_is_given() -> None:
    declaration = declaration_of(EXPECTED["rules"]["AMT-SUR"]["pass"])
    [invoice] = declaration.invoices
    [line] = invoice.lines

    def with_line(**changes: object):
        changed = line.model_copy(update=changes)
        return declaration.model_copy(update={"invoices": [invoice.model_copy(update={"lines": [changed]})]})

    found = check_declaration(with_line(surtax_code="CNSTL"), fixture_context())
    assert [(v.rule_id, v.pointer) for v in found] == [("AMT-SUR", "lines[0].surtax_code")]
    found = check_declaration(with_line(surtax=D("4050.00")), fixture_context())
    assert [(v.rule_id, v.pointer) for v in found] == [("AMT-SUR", "lines[0].surtax")]
    assert "100 % × value for duty 40500.00 = 40500.00" in found[0].message
    # before the order came into force, no surtax applies
    early = with_line(surtax_indicator=None, surtax_code=None, surtax=None).model_copy(
        update={"release_date": dt.date(2024, 9, 30)}
    )
    assert [v.rule_id for v in check_declaration(early, fixture_context(today=dt.date(2024, 10, 1)))] == []


def test_the_surtax_order_is_assessed_from_the_release_date_on() -> None:
    declaration = declaration_of(EXPECTED["rules"]["AMT-SUR"]["fail"])
    tariff = default_reference().tariff
    assert [str(line.surtax) for line in assess(declaration, tariff).lines] == ["40500.00"]
    early = declaration.model_copy(update={"release_date": dt.date(2024, 9, 30)})
    assert [str(line.surtax) for line in assess(early, tariff).lines] == ["0.00"]


def test_charge_tables_load_and_refuse_bad_rows(tmp_path: Path) -> None:
    charges = default_reference().charges
    assert charges.excise["ETG"].describe_rate() == "0.10 CAD per LTR"
    assert charges.gst_statuses["NTX"].rate == 0
    assert default_reference().versions["surtax_orders.csv"] == "2026.12-illustrative"
    for name in ("excise_codes.csv", "surtax_orders.csv", "gst_status_codes.csv"):
        (tmp_path / name).write_text((DEFAULT_DIRECTORY / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "excise_codes.csv").write_text(
        "code,kind,name,basis,rate,unit,source\nX1,duty,x,unit,1,,s\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="a unit is given exactly when the basis is unit"):
        Charges.load(tmp_path)


def test_a_declared_specific_rate_must_be_the_tariffs() -> None:
    declaration = declaration_of(EXPECTED["rules"]["AMT-SPU"]["pass"])
    [invoice] = declaration.invoices
    [line] = invoice.lines
    changed = line.model_copy(update={"specific_duty_rate": D("0.0200")})
    wrong = declaration.model_copy(update={"invoices": [invoice.model_copy(update={"lines": [changed]})]})
    [violation] = check_declaration(wrong, fixture_context())
    assert (violation.rule_id, violation.pointer) == ("AMT-SPU", "lines[0].specific_duty_rate")
    assert "differs from the tariff's for HS 2204210000 under MFN (02): 0.0187 CAD per LTR" in violation.message


def test_a_tariff_of_the_first_format_still_loads(tmp_path: Path) -> None:
    first = tmp_path / "tariff.csv"
    first.write_text(
        "hs_code,treatment,description,unit,duty_rate,excise_rate,gst_exempt,valid_from\n"
        "6109100010,*,T-shirts,NMB,18,0,false,2020-01-01\n",
        encoding="utf-8",
    )
    row = Tariff.load(first).row("6109100010", "2", dt.date(2025, 1, 15))
    assert row is not None and (row.duty_rate, row.specific_rate, row.specific_unit) == (D("18"), None, None)
    half = tmp_path / "half.csv"
    half.write_text(
        "hs_code,treatment,description,unit,duty_rate,excise_rate,gst_exempt,valid_from,specific_rate,specific_unit\n"
        "2204210000,*,Wine,LTR,0,0,false,2020-01-01,0.0187,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"half.csv:2: specific_rate and specific_unit go together"):
        Tariff.load(half)
