"""``carm-edi demo --no-airflow``: every fixture through the pipeline and the real portal.

Counts by hand from fixtures/cusdec: 9 valid files and 14 invalid ones.
Archived (an interchange was sound): the 9 valid files, i07 and i08 (business
rules, answered in CUSRES), i11 (rejected by the portal) and i12 (its CUSDEC
is accepted, its INVOIC is not supported) = 13. Quarantined: i01 garbage, i02
empty, i03 truncated, i04 UNT count, i05 UNZ count, i06 UNZ reference, i09
missing segment, i10 bad date, i13 line count, i14 duplicate of v01's IC0001 = 10.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.demo import run_demo

ARCHIVED = {
    "v01_single.edi", "v02_multi_message.edi", "v03_multi_line.edi", "v04_correction.edi",
    "v05_decimal_comma.edi", "v06_unoa_no_una.edi", "v07_two_interchanges.edi", "v08_latin1.edi",
    "v09_two_invoices.edi",
    "i07_bad_bn9.edi", "i08_bad_check_digit.edi", "i11_unknown_hs.edi", "i12_unsupported_type.edi",
}  # fmt: skip
QUARANTINED = {
    "i01_garbage.bin", "i02_empty.edi", "i03_truncated.edi", "i04_unt_count.edi", "i05_unz_count.edi",
    "i06_unz_reference.edi", "i09_missing_mandatory.edi", "i10_bad_date.edi", "i13_line_count.edi",
    "i14_duplicate_interchange.edi",
}  # fmt: skip


def originals(folder: Path) -> set[str]:
    """Fixture names of the originals filed as ``<claim>__NN_<fixture name>``."""
    return {
        p.name.split("__", 1)[1].split("_", 1)[1] for p in folder.rglob("*__*") if not p.name.endswith(".reason.txt")
    }


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CARM_DATA_DIR", str(tmp_path / ".demo"))
    return tmp_path / ".demo"


def test_demo_without_airflow(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    environment = dict(os.environ)
    assert run_demo(use_airflow=False) == 0
    assert run_demo(use_airflow=False) == 0  # a second run starts afresh
    assert dict(os.environ) == environment  # the portal URL etc. were set for the run only
    partner = demo_dir / "partners" / "broker01"

    assert originals(partner / "archive") == ARCHIVED
    assert originals(partner / "quarantine") == QUARANTINED
    assert len(list((partner / "quarantine").rglob("*.reason.txt"))) == 10
    assert list((partner / "inbox").iterdir()) == []

    outbox = sorted(p.name for p in (partner / "outbox").iterdir())
    assert sum(n.endswith(".contrl.edi") for n in outbox) == 23  # every file is answered
    assert sum(n.endswith(".report.json") for n in outbox) == 23
    # a CUSRES for each sound interchange holding a CUSDEC: the 13 archived files
    assert {n.split("_", 1)[1].rsplit(".", 3)[0] for n in outbox if n.endswith(".cusres.edi")} == ARCHIVED
    assert len(outbox) == 59

    printed = capsys.readouterr().out
    # 25 messages: valid 1+3+1+1+1+1+2+1+1 = 12; invalid 0+0 (i01, i02) + 9 x 1 (i03-i11) + 2 (i12) + 1 + 1 = 13.
    # Accepted: the 12 valid ones and i12's CUSDEC, but v04: filed after v01's due date, it is an
    # adjustment, pending (42) when the gateway answers; the demo's operator approves it after.
    assert printed.count("23 files: 13 archived, 10 quarantined; 12 of 25 messages accepted") == 2
    # in words (tests/test_dag.py, fixtures/cusdec/expected.json): v01-v09 accepted but v04 pending (42);
    # i12 partly rejected (its CUSDEC accepted, its unsupported message rejected); the 13 other invalid
    # files rejected: i07, i08, i11 by the portal (archived, their interchange sound), the rest quarantined
    assert printed.count("outcomes: 8 accepted, 1 partly rejected, 13 rejected, 1 pending") == 2
    # v01 193.59 (duty 145.80 + GST 47.79) to v04 40.50: 40.50 - 193.59 = -153.09
    assert "adjustment version 2 of 10207000300014 approved by demo-operator (difference -153.09 CAD)" in printed
    assert "UCI+IC0001+BROKER01:ZZZ+CARMGW:ZZZ+7'" in printed  # v01 acknowledged
    assert "ERC+P201'" in printed  # i11 rejected by the portal
    assert "version 1: function 9, status 40" in printed
    assert "version 2: function 4, status 40" in printed
    # v04 (treatment 10, UST, no duty): GST 5 % of 810.00
    assert "latest (version 2): duty 0.00, excise 0.00, GST 40.50 CAD" in printed
