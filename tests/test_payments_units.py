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

from domain.payment import (
    BillingCalendar,
    Payment,
    RemittanceItem,
    billing_period,
    late_interest,
    payment_due_date,
    period_id,
)
from gateway.flows.dispatch import check_stream
from portal.payments import PortalCalendar
from portal.server import PortalServer
from tests.conftest import TARIFF_PATH
from validators.reference_data import (
    DEFAULT_DIRECTORY,
    ReferenceData,
    default_reference,
    load_calendar,
    load_prescribed_rates,
)
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


# The 10th weekday after the 17th (SOR/86-1062 s.10.3(3)), worked out by hand: from a weekday
# the 17th + 14 days, from a Saturday + 13, from a Sunday + 12 (the Friday of the second week);
# holidays count as weekdays, and a due date on a holiday moves to the next business day
# (Interpretation Act s.26). Weekday of the 17th in the comment.
DUE_DATES = {
    "2024-01-17": "2024-01-31",  # Wed
    "2024-02-17": "2024-03-01",  # Sat; 2024 is a leap year
    "2024-03-17": "2024-04-02",  # Sun: 29 Mar is Good Friday, 1 Apr Easter Monday
    "2024-04-17": "2024-05-01",  # Wed
    "2024-05-17": "2024-05-31",  # Fri; Victoria Day (20 May) counts
    "2024-06-17": "2024-07-02",  # Mon: 1 Jul is Canada Day
    "2024-07-17": "2024-07-31",  # Wed
    "2024-08-17": "2024-08-30",  # Sat
    "2024-09-17": "2024-10-01",  # Tue; 30 Sep counts
    "2024-10-17": "2024-10-31",  # Thu
    "2024-11-17": "2024-11-29",  # Sun
    "2024-12-17": "2024-12-31",  # Tue; Christmas and Boxing Day count (the example)
    "2025-01-17": "2025-01-31",  # Fri
    "2025-02-17": "2025-03-03",  # Mon; 28 days in February
    "2025-03-17": "2025-03-31",  # Mon
    "2025-04-17": "2025-05-01",  # Thu; Good Friday and Easter Monday count
    "2025-05-17": "2025-05-30",  # Sat
    "2025-06-17": "2025-07-02",  # Tue: 1 Jul is Canada Day
    "2025-07-17": "2025-07-31",  # Thu
    "2025-08-17": "2025-08-29",  # Sun
    "2025-09-17": "2025-10-01",  # Wed
    "2025-10-17": "2025-10-31",  # Fri
    "2025-11-17": "2025-12-01",  # Mon
    "2025-12-17": "2025-12-31",  # Wed; Christmas and Boxing Day count
    "2026-01-17": "2026-01-30",  # Sat; New Year's Day is in the period, not in the count
    "2026-02-17": "2026-03-03",  # Tue
    "2026-03-17": "2026-03-31",  # Tue
    "2026-04-17": "2026-05-01",  # Fri
    "2026-05-17": "2026-05-29",  # Sun; Victoria Day (18 May) counts
    "2026-06-17": "2026-07-02",  # Wed: 1 Jul is Canada Day
    "2026-07-17": "2026-07-31",  # Fri
    "2026-08-17": "2026-08-31",  # Mon
    "2026-09-17": "2026-10-01",  # Thu
    "2026-10-17": "2026-10-30",  # Sat
    "2026-11-17": "2026-12-01",  # Tue
    "2026-12-17": "2026-12-31",  # Thu; Christmas and Boxing Day (observed 28 Dec) count
}


@pytest.mark.parametrize(("period_end", "due"), sorted(DUE_DATES.items()))
def test_due_date_is_the_10th_weekday_after_the_period(period_end: str, due: str) -> None:
    end, expected = dt.date.fromisoformat(period_end), dt.date.fromisoformat(due)
    reference = default_reference()
    release = end - dt.timedelta(days=3)
    assert billing_period(release)[1] == end
    assert rules_due_date(release, reference) == expected
    assert PortalCalendar.load().due_date(end) == expected


@given(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 11, 30)))
def test_the_portal_and_the_rules_agree_on_the_due_date(release: dt.date) -> None:
    portal = PortalCalendar.load()
    assert portal.due_date(portal.period(release)[1]) == rules_due_date(release, default_reference())


