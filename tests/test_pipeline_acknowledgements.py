"""Every fixture through the pipeline (local folders, SQLite ledger, the embedded
portal over real HTTP): the outbox must hold exactly the hand-written
acknowledgements of fixtures/cusdec/expected.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.pipeline import Pipeline, ProcessedFile
from gateway.settings import Settings
from ledger import Ledger
from portal.client import PortalClient
from portal.server import PortalServer
from tests.ack_reader import ack_path, has_ack, read_contrls, read_cusres
from tests.databases import BACKENDS, database
from tests.edifact_helpers import CUSDEC, FIXTURES
from transports.local import LocalFolderTransport

EXPECTED = json.loads((CUSDEC / "expected.json").read_text())
PARTNER = "broker01"


@pytest.fixture(scope="module", params=BACKENDS)
def processed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, ProcessedFile], Path, Ledger, PortalClient]]:
    """All fixtures processed once per database backend (ledger and portal)."""
    root = tmp_path_factory.mktemp("gateway")
    settings = Settings(data_dir=root)
    transport = LocalFolderTransport(root / "partners")
    transport.ensure_partner(PARTNER)
    with (
        database(request.param, root, "portal") as portal_url,
        database(request.param, root, "ledger") as ledger_url,
        PortalServer(portal_url, FIXTURES / "reference" / "tariff.csv") as server,
    ):
        client = PortalClient(server.url)
        ledger = Ledger(ledger_url)
        pipeline = Pipeline(settings, transport, ledger, client.submit_declaration)
        results = delivered_one_by_one(pipeline, transport)
        yield results, root / "partners" / PARTNER, ledger, client
        client.close()
        ledger.dispose()


def delivered_one_by_one(pipeline: Pipeline, transport: LocalFolderTransport) -> dict[str, ProcessedFile]:
    """The fixtures in their expected order, each delivered to the inbox and processed before the next."""
    results: dict[str, ProcessedFile] = {}
    for name in EXPECTED["order"]:
        shutil.copy(CUSDEC / name, transport.area(PARTNER, "inbox") / Path(name).name)
        [result] = pipeline.process_inbox(PARTNER)
        results[name] = result
    return results


def _subset(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``actual`` that ``expected`` names (absent keys compare as '')."""
    return {key: actual.get(key, "") for key in expected}


@pytest.mark.parametrize("name", EXPECTED["order"])
def test_acknowledgements_match_the_expected_ones(processed, name: str) -> None:
    results, partner_dir, _ledger, _client = processed
    expected = EXPECTED["files"][name]
    result = results[name]
    base = Path(name).name
    assert result.state == expected["state"]

    contrl_file = ack_path(partner_dir / "outbox", base, "contrl.edi")
    contrls = read_contrls(contrl_file.read_bytes())
    assert len(contrls) == len(expected["contrl"])
    for actual, wanted in zip(contrls, expected["contrl"], strict=True):
        assert actual["uci"]["sender"] in (PARTNER, "BROKER01")
        assert actual["uci"]["recipient"] in ("CARMGW", "")
        assert _subset(actual["uci"], wanted["uci"]) == {**{k: "" for k in wanted["uci"]}, **wanted["uci"]}
        assert len(actual["messages"]) == len(wanted["messages"])
        for message, wanted_message in zip(actual["messages"], wanted["messages"], strict=True):
            if "segments" in wanted_message:
                segments = [
                    {
                        "position": s["position"],
                        "code": s["code"],
                        **({"elements": s["elements"]} if s["elements"] else {}),
                    }
                    for s in message["segments"]
                ]
                assert segments == wanted_message["segments"]
            simple = {k: v for k, v in wanted_message.items() if k != "segments"}
            assert _subset(message, simple) == simple

    if not expected["cusres"]:
        assert not has_ack(partner_dir / "outbox", base, "cusres.edi")
        return
    cusres_file = ack_path(partner_dir / "outbox", base, "cusres.edi")
    interchanges = read_cusres(cusres_file.read_bytes())
    assert len(interchanges) == len(expected["cusres"])
    for actual_messages, wanted_messages in zip(interchanges, expected["cusres"], strict=True):
        assert len(actual_messages) == len(wanted_messages)
        for actual, wanted in zip(actual_messages, wanted_messages, strict=True):
            assert (actual["ref"], actual["reference"], actual["status"]) == (
                wanted["ref"],
                wanted["reference"],
                wanted["status"],
            )
            assert actual["response"] == {"40": "AP", "42": "CA"}.get(wanted["status"], "RE")
            if "totals" in wanted:
                assert actual["totals"] == wanted["totals"]
            assert [{"code": e["code"], "pointer": e.get("pointer")} for e in actual["errors"]] == wanted.get(
                "errors", []
            )


def test_every_file_has_a_json_report_and_is_filed_away(processed) -> None:
    results, partner_dir, ledger, _client = processed
    for name, result in results.items():
        base = Path(name).name
        report = json.loads(ack_path(partner_dir / "outbox", base, "report.json").read_text())
        assert report["accepted"] == result.report.accepted
        area = "archive" if result.state == "archived" else "quarantine"
        assert list((partner_dir / area).rglob(f"*__{base}")), f"{base} not in {area}"
    assert not any((partner_dir / "inbox").iterdir())
    assert not any((partner_dir / "processing").iterdir())
    states = {record.name: record.state for record in ledger.files()}
    assert states == {Path(name).name: EXPECTED["files"][name]["state"] for name in EXPECTED["order"]}


def test_cusres_line_amounts_and_references_for_a_multi_line_declaration(processed) -> None:
    _results, partner_dir, _ledger, _client = processed
    [[message]] = read_cusres(ack_path(partner_dir / "outbox", "v03_multi_line.edi", "cusres.edi").read_bytes())
    assert message["rff"] == {"ACW": "IC0003", "ACE": "1", "ABE": "BRK-2025-1"}
    # Line 3: air conditioners, VFD 1620.00, duty 0 %, excise 10 % = 162.00, VFT 1782.00, GST 89.10.
    assert message["lines"]["3"] == {
        "CUD:125": "1620.00",
        "CUD:124": "0.00",
        "EXC:124": "162.00",
        "GST:125": "1782.00",
        "GST:124": "89.10",
    }
    # Line 2: roasted coffee is GST-exempt.
    assert message["lines"]["2"]["GST:124"] == "0.00"


def test_portal_holds_both_versions_after_the_correction(processed) -> None:
    _results, _partner_dir, _ledger, client = processed
    record = client.get_declaration("10207000300014")
    versions = sorted(v["version"] for v in record["versions"])
    assert versions == [1, 2]


def test_rejected_interchanges_post_nothing(processed) -> None:
    _results, _partner_dir, _ledger, client = processed
    from portal.client import PortalRequestError

    for transaction in ("10207000300116", "10207000300127", "10207000300138", "10207000400060"):  # i03, i04, i05, i14
        with pytest.raises(PortalRequestError) as error:
            client.get_declaration(transaction)
        assert error.value.status_code == 404
