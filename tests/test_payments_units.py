"""Payments: the domain's billing arithmetic, the payment rules, the portal endpoint's
idempotency over real HTTP, and the ISO 20022 samples' answers."""

from __future__ import annotations

import datetime as dt
import io
import os
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.payment import Payment, RemittanceItem, billing_period, payment_due_date, period_id
from gateway.flows.dispatch import check_stream
from portal.payments import business_day_rule, load_holidays
from portal.server import PortalServer
from tests.conftest import TARIFF_PATH
from validators.reference_data import default_reference
from validators.rules import payment_due_date as rules_due_date
from validators.rules.payments import PAYMENT_RULES, check_payment

ACCOUNT = "123456782RM0001"
SAMPLES = Path(os.environ.get("CARM_SAMPLES_DIR", Path(__file__).resolve().parents[2] / "shared" / "samples"))


def payment(**changes) -> Payment:
    values = dict(
        message_id="M1",
        end_to_end_reference="E1",
        amount=Decimal("193.59"),
        currency="CAD",
        value_date=dt.date(2025, 2, 10),
        remittance=[RemittanceItem(account=ACCOUNT, transaction_numbers=["10207000300014"])],
    )
    values.update(changes)
    return Payment(**values)


def test_billing_period_and_due_date() -> None:
    assert billing_period(dt.date(2025, 1, 15)) == (dt.date(2024, 12, 18), dt.date(2025, 1, 17))
    assert billing_period(dt.date(2025, 1, 18)) == (dt.date(2025, 1, 18), dt.date(2025, 2, 17))
    assert billing_period(dt.date(2024, 12, 20)) == (dt.date(2024, 12, 18), dt.date(2025, 1, 17))
    assert period_id(dt.date(2025, 2, 17)) == "2025-02"


@given(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 11, 30)))
def test_due_date_agrees_with_the_rules(release: dt.date) -> None:
    rule = business_day_rule(load_holidays())
    assert payment_due_date(billing_period(release)[1], rule) == rules_due_date(release, default_reference())


def test_rule_ids_fit_erc() -> None:
    assert all(len(rule.rule_id) <= 8 for rule in PAYMENT_RULES)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"currency": "EUR"}, "PAY-CUR"),
        ({"amount": Decimal("10.005")}, "PAY-AMT"),
        ({"amount": Decimal("0")}, "PAY-AMT"),
        ({"remittance": []}, "PAY-RMT"),
        (
            {
                "remittance": [
                    RemittanceItem(account=ACCOUNT, amount=Decimal("100")),
                    RemittanceItem(account=ACCOUNT, amount=Decimal("90")),
                ]
            },
            "PAY-SUM",
        ),
        ({"remittance": [RemittanceItem(account="123456782RM001")]}, "PAY-ACCT"),
        ({"remittance": [RemittanceItem(account="123456782RT0001")]}, "PAY-ACCT"),
        ({"remittance": [RemittanceItem(account="123456789RM0001")]}, "PAY-BN9"),
        ({"remittance": [RemittanceItem(account=ACCOUNT, transaction_numbers=["10207000300015"])]}, "PAY-TXN"),
    ],
)
def test_each_rule_names_its_problem(changes, code) -> None:
    assert [v.rule_id for v in check_payment(payment(**changes))] == [code]


def test_a_sound_payment_passes() -> None:
    assert check_payment(payment()) == []


def test_portal_payment_idempotency(tmp_path: Path) -> None:
    with PortalServer(f"sqlite:///{tmp_path / 'p.sqlite'}", TARIFF_PATH) as server:
        body = payment(remittance=[RemittanceItem(account=ACCOUNT)]).model_dump(mode="json")
        first = httpx.post(f"{server.url}/v1/payments", json=body, headers={"Idempotency-Key": "k1"})
        assert first.status_code == 201 and first.json()["status"] == "40"
        assert first.json()["applications"] == [{"account": ACCOUNT, "transaction_number": None, "amount": "193.59"}]
        again = httpx.post(f"{server.url}/v1/payments", json=body, headers={"Idempotency-Key": "k1"})
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        other = httpx.post(
            f"{server.url}/v1/payments", json={**body, "amount": "1.00"}, headers={"Idempotency-Key": "k1"}
        )
        assert other.status_code == 409
        duplicate = httpx.post(f"{server.url}/v1/payments", json=body, headers={"Idempotency-Key": "k2"})
        assert duplicate.status_code == 422 and [e["code"] for e in duplicate.json()["errors"]] == ["P404"]
        missing = httpx.post(f"{server.url}/v1/payments", json=body)
        assert missing.status_code == 400
        unknown = httpx.post(
            f"{server.url}/v1/payments",
            json={**body, "end_to_end_reference": "E9", "remittance": [{"account": "123026635RM0001"}]},
            headers={"Idempotency-Key": "k3"},
        )
        assert [e["code"] for e in unknown.json()["errors"]] == ["P401"]
        statement = httpx.get(f"{server.url}/v1/accounts/{ACCOUNT}/statement").json()
        assert statement["balance"] == "-193.59" and statement["unapplied"] == "193.59"
        assert httpx.get(f"{server.url}/v1/accounts/123026635RM0001/statement").status_code == 404
        assert httpx.get(f"{server.url}/v1/payments/E1").json()["payment_id"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "sebastienrousseau-pain001__pain.001.001.09.xml",
        "moov-io-iso20022__musterfile_pain.001_Nov2020.xml",
        "moov-io-iso20022__sepa_payment_naujas_1.xml",
    ],
)
def test_foreign_pain001_samples_get_a_specific_rejection(name: str) -> None:
    path = SAMPLES / "iso20022" / name
    if not path.is_file():
        pytest.fail(f"sample corpus not found at {SAMPLES}")
    report = check_stream(io.BytesIO(path.read_bytes()), name)
    codes = {f.code for f in report.all_errors()}
    assert not report.accepted
    assert codes & {"PAIN-VER", "PAY-CUR", "PAY-RMT", "PAY-NB"}
    if name.endswith("001.09.xml"):
        assert {"PAY-CUR", "PAY-RMT"} <= codes  # EUR, and no RM account to apply it to


def test_the_demo_payment_files_pass_every_check() -> None:
    from domain.payment import DebitLine, Statement
    from gateway.demo import SHOWCASE_TRANSACTION, payment_files

    def debit(number: str, amount: str) -> DebitLine:
        value = Decimal(amount)
        return DebitLine(
            transaction_number=number,
            version=1,
            release_date=dt.date(2025, 1, 15),
            period="2025-01",
            due_date=dt.date(2025, 1, 31),
            assessed=value,
            paid=Decimal("0"),
            outstanding=value,
        )

    debits = [debit(SHOWCASE_TRANSACTION, "193.59"), debit("10207000300025", "540.00")]
    statement = Statement(
        account=ACCOUNT,
        as_of=dt.date(2025, 2, 1),
        debits=debits,
        credits=[],
        total_assessed=Decimal("733.59"),
        total_paid=Decimal("0"),
        unapplied=Decimal("0"),
        balance=Decimal("733.59"),
        amount_due=Decimal("733.59"),
        periods=[],
    )
    files = payment_files(statement)
    assert sorted(files) == ["01_settle_v01.xml", "02_settle_others.edi"]
    for name, text in files.items():
        report = check_stream(io.BytesIO(text.encode()), name)
        assert report.accepted, report.to_dict()
