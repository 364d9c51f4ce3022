"""Payments end to end: the pipeline (local folders, SQLite ledger) and the embedded portal
over real HTTP. A declaration is posted first (v01: duty 145.80 + GST 47.79 = 193.59 CAD on
123456782RM0001), then payment files in each format; the statement is checked with exact
amounts, and every fixture's acknowledgement against fixtures/payments/expected.json."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.pipeline import Pipeline
from gateway.settings import Settings
from ledger import Ledger
from parsers.edifact.model import MessageRead
from parsers.edifact.reader import read_edifact
from portal.client import PortalClient
from portal.payments import PaymentClient
from portal.server import PortalServer
from tests.ack_reader import ack_names, ack_path, has_ack, read_contrls, read_cusres
from tests.conftest import FIXTURES, TARIFF_PATH
from transports.local import LocalFolderTransport

PAYMENTS = FIXTURES / "payments"
EXPECTED = json.loads((PAYMENTS / "expected.json").read_text())
PARTNER = "broker01"
ACCOUNT = "123456782RM0001"
TXN = "10207000300014"
P2 = "{urn:iso:std:iso:20022:tech:xsd:pain.002.001.10}"


class Gateway:
    def __init__(self, root: Path, portal_url: str) -> None:
        self.transport = LocalFolderTransport(root / "partners")
        self.transport.ensure_partner(PARTNER)
        self.client = PortalClient(portal_url, backoff=0.01)
        self.payments = PaymentClient(self.client)
        self.ledger = Ledger(f"sqlite:///{root / 'ledger.sqlite'}")
        self.pipeline = Pipeline(
            Settings(data_dir=root),
            self.transport,
            self.ledger,
            self.client.submit_declaration,
            payment_poster=self.payments.submit_payment,
        )
        self.outbox = root / "partners" / PARTNER / "outbox"

    def deliver(self, source: Path, name: str | None = None):
        shutil.copy(source, self.transport.area(PARTNER, "inbox") / (name or source.name))
        [result] = self.pipeline.process_inbox(PARTNER)
        return result

    def statement(self):
        return self.payments.statement(ACCOUNT, dt.date(2025, 2, 20))

    def close(self) -> None:
        self.client.close()
        self.ledger.dispose()


@pytest.fixture
def gateway(tmp_path: Path):
    with PortalServer(f"sqlite:///{tmp_path / 'portal.sqlite'}", TARIFF_PATH) as server:
        gw = Gateway(tmp_path, server.url)
        yield gw
        gw.close()


def aperak(data: bytes) -> list[dict]:
    """Each APERAK message: BGM verdict and its (ERC code, RFF) pairs."""
    found = []
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, MessageRead):
            segments = event.message.segments
            bgm = next(s for s in segments if s.tag == "BGM")
            errors, code = [], None
            for segment in segments:
                if segment.tag == "ERC":
                    code = segment.get(1)
                elif segment.tag == "RFF" and code is not None:
                    errors.append((code, segment.get(1, 2)))
                    code = None
            found.append({"verdict": bgm.get(4), "message_id": bgm.get(2), "errors": errors})
    return found


def pain002(data: bytes) -> dict:
    root = etree.fromstring(data)
    return {
        "group": root.findtext(f".//{P2}GrpSts"),
        "transactions": [tx.findtext(f"{P2}TxSts") for tx in root.iter(f"{P2}TxInfAndSts")],
        "reasons": sorted({c.text for c in root.iter(f"{P2}Cd")}),
        "codes": sorted({a.text.split(":")[0] for a in root.iter(f"{P2}AddtlInf")}),
    }


def test_a_pain001_payment_settles_the_declaration_and_the_balance_goes_to_zero(gateway: Gateway) -> None:
    declaration = gateway.deliver(FIXTURES / "cusdec" / "valid" / "v01_single.edi")
    assert declaration.report.documents[0].assessed["total"] == "193.59"
    before = gateway.statement()
    assert before.balance == Decimal("193.59")
    [debit] = before.debits
    assert (debit.transaction_number, debit.assessed, debit.outstanding) == (TXN, Decimal("193.59"), Decimal("193.59"))
    # released 2025-01-15: billing period 2024-12-18..2025-01-17, statement 2025-01-25,
    # due the 10th weekday after 2025-01-17 = 2025-01-31
    [period] = before.periods
    assert (period.period, period.period_start, period.statement_date, period.due_date) == (
        "2025-01",
        dt.date(2024, 12, 18),
        dt.date(2025, 1, 25),
        dt.date(2025, 1, 31),
    )
    assert period.overdue  # as of 2025-02-20
    # 20 days late at the specified rate 4 + 6 = 10 % (prescribed_rates.csv, 2025 Q1), compounded daily:
    # 193.59 x ((1 + 0.10/365)^20 - 1) = 193.59 x 0.0054937 = 1.0635
    assert (debit.interest, period.interest, before.interest) == (Decimal("1.06"),) * 3

    result = gateway.deliver(PAYMENTS / "pain001" / "valid" / "v02_settles_transaction.xml")
    assert result.state == "archived"
    answer = pain002(ack_path(gateway.outbox, "v02_settles_transaction.xml", "pain002.xml").read_bytes())
    assert answer == {"group": "ACSC", "transactions": ["ACSC"], "reasons": [], "codes": []}
    after = gateway.statement()
    assert after.balance == Decimal("0.00")
    assert after.debits[0].paid == Decimal("193.59") and after.debits[0].outstanding == Decimal("0.00")
    assert after.periods[0].outstanding == Decimal("0.00") and not after.periods[0].overdue
    # paid with value date 2025-02-10, 10 days late: 193.59 x ((1 + 0.10/365)^10 - 1) = 0.5310
    assert (after.debits[0].interest, after.interest) == (Decimal("0.53"), Decimal("0.53"))
    [credit] = after.credits
    assert (credit.amount, credit.applied, credit.unapplied) == (Decimal("193.59"), Decimal("193.59"), Decimal("0.00"))


def test_a_paymul_overpayment_is_applied_and_the_rest_stays_visible(gateway: Gateway) -> None:
    gateway.deliver(FIXTURES / "cusdec" / "valid" / "v01_single.edi")
    gateway.deliver(PAYMENTS / "paymul" / "valid" / "v01_account_only.edi")  # 100.00 to the account
    gateway.deliver(PAYMENTS / "remadv" / "valid" / "v01_account_only.edi")  # 100.00 to the account
    statement = gateway.statement()
    assert statement.total_paid == Decimal("200.00")
    assert statement.debits[0].paid == Decimal("193.59")
    assert statement.unapplied == Decimal("6.41")
    assert statement.balance == Decimal("-6.41")
    assert [c.unapplied for c in statement.credits] == [Decimal("0.00"), Decimal("6.41")]
    # Two deliveries named v01_account_only.edi (the PAYMUL, then the REMADV): each keeps its own answers.
    names = [p.name for p in gateway.outbox.iterdir()]
    paymul, remadv = ack_names(names, "v01_account_only.edi", "contrl.edi")
    for name in (paymul, remadv):
        [contrl] = read_contrls((gateway.outbox / name).read_bytes())
        assert contrl["uci"]["action"] == "7"
    [message] = aperak((gateway.outbox / remadv.replace(".contrl.edi", ".aperak.edi")).read_bytes())
    assert message["verdict"] == "AP" and message["errors"] == [("PAY-OK", "E2E-RV01")]


def test_nothing_is_applied_twice(gateway: Gateway) -> None:
    gateway.deliver(FIXTURES / "cusdec" / "valid" / "v01_single.edi")
    source = PAYMENTS / "pain001" / "valid" / "v01_account_only.xml"
    gateway.deliver(source)
    again = gateway.deliver(source, "resent.xml")  # same MsgId from the same sender: ledger duplicate
    resent = pain002(ack_path(gateway.outbox, "resent.xml", "pain002.xml").read_bytes())
    assert resent["group"] == "RJCT" and "DU01" in resent["reasons"] and "PAY-DUPM" in resent["codes"]
    assert again.state == "quarantined"
    # the same end-to-end reference under a new message id: the portal's ledger says duplicate
    text = source.read_text().replace("PAIN-V01", "PAIN-V01-AGAIN")
    copy = gateway.outbox.parent / "copy.xml"
    copy.write_text(text)
    gateway.deliver(copy, "new_message.xml")
    answer = pain002(ack_path(gateway.outbox, "new_message.xml", "pain002.xml").read_bytes())
    assert answer["reasons"] == ["DU04"] and answer["codes"] == ["P404"]
    statement = gateway.statement()
    assert statement.total_paid == Decimal("100.00")
    assert statement.balance == Decimal("93.59")


def test_a_late_change_is_answered_pending_and_reaches_the_statement_once_approved(gateway: Gateway) -> None:
    """v04 (to UST) arrives long after v01's due date (2025-01-31): the portal answers 42 (202),
    the gateway's interim answer stands (a "pending" document, CUSRES "CA" with GIS 42), nothing
    is lost (the ledger keeps the post and the portal the version); once an operator approves it,
    its difference is a line on the statement of the approval date."""
    gateway.deliver(FIXTURES / "cusdec" / "valid" / "v01_single.edi")
    result = gateway.deliver(FIXTURES / "cusdec" / "valid" / "v04_correction.edi")
    assert result.state == "archived"
    [document] = result.report.documents
    assert (document.status, document.carm_status, document.assessed) == ("pending", "42", None)
    [answer] = read_cusres(ack_path(gateway.outbox, "v04_correction.edi", "cusres.edi").read_bytes())
    assert [(m["response"], m["status"]) for m in answer] == [("CA", "42")]
    [v1, v4] = gateway.ledger.documents_of_transaction(TXN)
    assert (v1.version, v4.version, v4.status) == (1, 2, "42")
    assert v4.response is not None and v4.response["status"] == "pending"

    history = gateway.client.get_declaration(TXN)
    assert [(v["version"], v["status"]) for v in history["versions"]] == [(1, "40"), (2, "42")]
    adjusted = gateway.client.get_version(TXN, 2)["outcome"]
    adjusted_total = sum(Decimal(adjusted[k]) for k in ("total_duty", "total_excise", "total_gst"))
    pending = gateway.statement()
    assert [(d.version, d.kind) for d in pending.debits] == [(1, "declaration")]
    assert pending.balance == Decimal("193.59")
    [waiting] = pending.pending
    assert (waiting.version, waiting.difference) == (2, adjusted_total - Decimal("193.59"))

    decided = gateway.client.decide(TXN, 2, "approve", "ops.jane")
    after = gateway.statement()
    [original, adjustment] = after.debits
    assert (original.version, original.assessed) == (1, Decimal("193.59"))  # the original's line is unchanged
    assert (adjustment.version, adjustment.kind, adjustment.assessed) == (
        2,
        "adjustment",
        adjusted_total - Decimal("193.59"),
    )
    assert adjustment.assessed < 0 and adjustment.interest == Decimal("0.00")  # UST lowers the duty: a credit
    # the credit settles v01's line first (as of its due date: no interest on what it removed)
    assert (original.outstanding, adjustment.outstanding) == (adjusted_total, Decimal("0.00"))
    # 40.50 left, 20 days late at 10 % compounded daily: 40.50 x ((1 + 0.10/365)^20 - 1) = 40.50 x 0.0054937 = 0.2225
    assert adjusted_total == Decimal("40.50") and original.interest == Decimal("0.22")
    assert adjustment.approved_at == dt.datetime.fromisoformat(decided["decided_at"])
    assert after.balance == adjusted_total and not after.pending


def _fixtures() -> list[str]:
    return sorted(EXPECTED)


@pytest.fixture(scope="module")
def all_processed(tmp_path_factory: pytest.TempPathFactory):
    """v01's declaration, then every payment fixture, once, in one gateway and portal."""
    root = tmp_path_factory.mktemp("payments")
    with PortalServer(f"sqlite:///{root / 'portal.sqlite'}", TARIFF_PATH) as server:
        gw = Gateway(root, server.url)
        gw.deliver(FIXTURES / "cusdec" / "valid" / "v01_single.edi")
        results = {}
        for key in _fixtures():
            folder = key.split("/")[0]
            results[key] = gw.deliver(PAYMENTS / key, f"{folder}_{Path(key).name}")
        yield gw, results
        gw.close()


