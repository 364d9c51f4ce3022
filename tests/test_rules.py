"""The rule catalogue (validators/rules): every rule with its passing and failing CUSDEC
fixture (fixtures/rules/) and their CAD-IN twins (fixtures/rules/cadin/), positions mapped
back through the EDIFACT and the XML flow, CUSRES and CAD-OUT carrying the rule ids,
docs/rules.md generated from the code, and the reference data."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from diagnostics import Severity
from domain import Declaration
from gateway.flows.contract import FlowOptions
from gateway.flows.dispatch import check_stream
from mappings.cadxml_declaration import NAMESPACE, map_cad_declaration
from mappings.cusdec_declaration import map_cusdec
from tests.ack_reader import read_cusres
from tests.edifact_helpers import FIXTURES, messages_of
from tests.xml_helpers import MemorySink, read_cadout
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData, default_reference
from validators.rules import (
    RULES,
    ContextUnavailable,
    RuleContext,
    TransactionHistory,
    accounting_due_date,
    check_declaration,
    payment_due_date,
    rule,
)
from validators.rules.base import billing_period_end
from validators.rules.catalogue import render

RULE_FIXTURES = FIXTURES / "rules"
CADIN = RULE_FIXTURES / "cadin"
EXPECTED = json.loads((RULE_FIXTURES / "expected.json").read_text())
RULE_IDS = [r.rule_id for r in RULES]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def _covers(key: str, account: str) -> bool:
    return key in (account, account[:9])


def fixture_context(**overrides: Any) -> RuleContext:
    """The context of expected.json: today, a fake portal history and fake delegations."""
    spec = EXPECTED["context"]
    history = {
        number: TransactionHistory(
            number, item["latest_version"], item["cancelled"], dt.date.fromisoformat(item["release_date"])
        )
        for number, item in spec["history"].items()
    }

    def delegated(importer: str, declarant: str) -> bool:
        return any(_covers(i, importer) and _covers(b, declarant) for i, b in spec["delegations"])

    values: dict[str, Any] = {
        "today": dt.date.fromisoformat(spec["today"]),
        "history": history.get,
        "delegation": delegated,
    }
    return RuleContext(**{**values, **overrides})


def declaration_of(name: str) -> Declaration:
    [(message, decimal)] = messages_of((RULE_FIXTURES / name).read_bytes())
    mapping = map_cusdec(message, decimal)
    assert mapping.declaration is not None, mapping.findings
    return mapping.declaration


def cadin_twin(name: str) -> Path:
    """The CAD-IN twin of a CUSDEC rule fixture: ``tar-hs_fail.edi`` → ``cadin/tar-hs_fail.xml``."""
    return CADIN / name.replace(".edi", ".xml")


def fixture_kinds(rule_id: str) -> list[str]:
    """The fixtures of a rule in expected.json: pass, fail, and warn where a rule has one."""
    return [kind for kind in ("pass", "fail", "warn") if kind in EXPECTED["rules"][rule_id]]


def check_file(name: str, options: FlowOptions | None = None):
    """The EDIFACT flow, offline, with the fixtures' full rule context."""
    return check_stream(
        io.BytesIO((RULE_FIXTURES / name).read_bytes()), name, options or FlowOptions(rules_context=fixture_context())
    )


# the catalogue --------------------------------------------------------------------------


def test_docs_rules_md_is_generated_from_the_code() -> None:
    assert DOCS.read_text(encoding="utf-8") == render(), "run: python -m validators.rules.catalogue > docs/rules.md"


def test_every_rule_is_documented_and_has_both_fixtures() -> None:
    assert sorted(EXPECTED["rules"]) == sorted(RULE_IDS)
    assert len(set(RULE_IDS)) == len(RULE_IDS)
    for rule_id, item in EXPECTED["rules"].items():
        assert (RULE_FIXTURES / item["pass"]).is_file() and (RULE_FIXTURES / item["fail"]).is_file()
        assert all(cadin_twin(item[kind]).is_file() for kind in fixture_kinds(rule_id)), rule_id
        assert f"| `{rule_id}` |" in DOCS.read_text(encoding="utf-8")
    assert all(len(rule_id) <= 8 for rule_id in RULE_IDS)


