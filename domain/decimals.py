"""Decimal fields with a digit budget and a lower bound: pydantic's ``max_digits``,
``decimal_places`` and ``ge``/``gt``, the same acceptance and the same errors, at a third of
the cost for a value that fits.

pydantic-core checks ``max_digits``/``decimal_places`` through ``Decimal.normalize()`` and two
``Decimal.as_tuple()`` calls (a named tuple built in Python) on every value: about 0.4 µs of a
declaration's 5-12 amounts each. No constraint pydantic-core checks natively says the same
(``multiple_of`` with ``lt`` accepts the same values but names other errors). ``Bounded``
validates a plain ``Decimal`` (pydantic-core: type and finiteness) and then, in one function,
tests what a value that fits satisfies (a multiple of the last decimal place, under the
whole-digit limit: one ``quantize``, one ``adjusted``); only a value that fails the test is
measured as pydantic measures it, for pydantic's error. The bound comes after the digits, as
in pydantic. The JSON schema is the one pydantic writes for ``Field(ge=…, max_digits=…,
decimal_places=…)``. ``tests/test_domain_decimals.py`` compares both on many values.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticKnownError, core_schema
from pydantic_core.core_schema import ErrorType


class Bounded:
    """``Annotated[Decimal, Bounded(18, 2, ge=0)]`` is ``Annotated[Decimal, Field(ge=0,
    max_digits=18, decimal_places=2)]``: at most ``max_digits`` digits, ``decimal_places`` of
    them after the point, and ``>= ge`` (or ``> gt``)."""

    __slots__ = ("_check", "_whole", "decimal_places", "ge", "gt", "max_digits")

    def __init__(self, max_digits: int, decimal_places: int, *, ge: int | None = None, gt: int | None = None) -> None:
        if (ge is None) == (gt is None):
            raise ValueError("give one bound: ge or gt")
        self.max_digits, self.decimal_places = max_digits, decimal_places
        self.ge = None if ge is None else Decimal(ge)
        self.gt = None if gt is None else Decimal(gt)
        self._whole = max_digits - decimal_places
        self._check = self._checker()

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, core_schema.decimal_schema())

    def __get_pydantic_json_schema__(
        self, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(
            core_schema.decimal_schema(
                ge=self.ge, gt=self.gt, max_digits=self.max_digits, decimal_places=self.decimal_places
            )
        )

    def _checker(self) -> Callable[[Decimal], Decimal]:
        """The check of one value, its limits bound as locals (it runs for every amount read)."""
        quantum, whole, refuse = Decimal(1).scaleb(-self.decimal_places), self._whole, self._refuse
        bound, inclusive = (self.ge, True) if self.ge is not None else (self.gt, False)
        assert bound is not None
        error: ErrorType = "greater_than_equal" if inclusive else "greater_than"
        context = {"ge": bound} if inclusive else {"gt": bound}

        def check(value: Decimal) -> Decimal:
            try:
                fits = value.quantize(quantum) == value and value.adjusted() < whole
            except InvalidOperation:  # too many digits to quantize: it does not fit
                fits = False
            if not fits:
                refuse(value)
            if not (value >= bound if inclusive else value > bound):
                raise PydanticKnownError(error, context)
            return value

        return check

    def _refuse(self, value: Decimal) -> None:
        """pydantic's digit errors: a limit is exceeded when both the value as written and the
        value without its trailing zeros exceed it (``1.000`` has 2 decimal places)."""
        digits, decimals = _measure(value)
        # without trailing zeros, exactly: at the value's own precision nothing is rounded
        normal_digits, normal_decimals = _measure(value.normalize(Context(prec=max(digits, 1))))
        if digits > self.max_digits and normal_digits > self.max_digits:
            raise PydanticKnownError("decimal_max_digits", {"max_digits": self.max_digits})
        if decimals > self.decimal_places and normal_decimals > self.decimal_places:
            raise PydanticKnownError("decimal_max_places", {"decimal_places": self.decimal_places})
        if digits - decimals > self._whole and normal_digits - normal_decimals > self._whole:
            raise PydanticKnownError("decimal_whole_digits", {"whole_digits": self._whole})


def _measure(value: Decimal) -> tuple[int, int]:
    """(digits, decimal places) as pydantic counts them: trailing zeros of a positive exponent
    are digits; leading zeros after the point are digits too."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # a finite value: pydantic-core refused the others
    if exponent >= 0:
        return len(digits) + exponent, 0
    return max(len(digits), -exponent), -exponent
