"""pain.001 (version 09 and later) → domain ``Payment``s (docs/formats/payments.md).

One ``Payment`` per ``CdtTrfTxInf``: the payer and value date come from its ``PmtInf``,
the message id from ``GrpHdr``. Remittance: each ``RmtInf/Strd`` is one item — the
account from ``CdtrRefInf/Ref``, transaction numbers (or a statement, ``Tp/CdOrPrtry/Prtry``
``SOA`` or a ``YYYY-MM`` number) from ``RfrdDocInf/Nb``, the amount from
``RfrdDocAmt/RmtdAmt``. Without ``Strd`` the ``Ustrd`` text is searched for BN15 RM
accounts, 14-digit transaction numbers and ``SOA YYYY-MM``.

Group checks: ``GrpHdr/NbOfTxs`` and ``GrpHdr/CtrlSum`` (and those of each ``PmtInf``)
against the transactions (``PAY-NB``, ``PAY-CTL``). Every finding carries the XPath and
line of the element it is about; ``sources`` maps domain pointers to XPaths.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree
from pydantic import ValidationError

from diagnostics import Finding, Location
from domain.payment import Payment, PaymentChannel, RemittanceItem
from mappings.payment_codes import CONTROL_SUM_MISMATCH, COUNT_MISMATCH
from mappings.remittance_text import items_from_text

STRUCTURE = "PAIN-STR"  # a required element missing or malformed
DUPLICATE_REFERENCE = "PAY-DUPE"  # an end-to-end reference repeated within the file (pain.002 DU04)

_PERIOD = re.compile(r"^\d{4}-\d{2}$")


@dataclass
class MappedPayment:
    """One CdtTrfTxInf: its payment, or why there is none."""

    ref: str  # "PmtInf[1]/CdtTrfTxInf[2]"
    xpath: str
    line: int | None
    end_to_end_reference: str | None
    payment: Payment | None
    findings: list[Finding] = field(default_factory=list)
    sources: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    payment_information_id: str | None = None

    def locate(self, pointer: str | None) -> Location:
        """The XPath of a domain pointer, or of its nearest mapped parent."""
        probe = pointer or ""
        while probe:
            if probe in self.sources:
                xpath, line = self.sources[probe]
                return Location(xpath=xpath, line=line, field=pointer)
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return Location(xpath=self.xpath, line=self.line, field=pointer)


@dataclass
class Pain001Message:
    message_id: str | None
    initiating_party: str | None
    number_of_transactions: str | None
    control_sum: str | None
    findings: list[Finding] = field(default_factory=list)  # group level: reject every transaction
    payments: list[MappedPayment] = field(default_factory=list)


class _Reader:
    def __init__(self, namespace: str) -> None:
        self.ns = f"{{{namespace}}}"

    def find(self, element: etree._Element | None, path: str) -> etree._Element | None:
        if element is None:
            return None
        return element.find("/".join(self.ns + step for step in path.split("/")))

    def findall(self, element: etree._Element, path: str) -> list[etree._Element]:
        return element.findall("/".join(self.ns + step for step in path.split("/")))

    def text(self, element: etree._Element | None, path: str) -> str | None:
        found = self.find(element, path)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def map_pain001(root: etree._Element, namespace: str) -> Pain001Message:
    r = _Reader(namespace)
    base = "/Document/CstmrCdtTrfInitn"
    initiation = r.find(root, "CstmrCdtTrfInitn")
    if initiation is None:
        message = Pain001Message(None, None, None, None)
        message.findings.append(Finding(STRUCTURE, "pain.001 Document without CstmrCdtTrfInitn", Location(xpath="/Document", line=root.sourceline)))
        return message
    header = r.find(initiation, "GrpHdr")
    message = Pain001Message(
        r.text(header, "MsgId"),
        r.text(header, "InitgPty/Id/OrgId/Othr/Id") or r.text(header, "InitgPty/Nm"),
        r.text(header, "NbOfTxs"),
        r.text(header, "CtrlSum"),
    )
    for name in ("MsgId", "NbOfTxs"):
        if r.text(header, name) is None:
            message.findings.append(Finding(STRUCTURE, f"GrpHdr/{name} is missing", Location(xpath=f"{base}/GrpHdr/{name}", line=header.sourceline if header is not None else None)))
    amounts: list[Decimal] = []
    seen: set[str] = set()
    for p_index, info in enumerate(r.findall(initiation, "PmtInf"), 1):
        p_path = f"{base}/PmtInf[{p_index}]"
        p_amounts: list[Decimal] = []
        transactions = r.findall(info, "CdtTrfTxInf")
        for t_index, transaction in enumerate(transactions, 1):
            mapped = _map_transaction(r, message.message_id, info, p_path, transaction, f"{p_path}/CdtTrfTxInf[{t_index}]", f"PmtInf[{p_index}]/CdtTrfTxInf[{t_index}]")
            mapped.payment_information_id = r.text(info, "PmtInfId")
            if mapped.end_to_end_reference:
                if mapped.end_to_end_reference in seen:
                    mapped.findings.append(Finding(DUPLICATE_REFERENCE, f"end-to-end reference {mapped.end_to_end_reference} is used twice in this file",
                                                   Location(xpath=f"{mapped.xpath}/PmtId/EndToEndId", line=transaction.sourceline)))
                seen.add(mapped.end_to_end_reference)
            amount = _decimal(r.text(transaction, "Amt/InstdAmt"))
            if amount is not None:
                p_amounts.append(amount)
            message.payments.append(mapped)
        _check_totals(message.findings, r.text(info, "NbOfTxs"), r.text(info, "CtrlSum"), len(transactions), p_amounts, f"{p_path}", info.sourceline)
        amounts.extend(p_amounts)
    if not message.payments:
        message.findings.append(Finding(STRUCTURE, "the message holds no PmtInf/CdtTrfTxInf", Location(xpath=base, line=initiation.sourceline)))
    _check_totals(message.findings, message.number_of_transactions, message.control_sum, len(message.payments), amounts, f"{base}/GrpHdr", header.sourceline if header is not None else None)
    return message


def _check_totals(findings: list[Finding], declared_count: str | None, declared_sum: str | None, count: int, amounts: list[Decimal], path: str, line: int | None) -> None:
    if declared_count is not None and (not declared_count.isdigit() or int(declared_count) != count):
        findings.append(Finding(COUNT_MISMATCH, f"NbOfTxs is {declared_count} but {path.rsplit('/', 1)[-1].split('[')[0]} holds {count} transaction(s)", Location(xpath=f"{path}/NbOfTxs", line=line)))
    if declared_sum is not None:
        control = _decimal(declared_sum)
        total = sum(amounts, Decimal("0"))
        if control is None or control != total:
            findings.append(Finding(CONTROL_SUM_MISMATCH, f"CtrlSum is {declared_sum} but the instructed amounts add up to {total}", Location(xpath=f"{path}/CtrlSum", line=line)))


def _map_transaction(
    r: _Reader, message_id: str | None, info: etree._Element, p_path: str, tx: etree._Element, path: str, ref: str
) -> MappedPayment:
    e2e = r.text(tx, "PmtId/EndToEndId")
    mapped = MappedPayment(ref, path, tx.sourceline, e2e, None)
    src = mapped.sources

    def need(element_path: str, base: str, base_element: etree._Element, label: str) -> str | None:
        value = r.text(base_element, element_path)
        if value is None:
            mapped.findings.append(Finding(STRUCTURE, f"{label} is missing", Location(xpath=f"{base}/{element_path}", line=base_element.sourceline)))
        return value

    need("PmtId/EndToEndId", path, tx, "PmtId/EndToEndId")
    src["end_to_end_reference"] = (f"{path}/PmtId/EndToEndId", tx.sourceline)
    src["message_id"] = ("/Document/CstmrCdtTrfInitn/GrpHdr/MsgId", None)
    amount_element = r.find(tx, "Amt/InstdAmt")
    src["amount"] = (f"{path}/Amt/InstdAmt", amount_element.sourceline if amount_element is not None else tx.sourceline)
    src["currency"] = (f"{path}/Amt/InstdAmt/@Ccy", src["amount"][1])
    amount = currency = None
    if amount_element is None:
        mapped.findings.append(Finding(STRUCTURE, "Amt/InstdAmt is missing (EqvtAmt is not accepted)", Location(xpath=f"{path}/Amt", line=tx.sourceline)))
    else:
        amount = _decimal((amount_element.text or "").strip())
        currency = amount_element.get("Ccy")
        if amount is None:
            mapped.findings.append(Finding(STRUCTURE, f"InstdAmt {amount_element.text!r} is not a decimal amount", Location(xpath=src["amount"][0], line=src["amount"][1])))
        if not currency:
            mapped.findings.append(Finding(STRUCTURE, "InstdAmt has no Ccy attribute", Location(xpath=src["currency"][0], line=src["currency"][1])))
    date_text = r.text(info, "ReqdExctnDt/Dt") or (r.text(info, "ReqdExctnDt/DtTm") or "")[:10] or None
    src["value_date"] = (f"{p_path}/ReqdExctnDt", info.sourceline)
    value_date = None
    if date_text is None:
        mapped.findings.append(Finding(STRUCTURE, "PmtInf/ReqdExctnDt/Dt is missing", Location(xpath=src["value_date"][0], line=info.sourceline)))
    else:
        try:
            value_date = dt.date.fromisoformat(date_text)
        except ValueError:
            mapped.findings.append(Finding(STRUCTURE, f"ReqdExctnDt {date_text!r} is not an ISO date", Location(xpath=src["value_date"][0], line=info.sourceline)))
    src["payer_account"] = (f"{p_path}/DbtrAcct/Id", info.sourceline)
    remittance, unstructured = _remittance(r, tx, path, mapped)
    if mapped.findings or amount is None or value_date is None or not currency or e2e is None or message_id is None:
        return mapped
    try:
        mapped.payment = Payment(
            message_id=message_id,
            end_to_end_reference=e2e,
            payer_name=r.text(info, "Dbtr/Nm"),
            payer_account=r.text(info, "DbtrAcct/Id/IBAN") or r.text(info, "DbtrAcct/Id/Othr/Id"),
            amount=amount,
            currency=currency,
            value_date=value_date,
            channel=PaymentChannel.PAIN001,
            remittance=remittance,
            unstructured=unstructured,
        )
    except ValidationError as error:
        for problem in error.errors():
            pointer = ".".join(str(part) for part in problem["loc"]).replace(".0", "[0]")
            location = mapped.locate(pointer)
            mapped.findings.append(Finding(STRUCTURE, f"{pointer}: {problem['msg']}", location))
    return mapped


def _remittance(r: _Reader, tx: etree._Element, path: str, mapped: MappedPayment) -> tuple[list[RemittanceItem], str | None]:
    info = r.find(tx, "RmtInf")
    if info is None:
        mapped.sources["remittance"] = (f"{path}/RmtInf", tx.sourceline)
        return [], None
    base = f"{path}/RmtInf"
    mapped.sources["remittance"] = (base, info.sourceline)
    unstructured = " ".join(t.text.strip() for t in r.findall(info, "Ustrd") if t.text and t.text.strip()) or None
    items: list[RemittanceItem] = []
    structured = r.findall(info, "Strd")
    for s_index, strd in enumerate(structured, 1):
        s_path = f"{base}/Strd[{s_index}]"
        index = len(items)
        account = r.text(strd, "CdtrRefInf/Ref")
        mapped.sources[f"remittance[{index}]"] = (s_path, strd.sourceline)
        mapped.sources[f"remittance[{index}].account"] = (f"{s_path}/CdtrRefInf/Ref", strd.sourceline)
        if account is None:
            mapped.findings.append(Finding(STRUCTURE, "Strd without CdtrRefInf/Ref: the BN15 RM account to pay is missing", Location(xpath=f"{s_path}/CdtrRefInf/Ref", line=strd.sourceline)))
            continue
        numbers: list[str] = []
        period: str | None = None
        for d_index, document in enumerate(r.findall(strd, "RfrdDocInf"), 1):
            number = r.text(document, "Nb")
            if number is None:
                continue
            kind = r.text(document, "Tp/CdOrPrtry/Prtry")
            if kind == "SOA" or _PERIOD.match(number):
                period = number
                mapped.sources[f"remittance[{index}].statement"] = (f"{s_path}/RfrdDocInf[{d_index}]/Nb", document.sourceline)
            else:
                mapped.sources[f"remittance[{index}].transaction_numbers[{len(numbers)}]"] = (f"{s_path}/RfrdDocInf[{d_index}]/Nb", document.sourceline)
                numbers.append(number)
        amount_element = r.find(strd, "RfrdDocAmt/RmtdAmt")
        amount = None
        if amount_element is not None:
            mapped.sources[f"remittance[{index}].amount"] = (f"{s_path}/RfrdDocAmt/RmtdAmt", amount_element.sourceline)
            amount = _decimal((amount_element.text or "").strip())
            if amount is None:
                mapped.findings.append(Finding(STRUCTURE, f"RmtdAmt {amount_element.text!r} is not a decimal amount", Location(xpath=f"{s_path}/RfrdDocAmt/RmtdAmt", line=amount_element.sourceline)))
                continue
        try:
            items.append(RemittanceItem(account=account, transaction_numbers=numbers, statement=period, amount=amount))
        except ValidationError as error:
            mapped.findings.append(Finding(STRUCTURE, f"remittance item: {error.errors()[0]['msg']}", Location(xpath=s_path, line=strd.sourceline)))
    if not structured and unstructured:
        items = items_from_text(unstructured)
        for index in range(len(items)):
            mapped.sources[f"remittance[{index}]"] = (f"{base}/Ustrd", info.sourceline)
    return items, unstructured
