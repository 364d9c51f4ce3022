"""Validating a ``Declaration`` whose line amounts a mapper checked as text.

pydantic checks a ``Decimal``'s digits (``max_digits``, ``decimal_places``) by
normalizing it and reading its digit tuple, and that it is finite by asking
it: Python calls for every amount, more than half of
``Declaration.model_validate``'s time for declarations of many lines. A mapper
that reads amounts as text can check the same limits as it reads them
(``amount_fits``, or the same test in C; a plain number is finite) and then
validate with ``validate_checked``: the declaration's own schema without those
checks on line amounts. Everything else — the sign of every amount, the
header's amounts, every other field, the structure — pydantic still checks,
and the result is the same ``Declaration`` (tests/test_checked_amounts.py
compares them, and ``amount_fits`` with pydantic's own verdict).

The limits are read from ``DeclarationLine``'s schema, so they follow the
domain model.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import SchemaValidator

from domain.declaration import Declaration, DeclarationLine

DIGIT_CHECKS = ("max_digits", "decimal_places")


def _schemas(node: Any, wanted: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
    """Every schema in a core schema (nested in defaults, nullables, lists, …) that is ``wanted``."""
    if isinstance(node, dict):
        if wanted(node):
            yield node
        for value in node.values():
            yield from _schemas(value, wanted)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value, wanted)


def _is_decimal(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "decimal"


def _is_line_model(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "model" and schema.get("cls") is DeclarationLine


def _line_limits() -> dict[str, tuple[int, int]]:
    fields = DeclarationLine.__pydantic_core_schema__["schema"]["fields"]
    limits = {}
    for name, field in fields.items():
        for schema in _schemas(field, _is_decimal):
            places = schema["decimal_places"]
            limits[name] = (schema["max_digits"] - places, places)
    return limits


LINE_DIGIT_LIMITS: dict[str, tuple[int, int]] = _line_limits()
"""Line field → (integer digits, decimal places) its amounts may have."""


def fits_pattern(limits: tuple[int, int]) -> str:
    """A regular expression (possessive, so it composes without backtracking)
    matching the texts ``amount_fits`` accepts for ``limits``."""
    integer_digits, places = limits
    # leading zeros, then at most ``integer_digits`` digits; a fraction whose
    # digits after the first ``places`` are all zeros (trailing zeros do not count)
    significant = rf"(?:[1-9][0-9]{{0,{integer_digits - 1}}}+)?+" if integer_digits else ""
    return rf"(?=[0-9])0*+{significant}(?:\.(?=[0-9])[0-9]{{0,{places}}}+0*+)?+"


@cache
def _compiled(limits: tuple[int, int]) -> re.Pattern[str]:
    return re.compile(fits_pattern(limits))


def amount_fits(text: str, limits: tuple[int, int]) -> bool:
    """Whether ``text`` is a plain number (``[0-9]+(.[0-9]+)?``) whose value
    has at most ``limits`` = (integer digits, decimal places), counted as
    pydantic counts them: on the normalized value (``007.50`` has one
    integer digit and one decimal place)."""
    return _compiled(limits).fullmatch(text) is not None


@contextmanager
def _schemas_not_reused(models: tuple[type[BaseModel], ...]) -> Iterator[None]:
    """While a validator is built, have pydantic-core build these models'
    validators from the schema it is given: it reuses the validator a model
    class carries whenever the class is marked complete."""
    marks = [model.__dict__["__pydantic_complete__"] for model in models]
    for model in models:
        model.__pydantic_complete__ = False
    try:
        yield
    finally:
        for model, mark in zip(models, marks, strict=True):
            model.__pydantic_complete__ = mark


def _checked_validator() -> SchemaValidator:
    schema = copy.deepcopy(Declaration.__pydantic_core_schema__)
    lines = list(_schemas(schema, _is_line_model))
    if not lines:
        raise RuntimeError("Declaration's schema holds no DeclarationLine model")
    for line in lines:
        for node in _schemas(line, _is_decimal):
            for check in DIGIT_CHECKS:
                node.pop(check, None)
            node["allow_inf_nan"] = True  # a plain number is finite: pydantic need not ask it
    with _schemas_not_reused((Declaration, DeclarationLine)):
        return SchemaValidator(schema)


_CHECKED = _checked_validator()
"""Built once, on import (under the import lock: the models' marks are never
changed by two threads at once)."""


def validate_checked(data: dict[str, Any]) -> Declaration:
    """``Declaration.model_validate(data)`` for data whose line amounts are
    known to be plain numbers that fit ``LINE_DIGIT_LIMITS`` (the caller
    checked them with ``amount_fits`` or its equivalent): the same result, the
    same ``ValidationError`` for anything else wrong."""
    return _CHECKED.validate_python(data)
