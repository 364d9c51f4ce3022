"""domain.trusted_lines and its C builder (domain/_line_builder.c).

``LineBuilder.build(fields)`` makes a ``DeclarationLine`` without pydantic
validating it, when the dict certainly passes every constraint of the model;
otherwise it returns None and pydantic decides. The claim tested here: every
instance it builds is the one ``DeclarationLine.model_validate`` gives for the
same dict (equal, same repr, JSON, fields set, ``__dict__`` order, Decimal
representations), frozen like pydantic's; it builds the ordinary lines the
mappers hand over; and ``line_spec`` refuses every model it does not fully
understand, so the model cannot change without the builder noticing.

The contract leaves one check to the caller: a ``Decimal`` amount is trusted
to have had its text checked with ``checked_amounts.amount_fits``, so the
Decimal amounts generated here always satisfy it (amounts given as text may be
anything).

Set ``CARM_REQUIRE_ACCELERATOR=1`` (CI, release builds) to make a missing
extension a failure instead of a skip.
"""

from __future__ import annotations

import copy
import os
import pickle
import sys
import weakref
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from domain import trusted_lines
from domain.checked_amounts import LINE_DIGIT_LIMITS, amount_fits, validate_checked
from domain.declaration import Declaration, DeclarationLine
from domain.trusted_lines import AMOUNT, CHARS, DIGITS, INT, TEXT, UPPER, UPPER_DIGITS, UnknownSchema, line_spec
from tests import builders

needs_builder = pytest.mark.skipif(
    not trusted_lines.builder_available(),
    reason="domain._line_builder not built (pip install -e . builds it) or CARM_EDIFACT_ACCELERATOR=0",
)

BOUNDED = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_builder_is_built_when_required() -> None:
    if os.environ.get("CARM_REQUIRE_ACCELERATOR") == "1":
        assert trusted_lines.builder_available(), (
            "CARM_REQUIRE_ACCELERATOR=1 but domain._line_builder is not importable (or the line model is one "
            "line_spec refuses): build it with `pip install -e .` (needs a C compiler and the Python headers)"
        )


def builder() -> Any:
    assert trusted_lines._BUILDER is not None
    return trusted_lines._BUILDER


def build(fields: Any) -> DeclarationLine | None:
    return builder().build(fields)  # type: ignore[no-any-return]


# The model, field by field (hand-written: what the builder must check) --------

FIELDS = (
    "line_number",
    "description",
    "hs_code",
    "tariff_treatment",
    "country_of_origin",
    "quantity",
    "unit",
    "invoice_amount",
    "value_for_duty",
    "duty_rate",
    "customs_duty",
    "excise_tax",
    "value_for_tax",
    "gst",
)
REQUIRED = ("line_number", "description", "hs_code", "tariff_treatment", "country_of_origin", "quantity", "unit", "value_for_duty")
OPTIONAL = tuple(name for name in FIELDS if name not in REQUIRED)
MONEY_FIELDS = ("invoice_amount", "value_for_duty", "customs_duty", "excise_tax", "value_for_tax", "gst")
AMOUNT_FIELDS = ("quantity", "invoice_amount", "value_for_duty", "duty_rate", "customs_duty", "excise_tax", "value_for_tax", "gst")
LIMITS = {"quantity": (12, 6), "duty_rate": (12, 6), **{name: (16, 2) for name in MONEY_FIELDS}}
"""(integer digits, decimal places): max_digits 18 with 6 or with 2 decimal places."""

TYPICAL: dict[str, Any] = {
    "line_number": 1,
    "hs_code": "6110110010",
    "tariff_treatment": "2",
    "description": "PLASTIC FOOD CONTAINERS WITH LIDS",
    "country_of_origin": "DE",
    "unit": "PR",
    "quantity": Decimal("3078"),
    "invoice_amount": Decimal("3387.08"),
    "value_for_duty": Decimal("4572.56"),
    "duty_rate": Decimal("18"),
    "customs_duty": Decimal("823.06"),
    "gst": Decimal("269.78"),
    "value_for_tax": Decimal("5395.62"),
}
TYPICAL_TEXT: dict[str, Any] = {
    **TYPICAL,
    "quantity": "3078",
    "invoice_amount": "3387.08",
    "value_for_duty": "4572.56",
    "duty_rate": "18",
    "customs_duty": "823.06",
    "gst": "269.78",
    "value_for_tax": "5395.62",
}


def test_the_hand_written_limits_are_the_models() -> None:
    assert LIMITS == LINE_DIGIT_LIMITS
    assert tuple(DeclarationLine.model_fields) == FIELDS
    assert tuple(name for name, info in DeclarationLine.model_fields.items() if info.is_required()) == REQUIRED


# line_spec ---------------------------------------------------------------------


def test_the_kind_numbers_are_the_c_contracts() -> None:
    assert (INT, TEXT, CHARS, AMOUNT) == (0, 1, 2, 3)
    assert (DIGITS, UPPER, UPPER_DIGITS) == (1, 2, 3)


