"""Numbers and identifiers are ASCII digits, a value longer than its field is a
finding, and an XML file's well-formedness is checked before its type: every
case through the product's entry point (``check_stream``, ``carm-edi check
--json``), never an exception.

``str.isdigit`` and ``\\d`` (Python's ``re``, pydantic's patterns, XSD patterns)
take any script's digits: ``١٢٣`` (Arabic-Indic) or ``²``, some of which
``int`` reads and some it refuses. The properties put such digits, and
over-long values, into every numeric or identifier field of CUSDEC, CAD-IN,
PAYMUL, REMADV and pain.001 and require a located finding.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics import Finding
from gateway.flows.dispatch import check_stream
from gateway.report import FileReport
from mappings.xml_guide import DECIMAL, BadValue
from tests.edifact_helpers import FIXTURES

CUSDEC = FIXTURES / "cusdec" / "valid" / "v01_single.edi"
CUSDEC_LINES = FIXTURES / "cusdec" / "valid" / "v03_multi_line.edi"
CAD_IN = FIXTURES / "xml" / "valid" / "v01_single.xml"
PAYMUL = FIXTURES / "payments" / "paymul" / "valid" / "v02_settles_transaction.edi"
PAYMUL_SPLIT = FIXTURES / "payments" / "paymul" / "valid" / "v04_split_statement.edi"
PAYMUL_TWO = FIXTURES / "payments" / "paymul" / "valid" / "v05_two_payments.edi"
REMADV = FIXTURES / "payments" / "remadv" / "valid" / "v02_settles_transaction.edi"
PAIN001 = FIXTURES / "payments" / "pain001" / "valid" / "v02_settles_transaction.xml"

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
OTHER_DIGITS = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹०१२३४५६७८९০১২৩৪৫৬৭৮৯０１２３４５６７８９𝟎𝟏𝟐𝟑𝟗²³¹⁰⁴⁹₀₉①⑨"
"""Characters ``str.isdigit`` accepts that are not ASCII: decimal digits of
other scripts (``int`` reads them) and superscripts, subscripts and circled
digits (``int`` refuses them)."""


def check(data: bytes, name: str) -> FileReport:
    return check_stream(io.BytesIO(data), name)


def errors(report: FileReport) -> list[Finding]:
    return [f for f in report.all_errors() if f.severity.value == "error"]


def located(finding: Finding) -> bool:
    where = finding.location
    return where.segment is not None or where.xpath is not None


def utf8_edifact(path: Path) -> str:
    """A UNOC fixture as a UNOW (UTF-8) interchange, so any character can be written."""
    return path.read_text("latin-1").replace("UNOC:3", "UNOW:3", 1)


def cli_check(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def all_json_errors(answer: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(answer["errors"])
    for group in ("interchanges", "documents"):
        for item in answer[group]:
            found.extend(item["errors"])
    return found


# --- the cases ------------------------------------------------------------------------


def test_cad_in_transaction_number_in_arabic_indic_digits_is_refused_at_its_xpath_and_line() -> None:
    text = CAD_IN.read_text("utf-8")
    data = text.replace("<ID>10207000300014</ID>", f"<ID>{'10207000300014'.translate(ARABIC_INDIC)}</ID>")
    report = check(data.encode(), "arabic.xml")
    assert not report.accepted
    [document] = report.documents
    assert document.status == "rejected"
    [finding] = document.errors
    assert finding.code == "XSD"
    assert finding.location.xpath == "/DocumentMetaData/Declaration[1]/ID"
    assert finding.location.line == 24
    assert "١٠٢٠٧٠٠٠٣٠٠٠١٤" in finding.message


@pytest.mark.parametrize(
    ("field", "before", "after", "xpath", "line"),
    [
        ("version", "<VersionID>00001</VersionID>", "<VersionID>0000١</VersionID>", "Declaration[1]/VersionID", 27),
        ("office", "<ID>0497</ID>", "<ID>٠٤٩٧</ID>", "Declaration[1]/ReleaseLocation/ID", 37),
        ("hs code", "<ID>6109100010</ID>", "<ID>٦١٠٩١٠٠٠١٠</ID>", "Commodity[1]/Classification/ID", 68),
    ],
)
def test_cad_in_identifiers_in_other_digits_are_refused(
    field: str, before: str, after: str, xpath: str, line: int
) -> None:
    report = check(CAD_IN.read_text("utf-8").replace(before, after).encode(), f"{field}.xml")
    assert not report.accepted
    [finding] = errors(report)
    assert finding.code == "XSD"
    assert (finding.location.xpath or "").endswith(xpath)
    assert finding.location.line == line


def test_bgm_version_with_a_superscript_digit_is_a_finding_through_check_stream_and_the_cli(tmp_path: Path) -> None:
    # ² is byte B2 in UNOC (ISO 8859-1): str.isdigit says yes, int says no
    data = CUSDEC.read_bytes().replace(b"BGM+929+1020700030001400001", b"BGM+929+102070003000140\xb2001")
    report = check(data, "superscript.edi")
    [document] = report.documents
    assert document.status == "rejected"
    [finding] = document.errors
    assert (finding.code, finding.location.tag, finding.location.element) == ("12", "BGM", 2)
    assert "102070003000140²001" in finding.message

    path = tmp_path / "superscript.edi"
    path.write_bytes(data)
    answer = cli_check(path)
    assert [(e["code"], e["location"]["tag"]) for e in all_json_errors(answer)] == [("12", "BGM")]


def test_line_number_and_line_count_with_a_superscript_digit_are_findings() -> None:
    data = CUSDEC.read_bytes().replace(b"CST+1+", b"CST+\xb9+").replace(b"CNT+5:1'", b"CNT+5:\xb9'")
    report = check(data, "superscript-lines.edi")
    assert not report.accepted
    places = {(f.location.tag, f.location.element) for f in errors(report)}
    assert {("CST", 1), ("CNT", 1)} <= places


def test_importer_account_in_arabic_indic_digits_is_refused() -> None:
    text = utf8_edifact(CUSDEC).replace("NAD+IM+123456782RM0001", "NAD+IM+١٢٣٤٥٦٧٨٢RM0001")
    report = check(text.encode(), "arabic-account.edi")
    [document] = report.documents
    assert document.status == "rejected"
    [finding] = document.errors
    assert (finding.location.tag, finding.location.element) == ("NAD", 2)


@pytest.mark.parametrize("path", [PAYMUL, REMADV], ids=["PAYMUL", "REMADV"])
def test_remittance_account_in_arabic_indic_digits_is_refused(path: Path) -> None:
    text = utf8_edifact(path).replace("RFF+ADE:123456782RM0001", "RFF+ADE:١٢٣456782RM0001")
    report = check(text.encode(), "arabic.edi")
    [document] = report.documents
    assert document.status == "rejected"
    assert [(f.code, f.location.tag) for f in document.errors] == [("PAY-ACCT", "RFF")]


@pytest.mark.parametrize("path", [PAYMUL, REMADV], ids=["PAYMUL", "REMADV"])
@pytest.mark.parametrize(
    ("before", "field"),
    [("RFF+ADE:123456782RM0001", "account"), ("10207000300014", "transaction_numbers[0]")],
    ids=["account", "transaction"],
)
def test_over_long_remittance_reference_is_a_finding_at_its_segment(path: Path, before: str, field: str) -> None:
    data = path.read_bytes()
    long = before.encode()[: before.find(":") + 1] + b"1" * 45 if ":" in before else b"1" * 45
    report = check(data.replace(before.encode(), long), "long.edi")
    [document] = report.documents
    assert document.status == "rejected"
    ours = [f for f in document.errors if f.location.field == f"remittance[0].{field}"]
    assert ours, document.errors
    assert all(f.code == "12" and f.location.tag in ("RFF", "DOC") and located(f) for f in ours)


def test_paymul_payment_count_with_a_superscript_digit_is_a_finding() -> None:
    data = PAYMUL.read_bytes().replace(b"UNT+", b"CNT+2:\xb2'UNT+")
    data = re.sub(rb"UNT\+(\d+)", lambda m: b"UNT+" + str(int(m.group(1)) + 1).encode(), data)
    report = check(data, "count.edi")
    assert not report.accepted
    assert any(f.location.tag == "CNT" for f in errors(report))


@pytest.mark.parametrize(
    ("before", "after", "xpath"),
    [
        ("<NbOfTxs>1</NbOfTxs>\n      <CtrlSum>", "<NbOfTxs>²</NbOfTxs>\n      <CtrlSum>", "GrpHdr/NbOfTxs"),
        ("<NbOfTxs>1</NbOfTxs>\n      <CtrlSum>", "<NbOfTxs>١</NbOfTxs>\n      <CtrlSum>", "GrpHdr/NbOfTxs"),
        ('<InstdAmt Ccy="CAD">193.59</InstdAmt>', '<InstdAmt Ccy="CAD">١٩٣.٥٩</InstdAmt>', "InstdAmt"),
        ("<Nb>10207000300014</Nb>", "<Nb>١٠٢٠٧٠٠٠٣٠٠٠١٤</Nb>", "RfrdDocInf[1]/Nb"),
        ("<Ref>123456782RM0001</Ref>", "<Ref>" + "1" * 40 + "</Ref>", "CdtrRefInf/Ref"),
        ("<Nb>10207000300014</Nb>", "<Nb>" + "1" * 40 + "</Nb>", "RfrdDocInf[1]/Nb"),
    ],
    ids=["count-superscript", "count-arabic", "amount-arabic", "transaction-arabic", "long-account", "long-number"],
)
def test_pain001_digits_and_lengths_are_findings_at_their_xpath(before: str, after: str, xpath: str) -> None:
    text = PAIN001.read_text("utf-8")
    assert before in text
    report = check(text.replace(before, after).encode(), "pain.xml")
    assert not report.accepted
    assert any((f.location.xpath or "").endswith(xpath) and f.location.line for f in errors(report)), errors(report)


@pytest.mark.parametrize("text", ["١٠", "1e3", "1_000", "NaN", "10²"])
def test_the_xml_guides_decimal_codec_takes_ascii_decimals_only(text: str) -> None:
    # the CAD-IN XSD refuses these first; the codec does not rely on it (pydantic reads Arabic-Indic ten as 10)
    with pytest.raises(BadValue) as raised:
        DECIMAL.read(text)
    assert raised.value.code == "12"
    assert DECIMAL.read(" 12.50 ") == " 12.50 "


# --- XML: well-formedness before type -----------------------------------------------------------


@pytest.mark.parametrize("path", [CAD_IN, PAIN001], ids=["CAD-IN", "pain.001"])
@pytest.mark.parametrize("tail", [b"trailing text\n", b"\n\n<Second/>\n"], ids=["text", "element"])
def test_text_after_the_root_element_is_a_well_formedness_error_at_its_line(path: Path, tail: bytes) -> None:
    data = path.read_bytes()
    lines = data.count(b"\n") + 1 + tail[: len(tail) - len(tail.lstrip(b"\n"))].count(b"\n")
    report = check(data + tail, path.name)
    assert not report.accepted
    [finding] = report.errors
    assert finding.code == "XML-WF"
    assert finding.location.line == lines
    assert report.documents == []


def test_unknown_root_with_junk_after_it_is_a_well_formedness_error(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_bytes(b'<?xml version="1.0"?>\n<Invoice>\n  <Total>1</Total>\n</Invoice>\njunk\n')
    answer = cli_check(path)
    assert [(e["code"], e["location"]["line"]) for e in answer["errors"]] == [("XML-WF", 5)]


def test_unknown_root_with_an_error_beyond_the_sniffed_head_is_a_well_formedness_error() -> None:
    body = b"".join(b"<Item>%d</Item>\n" % n for n in range(10_000))  # past the 64 KiB the sniffer reads
    data = b"<Invoice>\n" + body + b"</Invoice>\n<Oops>"
    [finding] = check(data, "big.xml").errors
    assert (finding.code, finding.location.line) == ("XML-WF", 10_003)


def test_unknown_well_formed_xml_is_still_an_unsupported_type() -> None:
    [finding] = check(b"<Invoice><Total>1</Total></Invoice>", "other.xml").errors
    assert finding.code == "XML-TYPE"
    assert "Invoice" in finding.message


def test_a_tiny_unknown_document_names_its_root() -> None:
    [finding] = check(b"<a/>", "tiny.xml").errors
    assert finding.code == "XML-TYPE"
    assert "(unreadable root element)" not in finding.message


# --- properties: every numeric or identifier field of every message type ---------------------


@dataclass(frozen=True)
class Field:
    """A value in a fixture that the gateway reads as a number, date, code or
    identifier: ``pattern``'s group 1 (each occurrence)."""

    pattern: str
    long: str = "9"  # what an over-long value is made of; "X": free text, whose digits are text