# every rule: pass and fail, through the EDIFACT flow ---------------------------------------


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_passing_fixture_has_no_finding(rule_id: str) -> None:
    report = check_file(EXPECTED["rules"][rule_id]["pass"])
    assert report.all_errors() == []
    assert report.accepted


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_failing_fixture_has_its_rule_at_the_cusdec_position(rule_id: str) -> None:
    wanted = EXPECTED["rules"][rule_id]
    report = check_file(wanted["fail"])
    [finding] = report.all_errors()
    assert finding.code == rule_id
    assert finding.severity is rule(rule_id).severity
    location = finding.location
    assert location.field == wanted["pointer"]
    assert (location.tag, location.segment, location.element, location.component) == (
        wanted["tag"],
        wanted["segment"],
        wanted["element"],
        wanted["component"],
    )
    assert report.accepted is (rule(rule_id).severity is Severity.WARNING)  # warnings never reject


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_check_on_the_domain_model(rule_id: str) -> None:
    """The same verdicts straight from check_declaration, as the XML channel will call it."""
    wanted = EXPECTED["rules"][rule_id]
    context = fixture_context()
    assert check_declaration(declaration_of(wanted["pass"]), context) == []
    [violation] = check_declaration(declaration_of(wanted["fail"]), context)
    assert (violation.rule_id, violation.pointer) == (rule_id, wanted["pointer"])


# every rule: pass and fail, through the XML flow (the CAD-IN twins) --------------------------

_GOODS = "/GoodsShipment[1]"
_COMMODITY = f"{_GOODS}/GovernmentAgencyGoodsItem/Commodity[1]"
CADIN_POSITIONS: dict[str, tuple[str, str | None]] = {
    # rule: (XPath under /DocumentMetaData/Declaration[1], the value the failing twin has there;
    # None: the element is missing, the finding is placed at the line of its nearest ancestor that is there)
    "ID-BN9-I": (f"{_GOODS}/Importer/ID", "123456789RM0001"),
    "ID-BN9-D": ("/Declarant/ID", "123026636RM0001"),
    "ID-RM": (f"{_GOODS}/Importer/ID", "123456782RP0001"),
    "ID-PGM": ("/Declarant/ID", "123026635XX0001"),
    "ID-TXN": ("/ID", "10207000300026"),
    "ID-OFF": ("/ReleaseLocation/ID", "9999"),
    "ID-CCN": ("/Consignment/TransportContractDocument/ID", "AB-C2025000123"),
    "ID-CTY": (f"{_COMMODITY}/Origin/CountryCode", "QQ"),
    "ID-CUR": (f"{_GOODS}/CurrencyExchange/CurrencyTypeCode", "ABC"),
    "ID-UOM": (f"{_COMMODITY}/GoodsMeasure/TariffQuantity/@unitCode", "BOX"),
    "LIN-SEQ": (f"{_COMMODITY}/SequenceNumeric", "2"),
    "TAR-HS": (f"{_COMMODITY}/Classification/ID", "6109999999"),
    "TAR-TT": (f"{_COMMODITY}/Classification/BindingTariffReferenceID", "99"),
    "TAR-ORG": (f"{_COMMODITY}/Classification/BindingTariffReferenceID", "10"),
    "AMT-FX": (f"{_GOODS}/CurrencyExchange/RateNumeric", "1.50"),
    "AMT-FXD": (f"{_GOODS}/ExitDateTime", None),
    "AMT-VFD": (f"{_COMMODITY}/CustomsValueAmount", "810.00"),
    "AMT-RATE": (f"{_COMMODITY}/DutyTaxFee[TypeCode='CUD']/TaxRateNumeric", "8"),
    "AMT-DUTY": (f"{_COMMODITY}/DutyTaxFee[TypeCode='CUD']/Payment/TaxAssessedAmount", "150.00"),
    "AMT-EXC": (f"{_COMMODITY}/DutyTaxFee[TypeCode='EXC']/Payment/TaxAssessedAmount", "100.00"),
    "AMT-VFT": (f"{_COMMODITY}/DutyTaxFee[TypeCode='GST']/DutyTaxFeeAssessmentBasis/AdValoremTaxBaseAmount", "810.00"),
    "AMT-GST": (f"{_COMMODITY}/DutyTaxFee[TypeCode='GST']/Payment/TaxAssessedAmount", "40.50"),
    "AMT-TOT": (f"{_GOODS}/Invoice/TotalAmount", "700.00"),
    "DAT-FUT": ("/Status/ReleaseDateTime", "20250201"),
    "DAT-LATE": ("/Status/ReleaseDateTime", "20250102"),
    "VER-RSN": ("/Amendment", None),
    "VER-ORIG": ("/VersionID", "00002"),
    "VER-DUP": ("/ID", "10207000300014"),
    "VER-UNK": ("/ID", "10207000800019"),
    "VER-CNCL": ("/ID", "10207000600017"),
    "VER-NEXT": ("/VersionID", "00003"),
    "VER-ADJ": ("/FunctionCode", "4"),
    "DLG-ACT": ("/Declarant/ID", "100000009RM0001"),
    "AMT-SPU": (f"{_COMMODITY}/GoodsMeasure/TariffQuantity/@unitCode", "NMB"),
    "AMT-XCD": (f"{_COMMODITY}/DutyTaxFee[TypeCode='XCD'][1]/Payment/TaxAssessedAmount", "563.00"),
    "AMT-SUR": (f"{_COMMODITY}/DutyTaxFee[TypeCode='SUR']/IndicatorCode", None),
    "AMT-GSC": (f"{_COMMODITY}/DutyTaxFee[TypeCode='GST']/DutyRegimeCode", "ZZ9"),
}
"""Every rule can be written in CAD-IN: none is left out (the payment rules judge payments, not
declarations, and have no CAD-IN). Read off the failing twins by hand."""


