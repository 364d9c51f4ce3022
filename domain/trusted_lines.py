"""``DeclarationLine`` instances that pydantic need not validate again.

A declaration of ten lines costs pydantic eleven model validations, and the
lines are three quarters of ``Declaration.model_validate``'s time: for every
line, each field looked up, checked and copied, the instance made. The fast
mappers hand over lines whose values are simple — exact ints, str and plain
numbers — so most lines can be checked against the line's constraints in C
and made into instances directly (``domain/_line_builder.c``); pydantic then
takes them as they are (a model instance is not validated again:
``revalidate_instances`` is "never") and still validates the rest of the
declaration, and every line the builder is not certain of.

The checks are read from ``DeclarationLine``'s core schema (``line_spec``):
for every field one of four kinds the builder knows (an int range, a text that
pydantic would not strip, a fixed character class, an amount). When the model
gains anything else — a constraint, a validator, a default other than None,
private attributes — ``line_spec`` refuses it, no builder is made and
``build_lines`` leaves every line to pydantic: the model can change without
this module silently diverging from it. The builder is conservative (where
pydantic might accept what it refuses, it refuses and pydantic decides);
tests/test_trusted_lines.py compares its instances with ``model_validate``'s.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from domain.declaration import DeclarationLine

INT, TEXT, CHARS, AMOUNT = range(4)
DIGITS, UPPER, UPPER_DIGITS = 1, 2, 3
_CLASSES = {r"\d": DIGITS, "[A-Z]": UPPER, "[A-Z0-9]": UPPER_DIGITS}
_PATTERN = re.compile(r"\^(\\d|\[A-Z\]|\[A-Z0-9\])\{(\d+)(?:,(\d+))?\}\$")

FieldSpec = tuple[str, int, int, int, int, bool]
"""(name, kind, a, b, c, required): see domain/_line_builder.c."""


class UnknownSchema(ValueError):
    """A line field's schema holds something the builder does not check."""


def _only(schema: dict[str, Any], *allowed: str) -> None:
    extra = set(schema) - {"type", "metadata", *allowed}
    if extra:
        raise UnknownSchema(f"{schema['type']} schema with {sorted(extra)}")


def _need(schema: dict[str, Any], *keys: str) -> None:
    missing = [key for key in keys if key not in schema]
    if missing:
        raise UnknownSchema(f"{schema['type']} schema without {missing}")


def _kind(schema: dict[str, Any]) -> tuple[int, int, int, int]:
    """(kind, a, b, c) of a field's value schema."""
    kind = schema.get("type")
    if kind == "int":
        _only(schema, "ge", "le")
        _need(schema, "ge", "le")
        return INT, schema["ge"], schema["le"], 0
    if kind == "str" and "pattern" in schema:
        _only(schema, "pattern")
        match = _PATTERN.fullmatch(schema["pattern"])
        if match is None:
            raise UnknownSchema(f"pattern {schema['pattern']!r}")
        low = int(match[2])
        return CHARS, low, int(match[3]) if match[3] else low, _CLASSES[match[1]]
    if kind == "str":
        _only(schema, "min_length", "max_length", "strip_whitespace")
        _need(schema, "min_length", "max_length")
        return TEXT, schema["min_length"], schema["max_length"], 0
    if kind == "decimal":
        _only(schema, "ge", "gt", "max_digits", "decimal_places")
        _need(schema, "max_digits", "decimal_places")
        if [schema.get("ge"), schema.get("gt")] not in ([0, None], [None, 0]):
            raise UnknownSchema("a decimal bound other than >= 0 or > 0")
        places = schema["decimal_places"]
        return AMOUNT, schema["max_digits"] - places, places, int("gt" in schema)
    raise UnknownSchema(f"{kind} schema")


def _field(name: str, field: dict[str, Any]) -> FieldSpec:
    _only(field, "schema")
    schema = field["schema"]
    required = schema["type"] != "default"
    if not required:
        _only(schema, "schema", "default")
        if schema["default"] is not None or schema["schema"]["type"] != "nullable":
            raise UnknownSchema(f"{name}: a default other than None, or not nullable")
        _only(schema["schema"], "schema")
        schema = schema["schema"]["schema"]
    return (name, *_kind(schema), required)


def line_spec(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The builder's spec of ``model``'s fields; UnknownSchema when the model
    holds anything the builder does not check or set."""
    schema = model.__pydantic_core_schema__
    decorators = model.__pydantic_decorators__
    if (
        schema["type"] != "model"
        or schema.get("custom_init")
        or schema.get("root_model")
        or set(schema.get("config", {})) - {"extra_fields_behavior", "title"}
        or schema.get("config", {}).get("extra_fields_behavior") != "forbid"
        or model.__private_attributes__
        or model.__pydantic_post_init__ is not None
        or any(getattr(decorators, kind) for kind in ("validators", "field_validators", "root_validators", "model_validators"))
    ):
        raise UnknownSchema(f"{model.__name__}: not a plain model of fields")
    fields = schema["schema"]
    _only(fields, "fields", "computed_fields", "model_name")
    return tuple(_field(name, field) for name, field in fields["fields"].items())


def _builder() -> Any:
    if os.environ.get("CARM_EDIFACT_ACCELERATOR", "1") == "0":
        return None
    try:
        from domain._line_builder import LineBuilder
    except ImportError:
        return None
    try:
        return LineBuilder(DeclarationLine, Decimal, line_spec(DeclarationLine))
    except UnknownSchema:
        return None


_BUILDER = _builder()


def builder_available() -> bool:
    """Whether lines are built in C (the extension is built and the model is one it knows)."""
    return _BUILDER is not None


def build_lines(lines: list[Any]) -> None:
    """Replace in ``lines`` every dict of line fields that certainly passes
    ``DeclarationLine``'s validation by its instance; leave the others (and
    everything, without the builder) to pydantic.

    The caller checked the text of every line amount with
    ``checked_amounts.amount_fits`` (the contract of
    ``checked_amounts.validate_checked``, which the declaration is then
    validated with): an amount given as text is checked again here, one given
    as a ``Decimal`` for its sign (its digits are the caller's word). Off with
    the other accelerators when ``CARM_EDIFACT_ACCELERATOR`` is "0"."""
    if _BUILDER is not None:
        _BUILDER.build_all(lines)