EDIFACT_CUSDEC = (
    Field(r"BGM\+929\+([0-9]+)"),
    Field(r"LOC\+22\+([0-9]+)"),
    Field(r"DTM\+(?:271|3):([0-9]+):102"),
    Field(r"NAD\+(?:IM|DT)\+([0-9A-Z]+)"),
    Field(r"MOA\+[0-9]+:([0-9.]+)"),
    Field(r"CST\+([0-9]+)\+"),
    Field(r"CST\+[0-9]+\+([0-9]+)"),
    Field(r"CST\+[0-9]+\+[0-9]+\+([0-9]+)"),
    Field(r"CNT\+5:([0-9]+)"),
    Field(r"TAX\+7\+CUD\+\+\+:::([0-9.]+)"),  # the duty rate: the guide reads no other
    Field(r"CUX\+[^']*\+([0-9.]+)'"),
    Field(r"MEA\+AAE\+\+[A-Z]+:([0-9.]+)"),
    Field(r"RFF\+ABE:([^']+)", "X"),
    Field(r"NAD\+SE\+\+\+([^+']+)", "X"),
)
EDIFACT_PAYMENTS = (
    Field(r"BGM\+[0-9]+\+([^+']+)", "X"),
    Field(r"DTM\+(?:203|209):([0-9]+):102"),
    Field(r"MOA\+(?:9|12):([0-9.]+)"),
    Field(r"RFF\+ADE:([0-9A-Z]+)"),
    Field(r"RFF\+CR:([^']+)", "X"),
    Field(r"DOC\+929\+([0-9]+)"),
    Field(r"CNT\+2:([0-9]+)"),
)
CAD_IN_FIELDS = (
    Field(r"<ID>([0-9][0-9A-Z]*)</ID>"),
    Field(r"<VersionID>([0-9]+)<"),
    Field(r"<RateNumeric>([0-9.]+)<"),
    Field(r"DateTime>([0-9]+)<"),
    Field(r"Amount currencyID=\"[A-Z]+\">([0-9.]+)<"),
    Field(r"<SequenceNumeric>([0-9]+)<"),
    Field(r"<BindingTariffReferenceID>([0-9]+)<"),
    Field(r"<TariffQuantity unitCode=\"[A-Z]+\">([0-9.]+)<"),
    Field(r"<TaxRateNumeric>([0-9.]+)<"),
    Field(r"<FunctionalReferenceID>([^<]+)<", "X"),
)
PAIN001_FIELDS = (
    Field(r"<NbOfTxs>([0-9]+)<"),
    Field(r"<CtrlSum>([0-9.]+)<"),
    Field(r"<InstdAmt Ccy=\"CAD\">([0-9.]+)<"),
    Field(r"<RmtdAmt Ccy=\"CAD\">([0-9.]+)<"),
    Field(r"<Nb>([0-9]+)<"),
    Field(r"<Ref>([0-9A-Z]+)<"),
    Field(r"<Dt>([0-9-]+)<"),
    Field(r"<MsgId>([^<]+)<", "X"),
    Field(r"<EndToEndId>([^<]+)<", "X"),
    Field(r"<DbtrAcct><Id><Othr><Id>([^<]+)<", "X"),
)


