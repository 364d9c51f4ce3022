"""Acknowledgements per delivery, over the real channels (OpenSSH sftp, SeaweedFS):
two deliveries never answer into one outbox file, every acknowledgement the
ledger records exists; a refused interchange burns nothing; refusals are
addressed to the partner's interchange id; ``process --json`` prints JSON only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from gateway import service
from gateway.partners import load_registry
from gateway.pipeline import Pipeline
from gateway.settings import Settings
from ledger import Ledger
from portal.client import PortalClient
from tests.ack_reader import ack_path, read_contrls
from tests.edifact_helpers import CUSDEC
from tests.servers import S3_CONN_ID, SFTP_CONN_ID, S3Server, SshServer
from transports.local import LocalFolderTransport

V01 = (CUSDEC / "valid" / "v01_single.edi").read_bytes()  # BROKER01, interchange IC0001: accepted
GARBAGE = (CUSDEC / "invalid" / "i01_garbage.bin").read_bytes()  # no interchange: rejected


def registry_text(sftp_base: str, bucket: str) -> str:
    areas = ("inbox", "outbox", "archive", "quarantine", "processing")
    sftp = "\n".join(f'{a} = "{sftp_base}/sftp1/{a}"' for a in areas)
    s3 = "\n".join(f'{a}_prefix = "s3b2/{a}/"' for a in areas)
    return (
        '[[partners]]\nid = "sftp1"\nedifact_senders = [{ id = "SFTP1EDI", qualifier = "ZZZ" }]\n'
        f'[partners.channel]\ntype = "sftp"\nconnection_id = "{SFTP_CONN_ID}"\n{sftp}\n\n'
        '[[partners]]\nid = "s3b2"\nedifact_senders = [{ id = "S3B2EDI", qualifier = "14" }]\n'
        f'[partners.channel]\ntype = "s3"\nconnection_id = "{S3_CONN_ID}"\nbucket = "{bucket}"\n{s3}\n'
    )


@pytest.fixture
def channels(
    sshd: SshServer, s3_server: S3Server, gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    base = f"acks-{uuid.uuid4().hex[:8]}"
    bucket = f"carm-acks-{uuid.uuid4().hex[:8]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    registry = tmp_path / "partners.toml"
    registry.write_text(registry_text(base, bucket))
    monkeypatch.setenv("CARM_PARTNERS_PATH", str(registry))
    sshd.sftp_batch(f"mkdir {base}\nmkdir {base}/sftp1\nmkdir {base}/sftp1/inbox\n")
    return {"base": base, "bucket": bucket, "s3": s3, "root": sshd.root / base / "sftp1", "settings": Settings()}


def s3_objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def upload_sftp(sshd: SshServer, base: str, files: dict[str, bytes], tmp_path: Path) -> None:
    """OpenSSH's sftp in batch mode, one file after the other (to a temporary name, then renamed)."""
    commands = []
    for number, (name, data) in enumerate(files.items()):
        source = tmp_path / f"upload-{number}.dat"
        source.write_bytes(data)
        commands += [
            f'put {source} "{base}/sftp1/inbox/.{number}.part"',
            f'rename "{base}/sftp1/inbox/.{number}.part" "{base}/sftp1/inbox/{name}"',
        ]
    sshd.sftp_batch("\n".join(commands) + "\n")


def run_all(settings: Settings) -> dict[tuple[str, str], str]:
    results = [service.run_batch(settings, batch, "acks") for batch in service.plan_batches(settings)]
    return {(b["partner"], f["name"]): f["state"] for b in results for f in b["files"]}


def recorded_acknowledgements(settings: Settings) -> dict[str, list[str]]:
    """Every acknowledgement location the ledger records, by partner: ``<partner>/outbox/<name>``."""
    ledger = Ledger(settings.ledger_database_url())
    try:
        found: dict[str, list[str]] = {}
        for record in ledger.acknowledgements():
            partner, area, name = record.location.split("/", 2)
            assert area == "outbox", record.location
            found.setdefault(partner, []).append(name)
        return found
    finally:
        ledger.dispose()