@pytest.mark.parametrize("key", _fixtures())
def test_every_fixture_gets_its_expected_acknowledgement(all_processed, key: str) -> None:
    gw, _results = all_processed
    expected = EXPECTED[key]
    folder = key.split("/")[0]
    name = f"{folder}_{Path(key).name}"
    if folder == "pain001":
        answer = pain002(ack_path(gw.outbox, name, "pain002.xml").read_bytes())
        assert answer["group"] == expected["group"]
        assert set(expected["codes"]) <= set(answer["codes"])
        assert set(expected.get("reasons", [])) <= set(answer["reasons"])
        if key.startswith("pain001/invalid"):
            assert answer["reasons"], "an invalid fixture needs a specific reason"
        return
    [contrl] = read_contrls(ack_path(gw.outbox, name, "contrl.edi").read_bytes())
    actions = {m["action"] for m in contrl["messages"]}
    assert actions == {expected["contrl"]}
    if expected["aperak"] is None:
        assert not has_ack(gw.outbox, name, "aperak.edi")
        codes = {e["code"] for m in contrl["messages"] for e in m.get("errors", [])} | {
            s.get("code") for m in contrl["messages"] for s in m.get("segments", [])
        }
        assert any(codes), "the CONTRL must say what is wrong"
        return
    [message] = aperak(ack_path(gw.outbox, name, "aperak.edi").read_bytes())
    assert message["verdict"] == expected["aperak"]
    assert set(expected["codes"]) <= {code for code, _ in message["errors"]}


def test_fixture_counts() -> None:
    for folder in ("pain001", "paymul", "remadv"):
        assert len(list((PAYMENTS / folder / "valid").iterdir())) >= 5
        assert len(list((PAYMENTS / folder / "invalid").iterdir())) >= 8


def test_the_statement_after_every_fixture_is_exact(all_processed) -> None:
    """Valid payments: pain.001 100 + 193.59 + 50 + 100 + 50.50, PAYMUL the same, REMADV
    100 + 193.59 + 50 + 100 + 75.25; pain001/i10 applies its first 10.00, PAYMUL i13 its first 10.00."""
    gw, _ = all_processed
    statement = gw.statement()
    paid = Decimal("494.09") * 2 + Decimal("518.84") + Decimal("20.00")
    assert statement.total_paid == paid
    assert statement.balance == Decimal("193.59") - paid
    assert statement.debits[0].outstanding == Decimal("0.00")
    assert statement.unapplied == paid - Decimal("193.59")
