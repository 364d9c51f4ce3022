"""``domain.decimals.Bounded`` accepts and refuses what pydantic's own ``Field(ge/gt, max_digits,
decimal_places)`` does, with the same errors (type, message, input, context), from Python and
from JSON, and writes the same JSON schema."""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from domain.decimals import Bounded

PAIRS = [
    (Field(ge=0, max_digits=18, decimal_places=2), Bounded(18, 2, ge=0)),
    (Field(gt=0, max_digits=18, decimal_places=6), Bounded(18, 6, gt=0)),
    (Field(ge=0, max_digits=18, decimal_places=6), Bounded(18, 6, ge=0)),
]
WRITTEN = [
    "0", "0.00", "1.005", "12345678901234567.5", "123456789012345678.5", "99999999999999999", "-5", "abc", "",
    "0.001", "10000000000000000", "9999999999999999.99", "0.0000001", "1.1234567", "00012.50", "5.10", "-0.001",
    "-1.005", "1E+20", "0E+20", "0E-20", "1.000000000000000000000000000000", "NaN", "Infinity", "-0", "-0.00",
    "1234567890123456.78", "123456789012.123456", "1234567890123.123456", "0.1234567", "1e-7", "1E+16", "1E+15",
    "99999999999999999999999999999.99", "1.00000000000000000000000000001", "-1E+30", "1.000000000000000000000000000001000",
    "100000000000000000000000000000E-28",
]  # fmt: skip


def _written(count: int) -> list[str]:
    """Values as files write them and odd ones: long, with trailing zeros, exponents, signs."""
    rnd = random.Random(18)
    found = list(WRITTEN)
    for _ in range(count):
        whole = "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(1, 25)))
        fraction = "".join(rnd.choice("0000000001") for _ in range(rnd.randrange(0, 30)))
        sign = "-" if rnd.random() < 0.1 else ""
        found.append(sign + whole + ("." + fraction if fraction else "") + rnd.choice(["", "", "E+3", "E-5", "E+20"]))
    return found


def _outcome(adapter: TypeAdapter[Decimal], value: Any, json: bool) -> object:
    try:
        return repr(adapter.validate_json(value) if json else adapter.validate_python(value))
    except ValidationError as error:
        return error.errors(include_url=False)


@pytest.mark.parametrize(("field", "bounded"), PAIRS)
def test_bounded_decimals_are_pydantics_constraints(field: Any, bounded: Bounded) -> None:
    pydantic_own = TypeAdapter(Annotated[Decimal, field])
    ours = TypeAdapter(Annotated[Decimal, bounded])
    for text in _written(3000):
        inputs: list[Any] = [text]
        with contextlib.suppress(ArithmeticError):
            inputs.append(Decimal(text))
        for value in inputs:
            assert _outcome(ours, value, json=False) == _outcome(pydantic_own, value, json=False), value
        assert _outcome(ours, f'"{text}"', json=True) == _outcome(pydantic_own, f'"{text}"', json=True), text
    assert ours.json_schema() == pydantic_own.json_schema()


def test_a_bounded_decimal_has_one_bound() -> None:
    with pytest.raises(ValueError, match="one bound"):
        Bounded(18, 2)