def test_line_spec_of_the_line_model() -> None:
    money = (AMOUNT, 16, 2, 0)
    assert line_spec(DeclarationLine) == (
        ("line_number", INT, 1, 99999, 0, True),
        ("description", TEXT, 1, 350, 0, True),
        ("hs_code", CHARS, 10, 10, DIGITS, True),
        ("tariff_treatment", CHARS, 1, 3, DIGITS, True),
        ("country_of_origin", CHARS, 2, 2, UPPER, True),
        ("quantity", AMOUNT, 12, 6, 1, True),
        ("unit", CHARS, 2, 3, UPPER_DIGITS, True),
        ("invoice_amount", *money, False),
        ("value_for_duty", *money, True),
        ("duty_rate", AMOUNT, 12, 6, 0, False),
        ("customs_duty", *money, False),
        ("excise_tax", *money, False),
        ("value_for_tax", *money, False),
        ("gst", *money, False),
    )


Small = Annotated[Decimal, Field(ge=0, max_digits=5, decimal_places=2)]
Letters = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Plain(BaseModel):
    """A model line_spec understands: the control of the refusals below."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: Annotated[int, Field(ge=1, le=9)]
    code: Letters
    text: Annotated[str, StringConstraints(min_length=2, max_length=5, strip_whitespace=True)]
    amount: Small | None = None
    count: Annotated[Decimal, Field(gt=0, max_digits=8, decimal_places=3)]


def test_line_spec_of_a_plain_model() -> None:
    assert line_spec(Plain) == (
        ("n", INT, 1, 9, 0, True),
        ("code", CHARS, 2, 2, UPPER, True),
        ("text", TEXT, 2, 5, 0, True),
        ("amount", AMOUNT, 3, 2, 0, False),
        ("count", AMOUNT, 5, 3, 1, True),
    )


class WithFieldValidator(Plain):
    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value


class WithModelValidator(Plain):
    @model_validator(mode="after")
    def _check(self) -> WithModelValidator:
        return self


class WithDefault(Plain):
    amount: Small = Decimal("0")


class WithDefaultFactory(Plain):
    amount: Small | None = Field(default_factory=lambda: None)


class WithLowerPattern(Plain):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class WithUpperBound(Plain):
    amount: Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)] | None = None


class WithNegativeBound(Plain):
    amount: Annotated[Decimal, Field(ge=-1, max_digits=5, decimal_places=2)] | None = None


class WithExtraAllowed(Plain):
    model_config = ConfigDict(extra="allow")


class WithExtraIgnored(BaseModel):
    n: Annotated[int, Field(ge=1, le=9)]


class WithStrictConfig(Plain):
    model_config = ConfigDict(strict=True)


class WithPrivate(Plain):
    _cache: int = PrivateAttr(default=0)


class WithPostInit(Plain):
    def model_post_init(self, context: Any, /) -> None:
        pass


class WithAlias(Plain):
    n: Annotated[int, Field(ge=1, le=9, alias="N")]


class WithExclusiveInt(Plain):
    n: Annotated[int, Field(gt=0, lt=10)]


class WithUpperCasing(Plain):
    text: Annotated[str, StringConstraints(min_length=2, max_length=5, strip_whitespace=True, to_upper=True)]


class WithRequiredNullable(Plain):
    code: Letters | None


class WithNested(Plain):
    inner: Plain | None = None


class WithStrictField(Plain):
    n: Annotated[int, Field(ge=1, le=9, strict=True)]


class WithPatternAndLength(Plain):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$", max_length=2)]


@pytest.mark.parametrize(
    "model",
    [
        WithFieldValidator,
        WithModelValidator,
        WithDefault,
        WithDefaultFactory,
        WithLowerPattern,
        WithUpperBound,
        WithNegativeBound,
        WithExtraAllowed,
        WithExtraIgnored,
        WithStrictConfig,
        WithPrivate,
        WithPostInit,
        WithAlias,
        WithExclusiveInt,
        WithUpperCasing,
        WithRequiredNullable,
        WithNested,
        WithStrictField,
        WithPatternAndLength,
    ],
    ids=lambda model: model.__name__,
)
def test_line_spec_refuses_what_it_does_not_check(model: type[BaseModel]) -> None:
    with pytest.raises(UnknownSchema):
        line_spec(model)


class WithPlainStr(Plain):
    text: str  # type: ignore[assignment]


class WithUnboundedInt(Plain):
    n: int  # type: ignore[assignment]


class WithMaxLengthOnly(Plain):
    text: Annotated[str, StringConstraints(max_length=5)]


class WithUnlimitedDigits(Plain):
    amount: Annotated[Decimal, Field(ge=0)] | None = None


@pytest.mark.parametrize(
    "model", [WithPlainStr, WithUnboundedInt, WithMaxLengthOnly, WithUnlimitedDigits], ids=lambda model: model.__name__
)
def test_line_spec_refuses_fields_without_limits(model: type[BaseModel]) -> None:
    """A str, int or Decimal field without both limits is something the builder
    does not check: UnknownSchema (which ``_builder`` catches), not a KeyError
    that would make importing domain.trusted_lines fail."""
    with pytest.raises(UnknownSchema):
        line_spec(model)


def test_no_builder_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARM_EDIFACT_ACCELERATOR", "0")
    assert trusted_lines._builder() is None


def test_build_lines_without_the_builder_leaves_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trusted_lines, "_BUILDER", None)
    line = dict(TYPICAL)
    lines = [line]
    trusted_lines.build_lines(lines)
    assert lines == [TYPICAL] and lines[0] is line
    assert not trusted_lines.builder_available()


# Built instances are model_validate's --------------------------------------------


def assert_is_pydantics(built: Any, fields: dict[Any, Any]) -> DeclarationLine:
    """``built`` is the instance ``model_validate(fields)`` gives, to the representation."""
    expected = DeclarationLine.model_validate(fields)  # raises when the builder was wrong to build
    assert type(built) is DeclarationLine
    assert built == expected
    assert repr(built) == repr(expected)
    assert built.model_dump_json() == expected.model_dump_json()
    assert built.model_fields_set == expected.model_fields_set
    assert list(built.__dict__) == list(expected.__dict__) == list(FIELDS)
    for name in FIELDS:
        value, wanted = getattr(built, name), getattr(expected, name)
        assert type(value) is type(wanted), name
        if isinstance(wanted, Decimal):
            assert str(value) == str(wanted), name
    assert built.__pydantic_extra__ is None and expected.__pydantic_extra__ is None
    assert built.__pydantic_private__ is None and expected.__pydantic_private__ is None
    with pytest.raises(ValidationError, match="frozen"):
        built.gst = Decimal("1")
    with pytest.raises(ValidationError, match="frozen"):
        built.description = "OTHER"
    assert DeclarationLine.model_validate(built) is built  # pydantic takes it as it is
    return expected


MISSING = object()


class Text(str):
    """A str subclass: the builder takes exact str only."""


# Valid values -- certainly accepted by pydantic and by the builder.

LATIN1_PRINTABLE = "".join(map(chr, [*range(0x21, 0x7F), *range(0xA1, 0x100)]))


valid_descriptions = st.one_of(
    st.sampled_from(LATIN1_PRINTABLE),
    st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(LATIN1_PRINTABLE),
        st.text(max_size=40),  # any character but a surrogate may sit inside
        st.sampled_from(LATIN1_PRINTABLE),
    ),
    st.sampled_from(["X", "CHAUSSURES DE SÉCURITÉ", "Ä" * 350, "A" + " " * 348 + "Z", "A\t\n\r\x00B", "A € 中 ÿ"]),
)


def fitting_text(limits: tuple[int, int], positive: bool = False) -> st.SearchStrategy[str]:
    """Plain numbers that fit ``limits``, with leading and trailing zeros that do not count."""
    integer_digits, places = limits

    def text(zeros: int, whole: int, fraction: str | None, trailing: int) -> str:
        return "0" * zeros + str(whole) + ("" if fraction is None else "." + fraction + "0" * trailing)

    wholes = st.one_of(st.integers(0, 999), st.integers(0, 10**integer_digits - 1))
    fractions = st.none() | st.text(alphabet="0123456789", min_size=1, max_size=places)
    found = st.builds(text, st.integers(0, 3), wholes, fractions, st.integers(0, 3))
    if not positive:
        return found
    nonzero_fractions = st.builds(
        lambda head, last: head + last, st.text(alphabet="0123456789", max_size=places - 1), st.sampled_from("123456789")
    )
    return st.one_of(
        st.builds(text, st.integers(0, 3), st.integers(1, 10**integer_digits - 1), fractions, st.integers(0, 3)),
        st.builds(text, st.integers(0, 3), st.just(0), nonzero_fractions, st.integers(0, 3)),
    )


def valid_amount(name: str) -> st.SearchStrategy[Any]:
    texts = fitting_text(LIMITS[name], positive=name == "quantity")
    decimals = texts.map(Decimal).filter(lambda value: amount_fits(str(value), LIMITS[name]))
    return texts | decimals


VALID: dict[str, st.SearchStrategy[Any]] = {
    "line_number": st.integers(1, 99999),
    "description": valid_descriptions,
    "hs_code": st.from_regex(r"\A[0-9]{10}\Z"),
    "tariff_treatment": st.from_regex(r"\A[0-9]{1,3}\Z"),
    "country_of_origin": st.from_regex(r"\A[A-Z]{2}\Z"),
    "unit": st.from_regex(r"\A[A-Z0-9]{2,3}\Z"),
    **{name: valid_amount(name) for name in AMOUNT_FIELDS},
}

# Anything: valid, near the boundaries, invalid.

ODD_ENDS = ["", " ", "\t", "\n", "\xa0", "\x85", "\u2028", "\u3000", "\u200b", "\ufeff", "€", "中", "É", "\x7f", "\xad", "\x1f"]
ODD_DESCRIPTIONS = [
    "",
    " ",
    "A" * 349,
    "A" * 350,
    "A" * 351,
    "É" * 351,
    "中" * 350,
    " " + "A" * 350,
    "A" * 350 + " ",
    " PLASTIC",
    "PLASTIC ",
    "A\ud800B",
    "AB\udfff",
    "\ud83d\ude00",
    Text("PLASTIC"),
    b"PLASTIC",
    7,
]
odd_descriptions = st.one_of(
    st.sampled_from(ODD_DESCRIPTIONS),
    st.builds(
        lambda first, middle, last: first + middle + last,
        st.sampled_from(ODD_ENDS),
        st.text(max_size=12),
        st.sampled_from(ODD_ENDS),
    ),
    st.builds(lambda a, b: a + "\ud800" + b, st.text(min_size=1, max_size=5), st.text(min_size=1, max_size=5)),
)
ODD_DIGITS = ["", "611011001", "61101100101", "٠" * 10, "611011001٠", "６１１０１１００１０", "6110110010\n", " 6110110010",
              "6110110010 ", "61101100I0", "²" * 10, Text("6110110010"), 6110110010, None]
ODD_CODES = ["", "D", "de", "De", "DEU", "D1", "ÉE", "DE\n", "ＤＥ", Text("DE"), 49]
ODD_UNITS = ["P", "PR", "pr", "PR1", "PRS1", "P-", "PR\n", "µM", "KGM", "NMB", "12", "1", Text("PR"), 1]
ODD_AMOUNTS = ["0", "0.000", "00", "007.50", "12.500", "1e5", "1E5", " 1", "1 ", "-1", "-0", "+1", "1.", ".5", "", "NaN", "Infinity",
               "1_000", "1,5", "١", "１", "9999999999999999.99", "10000000000000000", "0009999999999999999.9900", "999999999999.999999",
               "1000000000000", "1.005", "1.0050", "0.0000001", "0.1234567", "1.1234560", Text("1"), 1, 1.5, True]
ZERO_DECIMALS = [Decimal("0"), Decimal("0.00"), Decimal("000.000"), Decimal("0.000000")]


def any_amount(name: str) -> st.SearchStrategy[Any]:
    texts = st.one_of(
        st.sampled_from(ODD_AMOUNTS),
        st.text(alphabet="0123456789.-+eE _٠", min_size=1, max_size=24),
        st.from_regex(r"\A0{0,3}[0-9]{1,19}(\.[0-9]{1,9}0{0,3})?\Z"),
    )
    return valid_amount(name) | texts | st.sampled_from(ZERO_DECIMALS)


ANY: dict[str, st.SearchStrategy[Any]] = {
    "line_number": st.one_of(
        st.sampled_from([0, 1, 99999, 100000, -1, True, False, 2**63, -(2**63), 2**64, 10**40, "1", 1.0]),
        st.integers(-5, 100005),
        st.integers(),
    ),
    "description": valid_descriptions | odd_descriptions,
    "hs_code": st.one_of(st.from_regex(r"\A[0-9]{9,11}\Z"), st.sampled_from(ODD_DIGITS)),
    "tariff_treatment": st.one_of(st.from_regex(r"\A[0-9]{0,4}\Z"), st.sampled_from(["٢", "1\n", " 1", Text("2"), 2])),
    "country_of_origin": st.one_of(st.from_regex(r"\A[A-Za-z0-9]{1,3}\Z"), st.sampled_from(ODD_CODES)),
    "unit": st.one_of(st.from_regex(r"\A[A-Za-z0-9]{1,4}\Z"), st.sampled_from(ODD_UNITS)),
    **{name: any_amount(name) for name in AMOUNT_FIELDS},
}

EXTRA_KEYS = ["unexpected", "Line_number", "gst ", 1, b"gst", ("gst",), None]


@st.composite
def line_dicts(draw: st.DrawFn) -> dict[Any, Any]:
    """A valid line, some of its fields then changed (to anything, None, or missing), maybe an extra key."""
    line: dict[Any, Any] = {}
    for name in FIELDS:
        if name in OPTIONAL:
            choice = draw(st.sampled_from(["given", "given", "missing", "none"]))
            if choice == "missing":
                continue
            if choice == "none":
                line[name] = None
                continue
        line[name] = draw(VALID[name])
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        value = draw(st.one_of(st.just(MISSING), st.none(), ANY[name]))
        if value is MISSING:
            line.pop(name, None)
        else:
            line[name] = value
    if draw(st.integers(0, 7)) == 0:
        line[draw(st.sampled_from(EXTRA_KEYS))] = draw(st.sampled_from([None, 1, "x"]))
    order = draw(st.permutations(list(line)))
    return {key: line[key] for key in order}


@needs_builder
@given(line_dicts())
@BOUNDED
def test_built_lines_are_model_validates(fields: dict[Any, Any]) -> None:
    snapshot = dict(fields)
    built = build(fields)
    assert fields == snapshot and list(fields) == list(snapshot)  # the dict is left as it was
    if built is None:
        event("refused")
        return
    event("built")
    assert_is_pydantics(built, fields)


@needs_builder
@given(st.fixed_dictionaries({name: VALID[name] for name in REQUIRED}, optional={name: VALID[name] | st.none() for name in OPTIONAL}))
@BOUNDED
def test_plain_valid_lines_are_built(fields: dict[str, Any]) -> None:
    """Exact ints and str, Latin-1 printable description ends, ASCII codes,
    plain amounts within the limits: the lines the mappers hand over are built."""
    built = build(fields)
    assert built is not None, fields
    assert_is_pydantics(built, fields)


# Usefulness, and refusals with reasons ----------------------------------------------


@needs_builder
@pytest.mark.parametrize(
    "fields",
    [
        TYPICAL,
        TYPICAL_TEXT,
        {**TYPICAL, "description": "CHAUSSURES DE SÉCURITÉ"},
        {**TYPICAL_TEXT, "description": "ÉTUIS À LUNETTES — CUIR"},
        {**TYPICAL, "description": "A" * 350, "line_number": 99999},
        {name: TYPICAL[name] for name in REQUIRED},
        {**{name: TYPICAL[name] for name in REQUIRED}, **{name: None for name in OPTIONAL}},
        {**TYPICAL_TEXT, "quantity": "0.000001", "duty_rate": "0", "gst": "0.00", "customs_duty": "9999999999999999.99"},
        {**TYPICAL_TEXT, "quantity": "999999999999.999999", "invoice_amount": "0009999999999999999.9900"},
        {**TYPICAL, "tariff_treatment": "103", "unit": "KGM", "hs_code": "0000000000"},
    ],
    ids=["decimals", "texts", "latin-1", "beyond latin-1 inside", "longest", "required only", "optional None",
         "small and large", "leading and trailing zeros", "codes"],
)
def test_typical_lines_are_built(fields: dict[str, Any]) -> None:
    built = build(dict(fields))
    assert built is not None
    assert_is_pydantics(built, fields)


@needs_builder
def test_trailing_zeros_are_kept() -> None:
    built = build({**TYPICAL_TEXT, "quantity": "12.500", "value_for_duty": "007.50"})
    assert built is not None
    assert str(built.quantity) == "12.500"
    assert str(built.value_for_duty) == "7.50"
    assert built.model_fields_set == set(TYPICAL)


@needs_builder
def test_the_fields_set_holds_the_given_names() -> None:
    fields = {**{name: TYPICAL[name] for name in REQUIRED}, "gst": None}
    built = build(fields)
    assert built is not None
    assert built.model_fields_set == {*REQUIRED, "gst"}
    assert built.excise_tax is None and built.gst is None
    again = build(fields)
    assert again is not None and again.model_fields_set is not built.model_fields_set  # each its own set


def _without(name: str) -> dict[str, Any]:
    return {key: value for key, value in TYPICAL.items() if key != name}


@needs_builder
@pytest.mark.parametrize(
    ("fields", "pydantic_accepts"),
    [
        pytest.param({**TYPICAL, "description": " PLASTIC"}, True, id="description with a leading space: pydantic strips it"),
        pytest.param({**TYPICAL, "description": "PLASTIC\xa0"}, True, id="description ending in a no-break space"),
        pytest.param({**TYPICAL, "description": "PLASTIC\x85"}, True, id="description ending in NEL"),
        pytest.param({**TYPICAL, "description": "PLASTIC €"}, True, id="description ending beyond Latin-1"),
        pytest.param({**TYPICAL, "description": "A\ud800B"}, False, id="description holding a surrogate"),
        pytest.param({**TYPICAL, "description": "A" * 351}, False, id="description of 351 characters"),
        pytest.param({**TYPICAL, "description": ""}, False, id="empty description"),
        pytest.param({**TYPICAL, "description": Text("PLASTIC")}, True, id="description of a str subclass"),
        pytest.param({**TYPICAL, "quantity": "0"}, False, id="quantity 0"),
        pytest.param({**TYPICAL, "quantity": Decimal("0")}, False, id="quantity Decimal 0"),
        pytest.param({**TYPICAL, "quantity": "0.000"}, False, id="quantity 0.000"),
        pytest.param({**TYPICAL, "hs_code": "611011001"}, False, id="hs code of 9 digits"),
        pytest.param({**TYPICAL, "hs_code": "61101100101"}, False, id="hs code of 11 digits"),
        pytest.param({**TYPICAL, "hs_code": "٠" * 10}, True, id="hs code of Arabic-Indic digits"),
        pytest.param({**TYPICAL, "hs_code": "6110110010\n"}, False, id="hs code with a newline"),
        pytest.param({**TYPICAL, "country_of_origin": "de"}, False, id="lowercase country"),
        pytest.param({**TYPICAL, "unit": "P"}, False, id="unit of 1 character"),
        pytest.param({**TYPICAL, "unit": "PRS1"}, False, id="unit of 4 characters"),
        pytest.param({**TYPICAL, "unexpected": 1}, False, id="extra key"),
        pytest.param({**TYPICAL, 1: 1}, False, id="extra key not a str"),
        pytest.param(_without("value_for_duty"), False, id="missing value_for_duty"),
        pytest.param(_without("line_number"), False, id="missing line_number"),
        pytest.param({**TYPICAL, "value_for_duty": None}, False, id="required amount None"),
        pytest.param({**TYPICAL, "description": None}, False, id="required text None"),
        pytest.param({**TYPICAL, "gst": "1e5"}, True, id="amount 1e5"),
        pytest.param({**TYPICAL, "gst": "1.005"}, False, id="3 places in a 2-place amount"),
        pytest.param({**TYPICAL, "gst": "10000000000000000"}, False, id="17 integer digits"),
        pytest.param({**TYPICAL, "gst": " 1"}, True, id="amount with a leading space"),
        pytest.param({**TYPICAL, "gst": "-1"}, False, id="negative amount"),
        pytest.param({**TYPICAL, "gst": "1."}, True, id="amount 1."),
        pytest.param({**TYPICAL, "gst": ".5"}, True, id="amount .5"),
        pytest.param({**TYPICAL, "gst": "NaN"}, False, id="amount NaN"),
        pytest.param({**TYPICAL, "gst": 5}, True, id="amount as an int"),
        pytest.param({**TYPICAL, "gst": Text("5")}, True, id="amount of a str subclass"),
        pytest.param({**TYPICAL, "line_number": 0}, False, id="line number 0"),
        pytest.param({**TYPICAL, "line_number": 100000}, False, id="line number 100000"),
        pytest.param({**TYPICAL, "line_number": True}, True, id="line number True"),
        pytest.param({**TYPICAL, "line_number": 2**64}, False, id="line number beyond 64 bits"),
        pytest.param({**TYPICAL, "line_number": "1"}, True, id="line number as text"),
    ],
)
def test_refused(fields: dict[Any, Any], pydantic_accepts: bool) -> None:
    """Refused by the builder; ``pydantic_accepts`` (hand-written) tells
    whether the refusal is conservative (pydantic takes it) or pydantic's own."""
    assert build(fields) is None
    try:
        DeclarationLine.model_validate(fields)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is pydantic_accepts


