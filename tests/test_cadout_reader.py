"""Reading CAD-OUT back (mappings/cadout_reader.py) and CARM's pointers back to domain paths
(``XmlGuide.path_of``, ``domain_pointer``): the inverses of the CAD-OUT writer and of the guide's XPaths."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest

from domain.outcome import AssessedLine, DeclarationOutcome, OutcomeStatus, PortalError
from mappings.cadin_guide import CADIN
from mappings.cadout import CadOutError, CadOutResponse, write_cadout
from mappings.cadout_reader import CadOutUnreadable, read_cadout
from mappings.cadxml_declaration import domain_pointer

ISSUED = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


def _concrete(generic: str) -> str:
    """``invoices[].lines[].hs_code`` → ``invoices[1].lines[2].hs_code`` (second item of each list)."""
    return re.sub(r"\[\]", "[1]", generic)


@pytest.mark.parametrize("generic", [p for p in CADIN.fields() if p and p + "[]" not in CADIN.fields()])
def test_every_bound_xpath_reads_back_as_its_domain_path(generic: str) -> None:
    path = _concrete(generic).removesuffix("[1]") + ("[1]" if generic.endswith("[]") else "")
    assert CADIN.path_of(CADIN.xpath_of(path)) == path


def test_carm_pointers_from_the_document_or_the_declaration() -> None:
    commodity = "GoodsShipment[2]/GovernmentAgencyGoodsItem/Commodity[2]/Classification/ID"
    starts = (0, 3)  # invoice 1 holds lines 0-2: invoice 2's second line is lines[4]
    assert domain_pointer(f"DocumentMetaData/Declaration/{commodity}", starts) == "lines[4].hs_code"
    assert domain_pointer(f"/DocumentMetaData/Declaration[1]/{commodity}", starts) == "lines[4].hs_code"
    assert domain_pointer(f"/{commodity}", starts) == "lines[4].hs_code"
    assert domain_pointer("/DocumentMetaData/Declaration[1]/Declarant/ID") == "declarant.account"
    assert domain_pointer("/DocumentMetaData/CommunicationMetaData/Sender[2]/ID") is None  # the header
    assert domain_pointer("/DocumentMetaData/Declaration[1]/NoSuchElement") is None


def test_an_accepted_answer_reads_back_whole() -> None:
    line = AssessedLine(
        line_number=1, value_for_duty=Decimal("810.00"), customs_duty=Decimal("150.80"),
        excise_tax=Decimal("0.00"), value_for_tax=Decimal("987.60"), gst=Decimal("49.38"),
        specific_duty=Decimal("5.00"), specific_rate=Decimal("0.05"), specific_unit="NMB",
        anti_dumping_duty=Decimal("12.00"), surtax=Decimal("20.80"), surtax_code="S1", gst_status_code="STD",
    )  # fmt: skip
    # Totals by hand: duty 150.80, anti-dumping 12.00, surtax 20.80, GST 49.38 → 232.98 due.
    outcome = DeclarationOutcome(
        transaction_number="10207003000585", version=3, status=OutcomeStatus.ACCEPTED, received_at=ISSUED,
        lines=[line], total_duty=Decimal("150.80"), total_anti_dumping=Decimal("12.00"),
        total_surtax=Decimal("20.80"), total_gst=Decimal("49.38"),
    )  # fmt: skip
    out = io.BytesIO()
    response = CadOutResponse("40", [], 1, "10207003000585", "00003", "REF-1", outcome)
    write_cadout(out, [response], sender_id="CARMGW", application_reference=None, issued=ISSUED)
    [answer] = read_cadout(out.getvalue())
    assert (answer.status, answer.transaction_number, answer.version) == ("40", "10207003000585", 3)
    read = answer.outcome("10207003000585", 3)
    assert read == outcome
    assert read.total_due == Decimal("232.98")


def test_a_rejection_reads_its_codes_and_pointers() -> None:
    errors = [
        CadOutError("P201", "The HS code is not in the tariff",
                    "/DocumentMetaData/Declaration[1]/GoodsShipment[1]/GovernmentAgencyGoodsItem/Commodity[2]/Classification/ID"),
        CadOutError("69", "Sender ID inconsistent", "/DocumentMetaData/CommunicationMetaData/Sender[2]/ID"),
    ]  # fmt: skip
    out = io.BytesIO()
    write_cadout(out, [CadOutResponse("41", errors, 1, "10207003000585", "00001")], sender_id="X",
                 application_reference=None, issued=ISSUED)  # fmt: skip
    [answer] = read_cadout(out.getvalue())
    outcome = answer.outcome("10207003000585", 1)
    assert outcome.status is OutcomeStatus.REJECTED
    assert outcome.errors == [
        PortalError(code="P201", message="The HS code is not in the tariff", pointer="lines[1].hs_code"),
        PortalError(code="69", message="Sender ID inconsistent", pointer=None),
    ]
    assert (outcome.lines, outcome.total_due) == ([], Decimal("0.00"))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not xml", "not well-formed"),
        (b"<a/>", "root element is a, not"),
        (b'<DocumentMetaData xmlns="urn:wco:datamodel:WCO:Declaration:1"/>', "no Response"),
        (b'<DocumentMetaData xmlns="urn:wco:datamodel:WCO:Declaration:1"><Response/></DocumentMetaData>', "no Status"),
    ],
)
def test_what_is_not_a_cad_out_is_said_so(body: bytes, says: str) -> None:
    with pytest.raises(CadOutUnreadable, match=says):
        read_cadout(body)


def test_a_status_carm_never_sends_is_unreadable() -> None:
    out = io.BytesIO()
    write_cadout(out, [CadOutResponse("505", [])], sender_id="X", application_reference=None, issued=ISSUED)
    [answer] = read_cadout(out.getvalue())
    with pytest.raises(CadOutUnreadable, match="'505' is not a CARM status"):
        answer.outcome("10207003000585", 1)