def _without_namespace(data: bytes) -> etree._ElementTree:
    """The CAD-IN file with its elements out of the namespace, so that the XPaths of the findings
    (written without prefixes) can be evaluated on it."""
    root = etree.fromstring(data)
    for element in root.iter(etree.Element):
        element.tag = etree.QName(element).localname
    etree.cleanup_namespaces(root)
    return root.getroottree()


def test_every_rule_has_its_cadin_position() -> None:
    assert sorted(CADIN_POSITIONS) == sorted(RULE_IDS)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_cadin_twins_read_to_the_cusdec_declarations_and_get_the_same_verdicts(rule_id: str) -> None:
    """The twins were written once from the CUSDEC fixtures with the project's CAD-IN writer
    (``cadin_document([d], f"APP-{RULE}-{KIND}", [(d.declarant.account, "AK"), (d.importer.account,
    "HN")])``, indented, a comment naming the CUSDEC file; TAR-TT, TAR-ORG, ID-TXN and TAR-HS in
    the one-invoice shape, the currency on the Declaration). Rewrite a twin when its CUSDEC fixture
    changes: the first assertion fails until then."""
    wanted = EXPECTED["rules"][rule_id]
    context = fixture_context()
    for kind in fixture_kinds(rule_id):
        root = etree.fromstring(cadin_twin(wanted[kind]).read_bytes())
        [element] = root.iterfind(f"{{{NAMESPACE}}}Declaration")
        assert map_cad_declaration(element).declaration == declaration_of(wanted[kind]), kind

    passing = check_stream(
        io.BytesIO(cadin_twin(wanted["pass"]).read_bytes()), "pass.xml", FlowOptions(rules_context=context)
    )
    assert passing.accepted and passing.all_errors() == []

    data = cadin_twin(wanted["fail"]).read_bytes()
    sink = MemorySink()
    failing = check_stream(io.BytesIO(data), "fail.xml", FlowOptions(sink=sink, rules_context=context))
    [finding] = failing.all_errors()
    relative, value = CADIN_POSITIONS[rule_id]
    xpath = "/DocumentMetaData/Declaration[1]" + relative
    assert (finding.code, finding.severity, finding.location.field) == (
        rule_id,
        rule(rule_id).severity,
        wanted["pointer"],
    )
    assert finding.location.xpath == xpath
    # the XPath selects the offending element of the file, and the finding gives its line
    document = _without_namespace(data)
    if value is None:
        assert document.xpath(xpath) == []
        present = xpath.rpartition("/")[0]
        while not document.xpath(present):  # AMT-SUR: the whole surtax DutyTaxFee is missing
            present = present.rpartition("/")[0]
        [element] = document.xpath(present)
    else:
        [found] = document.xpath(xpath)
        element = found.getparent() if isinstance(found, str) else found  # an attribute: its element
        assert (found if isinstance(found, str) else found.text) == value
    assert finding.location.line == element.sourceline
    assert failing.accepted is (rule(rule_id).severity is Severity.WARNING)  # warnings never reject
    [response] = read_cadout(sink.files["fail.xml.cadout.xml"])
    warning = rule(rule_id).severity is Severity.WARNING
    assert response["status"] == ("200" if warning else "41")
    # an error is an Error, a warning an AdditionalInformation: each with the same pointer and line
    listed = response.get("warnings", []) if warning else response["errors"]
    assert [(e["code"], e["pointer"], e["line"]) for e in listed] == [(rule_id, xpath, element.sourceline)]
    if warning:
        assert response["errors"] == []
    else:
        assert "warnings" not in response