@needs_builder
def test_only_exact_types_are_taken() -> None:
    class D(Decimal):
        pass

    class Fields(dict):  # type: ignore[type-arg]
        pass

    assert build({**TYPICAL, "gst": D("1.00")}) is None
    assert build({**TYPICAL, "quantity": D("3078")}) is None
    assert build(Fields(TYPICAL)) is None
    assert DeclarationLine.model_validate(Fields(TYPICAL)) is not None  # pydantic would take it
    for other in (None, 1, "line", [TYPICAL], tuple(TYPICAL.items()), DeclarationLine.model_validate(TYPICAL)):
        assert build(other) is None


class FieldName:
    """A key that is not a str but hashes and compares like the name ``gst``."""

    def __hash__(self) -> int:
        return hash("gst")

    def __eq__(self, other: object) -> bool:
        return other == "gst"


def _with_field_name_key() -> dict[Any, Any]:
    fields: dict[Any, Any] = _without("gst")
    fields[FieldName()] = Decimal("1.00")
    return fields


def test_pydantic_refuses_a_key_that_only_equals_a_field_name() -> None:
    with pytest.raises(ValidationError) as refused:
        DeclarationLine.model_validate(_with_field_name_key())
    assert [error["type"] for error in refused.value.errors()] == ["invalid_key"]


