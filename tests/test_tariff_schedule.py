"""CBSA's downloadable Customs Tariff schedule (reference_sources/schedule.py) on the hand-built
tables of fixtures/reference_sources/ (schedule.csv, schedule-malformed.csv) and on tables built
here; the expected tariff rows are written out by hand from the fixture's cells."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from reference_sources.cache import ReferenceCache
from reference_sources.http import SourceError
from reference_sources.schedule import Rate, UnreadableRate, load_schedule, parse_rate, schedule_layout
from tests.test_reference_sources import FIXTURES, RULES, run

SCHEDULE = FIXTURES / "schedule.csv"
EFFECTIVE = dt.date(2025, 1, 1)
HEADER = "Tariff Item,Description of Goods,Unit of Measure,MFN Tariff,Applicable Preferential Tariffs\n"
UNITS = {"KGM": "kilogram", "LTR": "litre", "HLT": "hectolitre", "LPA": "litre of pure alcohol"}


def cached_rows(cache: ReferenceCache) -> dict[str, dict[str, tuple[str, str, str, str]]]:
    """hs_code → treatment → (unit, duty_rate, specific_rate, specific_unit) of the cached table."""
    lines = [line for line in cache.csv_path("tariff").read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    rows: dict[str, dict[str, tuple[str, str, str, str]]] = {}
    for record in csv.DictReader(lines):
        assert (record["excise_rate"], record["gst_exempt"], record["valid_from"]) == ("0", "false", "2025-01-01")
        rows.setdefault(record["hs_code"], {})[record["treatment"]] = (
            record["unit"],
            record["duty_rate"],
            record["specific_rate"],
            record["specific_unit"],
        )
    return rows


def schedule_file(tmp_path: Path, body: str, name: str = "schedule.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def free(unit: str, *codes: str) -> dict[str, tuple[str, str, str, str]]:
    return {code: (unit, "0", "", "") for code in codes}


# the fixture, row by row ------------------------------------------------------------------


def test_the_schedule_becomes_the_expected_tariff_rows(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    info = load_schedule(cache, SCHEDULE, effective=EFFECTIVE)

    rows = cached_rows(cache)
    # 5310.90.99.00: MFN 12 %; LDCT 8, UST 10, MT (the Mexico Tariff, 11), CIAT 13, CT 14, CRT 21, IT 22,
    # NT 23, SLT 24, PT 25 free
    assert rows["5310909900"] == {"*": ("KGM", "12", "", "")} | free(
        "KGM", "8", "10", "11", "13", "14", "21", "22", "23", "24", "25"
    )
    # 6109.10.00.10 takes its tariff item's rates (row 18): MFN 17 %; CCCT 7, LDCT 8, UST 10, MXT 11, CEUT 31,
    # UKT 34 free (the list goes on after a line break); GPT 9 at 12 %
    t_shirts = {"*": ("NMB", "17", "", ""), "9": ("NMB", "12", "", "")} | free("NMB", "7", "8", "10", "11", "31", "34")
    assert rows["6109100010"] == t_shirts
    assert rows["6109100090"] == {code: ("DZN", *rest) for code, (_, *rest) in t_shirts.items()}
    # 2204.21.10.00: MFN 1.87¢/litre; AUT 4 1.2¢/litre; UST, MXT, CEUT, UKT free
    assert rows["2204211000"] == {
        "*": ("LTR", "0", "0.0187", "LTR"),
        "4": ("LTR", "0", "0.012", "LTR"),
    } | free("LTR", "10", "11", "31", "34")
    # 1704.90.90.00: MFN 6 % + 2.43¢/kg; UST, MXT free
    assert rows["1704909000"] == {"*": ("KGM", "6", "0.0243", "KGM")} | free("KGM", "10", "11")
    # 8703.80.00.00: MFN 6.1 %; UST, MXT, CEUT, UKT free; CPJPT unknown, so no row of its own
    assert rows["8703800000"] == {"*": ("NMB", "6.1", "", "")} | free("NMB", "10", "11", "31", "34")
    # 2202.99.32.00: MFN 7.5 %, 19 treatments free, GPT 7.5 %
    assert rows["2202993200"]["*"] == rows["2202993200"]["9"] == ("LTR", "7.5", "", "")
    assert len(rows["2202993200"]) == 21
    # 2202.99.33.00: "256 % but not less than $36.67/hl" is not read: the classification number is left out
    assert "2202993300" not in rows and len(rows) == 7

    assert info.counts == {
        "headings_skipped": 17,  # 22.02, 2202.99, 2202.99.32, 2202.99.33, 22.04, 2204.21, 2204.21.10, ...
        "classification_numbers": 7,
        "rows": 62,  # 11 + 8 + 8 + 6 + 3 + 5 + 21
        "unreadable_skipped": 1,
        "unknown_treatments_skipped": 1,
    }
    assert (info.version, info.rate_date, info.rows) == ("cbsa-schedule-2025-01-01", "2025-01-01", 62)
    assert cache.info("tariff") == info


def test_the_installed_schedule_answers_lookups(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    load_schedule(cache, SCHEDULE, effective=EFFECTIVE, version="T2025-1")
    tariff = cache.load_reference().tariff
    day = dt.date(2025, 3, 1)

    assert tariff.version == "T2025-1" and tariff.excerpt
    gpt_fabric = tariff.row("5310909900", "9", day)  # GPT is not among its preferences: the MFN row
    assert gpt_fabric is not None and (gpt_fabric.treatment, gpt_fabric.duty_rate) == ("*", Decimal(12))
    mexico = tariff.row("5310909900", "11", day)
    assert mexico is not None and (mexico.treatment, mexico.duty_rate) == ("11", 0)
    wine = tariff.row("2204211000", "4", day)
    assert wine is not None and (wine.duty_rate, wine.specific_rate, wine.specific_unit) == (0, Decimal("0.012"), "LTR")
    sweets = tariff.row("1704909000", "2", day)
    assert sweets is not None and (sweets.duty_rate, sweets.specific_rate) == (Decimal(6), Decimal("0.0243"))
    assert tariff.row("2202993300", "2", day) is None
    assert tariff.row("5310909900", "2", dt.date(2024, 12, 31)) is None  # not before --effective


def test_an_unreadable_rate_is_named_in_the_cached_table(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    info = load_schedule(cache, SCHEDULE, effective=EFFECTIVE)
    text = cache.csv_path("tariff").read_text(encoding="utf-8")
    assert (
        "# not loaded: 2202993300 (row 7): MFN Tariff '256 % but not less than $36.67/hl' at row 6 cannot be read exactly"
        in text
    )
    assert "# tariff-scope: excerpt\n" in text
    assert info.warnings is not None
    assert info.warnings[0] == (
        "treatment CPJPT is not in tariff_treatments.csv: skipped in 1 classification numbers "
        "(first at row 22, column 'Applicable Preferential Tariffs')"
    )
    assert info.warnings[1].startswith(
        "the table is an excerpt: 1 classification numbers not loaded (unreadable rates)"
    )


def test_a_tab_separated_export_reads_as_the_csv(tmp_path: Path) -> None:
    with SCHEDULE.open(encoding="utf-8", newline="") as source:
        records = list(csv.reader(source))
    tsv = tmp_path / "schedule.txt"
    with tsv.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter="\t").writerows(records)
    from_csv, from_tsv = ReferenceCache(tmp_path / "csv"), ReferenceCache(tmp_path / "tsv")
    load_schedule(from_csv, SCHEDULE, effective=EFFECTIVE)
    load_schedule(from_tsv, tsv, effective=EFFECTIVE)
    assert cached_rows(from_tsv) == cached_rows(from_csv)


def test_a_schedule_of_every_chapter_without_unreadable_rates_is_the_whole_tariff(tmp_path: Path) -> None:
    chapters = [chapter for chapter in range(1, 100) if chapter != 77]
    body = "".join(f"{chapter:02d}01.00.00.00,Goods,KGM,Free,\n" for chapter in chapters)
    cache = ReferenceCache(tmp_path / "full")
    load_schedule(cache, schedule_file(tmp_path, body), effective=EFFECTIVE)
    assert not cache.load_reference().tariff.excerpt

    without_98 = "".join(f"{chapter:02d}01.00.00.00,Goods,KGM,Free,\n" for chapter in chapters if chapter != 98)
    info = load_schedule(cache, schedule_file(tmp_path, without_98), effective=EFFECTIVE)
    assert cache.load_reference().tariff.excerpt
    assert info.warnings == ["the table is an excerpt: chapters 98 absent"]


# refusals: nothing is installed, the previous cache stays -----------------------------------


def test_a_malformed_preferential_cell_is_named_and_the_previous_cache_kept(tmp_path: Path) -> None:
    cache = ReferenceCache(tmp_path)
    before = load_schedule(cache, SCHEDULE, effective=EFFECTIVE)
    with pytest.raises(SourceError) as raised:
        load_schedule(cache, FIXTURES / "schedule-malformed.csv", effective=EFFECTIVE)
    assert str(raised.value).endswith(
        "schedule-malformed.csv, row 5, column 'Applicable Preferential Tariffs': 'CCCT, LDCT, UST, MXT Free' "
        "is not 'TREATMENTS: rate' (abbreviations separated by commas)"
    )
    assert cache.info("tariff") == before and not cache.partial_path("tariff").exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "no 10-digit classification number with readable rates"),  # the header alone
        ("53.10,Woven fabrics,,,\n", "no 10-digit classification number with readable rates"),
        ("5310.90.99.00,Other,KGM,,\n", "row 2, column 'MFN Tariff': no MFN rate, on this row or on a row of"),
        ("5310.90.99,Other,,12 %,\n5310.90.98.00,Other,KGM,,\n", "row 3, column 'MFN Tariff': no MFN rate"),
        ("5310.9O.99.00,Other,KGM,12 %,\n", "row 2, column 'Tariff Item': '5310.9O.99.00' is not a heading"),
        ("5310.90.99.00,Other,KGM,12 %,\n5310.90.99.00,Other,KGM,12 %,\n", "row 3, column 'Tariff Item': 5310.90.99"),
        ("5310.90.99.00,Other,KGM,12 %,MFN: Free\n", "row 2, column 'Applicable Preferential Tariffs': treatment MFN"),
        ("5310.90.99.00,Other,KGM,12 %,UST: Free; UST: 2 %\n", "treatment UST is given twice"),
        ("5310.90.99.00,Other,KGM,12 %,ust: Free\n", "'ust: Free' is not 'TREATMENTS: rate'"),
    ],
)
def test_a_schedule_that_cannot_be_read_is_refused(tmp_path: Path, body: str, expected: str) -> None:
    cache = ReferenceCache(tmp_path / "cache")
    with pytest.raises(SourceError, match=re.escape(expected)):
        load_schedule(cache, schedule_file(tmp_path, body), effective=EFFECTIVE)
    assert cache.info("tariff") is None and not cache.partial_path("tariff").exists()


def test_an_empty_file_a_wrong_header_and_a_spreadsheet_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"empty\.csv: the file is empty"):
        schedule_layout(empty)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Tariff Item,Description,Unit,MFN Tariff,Preferential\n", encoding="utf-8")
    with pytest.raises(SourceError) as raised:
        schedule_layout(wrong)
    assert "row 1: not CBSA's schedule header, missing 'Description of Goods', 'Unit of Measure', " in str(raised.value)
    assert "'Applicable Preferential Tariffs'" in str(raised.value)
    sheet = tmp_path / "01-99.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    with pytest.raises(SourceError, match=r"a spreadsheet cannot be read .*save it as CSV UTF-8"):
        schedule_layout(sheet)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + "2204.21.10.00,Wine,LTR,1.87\xa2/litre,\n".encode("cp1252"))
    with pytest.raises(SourceError, match=r"not UTF-8 text .*save it as 'CSV UTF-8'"):
        load_schedule(ReferenceCache(tmp_path / "cache"), latin, effective=EFFECTIVE)
    assert schedule_layout(FIXTURES.parent / "reference" / "tariff.csv") is None  # our own shape


def test_a_unit_not_in_the_unit_list_is_kept_with_a_warning(tmp_path: Path) -> None:
    body = "9701.10.00.00,Paintings,CTM,Free,\n9701.20.00.00,Mosaics,CTM,Free,\n"
    info = load_schedule(ReferenceCache(tmp_path), schedule_file(tmp_path, body), effective=EFFECTIVE)
    assert info.warnings is not None and info.warnings[0] == (
        "unit CTM is not in units.csv: kept as written in 2 classification numbers (first at row 2, "
        "column 'Unit of Measure')"
    )


# rates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Free", Rate(Decimal(0))),
        ("12 %", Rate(Decimal(12))),
        ("6.5%", Rate(Decimal("6.5"))),
        ("2.43¢/kg", Rate(Decimal(0), Decimal("0.0243"), "KGM")),
        ("$1.23/litre", Rate(Decimal(0), Decimal("1.23"), "LTR")),
        ("$36.67/hl", Rate(Decimal(0), Decimal("36.67"), "HLT")),
        ("$1,234.5/litre of absolute ethyl alcohol", Rate(Decimal(0), Decimal("1234.5"), "LPA")),
        ("8 % + 4.1¢/kg", Rate(Decimal(8), Decimal("0.041"), "KGM")),
        ("8 % plus $0.05/kg", Rate(Decimal(8), Decimal("0.05"), "KGM")),
    ],
)
def test_rates_read_exactly(text: str, expected: Rate) -> None:
    assert parse_rate(text, UNITS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "256 % but not less than $36.67/hl",
        "See 9903.00.00",
        "N/A",
        "12 % or 3¢/kg",
        "2.43¢/each",  # no unit code for it
        "$1.00/pair",  # PR is a Rec. 20 code, but not in this unit list
        "12",
    ],
)
def test_rates_not_read_exactly_are_refused(text: str) -> None:
    with pytest.raises(UnreadableRate):
        parse_rate(text, UNITS)


# `carm-edi tariff update --file schedule.csv`, then `carm-edi check` ---------------------------


def test_tariff_update_installs_the_schedule_and_check_assesses_at_its_rate(tmp_path: Path) -> None:
    no_date = run("tariff", "update", "--file", str(SCHEDULE), data_dir=tmp_path)
    assert no_date.returncode == 2 and "say from when its rates apply with --effective" in no_date.stderr
    not_a_schedule = run(
        "tariff",
        "update",
        "--file",
        str(FIXTURES / "tariff-page-2.json"),
        "--effective",
        "2025-01-01",
        data_dir=tmp_path,
    )
    assert not_a_schedule.returncode == 2 and "--effective applies to CBSA's schedule" in not_a_schedule.stderr

    updated = run("tariff", "update", "--file", str(SCHEDULE), "--effective", "2025-01-01", data_dir=tmp_path)
    assert updated.returncode == 0, updated.stderr
    assert "headings skipped 17, classification numbers 7, rows 62, unreadable skipped 1" in updated.stdout
    assert "warning: treatment CPJPT is not in tariff_treatments.csv" in updated.stdout
    shown = json.loads(run("tariff", "show", "--json", data_dir=tmp_path).stdout)
    assert (shown["cached"], shown["version"], shown["rate_date"], shown["rows"]) == (
        True,
        "cbsa-schedule-2025-01-01",
        "2025-01-01",
        62,
    )

    # the CAD declares MFN 18 % and 145.80 on a value for duty of 810.00; the schedule says 17 %: 137.70
    checked = run("check", "--json", str(RULES / "amt-duty_pass.edi"), data_dir=tmp_path)
    errors = {e["code"]: e["message"] for e in json.loads(checked.stdout)["documents"][0]["errors"]}
    assert errors["AMT-RATE"].endswith(
        "duty rate 18 % differs from the tariff rate 17 % for HS 6109100010 under MFN (02) "
        "in the loaded tariff excerpt (version cbsa-schedule-2025-01-01)"
    )
    assert errors["AMT-DUTY"].endswith("= 137.70, by the loaded tariff excerpt (version cbsa-schedule-2025-01-01)")


def test_a_classification_number_takes_its_tariff_items_description_and_note_rows_are_counted(
    tmp_path: Path,
) -> None:
    body = "6109.10.00,Of cotton,,17 %,\n,,,,\n,Rates as at 2025-01-01,,,\n6109.10.00.10,,NMB,,\n"
    cache = ReferenceCache(tmp_path)
    info = load_schedule(cache, schedule_file(tmp_path, body), effective=EFFECTIVE)
    assert info.counts is not None and (info.counts["rows_without_item"], info.counts["headings_skipped"]) == (1, 1)
    row = cache.load_reference().tariff.row("6109100010", "2", EFFECTIVE)
    assert row is not None and (row.description, row.duty_rate) == ("Of cotton", Decimal(17))
