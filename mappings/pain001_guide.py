"""Our pain.001 guide (ISO 20022 customer credit transfer initiation, version 09
and later), as data: the elements the gateway reads, where they stand.

No XSD is shipped for pain.001, so the guide does not mirror one: it lists the
elements ``mappings.pain001_payment`` needs, in the order of the ISO message
definition. An element that occurs once there is read once: where a file
repeats it, the first counts (``repeat=1``). The namespace carries the
message version (``urn:iso:std:iso:20022:tech:xsd:pain.001.001.NN``):
``pain001_guide`` gives the guide for one. What the fields become (one
``Payment`` per ``CdtTrfTxInf``, with its ``PmtInf``'s payer and date, the
remittance items) is ``mappings.pain001_payment``'s work; docs/formats/payments.md
shows the table generated from this guide.
"""

from __future__ import annotations

import dataclasses
from functools import cache

from mappings.xml_guide import STRIPPED, TEXT, Attribute, Element, XmlGuide


def _once(
    name: str, path: str = "", *children: Element, target: str = "", note: str = "", status: str = "C"
) -> Element:
    """An element the message definition has once (the first one is read)."""
    codec = STRIPPED if path else TEXT
    return Element(name, path, codec, children=children, target=target, repeat=1, note=note, status=status)


def _amount(name: str, target: str, note: str, *attributes: Attribute) -> Element:
    """An amount kept as written (the mapper says what is wrong with it), in an object of its own:
    whether the element is there matters apart from its text."""
    return Element(name, "text", TEXT, target=target, attributes=attributes, repeat=1, status="M", note=note)


_REMITTANCE = _once(
    "RmtInf",
    "",
    Element(
        "Ustrd",
        "unstructured[]",
        STRIPPED,
        occurs=999,
        note="joined with spaces; without `Strd`: searched for BN15 RM accounts, transaction numbers, `SOA YYYY-MM`",
    ),
    Element(
        "Strd",
        target="structured[]",
        occurs=999,
        note="one remittance item",
        children=(
            Element(
                "RfrdDocInf",
                target="documents[]",
                occurs=999,
                children=(
                    _once(
                        "Tp",
                        "",
                        _once("CdOrPrtry", "", _once("Prtry", "kind", note="`SOA`: the number is a statement")),
                    ),
                    _once("Nb", "number", note="a transaction number, or a statement (`YYYY-MM`)"),
                ),
            ),
            _once("RfrdDocAmt", "", _amount("RmtdAmt", "remitted", "`remittance[i].amount`")),
            _once(
                "CdtrRefInf",
                "",
                _once("Ref", "account", note="`remittance[i].account`: the BN15 RM account"),
                status="M",
            ),
        ),
    ),
    target="remittance",
)

PAIN001 = XmlGuide(
    name="pain.001",
    namespace="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
    root=Element(
        "Document",
        children=(
            _once(
                "CstmrCdtTrfInitn",
                "",
                _once(
                    "GrpHdr",
                    "",
                    _once(
                        "MsgId",
                        "message_id",
                        status="M",
                        note="`message_id`; a duplicate per initiating party → `PAY-DUPM`",
                    ),
                    _once(
                        "NbOfTxs", "number_of_transactions", status="M", note="= the number of `CdtTrfTxInf` → `PAY-NB`"
                    ),
                    _once("CtrlSum", "control_sum", note="= the sum of `InstdAmt` → `PAY-CTL`"),
                    _once(
                        "InitgPty",
                        "",
                        _once("Nm", "party_name", note="the initiating party when it has no `Id`"),
                        _once(
                            "Id",
                            "",
                            _once("OrgId", "", _once("Othr", "", _once("Id", "party_id", note="the initiating party"))),
                        ),
                    ),
                    target="header",
                    status="M",
                ),
                Element(
                    "PmtInf",
                    target="infos[]",
                    occurs=999,
                    status="M",
                    children=(
                        _once("PmtInfId", "id", note="echoed in pain.002 `OrgnlPmtInfId`"),
                        _once("NbOfTxs", "number_of_transactions", note="= the number of its `CdtTrfTxInf` → `PAY-NB`"),
                        _once("CtrlSum", "control_sum", note="= the sum of its `InstdAmt` → `PAY-CTL`"),
                        _once(
                            "ReqdExctnDt",
                            "",
                            _once("Dt", "date", note="`value_date`"),
                            _once("DtTm", "date_time", note="`value_date`: its date, without `Dt`"),
                            status="M",
                        ),
                        _once("Dbtr", "", _once("Nm", "payer_name", note="`payer_name`")),
                        _once(
                            "DbtrAcct",
                            "",
                            _once(
                                "Id",
                                "",
                                _once("IBAN", "iban", note="`payer_account`"),
                                _once("Othr", "", _once("Id", "other", note="`payer_account` without `IBAN`")),
                            ),
                        ),
                        Element(
                            "CdtTrfTxInf",
                            target="transactions[]",
                            occurs=999,
                            status="M",
                            note="one `Payment`",
                            children=(
                                _once(
                                    "PmtId",
                                    "",
                                    _once(
                                        "EndToEndId",
                                        "end_to_end_reference",
                                        status="M",
                                        note="`end_to_end_reference`; repeated within the file → `PAY-DUPE`",
                                    ),
                                    status="M",
                                ),
                                _once(
                                    "Amt",
                                    "",
                                    _amount(
                                        "InstdAmt",
                                        "instructed",
                                        "`amount` (`EqvtAmt` is not accepted)",
                                        Attribute("Ccy", "currency", TEXT, note="`currency`"),
                                    ),
                                    status="M",
                                ),
                                _REMITTANCE,
                            ),
                        ),
                    ),
                ),
                target="initiation",
                status="M",
            ),
        ),
    ),
)


@cache
def pain001_guide(namespace: str) -> XmlGuide:
    """The guide for the elements of one pain.001 namespace (one message version)."""
    return dataclasses.replace(PAIN001, namespace=namespace)