@needs_builder
def test_a_key_that_only_equals_a_field_name_is_refused() -> None:
    assert build(_with_field_name_key()) is None


@needs_builder
@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({**TYPICAL, "value_for_duty": Decimal("-1")}, id="value for duty -1"),
        pytest.param({**TYPICAL, "gst": Decimal("-0.01")}, id="gst -0.01"),
        pytest.param({**TYPICAL, "quantity": Decimal("-5")}, id="quantity -5"),
    ],
)
def test_a_negative_decimal_amount_is_refused(fields: dict[str, Any]) -> None:
    """The builder's contract (domain/_line_builder.c: "an exact decimal_type
    instance, >= 0 (> 0 when c is 1)"; ``build_lines``: a Decimal is checked
    for its sign) and ``validate_checked``'s (the sign of every amount is
    still checked) leave the digits of a Decimal to the caller, not its sign."""
    with pytest.raises(ValidationError):
        DeclarationLine.model_validate(fields)
    assert build(fields) is None


# build_all, and what validate_checked makes of built lines ------------------------


@needs_builder
def test_build_all_replaces_exactly_the_buildable_dicts() -> None:
    already = DeclarationLine.model_validate(TYPICAL)
    others: list[Any] = [
        {**TYPICAL, "hs_code": "611011001"},
        42,
        "line",
        None,
        [TYPICAL],
        already,
        {**TYPICAL, "unexpected": 1},
        {**TYPICAL, "description": " LEADING SPACE"},
    ]
    lines: list[Any] = [dict(TYPICAL), *others[:4], dict(TYPICAL_TEXT), *others[4:]]
    kept = list(lines)
    assert builder().build_all(lines) == 2
    assert len(lines) == len(kept) == 10
    assert assert_is_pydantics(lines[0], TYPICAL) == lines[0]
    assert assert_is_pydantics(lines[5], TYPICAL_TEXT) == lines[5]
    for index in (1, 2, 3, 4, 6, 7, 8, 9):
        assert lines[index] is kept[index]
    assert builder().build_all(lines) == 0  # the instances and the rest stay
    assert builder().build_all([]) == 0