class _MemorySink:
    def __init__(self) -> None:
        self.files: dict[str, io.BytesIO] = {}

    @contextmanager
    def open(self, name: str) -> Iterator[io.BytesIO]:
        buffer = self.files.setdefault(name, io.BytesIO())
        yield buffer


@pytest.mark.parametrize("rule_id", [r.rule_id for r in RULES if r.severity is Severity.ERROR])
def test_error_rules_reject_in_cusres_with_the_rule_id_and_pointer(rule_id: str) -> None:
    wanted = EXPECTED["rules"][rule_id]
    sink = _MemorySink()
    check_file(wanted["fail"], FlowOptions(sink=sink, rules_context=fixture_context()))
    [[cusres]] = read_cusres(sink.files[f"{wanted['fail']}.cusres.edi"].getvalue())
    assert (cusres["status"], cusres["response"]) == ("41", "RE")
    assert [(error["code"], error["pointer"]) for error in cusres["errors"]] == [(rule_id, wanted["pointer"])]


@pytest.mark.parametrize("rule_id", [r.rule_id for r in RULES if r.severity is Severity.WARNING])
def test_warnings_do_not_reject_through_the_flow(rule_id: str) -> None:
    assert check_file(EXPECTED["rules"][rule_id]["fail"]).accepted


# the issue's four cases ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "phrase"),
    [
        ("AMT-GST", "computed on the value for duty 810.00; GST is 5 % of the value for tax 955.80"),
        ("TAR-HS", "HS code 6109999999 is not in the loaded tariff excerpt (version 2025.1-illustrative)"),
        ("DLG-ACT", "holds no active delegation from importer 123456782RM0001"),
        ("VER-ADJ", "after the payment due date 2024-11-29"),
    ],
)
def test_issue_cases_say_exactly_what_is_wrong(rule_id: str, phrase: str) -> None:
    [violation] = check_declaration(declaration_of(EXPECTED["rules"][rule_id]["fail"]), fixture_context())
    assert violation.severity is Severity.ERROR
    assert phrase in violation.message


# contexts ----------------------------------------------------------------------------------


def test_without_context_only_errors_and_no_portal_prechecks() -> None:
    """check_declaration(declaration): what the flows got before contexts existed."""
    failing = {rule_id: declaration_of(item["fail"]) for rule_id, item in EXPECTED["rules"].items()}
    found = {rule_id: [v.rule_id for v in check_declaration(d)] for rule_id, d in failing.items()}
    skipped = {r.rule_id for r in RULES if r.severity is Severity.WARNING or r.portal_code or r.needs}
    # DAT-FUT's fixture (released 2025-02-01) is only "in the future" for the fixtures' today
    assert {rule_id for rule_id, ids in found.items() if not ids} == skipped | {"DAT-FUT"}
    assert all(ids == [rule_id] for rule_id, ids in found.items() if ids)
    assert {"TAR-HS", "TAR-TT", "DLG-ACT", "VER-ADJ", "AMT-TOT", "DAT-LATE"} <= skipped


def test_portal_prechecks_and_warnings_can_be_switched_off() -> None:
    tar_hs = declaration_of(EXPECTED["rules"]["TAR-HS"]["fail"])
    assert check_declaration(tar_hs, fixture_context(portal_prechecks=False)) == []
    late = declaration_of(EXPECTED["rules"]["DAT-LATE"]["fail"])
    assert check_declaration(late, fixture_context(warnings=False)) == []


def test_unavailable_lookup_skips_its_rule() -> None:
    def down(*_: str) -> bool:
        raise ContextUnavailable("portal unreachable")

    declaration = declaration_of(EXPECTED["rules"]["DLG-ACT"]["fail"])
    assert check_declaration(declaration, fixture_context(delegation=down)) == []


def test_late_accounting_warning_gives_the_due_date() -> None:
    [violation] = check_declaration(declaration_of(EXPECTED["rules"]["DAT-LATE"]["fail"]), fixture_context())
    assert violation.severity is Severity.WARNING
    assert "was due on 2025-01-09" in violation.message


def _late_accounting(declaration: Declaration, today: dt.date, reference: ReferenceData) -> list[str]:
    return [v.message for v in check_declaration(declaration, fixture_context(today=today, reference=reference))]


