"""Tariff treatments a broker can trust (issue 16): the treatment list and who may claim each
(fixtures/reference/tariff_treatments.csv), TAR-TT and TAR-ORG through CUSDEC and CAD-IN (every
rule's pass and fail fixtures in both formats: tests/test_rules.py), the messages of TAR-TT, TAR-ORG, ID-TXN and TAR-HS, and `carm-edi check` / `estimate` on the issue's
v03 cases. Expected codes, positions and amounts are worked out by hand from the fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from diagnostics import Severity
from duties.tariff import Tariff
from gateway.flows.contract import FlowOptions
from portal.assessment import assess
from tests.ack_reader import read_cusres
from tests.edifact_helpers import FIXTURES
from tests.test_rules import EXPECTED, check_file, declaration_of, fixture_context
from tests.xml_helpers import MemorySink
from validators.reference_data import DEFAULT_DIRECTORY, ReferenceData, default_reference
from validators.rules import RULES, check_declaration
from validators.rules.payments import PAYMENT_RULES

RULE_FIXTURES = FIXTURES / "rules"
ORIGIN = RULE_FIXTURES / "origin"
CLI = [sys.executable, "-m", "gateway.cli"]
COMMODITY_1 = "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[1]"


def cli(*args: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


# the treatment list -------------------------------------------------------------------------


def test_current_treatment_codes_with_their_names() -> None:
    ref = default_reference()
    labels = {code: (info.label, info.name) for code, info in ref.treatments.items()}
    assert labels["2"] == ("MFN (02)", "Most-Favoured-Nation Tariff")
    assert labels["10"] == ("UST (10)", "United States Tariff")
    assert labels["11"] == ("MXT (11)", "Mexico Tariff")
    assert labels["31"] == ("CEUT (31)", "Canada-European Union Tariff")  # not "CETA"
    assert labels["32"] == ("UAT (32)", "Ukraine Tariff")
    assert labels["33"] == ("CPTPT (33)", "Comprehensive and Progressive Trans-Pacific Partnership Tariff")
    assert labels["34"] == ("UKT (34)", "United Kingdom Tariff")
    assert ref.treatment("02") is ref.treatment("2") and ref.treatment("CETA") is None
    assert all(info.source for info in ref.treatments.values())


def test_eligibility_is_reference_data() -> None:
    ref = default_reference()

    def may_claim(country: str) -> list[str]:
        return [info.abbreviation for info in ref.treatments_for(country)]

    assert may_claim("CN") == ["MFN"]  # GPT withdrawn from China in 2015
    assert may_claim("US") == ["MFN", "UST", "MUST"]
    assert may_claim("MX") == ["MFN", "MXT", "MUST", "CPTPT"]
    assert may_claim("UA") == ["MFN", "UAT"]
    assert may_claim("DE") == ["MFN", "CEUT"]
    assert may_claim("GB") == ["MFN", "UKT"]  # not CEUT since 2021 (CN 21-07)
    assert may_claim("JE") == ["MFN", "UKT"]  # the Channel Islands (CN 21-06)
    assert may_claim("JP") == ["MFN", "CPTPT"]
    assert may_claim("KP") == ["GT"]  # the General Tariff's country gets no MFN
    assert ref.default_treatment("CN").abbreviation == "MFN"
    assert ref.default_treatment("KP").abbreviation == "GT"
    assert "illustrative subset" in ref.treatment("9").describe_origins()


def test_every_origin_of_the_treatment_list_is_a_known_country() -> None:
    ref = default_reference()
    for info in ref.treatments.values():
        assert (info.origins or frozenset()) | info.excluded <= set(ref.countries), info.label


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('CETA,CEUT,Canada-European Union Tariff,DE,false,"x"', "is not digits"),
        ("35,XT,X Tariff,de,false,x", "ISO 3166 alpha-2"),
        ("35,XT,X Tariff,* DE,false,x", "only exclusions"),
        ("35,XT,X Tariff,DE,maybe,x", "subset must be true or false"),
        ("02,MFN,Most-Favoured-Nation Tariff,*,false,x", "listed twice"),
    ],
)
def test_a_bad_treatment_row_is_refused_with_its_line(tmp_path: Path, row: str, problem: str) -> None:
    extract = tmp_path / "extract"
    shutil.copytree(DEFAULT_DIRECTORY, extract)
    table = extract / "tariff_treatments.csv"
    table.write_text(table.read_text(encoding="utf-8") + row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as raised:
        ReferenceData.load(extract)
    assert f"tariff_treatments.csv:{len(table.read_text().splitlines())}" in str(raised.value)


def test_the_portal_knows_the_same_treatments() -> None:
    """P202 reads the same list: UAT (32) assesses, 99 is refused."""
    tariff = Tariff.load(DEFAULT_DIRECTORY / "tariff.csv")
    assert assess(declaration_of("tar-tt_pass.edi"), tariff).errors == []
    [error] = assess(declaration_of("tar-tt_fail.edi"), tariff).errors
    assert error.code == "P202"


def test_every_rule_names_its_public_source_in_docs_rules_md() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text(encoding="utf-8")
    for rule in (*RULES, *PAYMENT_RULES):
        assert rule.source, rule.rule_id
        [row] = [line for line in docs.splitlines() if line.startswith(f"| `{rule.rule_id}` |")]
        assert row.endswith(f"| {rule.source} |")
    assert "| UKT (34) | United Kingdom Tariff | GB GG GI IM JE |" in docs


# messages a broker can act on -----------------------------------------------------------------


def test_refused_treatment_lists_every_accepted_code_with_its_name() -> None:
    [violation] = check_declaration(declaration_of("tar-tt_fail.edi"), fixture_context())
    assert violation.message.startswith("line 1: tariff treatment 99 is not a treatment code; accepted: MFN (02), ")
    for label in ("GT (03)", "UST (10)", "MXT (11)", "CEUT (31)", "UAT (32)", "CPTPT (33)", "UKT (34)"):
        assert label in violation.message
    # the whole list reaches the CUSRES (FTX: five 70-character components)
    sink = MemorySink()
    check_file("tar-tt_fail.edi", FlowOptions(sink=sink, rules_context=fixture_context()))
    [[cusres]] = read_cusres(sink.files["tar-tt_fail.edi.cusres.edi"])
    [error] = cusres["errors"]
    assert error["message"].endswith("CPTPT (33), UKT (34)")


def test_origin_not_entitled_names_the_treatment_and_what_the_origin_may_claim() -> None:
    [violation] = check_declaration(declaration_of("tar-org_fail.edi"), fixture_context())
    assert violation.severity is Severity.ERROR
    assert violation.message == (
        "line 1: UST (10) United States Tariff does not apply to goods originating in CN (it applies to PR US); "
        "goods from CN may claim: MFN (02)"
    )


def test_origin_rule_rejects_without_a_context_too() -> None:
    """TAR-ORG is an error the portal does not make: every flow rejects on it before posting."""
    assert [v.rule_id for v in check_declaration(declaration_of("tar-org_fail.edi"))] == ["TAR-ORG"]


def test_transaction_number_message_gives_the_expected_check_digit() -> None:
    # 1020700030002: the digits at odd positions are all 0; 1+2+7+0+3+0+2 = 15, check digit 5
    [violation] = check_declaration(declaration_of("id-txn_fail.edi"), fixture_context())
    assert violation.message == (
        "transaction number 10207000300026 fails its check digit: the last digit is 6, expected 5 (10207000300025)"
    )


def test_amount_rules_name_the_treatment_by_name_and_code() -> None:
    [violation] = check_declaration(declaration_of(EXPECTED["rules"]["AMT-RATE"]["fail"]), fixture_context())
    assert "under MFN (02)" in violation.message


def _reference_with_tariff(tmp_path: Path, header: str, rows: str = "") -> ReferenceData:
    extract = tmp_path / "extract"
    shutil.copytree(DEFAULT_DIRECTORY, extract)
    tariff = extract / "tariff.csv"
    lines = tariff.read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if not line.startswith("#")]
    tariff.write_text(header + "\n".join(body) + "\n" + rows, encoding="utf-8")
    return ReferenceData.load(extract)


def test_unknown_hs_code_says_excerpt_or_tariff_and_the_version(tmp_path: Path) -> None:
    declaration = declaration_of("tar-hs_fail.edi")
    [excerpt] = check_declaration(declaration, fixture_context())
    assert "HS code 6109999999 is not in the loaded tariff excerpt (version 2025.1-illustrative)" in excerpt.message
    assert "check the code against the Customs Tariff or load a full extract" in excerpt.message
    full = _reference_with_tariff(tmp_path, "# tariff-version: 2026.1-full\n# tariff-scope: full\n")
    [whole] = check_declaration(declaration, fixture_context(reference=full))
    assert whole.message == "line 1: HS code 6109999999 is not in the tariff (version 2026.1-full)"


def test_hs_code_listed_only_from_a_later_date_says_so(tmp_path: Path) -> None:
    later = _reference_with_tariff(
        tmp_path,
        "# tariff-version: 2026.1-full\n# tariff-scope: full\n",
        '6109999999,*,"T-shirts, other",NMB,18,0,false,2026-01-01\n',
    )
    [violation] = check_declaration(declaration_of("tar-hs_fail.edi"), fixture_context(reference=later))
    assert violation.message == (
        "line 1: HS code 6109999999 has no row in force on the release date 2025-01-15 in the tariff "
        "(version 2026.1-full); its rows apply from 2026-01-01"
    )


def test_unknown_tariff_scope_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tariff-scope must be one of excerpt, full"):
        _reference_with_tariff(tmp_path, "# tariff-scope: partial\n")


# the v03 cases through `carm-edi check` and `carm-edi estimate` ---------------------------


@pytest.mark.parametrize("name", ["v03_uat_ukraine.edi", "v03_uat_ukraine.xml"])
def test_ukrainian_goods_under_uat_are_accepted(name: str) -> None:
    code, answer = cli("check", "--json", str(ORIGIN / name))
    assert code == 0 and answer["accepted"] is True
    [document] = answer["documents"]
    assert document["status"] == "accepted"
    assert [e["code"] for e in document["errors"] if e["severity"] == "error"] == []


@pytest.mark.parametrize(
    ("name", "position"),
    [
        ("v03_ust_china.edi", {"tag": "CST", "segment": 15, "element": 3, "component": 1}),
        ("v03_ust_china.xml", {"xpath": f"{COMMODITY_1}/Classification/BindingTariffReferenceID"}),
    ],
)
def test_chinese_goods_under_ust_are_rejected_by_tar_org(name: str, position: dict[str, Any]) -> None:
    code, answer = cli("check", "--json", str(ORIGIN / name))
    assert code == 1 and answer["accepted"] is False
    [document] = answer["documents"]
    assert document["status"] == "rejected"
    [error] = [e for e in document["errors"] if e["severity"] == "error"]
    assert (error["code"], error["location"]["field"]) == ("TAR-ORG", "lines[0].tariff_treatment")
    assert {key: error["location"].get(key) for key in position} == position
    assert "UST (10) United States Tariff does not apply to goods originating in CN" in error["message"]
    assert error["message"].endswith("goods from CN may claim: MFN (02)")


def test_estimate_shows_the_duty_chinese_goods_owe() -> None:
    """Line 1: 600.00 USD × 1.35 = 810.00 CAD; under MFN 18 % → duty 145.80, VFT 955.80, GST 47.79."""
    code, body = cli("estimate", "--json", str(ORIGIN / "v03_ust_china.edi"))
    assert code == 1 and body["clean"] is False
    [declaration] = body["declarations"]
    line = declaration["lines"][0]
    assert line["tariff_treatment"] == "10"
    assert line["problem"] == "UST (10) does not apply to goods originating in CN: computed under MFN (02)"
    assert (line["declared"]["customs_duty"], line["computed"]["customs_duty"]) == ("0.00", "145.80")
    assert (line["declared"]["gst"], line["computed"]["gst"]) == ("40.50", "47.79")
    assert line["differences"] == ["customs_duty", "value_for_tax", "gst"]
    # totals as for v03 itself (fixtures/cusdec/expected.json): duty 145.80, excise 162.00, GST 298.89
    assert declaration["totals"]["customs_duty"] == {"declared": "0.00", "computed": "145.80"}
    assert declaration["totals"]["total_due"] == {"computed": "606.69"}


def test_estimate_flags_an_unknown_treatment_code() -> None:
    code, body = cli("estimate", "--json", str(RULE_FIXTURES / "tar-tt_fail.edi"))
    assert code == 1 and body["clean"] is False
    [line] = body["declarations"][0]["lines"]
    assert line["problem"] == "tariff treatment 99 is not a treatment code: computed at the tariff's default rate"
    assert line["computed"]["customs_duty"] == "145.80"  # 6109100010's default row: 18 % of 810.00


def test_estimate_of_the_entitled_claim_is_clean() -> None:
    code, body = cli("estimate", "--json", str(ORIGIN / "v03_uat_ukraine.edi"))
    assert code == 0 and body["clean"] is True
    assert [line["problem"] for line in body["declarations"][0]["lines"]] == [None] * 4