@needs_builder
def test_build_all_takes_a_list_only() -> None:
    for other in ((dict(TYPICAL),), None, {0: dict(TYPICAL)}):
        with pytest.raises(TypeError):
            builder().build_all(other)


@needs_builder
def test_build_lines_uses_the_builder() -> None:
    lines: list[Any] = [dict(TYPICAL), {**TYPICAL, "quantity": "0"}]
    trusted_lines.build_lines(lines)
    assert type(lines[0]) is DeclarationLine
    assert lines[1] == {**TYPICAL, "quantity": "0"}


def declaration_data(lines: list[Any]) -> dict[str, Any]:
    return builders.declaration_data(lines=lines)


@needs_builder
def test_validate_checked_takes_the_built_lines_as_they_are() -> None:
    raw = [dict(TYPICAL), {**TYPICAL_TEXT, "line_number": 2}, {**TYPICAL, "line_number": 3, "description": " SPACED "}]
    lines = copy.deepcopy(raw)
    assert builder().build_all(lines) == 2
    declaration = validate_checked(declaration_data(lines))
    assert declaration.lines[0] is lines[0]
    assert declaration.lines[1] is lines[1]
    assert type(declaration.lines[2]) is DeclarationLine and declaration.lines[2].description == "SPACED"
    assert declaration == Declaration.model_validate(declaration_data(raw))
    assert declaration.model_dump_json() == Declaration.model_validate(declaration_data(raw)).model_dump_json()