def test_deliveries_that_share_a_name_keep_their_own_acknowledgements(
    channels: dict[str, Any], sshd: SshServer, tmp_path: Path
) -> None:
    base, bucket, s3, root, settings = (channels[k] for k in ("base", "bucket", "s3", "root", "settings"))
    s3_sound = V01.replace(b"BROKER01:ZZZ", b"S3B2EDI:14")
    # S3: inbox/inv1.edi (sound, accepted) and inbox/old/inv1.edi (refused: not a plain name).
    s3.put_object(Bucket=bucket, Key="s3b2/inbox/inv1.edi", Body=s3_sound)
    s3.put_object(Bucket=bucket, Key="s3b2/inbox/old/inv1.edi", Body=s3_sound)
    # SFTP: two names that sanitise to the same base (Bestellung__.edi), one sound, one garbage.
    sftp_sound = V01.replace(b"BROKER01:ZZZ", b"SFTP1EDI:ZZZ")
    upload_sftp(sshd, base, {"Bestellung Ä.edi": sftp_sound, "Bestellung Ö.edi": GARBAGE}, tmp_path)

    states = run_all(settings)
    assert states == {
        ("s3b2", "inv1.edi"): "archived",
        ("s3b2", "old/inv1.edi"): "quarantined",
        ("sftp1", "Bestellung Ä.edi"): "archived",
        ("sftp1", "Bestellung Ö.edi"): "quarantined",
    }
    ledger = Ledger(settings.ledger_database_url())
    try:
        ids = {(r.partner, r.name): r.id for r in ledger.files()}
    finally:
        ledger.dispose()

    s3_outbox = s3_objects(s3, bucket, "s3b2/outbox/")
    first, second = ids[("s3b2", "inv1.edi")], ids[("s3b2", "old/inv1.edi")]
    assert sorted(s3_outbox) == sorted(
        [f"inv1.edi.{first}.{kind}" for kind in ("contrl.edi", "cusres.edi", "report.json")]
        + [f"old_inv1.edi.{second}.{kind}" for kind in ("contrl.edi", "report.json")]
    )
    [accepting] = read_contrls(s3_outbox[f"inv1.edi.{first}.contrl.edi"])
    [refusing] = read_contrls(s3_outbox[f"old_inv1.edi.{second}.contrl.edi"])
    assert (accepting["uci"]["reference"], accepting["uci"]["action"]) == ("IC0001", "7")
    assert (refusing["uci"]["action"], refusing["uci"]["code"]) == ("4", "18")
    assert json.loads(s3_outbox[f"inv1.edi.{first}.report.json"])["file"] == "inv1.edi"
    assert json.loads(s3_outbox[f"old_inv1.edi.{second}.report.json"])["file"] == "old/inv1.edi"

    sftp_outbox = {p.name: p.read_bytes() for p in (root / "outbox").iterdir()}
    sound, garbage = ids[("sftp1", "Bestellung Ä.edi")], ids[("sftp1", "Bestellung Ö.edi")]
    assert sorted(sftp_outbox) == sorted(
        [f"Bestellung__.edi.{sound}.{kind}" for kind in ("contrl.edi", "cusres.edi", "report.json")]
        + [f"Bestellung__.edi.{garbage}.{kind}" for kind in ("contrl.edi", "report.json")]
    )
    assert json.loads(sftp_outbox[f"Bestellung__.edi.{sound}.report.json"])["file"] == "Bestellung Ä.edi"
    assert json.loads(sftp_outbox[f"Bestellung__.edi.{garbage}.report.json"])["file"] == "Bestellung Ö.edi"
    [accepted] = read_contrls(sftp_outbox[f"Bestellung__.edi.{sound}.contrl.edi"])
    assert accepted["uci"]["action"] == "7"

    # Every acknowledgement the ledger records is in its partner's outbox, and nothing else is.
    recorded = recorded_acknowledgements(settings)
    assert sorted(recorded["s3b2"]) == sorted(s3_outbox)
    assert sorted(recorded["sftp1"]) == sorted(sftp_outbox)