@dataclass(frozen=True)
class Kind:
    name: str
    text: str  # the fixture, written so that any character can be put in
    fields: tuple[Field, ...]


KINDS = (
    Kind("CUSDEC", utf8_edifact(CUSDEC), EDIFACT_CUSDEC),
    Kind("CUSDEC-lines", utf8_edifact(CUSDEC_LINES), EDIFACT_CUSDEC),
    Kind("PAYMUL", utf8_edifact(PAYMUL), EDIFACT_PAYMENTS),
    Kind("PAYMUL-split", utf8_edifact(PAYMUL_SPLIT), EDIFACT_PAYMENTS),
    Kind("PAYMUL-two", utf8_edifact(PAYMUL_TWO), EDIFACT_PAYMENTS),
    Kind("REMADV", utf8_edifact(REMADV), EDIFACT_PAYMENTS),
    Kind("CAD-IN", CAD_IN.read_text("utf-8"), CAD_IN_FIELDS),
    Kind("pain.001", PAIN001.read_text("utf-8"), PAIN001_FIELDS),
)
CASES = [
    (kind, field, match.span(1))
    for kind in KINDS
    for field in kind.fields
    for match in re.finditer(field.pattern, kind.text)
    if field.long == "X" or any(c.isdigit() for c in match.group(1))
]


