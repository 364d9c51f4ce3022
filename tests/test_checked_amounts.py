"""domain.checked_amounts: line amounts checked as text, then pydantic without its digit checks.

``amount_fits`` must say what pydantic says about a line amount's digits, and
``validate_checked`` must give what ``Declaration.model_validate`` gives for
any data whose line amounts fit — the same Declaration, the same errors.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError, create_model

from domain import Declaration, DeclarationLine
from domain.checked_amounts import LINE_DIGIT_LIMITS, amount_fits, validate_checked
from mappings.cusdec_fast import plain_data
from tests.test_cusdec_fast_mapping import BASE, GENERATED

PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def test_the_limits_are_the_line_model_ones() -> None:
    money, fine = (16, 2), (12, 6)  # max_digits 18 with 2 or with 6 decimal places
    assert LINE_DIGIT_LIMITS == {
        "quantity": fine,
        "invoice_amount": money,
        "value_for_duty": money,
        "duty_rate": fine,
        "customs_duty": money,
        "excise_tax": money,
        "value_for_tax": money,
        "gst": money,
    }


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("0", True),
        ("1", True),
        ("12.34", True),
        ("9999999999999999.99", True),  # 16 + 2
        ("0009999999999999999.9900", True),  # leading and trailing zeros do not count
        ("10000000000000000", False),  # 17 integer digits
        ("1.005", False),
        ("1.0050", False),
        ("0.000", True),
        ("00", True),
        ("", False),
        (".5", False),
        ("5.", False),
        ("-5", False),
        ("+5", False),
        (" 5", False),
        ("5 ", False),
        ("1e5", False),
        ("1,5", False),
        ("١٢", False),  # digits, but not ASCII
        ("1.2.3", False),
        ("NaN", False),
    ],
)
def test_amount_fits_money(text: str, fits: bool) -> None:
    assert amount_fits(text, (16, 2)) is fits


def test_amount_fits_other_limits() -> None:
    assert amount_fits("123456789012.123456", (12, 6))
    assert not amount_fits("123456789012.1234567", (12, 6))
    assert not amount_fits("1234567890123", (12, 6))
    assert amount_fits("0.5", (0, 1)) and amount_fits("0", (0, 0))
    assert not amount_fits("1", (0, 5)) and not amount_fits("0.5", (3, 0))


def _field_model(name: str) -> Any:
    info = DeclarationLine.model_fields[name]
    return create_model(f"Only_{name}", value=(info.annotation, info))


FIELD_MODELS = {name: _field_model(name) for name in LINE_DIGIT_LIMITS}

numbers = st.one_of(
    st.from_regex(r"\A0{0,3}[0-9]{1,19}(\.[0-9]{1,9}0{0,3})?\Z"),
    st.text(alphabet="0123456789.+-e ", min_size=1, max_size=24),
)


@given(st.sampled_from(sorted(LINE_DIGIT_LIMITS)), numbers)
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_amount_fits_is_pydantics_verdict_on_plain_numbers(name: str, text: str) -> None:
    """On plain numbers other than zero, ``amount_fits`` and pydantic (the
    field's own annotation) agree; it never accepts a text that is not plain."""
    fits = amount_fits(text, LINE_DIGIT_LIMITS[name])
    if PLAIN.fullmatch(text) is None:
        assert not fits
        return
    try:
        FIELD_MODELS[name](value=Decimal(text))
        accepted = True
    except ValidationError:
        accepted = False
    if Decimal(text) == 0:  # only the sign check (quantity > 0) may refuse it
        assert fits
    else:
        assert fits is accepted


def _data() -> list[dict[str, Any]]:
    found = [plain_data(message, mark) for message, mark in GENERATED + BASE]
    assert all(data is not None for data in found)
    return found  # type: ignore[return-value]


DATA = _data()


def test_the_same_declarations() -> None:
    for data in DATA:
        checked = validate_checked(data)
        assert type(checked) is Declaration
        assert checked == Declaration.model_validate(data)
        assert all(type(line) is DeclarationLine for line in checked.lines)


def _changed(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("lines", 0, "hs_code"), "12345"),
        (("lines", 0, "quantity"), Decimal("0")),
        (("lines", 0, "value_for_duty"), Decimal("-1")),
        (("lines", 0, "customs_duty"), "abc"),
        (("lines", 0, "unexpected"), 1),
        (("exchange_rate",), Decimal("1.1234567")),  # a header amount keeps its digit checks
        (("currency",), "usd"),
        (("lines",), []),
    ],
)
def test_the_same_errors(path: tuple[Any, ...], value: Any) -> None:
    data = _changed(DATA[0], path, value)
    with pytest.raises(ValidationError) as expected:
        Declaration.model_validate(data)
    with pytest.raises(ValidationError) as found:
        validate_checked(data)
    assert found.value.errors() == expected.value.errors()


def test_line_digits_are_left_to_the_caller() -> None:
    """The contract: line amounts' digits are not checked again (the caller
    did), and the domain model's own validator is left as it was."""
    data = _changed(DATA[0], ("lines", 0, "gst"), Decimal("1.005"))
    assert validate_checked(data).lines[0].gst == Decimal("1.005")
    assert validate_checked(_changed(DATA[0], ("lines", 0, "gst"), Decimal("Infinity"))).lines[0].gst.is_infinite()
    with pytest.raises(ValidationError, match="decimal places"):
        Declaration.model_validate(data)
    with pytest.raises(ValidationError, match="decimal places"):
        DeclarationLine.model_validate(data["lines"][0])
    assert Declaration.__pydantic_complete__ and DeclarationLine.__pydantic_complete__