@needs_builder
def test_built_lines_survive_copies_and_pickling() -> None:
    built = build(dict(TYPICAL_TEXT))
    assert built is not None
    for other in (pickle.loads(pickle.dumps(built)), copy.deepcopy(built), copy.copy(built), built.model_copy()):
        assert_is_pydantics(other, TYPICAL_TEXT)
    changed = built.model_copy(update={"gst": Decimal("1.00")})
    assert changed.gst == Decimal("1.00") and built.gst == Decimal("269.78")


# Constructing a LineBuilder ---------------------------------------------------


def line_builder_type() -> Any:
    return type(builder())


SPEC = line_spec(DeclarationLine)


@needs_builder
@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param((DeclarationLine, Decimal, list(SPEC)), TypeError, id="spec a list"),
        pytest.param((DeclarationLine, Decimal, ()), TypeError, id="empty spec"),
        pytest.param((DeclarationLine, Decimal, SPEC * 5), TypeError, id="70 fields"),
        pytest.param((DeclarationLine, Decimal, ("line_number", 0, 1, 9, 0, True)), TypeError, id="spec one item"),
        pytest.param((DeclarationLine, Decimal, (("n", 0, 1, 9, 0),)), TypeError, id="item of 5"),
        pytest.param((DeclarationLine, Decimal, (("n", 0, 1, 9, 0, True, 1),)), TypeError, id="item of 7"),
        pytest.param((DeclarationLine, Decimal, (["n", 0, 1, 9, 0, True],)), TypeError, id="item a list"),
        pytest.param((DeclarationLine, Decimal, ((1, 0, 1, 9, 0, True),)), TypeError, id="name not a str"),
        pytest.param((DeclarationLine, Decimal, (("n", "0", 1, 9, 0, True),)), TypeError, id="kind a str"),
        pytest.param((DeclarationLine, Decimal, (("n", 4, 1, 9, 0, True),)), ValueError, id="kind 4"),
        pytest.param((DeclarationLine, Decimal, (("n", -1, 1, 9, 0, True),)), ValueError, id="kind -1"),
        pytest.param((DeclarationLine, Decimal, (("n", INT, 9, 1, 0, True),)), ValueError, id="int a > b"),
        pytest.param((DeclarationLine, Decimal, (("n", TEXT, -1, 9, 0, True),)), ValueError, id="text a < 0"),
        pytest.param((DeclarationLine, Decimal, (("n", CHARS, 1, 9, 0, True),)), ValueError, id="class 0"),
        pytest.param((DeclarationLine, Decimal, (("n", CHARS, 1, 9, 4, True),)), ValueError, id="class 4"),
        pytest.param((DeclarationLine, Decimal, (("n", AMOUNT, 16, 2, 2, True),)), ValueError, id="amount c 2"),
        pytest.param((DeclarationLine, Decimal, ((Text("n"), INT, 1, 9, 0, True),)), ValueError, id="name a str subclass"),
        pytest.param((DeclarationLine, Decimal, (*SPEC, SPEC[3])), ValueError, id="a field twice"),
        pytest.param((DeclarationLine, Decimal, (SPEC[0], ("line_number", TEXT, 1, 9, 0, False))), ValueError, id="a name twice"),
        pytest.param((DeclarationLine(**TYPICAL), Decimal, SPEC), TypeError, id="model not a class"),
        pytest.param((DeclarationLine, Decimal("1"), SPEC), TypeError, id="decimal type not a class"),
        pytest.param((DeclarationLine, Decimal), TypeError, id="two arguments"),
    ],
)
def test_line_builder_refuses_bad_arguments(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        line_builder_type()(*args)


@needs_builder
def test_line_builder_takes_no_keywords() -> None:
    with pytest.raises(TypeError):
        line_builder_type()(DeclarationLine, Decimal, spec=SPEC)


@needs_builder
def test_a_builder_of_another_model() -> None:
    made = line_builder_type()(Plain, Decimal, line_spec(Plain))
    fields = {"n": 3, "code": "AB", "text": "ABC", "count": "1.500"}
    built = made.build(fields)
    assert type(built) is Plain
    assert built == Plain.model_validate(fields) and repr(built) == repr(Plain.model_validate(fields))
    assert str(built.count) == "1.500" and built.amount is None and built.model_fields_set == {"n", "code", "text", "count"}
    assert made.build({**fields, "count": "0.000"}) is None
    assert made.build({**fields, "amount": "1000"}) is None  # 4 integer digits, 3 allowed
    assert made.build({**fields, "text": "A"}) is None


# Reference counts, and Python code run while a line is built -------------------------


@needs_builder
def test_no_references_leak() -> None:
    description = "".join(["PLASTIC FOOD ", "CONTAINERS"])  # a new object, not interned
    duty = Decimal("4572.56")
    amount_text = "".join(["269", ".78"])
    hs_code = "".join(["61101", "10010"])
    fields = {**TYPICAL, "description": description, "value_for_duty": duty, "gst": amount_text, "hs_code": hs_code}
    refused = {**fields, "unexpected": 1}
    refused_late = {**fields, "unit": "p"}
    watched = (description, duty, amount_text, hs_code, fields, refused, refused_late)
    before = [sys.getrefcount(value) for value in watched]
    for _ in range(10_000):
        built = build(fields)
        assert build(refused) is None
        assert build(refused_late) is None
        builder().build_all([fields, refused, 1])
    assert built is not None and built.description is description and built.value_for_duty is duty
    del built
    assert [sys.getrefcount(value) for value in watched] == before


@needs_builder
def test_a_built_line_is_freed_with_its_last_reference() -> None:
    built = build(dict(TYPICAL))
    fields_set = built.model_fields_set  # type: ignore[union-attr]
    alive = weakref.ref(built)
    assert sys.getrefcount(fields_set) == 3  # the instance, the name, the argument
    del built
    assert alive() is None  # freed at once: no reference held elsewhere
    assert sys.getrefcount(fields_set) == 2


@needs_builder
def test_python_code_that_empties_the_dict_and_the_list() -> None:
    """``decimal_type`` runs Python code, which may change the dict or the list
    being read: the builder must neither crash nor build from what is gone."""
    victims: list[Any] = []

    class Clearing(Decimal):
        def __new__(cls, value: Any) -> Clearing:
            for victim in victims:
                victim.clear()
            return Decimal.__new__(cls, value)

    made = line_builder_type()(DeclarationLine, Clearing, SPEC)
    fields = dict(TYPICAL_TEXT)
    victims.append(fields)
    assert made.build(fields) is None
    lines = [dict(TYPICAL_TEXT), dict(TYPICAL_TEXT)]
    victims[:] = [lines]
    assert made.build_all(lines) == 0 and lines == []

    class Adding(Decimal):
        def __new__(cls, value: Any) -> Adding:
            for victim in victims:
                victim[f"added {len(victim)}"] = 1
            return Decimal.__new__(cls, value)

    fields = dict(TYPICAL_TEXT)
    victims[:] = [fields]
    assert line_builder_type()(DeclarationLine, Adding, SPEC).build(fields) is None


@needs_builder
@pytest.mark.parametrize(
    ("loosened", "fields"),
    [
        pytest.param(("hs_code", CHARS, 9, 10, DIGITS, True), {**TYPICAL, "hs_code": "611011001"}, id="hs code of 9 digits"),
        pytest.param(("value_for_duty", AMOUNT, 16, 2, 0, False), _without("value_for_duty"), id="value for duty optional"),
        pytest.param(("quantity", AMOUNT, 12, 6, 0, True), {**TYPICAL, "quantity": "0"}, id="quantity >= 0"),
        pytest.param(("gst", AMOUNT, 17, 2, 0, False), {**TYPICAL, "gst": "10000000000000000"}, id="17 integer digits"),
    ],
)
def test_the_comparison_catches_a_loose_builder(loosened: tuple[Any, ...], fields: dict[str, Any]) -> None:
    """The checks above can fail: a builder with one check loosened builds a
    line that ``assert_is_pydantics`` rejects."""
    spec = tuple(loosened if item[0] == loosened[0] else item for item in SPEC)
    built = line_builder_type()(DeclarationLine, Decimal, spec).build(fields)
    assert built is not None
    assert build(fields) is None
    with pytest.raises(ValidationError):
        assert_is_pydantics(built, fields)


@needs_builder
@pytest.mark.parametrize("value", ["NaN", "sNaN"])
def test_a_nan_decimal_is_refused(value: str) -> None:
    """Comparing a NaN with zero signals (InvalidOperation): the amount is
    refused, not an error."""
    assert build({**TYPICAL, "gst": Decimal(value)}) is None


@needs_builder
def test_minus_zero_is_built_as_pydantic_takes_it() -> None:
    fields = {**TYPICAL, "gst": Decimal("-0")}
    built = build(fields)
    assert built is not None
    assert built == DeclarationLine.model_validate(fields)
    assert str(built.gst) == "-0"
