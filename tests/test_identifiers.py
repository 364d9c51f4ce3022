"""Check digits against published numbers (../shared/domain/carm-brief.md §5)."""

import pytest

from domain.identifiers import (
    bn9_valid,
    is_program_account,
    luhn_valid,
    transaction_check_digit,
    transaction_number_valid,
)

# Published transaction numbers the brief verified the rule on.
PUBLISHED = ["10207003000585", "10207000220870", "10207003502332", "33333333333337", "12345000067897", "00345000067892"]


@pytest.mark.parametrize("number", PUBLISHED)
def test_published_transaction_numbers_validate(number: str) -> None:
    assert transaction_number_valid(number)


@pytest.mark.parametrize(
    "number", ["12345123456789", "14969123456789", "10207003000586", "1020700300058", "1020700300058X"]
)
def test_illustrative_and_altered_numbers_fail(number: str) -> None:
    assert not transaction_number_valid(number)


def test_check_digit_is_sum_mod_10_not_its_complement() -> None:
    # 1020700300058: digits at odd positions 0,0,0,3,0,5 doubled -> 0,0,0,6,0,1 (10 -> 1+0) = 7;
    # digits at even positions 1,2,7,0,0,8 = 18; 25 mod 10 = 5 (its complement is 5 as well, so
    # a second published number tells the two apart: 1020700350233 -> 2, the complement would be 8).
    assert transaction_check_digit("1020700300058") == 5
    assert transaction_check_digit("1020700350233") == 2


def test_bn9_luhn() -> None:
    assert bn9_valid("123456782")
    assert bn9_valid("123026635")
    assert not bn9_valid("123456789")
    assert not bn9_valid("12345678")
    assert luhn_valid("79927398713")  # the textbook Luhn example


def test_program_accounts() -> None:
    assert is_program_account("123456782RM0001", "RM")
    assert not is_program_account("123456782RT0001", "RM")
    assert not is_program_account("123456782RM001")