def test_business_day_counting_is_the_old_rule() -> None:
    """count=business_days skips holidays: 25, 26 Dec and 1 Jan push the period ending
    2024-12-17 to 2025-01-03, the date the project gave before issue 17."""
    holidays = default_reference().holidays
    old = BillingCalendar(holidays_count=False)
    assert payment_due_date(dt.date(2024, 12, 17), old, holidays) == dt.date(2025, 1, 3)
    assert payment_due_date(dt.date(2024, 12, 17), BillingCalendar(), holidays) == dt.date(2024, 12, 31)
    assert payment_due_date(dt.date(2024, 6, 17), BillingCalendar(holiday_moves_due=False), holidays) == dt.date(
        2024, 7, 1
    )


def test_late_interest_is_at_the_specified_rate_compounded_daily() -> None:
    """Worked by hand with prescribed_rates.csv (illustrative: 4 % in 2025 Q1, 3 % from 2025-04-01),
    specified rate = prescribed + 6 points, a day's interest = balance x rate / 365."""
    rates = load_prescribed_rates()
    assert (rates(dt.date(2025, 3, 31)), rates(dt.date(2025, 4, 1))) == (Decimal("4"), Decimal("3"))
    # 10 days at 10 %: 100000 x ((1 + 0.1/365)^10 - 1) = 100000 x (10x + 45x^2 + 120x^3), x = 0.1/365
    # = 100000 x (0.0027397260 + 0.0000033777 + 0.0000000025) = 274.31 (simple interest: 273.97)
    assert late_interest(Decimal("100000.00"), dt.date(2025, 1, 31), dt.date(2025, 2, 10), rates) == Decimal("274.31")
    # across the quarter: 31 Mar at 10 % = 27.3973, then 1 Apr at 9 % on 100027.3973 = 24.6643 -> 52.06
    assert late_interest(Decimal("100000.00"), dt.date(2025, 3, 30), dt.date(2025, 4, 1), rates) == Decimal("52.06")
    # paid on the due date, or before it: no interest
    assert late_interest(Decimal("100000.00"), dt.date(2025, 3, 31), dt.date(2025, 3, 31), rates) == Decimal("0.00")
    assert late_interest(Decimal("100000.00"), dt.date(2025, 3, 31), dt.date(2025, 3, 1), rates) == Decimal("0.00")
    with pytest.raises(ValueError, match="no prescribed rate for 2023-12-31"):
        rates(dt.date(2023, 12, 31))


def _reference_copy(tmp_path: Path, calendar_row: str) -> Path:
    directory = tmp_path / "reference"
    directory.mkdir()
    for source in DEFAULT_DIRECTORY.iterdir():
        (directory / source.name).write_bytes(source.read_bytes())
    (directory / "billing_calendar.csv").write_text(
        f"period_end_day,due_days,count,on_holiday,source\n{calendar_row}\n", encoding="utf-8"
    )
    return directory


def test_the_calendar_is_data(tmp_path: Path) -> None:
    """A reference directory's billing_calendar.csv overrides the shipped one, for the rules and the portal."""
    directory = _reference_copy(tmp_path, "24,5,business_days,stays,test")
    reference = ReferenceData.load(directory)
    assert reference.calendar == BillingCalendar(24, 5, holidays_count=False, holiday_moves_due=False)
    assert billing_period(dt.date(2025, 1, 25), reference.calendar) == (dt.date(2025, 1, 25), dt.date(2025, 2, 24))
    # period ending Tue 2024-12-24: 25, 26 Dec and 1 Jan skipped -> 27, 30, 31 Dec, 2, 3 Jan
    assert rules_due_date(dt.date(2024, 12, 20), reference) == dt.date(2025, 1, 3)
    assert PortalCalendar.load(directory).due_date(dt.date(2024, 12, 24)) == dt.date(2025, 1, 3)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("17,10,weekdays,stays,x\n17,10,weekdays,stays,y", "expected exactly one calendar row, found 2"),
        ("17,10,fortnights,stays,x", "count 'fortnights' is not one of weekdays, business_days"),
        ("17,10,weekdays,later,x", "on_holiday 'later' is not one of next_business_day, stays"),
        ("31,10,weekdays,stays,x", "period end day 31 must be 1 to 28"),
        ("17,0,weekdays,stays,x", "due days 0 must be at least 1"),
    ],
)
def test_a_bad_calendar_is_refused_with_its_line(tmp_path: Path, row: str, message: str) -> None:
    directory = _reference_copy(tmp_path, row)
    with pytest.raises(ValueError, match=message) as raised:
        load_calendar(directory)
    assert "billing_calendar.csv" in str(raised.value)


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
