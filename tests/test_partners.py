"""The partner registry: the embedded default, every channel type, readable errors, owns_sender."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.partners import (
    RegistryError,
    load_registry,
    may_file_for,
    owns_sender,
    owns_xml_sender,
    parse_registry,
)
from gateway.settings import PROJECT_ROOT, Settings
from transports.channels import LocalChannel, S3Channel, SftpChannel

FULL = """
[[partners]]
id = "broker01"
edifact_senders = [{ id = "BROKER01", qualifier = "ZZZ" }, { id = "1234567890123", qualifier = "14" }]
importer_accounts = ["123456782RM0001"]
channel = { type = "local", path = "partners/broker01" }

[[partners]]
id = "broker02"
edifact_senders = [{ id = "BROKER02" }]
xml_senders = ["BRK02"]
channel = { type = "sftp", connection_id = "carm_broker02", inbox = "/srv/b2/in", outbox = "out/" }
acknowledgements = { contrl = false, syntax_version = 4, charset = "UNOY" }

[[partners]]
id = "broker03"
edifact_senders = [{ id = "BROKER03", qualifier = "ZZZ" }]

[partners.channel]
type = "s3"
connection_id = "carm_s3"
bucket = "carm-partners"
inbox_prefix = "/broker03/inbox"
outbox_prefix = "broker03/outbox/"
archive_prefix = "broker03/archive/"
quarantine_prefix = "broker03/quarantine/"
processing_prefix = "broker03/processing/"
"""


def _partner(extra: str = "", channel: str = '{ type = "local", path = "p" }', senders: str = '[{ id = "X" }]') -> str:
    return f'[[partners]]\nid = "p1"\nedifact_senders = {senders}\nchannel = {channel}\n{extra}\n'


def test_the_embedded_default_registry() -> None:
    registry = load_registry(Settings().partners_path)
    assert Settings().partners_path == PROJECT_ROOT / "fixtures" / "partners.toml"
    broker, bank = registry.partners
    assert broker.id == "broker01"
    assert [str(s) for s in broker.edifact_senders] == ["BROKER01:ZZZ"]
    assert broker.xml_senders == ["123026635RM0001", "123456782RM0001"]  # CAD-IN sender ids are BN15s
    assert broker.importer_accounts == ["123456782RM0001"]
    assert isinstance(broker.channel, LocalChannel)
    assert broker.channel.folder(Path("/data")) == Path("/data/partners/broker01")
    assert broker.acknowledgements.contrl is True
    # The bank sends the importer's payment files (the demo's second run).
    assert (bank.id, [str(s) for s in bank.edifact_senders]) == ("bank01", ["BANK01:ZZZ"])
    assert bank.channel.folder(Path("/data")) == Path("/data/partners/bank01")


def test_every_channel_type_with_normalized_paths() -> None:
    registry = parse_registry(FULL)
    assert registry.ids() == ["broker01", "broker02", "broker03"]
    sftp = registry.get("broker02").channel
    assert isinstance(sftp, SftpChannel)
    assert sftp.areas() == {
        "inbox": "/srv/b2/in",
        "outbox": "out",
        "archive": "archive",
        "quarantine": "quarantine",
        "processing": "processing",
    }
    assert registry.get("broker02").acknowledgements.model_dump() == {
        "contrl": False,
        "syntax_version": 4,
        "charset": "UNOY",
    }
    s3 = registry.get("broker03").channel
    assert isinstance(s3, S3Channel)
    assert s3.inbox_prefix == "broker03/inbox/"
    assert LocalChannel(path=Path("/abs")).folder(Path("/data")) == Path("/abs")
    assert registry.channels() == {"broker01": registry.get("broker01").channel, "broker02": sftp, "broker03": s3}
    with pytest.raises(KeyError):
        registry.get("nobody")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[partners]\nid=", "not valid TOML"),
        ("", "partners: Field required"),
        (_partner(channel='{ type = "ftp", path = "p" }'), "does not match any of the expected tags"),
        (
            _partner(channel='{ type = "sftp", connection_id = "c", inbox = "../other/inbox" }'),
            "partners[0] (id 'p1').channel.sftp.inbox: Value error, must not contain '..'",
        ),
        (_partner(channel='{ type = "sftp", connection_id = "c", outbox = "inbox" }'), "must be distinct directories"),
        (
            _partner(channel='{ type = "s3", connection_id = "c", bucket = "b-1", processing_prefix = "inbox/p/" }'),
            "lies inside inbox",
        ),
        (
            _partner(channel='{ type = "s3", connection_id = "c", bucket = "b-1", inbox_prefix = "a/../b/" }'),
            "without '.', '..'",
        ),
        (
            _partner(channel='{ type = "s3", connection_id = "c", bucket = "Bad_Bucket" }'),
            "bucket: String should match pattern",
        ),
        (_partner(channel='{ type = "sftp", inbox = "in" }'), "connection_id: Field required"),
        (_partner('importer_accounts = ["123456789RM0001"]'), "fails its check digit"),
        (_partner('importer_accounts = ["123456782RT0001"]'), "is not an RM program account"),
        (_partner(senders="[]"), "could send nothing"),
        (_partner(senders='[{ id = "A+B" }]'), "EDIFACT separators"),
        (_partner('colour = "red"'), "colour: Extra inputs are not permitted"),
        (_partner("acknowledgements = { syntax_version = 2 }"), "syntax_version: Input should be 3 or 4"),
        (_partner() + _partner(), "partner id 'p1' appears twice"),
        (
            _partner()
            + _partner(senders='[{ id = "Y" }]', channel='{ type = "local", path = "q" }')
            .replace('"p1"', '"p2"')
            .replace('id = "Y"', 'id = "X"'),
            "EDIFACT sender X is claimed by both 'p1' and 'p2'",
        ),
        (
            _partner(channel='{ type = "sftp", connection_id = "c" }')
            + _partner(channel='{ type = "sftp", connection_id = "c" }', senders='[{ id = "Y" }]').replace(
                '"p1"', '"p2"'
            ),
            "share the channel area",
        ),
    ],
)
def test_invalid_registries_say_where_and_why(text: str, message: str) -> None:
    with pytest.raises(RegistryError) as error:
        parse_registry(text, "partners.toml")
    assert str(error.value).startswith("partners.toml: ")
    assert message in str(error.value)


def test_a_missing_file_is_a_registry_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read the partner registry"):
        load_registry(tmp_path / "nope.toml")


def test_partners_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "partners.toml"
    path.write_text(FULL)
    monkeypatch.setenv("CARM_PARTNERS_PATH", str(path))
    assert load_registry(Settings().partners_path).ids() == ["broker01", "broker02", "broker03"]


def test_owns_sender_matches_id_and_qualifier_exactly() -> None:
    registry = parse_registry(FULL)
    broker01, broker02 = registry.get("broker01"), registry.get("broker02")
    assert owns_sender(broker01, "BROKER01", "ZZZ")
    assert owns_sender(broker01, " BROKER01 ", "ZZZ ")
    assert owns_sender(broker01, "1234567890123", "14")
    assert not owns_sender(broker01, "BROKER01", "14")  # right id, wrong qualifier
    assert not owns_sender(broker01, "BROKER01", None)
    assert not owns_sender(broker01, "broker01", "ZZZ")  # case-sensitive
    assert not owns_sender(broker01, "BROKER02", None)  # another partner's identity: spoofed
    assert not owns_sender(broker01, "", "ZZZ") and not owns_sender(broker01, None, None)
    assert owns_sender(broker02, "BROKER02", None) and owns_sender(broker02, "BROKER02", "")
    assert not owns_sender(broker02, "BROKER02", "ZZZ")  # configured without a qualifier


def test_xml_senders_and_importer_accounts() -> None:
    registry = parse_registry(FULL)
    assert owns_xml_sender(registry.get("broker02"), "BRK02")
    assert not owns_xml_sender(registry.get("broker01"), "BRK02")
    assert may_file_for(registry.get("broker01"), "123456782RM0001")
    assert not may_file_for(registry.get("broker01"), "123026635RM0001")
    assert not may_file_for(registry.get("broker02"), "123456782RM0001")