def test_late_accounting_exceptions() -> None:
    """DAT-LATE's fixture (released Thu 2025-01-02, filed 2025-01-16) is late by the 5-business-day
    rule (due 2025-01-09), not as a courier low-value shipment (due 2025-02-24, the 24th of the next
    month) nor from a CSA importer (due 2025-01-31, the 10th weekday after the period's 17th)."""
    late = declaration_of(EXPECTED["rules"]["DAT-LATE"]["fail"])
    shipped = default_reference()
    assert shipped.courier_low_value_types == {"F"} and shipped.csa_importers == {"876543216"}
    courier = late.model_copy(update={"type_code": "F"})
    csa = replace(shipped, csa_importers=frozenset({"123456782"}))  # the fixture's importer
    assert _late_accounting(courier, dt.date(2025, 1, 16), shipped) == []
    assert _late_accounting(courier, dt.date(2025, 2, 24), shipped) == []
    [message] = _late_accounting(courier, dt.date(2025, 2, 25), shipped)
    assert "was due on 2025-02-24 (the 24th of the month after release for a courier low-value shipment" in message
    assert _late_accounting(late, dt.date(2025, 1, 31), csa) == []
    [message] = _late_accounting(late, dt.date(2025, 2, 3), csa)
    assert "was due on 2025-01-31 (the payment due date of a CSA importer's billing period)" in message
    assert _late_accounting(courier, dt.date(2025, 2, 24), csa) == []  # s.10.31: the later of the two
    [message] = _late_accounting(late, dt.date(2025, 1, 10), shipped)
    assert "was due on 2025-01-09 (5 business days after release)" in message


def test_reason_codes_come_from_d17_2_1_appendix_a() -> None:
    """VER-RSN's passing fixture carries R2-74-1-C11 (Bulletin 5412); an unknown code and a code
    reserved to CBSA are refused at amendment.reason_code."""
    passing = declaration_of(EXPECTED["rules"]["VER-RSN"]["pass"])
    assert passing.amendment is not None and passing.amendment.reason_code == "R2-74-1-C11"
    assert [v for v in check_declaration(passing, fixture_context()) if v.rule_id == "VER-RSN"] == []
    assert default_reference().reason_codes["X-CBSA-RESERVED"] == "cbsa"

    def findings(code: str) -> list[tuple[str, str | None, str]]:
        amendment = passing.amendment.model_copy(update={"reason_code": code})  # type: ignore[union-attr]
        changed = passing.model_copy(update={"amendment": amendment})
        return [
            (v.rule_id, v.pointer, v.message)
            for v in check_declaration(changed, fixture_context())
            if v.rule_id == "VER-RSN"
        ]

    assert findings("R3-32.2.VFD") == []
    [(_, pointer, message)] = findings("WHATEVER")
    assert pointer == "amendment.reason_code"
    assert (
        message == "reason code 'WHATEVER' is not a D17-2-1 Appendix A reason code (not in the loaded reason_codes.csv)"
    )
    [(_, pointer, message)] = findings("X-CBSA-RESERVED")
    assert pointer == "amendment.reason_code"
    assert "reserved to CBSA" in message


def test_importer_filing_for_itself_needs_no_delegation() -> None:
    declaration = declaration_of(EXPECTED["rules"]["DLG-ACT"]["pass"])
    own = declaration.model_copy(update={"declarant": declaration.importer})
    assert check_declaration(own, fixture_context(delegation=lambda *_: False)) == []


# deadlines ---------------------------------------------------------------------------------


def test_deadlines() -> None:
    ref = default_reference()
    assert accounting_due_date(dt.date(2025, 1, 15), ref) == dt.date(2025, 1, 22)
    assert accounting_due_date(dt.date(2024, 12, 23), ref) == dt.date(2025, 1, 2)  # 25, 26 Dec and 1 Jan are holidays
    assert billing_period_end(dt.date(2025, 1, 17)) == dt.date(2025, 1, 17)
    assert billing_period_end(dt.date(2025, 1, 18)) == dt.date(2025, 2, 17)
    assert billing_period_end(dt.date(2024, 12, 20)) == dt.date(2025, 1, 17)
    assert payment_due_date(dt.date(2025, 1, 15), ref) == dt.date(2025, 1, 31)
    assert payment_due_date(dt.date(2024, 10, 25), ref) == dt.date(2024, 11, 29)


