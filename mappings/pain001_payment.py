"""pain.001 (version 09 and later) → domain ``Payment``s (docs/formats/payments.md).

The guide (``mappings.pain001_guide``) says which element carries which value;
``mappings.xml_guide.read_element`` reads the Document with it once. This module
makes the payments of what was read: one ``Payment`` per ``CdtTrfTxInf``, the
payer and value date from its ``PmtInf``, the message id from ``GrpHdr``.
Remittance: each ``RmtInf/Strd`` is one item — the account from
``CdtrRefInf/Ref``, transaction numbers (or a statement, ``Tp/CdOrPrtry/Prtry``
``SOA`` or a ``YYYY-MM`` number) from ``RfrdDocInf/Nb``, the amount from
``RfrdDocAmt/RmtdAmt``. Without ``Strd`` the ``Ustrd`` text is searched for BN15
RM accounts, 14-digit transaction numbers and ``SOA YYYY-MM``.

Group checks: ``GrpHdr/NbOfTxs`` and ``GrpHdr/CtrlSum`` (and those of each ``PmtInf``)
against the transactions (``PAY-NB``, ``PAY-CTL``). Every finding carries the XPath and
line of the element it is about; ``sources`` maps domain pointers to XPaths.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree
from pydantic import ValidationError

from diagnostics import Finding, Location
from diagnostics.field_paths import path_from_loc
from domain.identifiers import is_ascii_digits
from domain.payment import Payment, PaymentChannel, RemittanceItem
from mappings.pain001_guide import pain001_guide
from mappings.payment_codes import CONTROL_SUM_MISMATCH, COUNT_MISMATCH
from mappings.remittance_text import items_from_text
from mappings.xml_guide import DECIMAL_TEXT, read_element

STRUCTURE = "PAIN-STR"  # a required element missing or malformed
DUPLICATE_REFERENCE = "PAY-DUPE"  # an end-to-end reference repeated within the file (pain.002 DU04)

_PERIOD = re.compile(r"^[0-9]{4}-[0-9]{2}$")

BASE = "/Document/CstmrCdtTrfInitn"


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


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not DECIMAL_TEXT.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits decimals only
        return None


def _stripped(text: str | None) -> str | None:
    return (text or "").strip() or None


def map_pain001(root: etree._Element, namespace: str) -> Pain001Message:
    reading = read_element(pain001_guide(namespace), root, "/Document")
    lines = reading.sources  # the line of each element read, by its path in reading.data
    initiation: dict[str, Any] | None = reading.data.get("initiation")
    if initiation is None:
        message = Pain001Message(None, None, None, None)
        message.findings.append(
            Finding(
                STRUCTURE, "pain.001 Document without CstmrCdtTrfInitn", Location(xpath="/Document", line=reading.line)
            )
        )
        return message
    header: dict[str, Any] = initiation.get("header", {})
    header_line = lines.get("initiation.header")
    message = Pain001Message(
        header.get("message_id"),
        header.get("party_id") or header.get("party_name"),
        header.get("number_of_transactions"),
        header.get("control_sum"),
    )
    for name, key in (("MsgId", "message_id"), ("NbOfTxs", "number_of_transactions")):
        if header.get(key) is None:
            message.findings.append(
                Finding(
                    STRUCTURE, f"GrpHdr/{name} is missing", Location(xpath=f"{BASE}/GrpHdr/{name}", line=header_line)
                )
            )
    amounts: list[Decimal] = []
    seen: set[str] = set()
    for p_index, info in enumerate(initiation.get("infos", ()), 1):
        p_path = f"{BASE}/PmtInf[{p_index}]"
        p_amounts: list[Decimal] = []
        transactions = info.get("transactions", ())
        for t_index, transaction in enumerate(transactions, 1):
            where = f"initiation.infos[{p_index - 1}].transactions[{t_index - 1}]"
            mapped = _map_transaction(lines, message.message_id, info, p_index, transaction, t_index)
            mapped.payment_information_id = info.get("id")
            if mapped.end_to_end_reference:
                if mapped.end_to_end_reference in seen:
                    mapped.findings.append(
                        Finding(
                            DUPLICATE_REFERENCE,
                            f"end-to-end reference {mapped.end_to_end_reference} is used twice in this file",
                            Location(xpath=f"{mapped.xpath}/PmtId/EndToEndId", line=lines.get(where)),
                        )
                    )
                seen.add(mapped.end_to_end_reference)
            amount = _decimal(_stripped(transaction.get("instructed", {}).get("text")))
            if amount is not None:
                p_amounts.append(amount)
            message.payments.append(mapped)
        line = lines.get(f"initiation.infos[{p_index - 1}]")
        _check_totals(
            message.findings,
            info.get("number_of_transactions"),
            info.get("control_sum"),
            len(transactions),
            p_amounts,
            p_path,
            line,
        )
        amounts.extend(p_amounts)
    if not message.payments:
        message.findings.append(
            Finding(
                STRUCTURE, "the message holds no PmtInf/CdtTrfTxInf", Location(xpath=BASE, line=lines.get("initiation"))
            )
        )
    _check_totals(
        message.findings,
        message.number_of_transactions,
        message.control_sum,
        len(message.payments),
        amounts,
        f"{BASE}/GrpHdr",
        header_line,
    )
    return message


def _check_totals(
    findings: list[Finding],
    declared_count: str | None,
    declared_sum: str | None,
    count: int,
    amounts: list[Decimal],
    path: str,
    line: int | None,
) -> None:
    if declared_count is not None and (not is_ascii_digits(declared_count) or int(declared_count) != count):
        findings.append(
            Finding(
                COUNT_MISMATCH,
                f"NbOfTxs is {declared_count} but {path.rsplit('/', 1)[-1].split('[')[0]} holds {count} transaction(s)",
                Location(xpath=f"{path}/NbOfTxs", line=line),
            )
        )
    if declared_sum is not None:
        control = _decimal(declared_sum)
        total = sum(amounts, Decimal("0"))
        if control is None or control != total:
            findings.append(
                Finding(
                    CONTROL_SUM_MISMATCH,
                    f"CtrlSum is {declared_sum} but the instructed amounts add up to {total}",
                    Location(xpath=f"{path}/CtrlSum", line=line),
                )
            )


def _map_transaction(
    lines: Mapping[str, int | None],
    message_id: str | None,
    info: dict[str, Any],
    p_index: int,
    tx: dict[str, Any],
    t_index: int,
) -> MappedPayment:
    p_path = f"{BASE}/PmtInf[{p_index}]"
    path = f"{p_path}/CdtTrfTxInf[{t_index}]"
    where = f"initiation.infos[{p_index - 1}].transactions[{t_index - 1}]"
    info_line, tx_line = lines.get(f"initiation.infos[{p_index - 1}]"), lines.get(where)
    e2e = tx.get("end_to_end_reference")
    mapped = MappedPayment(f"PmtInf[{p_index}]/CdtTrfTxInf[{t_index}]", path, tx_line, e2e, None)
    src = mapped.sources
    if e2e is None:
        mapped.findings.append(
            Finding(STRUCTURE, "PmtId/EndToEndId is missing", Location(xpath=f"{path}/PmtId/EndToEndId", line=tx_line))
        )
    src["end_to_end_reference"] = (f"{path}/PmtId/EndToEndId", tx_line)
    src["message_id"] = (f"{BASE}/GrpHdr/MsgId", None)
    instructed: dict[str, Any] | None = tx.get("instructed")
    amount_line = lines.get(f"{where}.instructed")
    src["amount"] = (f"{path}/Amt/InstdAmt", amount_line if instructed is not None else tx_line)
    src["currency"] = (f"{path}/Amt/InstdAmt/@Ccy", src["amount"][1])
    amount = currency = None
    if instructed is None:
        mapped.findings.append(
            Finding(
                STRUCTURE,
                "Amt/InstdAmt is missing (EqvtAmt is not accepted)",
                Location(xpath=f"{path}/Amt", line=tx_line),
            )
        )
    else:
        text = instructed.get("text")
        amount = _decimal((text or "").strip())
        currency = instructed.get("currency")
        if amount is None:
            mapped.findings.append(
                Finding(
                    STRUCTURE,
                    f"InstdAmt {text!r} is not a decimal amount",
                    Location(xpath=src["amount"][0], line=src["amount"][1]),
                )
            )
        if not currency:
            mapped.findings.append(
                Finding(
                    STRUCTURE,
                    "InstdAmt has no Ccy attribute",
                    Location(xpath=src["currency"][0], line=src["currency"][1]),
                )
            )
    date_text = info.get("date") or (info.get("date_time") or "")[:10] or None
    src["value_date"] = (f"{p_path}/ReqdExctnDt", info_line)
    value_date = None
    if date_text is None:
        mapped.findings.append(
            Finding(STRUCTURE, "PmtInf/ReqdExctnDt/Dt is missing", Location(xpath=src["value_date"][0], line=info_line))
        )
    else:
        try:
            value_date = dt.date.fromisoformat(date_text)
        except ValueError:
            mapped.findings.append(
                Finding(
                    STRUCTURE,
                    f"ReqdExctnDt {date_text!r} is not an ISO date",
                    Location(xpath=src["value_date"][0], line=info_line),
                )
            )
    src["payer_account"] = (f"{p_path}/DbtrAcct/Id", info_line)
    remittance, unstructured = _remittance(lines, tx, where, path, tx_line, mapped)
    if mapped.findings or amount is None or value_date is None or not currency or e2e is None or message_id is None:
        return mapped
    try:
        mapped.payment = Payment(
            message_id=message_id,
            end_to_end_reference=e2e,
            payer_name=info.get("payer_name"),
            payer_account=info.get("iban") or info.get("other"),
            amount=amount,
            currency=currency,
            value_date=value_date,
            channel=PaymentChannel.PAIN001,
            remittance=remittance,
            unstructured=unstructured,
        )
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            pointer = path_from_loc(problem["loc"])
            location = mapped.locate(pointer)
            mapped.findings.append(Finding(STRUCTURE, f"{pointer}: {problem['msg']}", location))
    return mapped


def _remittance(
    lines: Mapping[str, int | None],
    tx: dict[str, Any],
    where: str,
    path: str,
    tx_line: int | None,
    mapped: MappedPayment,
) -> tuple[list[RemittanceItem], str | None]:
    info: dict[str, Any] | None = tx.get("remittance")
    if info is None:
        mapped.sources["remittance"] = (f"{path}/RmtInf", tx_line)
        return [], None
    base = f"{path}/RmtInf"
    where = f"{where}.remittance"
    info_line = lines.get(where)
    mapped.sources["remittance"] = (base, info_line)
    unstructured = " ".join(info.get("unstructured", ())) or None
    items: list[RemittanceItem] = []
    structured = info.get("structured", ())
    for s_index, strd in enumerate(structured, 1):
        s_path = f"{base}/Strd[{s_index}]"
        s_where = f"{where}.structured[{s_index - 1}]"
        strd_line = lines.get(s_where)
        index = len(items)
        account = strd.get("account")
        mapped.sources[f"remittance[{index}]"] = (s_path, strd_line)
        mapped.sources[f"remittance[{index}].account"] = (f"{s_path}/CdtrRefInf/Ref", strd_line)
        if account is None:
            mapped.findings.append(
                Finding(
                    STRUCTURE,
                    "Strd without CdtrRefInf/Ref: the BN15 RM account to pay is missing",
                    Location(xpath=f"{s_path}/CdtrRefInf/Ref", line=strd_line),
                )
            )
            continue
        numbers: list[str] = []
        period: str | None = None
        for d_index, document in enumerate(strd.get("documents", ()), 1):
            number = document.get("number")
            if number is None:
                continue
            document_line = lines.get(f"{s_where}.documents[{d_index - 1}]")
            if document.get("kind") == "SOA" or _PERIOD.match(number):
                period = number
                mapped.sources[f"remittance[{index}].statement"] = (f"{s_path}/RfrdDocInf[{d_index}]/Nb", document_line)
            else:
                mapped.sources[f"remittance[{index}].transaction_numbers[{len(numbers)}]"] = (
                    f"{s_path}/RfrdDocInf[{d_index}]/Nb",
                    document_line,
                )
                numbers.append(number)
        remitted: dict[str, Any] | None = strd.get("remitted")
        amount = None
        if remitted is not None:
            amount_path = f"{s_path}/RfrdDocAmt/RmtdAmt"
            amount_line = lines.get(f"{s_where}.remitted")
            mapped.sources[f"remittance[{index}].amount"] = (amount_path, amount_line)
            amount = _decimal((remitted.get("text") or "").strip())
            if amount is None:
                mapped.findings.append(
                    Finding(
                        STRUCTURE,
                        f"RmtdAmt {remitted.get('text')!r} is not a decimal amount",
                        Location(xpath=amount_path, line=amount_line),
                    )
                )
                continue
        try:
            items.append(RemittanceItem(account=account, transaction_numbers=numbers, statement=period, amount=amount))
        except ValidationError as error:
            for problem in error.errors(include_url=False):
                pointer = f"remittance[{index}].{path_from_loc(problem['loc'])}"
                mapped.findings.append(Finding(STRUCTURE, f"{pointer}: {problem['msg']}", mapped.locate(pointer)))
    if not structured and unstructured:
        items = items_from_text(unstructured)
        for index in range(len(items)):
            mapped.sources[f"remittance[{index}]"] = (f"{base}/Ustrd", info_line)
    return items, unstructured
