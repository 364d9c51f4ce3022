"""pain.002 (customer payment status report, ``pain.002.001.10``) answering one pain.001
(docs/formats/payments.md): the message's status with its reasons in
``OrgnlGrpInfAndSts``, then one ``TxInfAndSts`` per credit transfer in its
``OrgnlPmtInfAndSts``, each with ISO 20022 external status reason codes
(``StsRsnInf/Rsn/Cd``) and our own code and message in ``AddtlInf``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from lxml import etree

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"

# Group status / transaction status (ISO 20022 ExternalPaymentTransactionStatus1Code)
ACCEPTED_SETTLED = "ACSC"  # applied to the account by the portal
ACCEPTED = "ACCP"  # passed every check; not posted (offline check)
PARTIAL = "PART"  # some transactions accepted, some rejected
REJECTED = "RJCT"

# Our finding codes → ISO 20022 ExternalStatusReason1Code
ISO_REASONS: dict[str, str] = {
    "PAY-CTL": "AM10",  # InvalidControlSum
    "PAY-NB": "AM18",  # InvalidNumberOfTransactions
    "PAY-DUPM": "DU01",  # DuplicateMessageID
    "PAY-DUPE": "DU04",  # DuplicateEndToEndID (within the file)
    "P404": "DU04",  # DuplicateEndToEndID (an earlier payment)
    "PAY-CUR": "AM03",  # NotAllowedCurrency
    "P402": "AM03",
    "PAY-AMT": "AM12",  # InvalidAmount
    "P406": "AM12",
    "PAY-SUM": "AM09",  # WrongAmount
    "P403": "AM09",
    "PAY-ACCT": "AC01",  # IncorrectAccountNumber
    "PAY-BN9": "AC01",
    "P407": "AC01",
    "P401": "AC03",  # InvalidCreditorAccountNumber: not an account of the portal
    "PAY-RMT": "NARR",
    "P408": "NARR",
    "PAY-TXN": "NARR",
    "P405": "NARR",
    "PAIN-STR": "FF01",  # InvalidFileFormat
    "PAIN-VER": "FF01",
    "XML-WF": "FF01",
    "XML-DTD": "FF01",
    "XML-ENC": "FF01",
    "XML-SIZE": "FF01",
    "XML-ROOT": "FF01",
    "PAY-NOTP": "NARR",  # not processed because of another transaction / the file
}


def iso_reason(code: str) -> str:
    return ISO_REASONS.get(code, "NARR")


@dataclass(frozen=True)
class Reason:
    code: str  # ours (rule id, portal code, file finding)
    message: str

    @property
    def iso(self) -> str:
        return iso_reason(self.code)


@dataclass
class TransactionStatus:
    payment_information_id: str | None
    end_to_end_reference: str | None
    status: str
    reasons: list[Reason] = field(default_factory=list)


def group_status(statuses: Sequence[str]) -> str:
    if not statuses or all(s == REJECTED for s in statuses):
        return REJECTED
    if any(s == REJECTED for s in statuses):
        return PARTIAL
    return ACCEPTED_SETTLED if all(s == ACCEPTED_SETTLED for s in statuses) else ACCEPTED


def _additional(reason: Reason) -> list[str]:
    """AddtlInf is at most 105 characters: our code, then the message in slices (at most 3)."""
    text = f"{reason.code}: {reason.message}"
    return [text[i : i + 105] for i in range(0, min(len(text), 315), 105)]


def _reasons(parent: etree._Element, reasons: Sequence[Reason]) -> None:
    q = f"{{{NAMESPACE}}}"
    for reason in reasons:
        info = etree.SubElement(parent, q + "StsRsnInf")
        rsn = etree.SubElement(info, q + "Rsn")
        etree.SubElement(rsn, q + "Cd").text = reason.iso
        for text in _additional(reason):
            etree.SubElement(info, q + "AddtlInf").text = text


def pain002_document(
    *,
    message_id: str,
    created: dt.datetime,
    initiating_party: str,
    original_message_id: str | None,
    original_name: str,
    original_count: str | None,
    original_sum: str | None,
    group_reasons: Sequence[Reason],
    transactions: Sequence[TransactionStatus],
) -> etree._Element:
    q = f"{{{NAMESPACE}}}"
    root = etree.Element(q + "Document", nsmap={None: NAMESPACE})
    report = etree.SubElement(root, q + "CstmrPmtStsRpt")
    header = etree.SubElement(report, q + "GrpHdr")
    etree.SubElement(header, q + "MsgId").text = message_id
    etree.SubElement(header, q + "CreDtTm").text = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    party = etree.SubElement(header, q + "InitgPty")
    etree.SubElement(party, q + "Nm").text = initiating_party
    group = etree.SubElement(report, q + "OrgnlGrpInfAndSts")
    etree.SubElement(group, q + "OrgnlMsgId").text = original_message_id or "NOTPROVIDED"
    etree.SubElement(group, q + "OrgnlMsgNmId").text = original_name
    if original_count is not None:
        etree.SubElement(group, q + "OrgnlNbOfTxs").text = original_count
    if original_sum is not None:
        etree.SubElement(group, q + "OrgnlCtrlSum").text = original_sum
    statuses = [t.status for t in transactions]
    etree.SubElement(group, q + "GrpSts").text = REJECTED if group_reasons else group_status(statuses)
    _reasons(group, group_reasons)
    by_info: dict[str | None, list[TransactionStatus]] = {}
    for transaction in transactions:
        by_info.setdefault(transaction.payment_information_id, []).append(transaction)
    for info_id, members in by_info.items():
        info = etree.SubElement(report, q + "OrgnlPmtInfAndSts")
        etree.SubElement(info, q + "OrgnlPmtInfId").text = info_id or "NOTPROVIDED"
        etree.SubElement(info, q + "PmtInfSts").text = group_status([m.status for m in members])
        for member in members:
            tx = etree.SubElement(info, q + "TxInfAndSts")
            etree.SubElement(tx, q + "OrgnlEndToEndId").text = member.end_to_end_reference or "NOTPROVIDED"
            etree.SubElement(tx, q + "TxSts").text = member.status
            _reasons(tx, member.reasons)
    return root


def write_pain002(out: BinaryIO, root: etree._Element) -> None:
    out.write(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