def test_the_fixtures_hold_every_field_the_properties_mutate() -> None:
    for fields in (EDIFACT_CUSDEC, EDIFACT_PAYMENTS, CAD_IN_FIELDS, PAIN001_FIELDS):
        held = {field for kind, field, _span in CASES if kind.fields is fields}
        assert held == set(fields), set(fields) - held
    assert {kind.name for kind, _field, _span in CASES} == {kind.name for kind in KINDS}


def _refused(report: FileReport, what: str) -> None:
    found = errors(report)
    assert found, f"{what}: accepted"
    assert not report.accepted or any(d.status == "rejected" for d in report.documents), what
    assert all(located(f) or f.location.line for f in found), (what, found)


digit_cases = st.sampled_from([case for case in CASES if case[1].long == "9"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=digit_cases, data=st.data())
def test_a_non_ascii_digit_in_any_numeric_or_identifier_field_is_a_finding(
    case: tuple[Kind, Field, tuple[int, int]], data: st.DataObject
) -> None:
    kind, field, (start, end) = case
    positions = [i for i in range(start, end) if kind.text[i].isdigit()]
    chosen = data.draw(st.lists(st.sampled_from(positions), min_size=1, unique=True), label="positions")
    text = list(kind.text)
    for position in chosen:
        text[position] = data.draw(st.sampled_from(OTHER_DIGITS), label="digit")
    mutated = "".join(text)
    report = check(mutated.encode(), f"{kind.name}.{'xml' if kind.text.startswith('<') else 'edi'}")
    _refused(report, f"{kind.name} {field.pattern} {mutated[start - 20 : end + 20]!r}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), length=st.integers(141, 600))
def test_an_over_long_value_in_any_field_is_a_finding(case: tuple[Kind, Field, tuple[int, int]], length: int) -> None:
    kind, field, (start, end) = case
    mutated = kind.text[:start] + field.long * length + kind.text[end:]
    report = check(mutated.encode(), f"{kind.name}.{'xml' if kind.text.startswith('<') else 'edi'}")
    _refused(report, f"{kind.name} {field.pattern} x{length}")


XML_FILES = sorted((FIXTURES / "xml" / "valid").glob("*.xml")) + sorted(
    (FIXTURES / "payments" / "pain001" / "valid").glob("*.xml")
)


@settings(max_examples=60, deadline=None)
@given(
    path=st.sampled_from(XML_FILES),
    gap=st.lists(st.sampled_from([" ", "\t", "\n", "\r\n"]), max_size=6).map("".join),
    junk=st.text(alphabet=st.characters(blacklist_characters="<&", blacklist_categories=("Cs", "Cc")), min_size=1),
)
def test_any_text_after_the_root_element_is_xml_wf_at_the_line_it_starts(path: Path, gap: str, junk: str) -> None:
    junk = junk.lstrip() or "x"  # text that is not blank, where only comments and PIs may follow the root
    data = path.read_bytes().rstrip() + (gap + junk).encode()
    before = data[: len(data) - len(junk.encode())]
    report = check(data, path.name)
    assert not report.accepted
    [finding] = report.errors
    assert finding.code == "XML-WF"
    assert finding.location.line == before.count(b"\n") + 1
