"""The domain model: money as Decimal, dates as dates, formats enforced."""

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tests.builders import declaration


def test_dates_and_money_keep_their_types() -> None:
    d = declaration()
    assert d.release_date == dt.date(2025, 1, 15)
    assert isinstance(d.lines[0].value_for_duty, Decimal)
    dumped = json.loads(d.model_dump_json())
    assert dumped["release_date"] == "2025-01-15"
    assert dumped["invoices"][0]["lines"][0]["value_for_duty"] == "810.00"


def test_reference_is_transaction_number_and_five_digit_version() -> None:
    assert declaration(version=2).reference == "1020700300058500002"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"transaction_number": "1020700300058"}, "transaction_number"),
        ({"office_of_release": "497"}, "office_of_release"),
        ({"currency": "usd"}, ("invoices", 0, "currency")),
    ],
)
def test_formats_are_enforced(change: dict, field: str | tuple) -> None:
    with pytest.raises(ValidationError) as error:
        declaration(**change)
    assert error.value.errors()[0]["loc"] == (field if isinstance(field, tuple) else (field,))


def test_money_has_at_most_two_decimals() -> None:
    with pytest.raises(ValidationError):
        declaration(lines=[{**declaration().lines[0].model_dump(), "value_for_duty": Decimal("1.234")}])


def test_schema_command_prints_the_json_schema() -> None:
    result = subprocess.run([sys.executable, "-m", "gateway.cli", "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(result.stdout)
    assert schema["title"] == "Declaration"
    assert schema["properties"]["release_date"]["format"] == "date"
    assert "invoices" in schema["required"]
