"""``carm-edi estimate``: per-line computed amounts next to the declared ones."""

from __future__ import annotations

import json
import subprocess
import sys

from duties.tariff import Tariff
from gateway.estimate import estimate_bytes
from tests.edifact_helpers import CUSDEC, FIXTURES

CLI = [sys.executable, "-m", "gateway.cli", "estimate"]
TARIFF = Tariff.load(FIXTURES / "reference" / "tariff.csv")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_computed_amounts_equal_the_portal_assessment_of_a_multi_line_file() -> None:
    [estimate] = estimate_bytes((CUSDEC / "valid" / "v03_multi_line.edi").read_bytes(), TARIFF)
    assert estimate.clean
    line3 = estimate.lines[2].computed
    assert {k: str(v) for k, v in line3.items()} == {
        "value_for_duty": "1620.00",
        "customs_duty": "0.00",
        "specific_duty": "0.00",
        "excise_duty": "0.00",
        "excise_tax": "162.00",
        "anti_dumping_duty": "0.00",
        "countervailing_duty": "0.00",
        "surtax": "0.00",
        "safeguard": "0.00",
        "value_for_tax": "1782.00",
        "gst": "89.10",
    }
    # the same totals as the portal's CUSRES for v03 (fixtures/cusdec/expected.json)
    assert [str(estimate.total(n, "computed")) for n in ("customs_duty", "excise_tax", "gst")] == [
        "145.80",
        "162.00",
        "298.89",
    ]


def test_text_table_flags_a_gst_on_the_wrong_base_and_exits_1() -> None:
    result = run(str(FIXTURES / "rules" / "amt-gst_fail.edi"))
    assert result.returncode == 1, result.stderr
    assert "40.50 / 47.79 ≠" in result.stdout
    assert "line 1: GST declared 40.50, computed 47.79" in result.stdout
    assert "computed total due (duty + excise + GST): 193.59" in result.stdout


def test_clean_file_exits_0() -> None:
    result = run(str(CUSDEC / "valid" / "v01_single.edi"))
    assert result.returncode == 0, result.stderr
    assert "145.80 / 145.80" in result.stdout and "≠" not in result.stdout.splitlines()[-1]


def test_json_output_with_an_unknown_hs_code() -> None:
    result = run("--json", str(CUSDEC / "invalid" / "i11_unknown_hs.edi"))
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["tariff_version"] == "2025.1-illustrative"
    [declaration] = body["declarations"]
    assert declaration["lines"][1]["computed"] is None
    assert (
        "6109999999 is not in the loaded tariff excerpt (version 2025.1-illustrative)"
        in declaration["lines"][1]["problem"]
    )
    assert declaration["totals"]["gst"] == {"declared": "47.79", "computed": "540.00"}


def test_multi_message_file_and_differences_in_json() -> None:
    result = run("--json", str(FIXTURES / "rules" / "amt-duty_fail.edi"))
    body = json.loads(result.stdout)
    [line] = body["declarations"][0]["lines"]
    assert line["differences"] == ["customs_duty"]
    assert (line["declared"]["customs_duty"], line["computed"]["customs_duty"]) == ("150.00", "145.80")
    [a, b, c] = estimate_bytes((CUSDEC / "valid" / "v02_multi_message.edi").read_bytes(), TARIFF)
    assert [e.reference for e in (a, b, c)] == ["1020700030002500001", "1020700030003600001", "1020700030004700001"]


def test_unreadable_file_exits_2() -> None:
    assert run(str(CUSDEC / "invalid" / "i02_empty.edi")).returncode == 2
    assert run("/nonexistent/file.edi").returncode == 2