def test_correction_on_the_due_date_is_still_a_correction() -> None:
    declaration = declaration_of(EXPECTED["rules"]["VER-ADJ"]["fail"])
    assert check_declaration(declaration, fixture_context(today=dt.date(2024, 11, 29))) == []
    assert [v.rule_id for v in check_declaration(declaration, fixture_context(today=dt.date(2024, 12, 2)))] == [
        "VER-ADJ"
    ]


# reference data ----------------------------------------------------------------------------


def test_reference_data_shipped_subsets() -> None:
    ref = default_reference()
    assert "XK" in ref.countries and "CA" in ref.countries and "EU" not in ref.countries
    assert {"CAD", "USD", "EUR"} <= set(ref.currencies)
    assert {"KGM", "NMB", "PR"} <= set(ref.units)
    assert "0497" in ref.offices
    assert {"2", "10", "11", "31", "32", "33", "34"} <= set(ref.treatments)
    assert ref.exchange_rates.rate("USD", dt.date(2025, 1, 15)) == Decimal("1.35")
    assert ref.exchange_rates.rate("USD", dt.date(2025, 3, 1)) == Decimal("1.43")
    assert ref.exchange_rates.rate("USD", dt.date(2023, 12, 31)) is None
    assert ref.exchange_rates.rate("CAD", dt.date(2000, 1, 1)) == Decimal("1")
    assert ref.treatment("02") is ref.treatment("2")
    assert ref.treatment("10").allows("US") and not ref.treatment("10").allows("CN")
    assert ref.treatment("2").allows("CN")
    # every subset says it is illustrative; the billing calendar is the regulation's, not a subset
    versions = dict(ref.versions)
    assert versions.pop("billing_calendar.csv") == "2024.10-SOR-2024-41"
    assert all(version and "illustrative" in version for version in versions.values())


def test_reference_data_loads_from_another_directory(tmp_path: Path) -> None:
    """The loader takes any directory: a full extract replaces the shipped subsets."""
    extract = tmp_path / "extract"
    shutil.copytree(DEFAULT_DIRECTORY, extract)
    offices = extract / "offices.csv"
    offices.write_text(
        "# reference-version: 2026.2-full\ncode,name\n0497,Toronto\n9999,Test office\n", encoding="utf-8"
    )
    ref = ReferenceData.load(extract)
    assert ref.versions["offices.csv"] == "2026.2-full"
    declaration = declaration_of(EXPECTED["rules"]["ID-OFF"]["fail"])
    assert check_declaration(declaration, fixture_context(reference=ref)) == []


def test_reference_table_with_wrong_columns_is_refused(tmp_path: Path) -> None:
    extract = tmp_path / "bad"
    shutil.copytree(DEFAULT_DIRECTORY, extract)
    (extract / "units.csv").write_text("unit,label\nKGM,kilogram\n", encoding="utf-8")
    with pytest.raises(ValueError, match="columns must be code,name"):
        ReferenceData.load(extract)


@pytest.mark.parametrize(
    ("rule_id", "xpath"),
    [
        (
            "AMT-GST",
            "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]/DutyTaxFee[TypeCode='GST']/Payment/TaxAssessedAmount",
        ),
        (
            "TAR-HS",
            "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]/Classification/ID",
        ),
        ("DLG-ACT", "/DocumentMetaData/Declaration[1]/Declarant/ID"),
        ("VER-ADJ", "/DocumentMetaData/Declaration[1]/FunctionCode"),
    ],
)
def test_issue_cases_in_the_xml_channel_point_at_the_xpath(rule_id: str, xpath: str) -> None:
    """The same declaration as a CAD-IN file through the XML flow: rejected in its
    CAD-OUT (schema-valid) with the same rule id, the pointer as an XPath."""
    from gateway.flows.cadxml import XmlFlow
    from mappings.cadxml_declaration import cadin_document
    from tests.xml_helpers import MemorySink, read_cadout

    declaration = declaration_of(EXPECTED["rules"][rule_id]["fail"])
    senders = [(declaration.declarant.account, "AK"), (declaration.importer.account, "HN")]
    document = cadin_document([declaration], "APP-" + rule_id, senders)
    sink = MemorySink()
    report = XmlFlow("case.xml", FlowOptions(sink=sink, rules_context=fixture_context())).run(io.BytesIO(document))
    assert report.accepted is False
    [response] = read_cadout(sink.files["case.xml.cadout.xml"])
    assert response["status"] == "41"
    assert [(e["code"], e["pointer"]) for e in response["errors"]] == [(rule_id, xpath)]