def test_refusals_are_addressed_to_the_partners_interchange_id_and_json_is_alone_on_stdout(
    channels: dict[str, Any], tmp_path: Path
) -> None:
    """``carm-edi process --json`` over an S3 partner (Airflow's hooks, which log):
    stdout is one JSON document; the unreadable file's CONTRL names the partner's
    interchange id (S3B2EDI:14), not its registry key."""
    bucket, s3 = channels["bucket"], channels["s3"]
    s3.put_object(Bucket=bucket, Key="s3b2/inbox/garbage.bin", Body=GARBAGE)
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "process", "--json", "--partner", "s3b2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"},
    )
    assert result.returncode == 1, result.stderr[-3000:]  # the garbage is rejected
    answer = json.loads(result.stdout)  # nothing but the JSON document
    assert [(f["name"], f["state"]) for f in answer["files"]] == [("garbage.bin", "quarantined")]
    [name] = [n for n in s3_objects(s3, bucket, "s3b2/outbox/") if n.endswith(".contrl.edi")]
    data = s3.get_object(Bucket=bucket, Key=f"s3b2/outbox/{name}")["Body"].read()
    assert b"+CARMGW:ZZZ+S3B2EDI:14+" in data  # UNB: from us to the partner's interchange id
    [contrl] = read_contrls(data)
    assert (contrl["uci"]["sender"], contrl["uci"]["action"]) == ("S3B2EDI", "4")
    assert b"s3b2" not in data


def test_a_refused_interchange_burns_nothing(tmp_path: Path, portal_server) -> None:
    """BROKER01's interchange dropped in bank01's inbox is refused (23) and registers
    nothing: BROKER01's own file with that control reference is then accepted, not a
    duplicate (26)."""
    registry = load_registry(Settings().partners_path)  # broker01 (BROKER01:ZZZ), bank01 (BANK01:ZZZ)
    transport = LocalFolderTransport(tmp_path / "partners")
    for partner in ("broker01", "bank01"):
        transport.ensure_partner(partner)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        with PortalClient(portal_server.url) as client:
            pipeline = Pipeline(
                Settings(data_dir=tmp_path), transport, ledger, client.submit_declaration, registry=registry
            )
            misplaced = V01.replace(b"UNZ+1+IC0001'", b"UNZ+1+IC0001'\n")  # other bytes, same interchange
            (transport.area("bank01", "inbox") / "v01.edi").write_bytes(misplaced)
            [refused] = pipeline.process_inbox("bank01")
            assert refused.state == "quarantined"
            [contrl] = read_contrls(ack_path(transport.area("bank01", "outbox"), "v01.edi", "contrl.edi").read_bytes())
            assert (contrl["uci"]["reference"], contrl["uci"]["action"], contrl["uci"]["code"]) == ("IC0001", "4", "23")

            (transport.area("broker01", "inbox") / "v01.edi").write_bytes(V01)
            [accepted] = pipeline.process_inbox("broker01")
            assert accepted.state == "archived", [str(e) for e in accepted.report.all_errors()]
            outbox = transport.area("broker01", "outbox")
            [contrl] = read_contrls(ack_path(outbox, "v01.edi", "contrl.edi").read_bytes())
            assert (contrl["uci"]["reference"], contrl["uci"]["action"]) == ("IC0001", "7")

            # Now the reference is spent: the same interchange again is a duplicate.
            (transport.area("broker01", "inbox") / "again.edi").write_bytes(misplaced)
            [again] = pipeline.process_inbox("broker01")
            [contrl] = read_contrls(ack_path(outbox, "again.edi", "contrl.edi").read_bytes())
            assert (again.state, contrl["uci"]["code"]) == ("quarantined", "26")
    finally:
        ledger.dispose()
