"""End to end over real channels: partners upload with real clients (OpenSSH ``sftp -b``
with key auth and strict host key checking; boto3 against SeaweedFS), the gateway
(``gateway.service``: the DAG's plan_batches/run_batch, the partner registry, the
embedded portal over HTTP) processes them, and the partners' outbound areas hold
the acknowledgements of fixtures/cusdec/expected.json."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from gateway import service
from gateway.settings import Settings
from ledger import Ledger
from tests.ack_reader import ack_name, has_ack, read_contrls, read_cusres, stem
from tests.conftest import fixture_file
from tests.edifact_helpers import CUSDEC
from tests.servers import S3_CONN_ID, SFTP_CONN_ID, S3Server, SshServer

EXPECTED = json.loads((CUSDEC / "expected.json").read_text())
MAX_BYTES = 4096  # every fixture is smaller; the oversize file is three v02 interchanges (5604 bytes)
OVERSIZE = "oversize"


SENDERS = {"broker02": b"BROKER02", "broker03": b"BROKER03"}
SPOOFED = "spoofed.edi"  # broker02's inbox, but the interchange says it is from BROKER03


def content(fixture: str, partner: str) -> bytes:
    """The fixture as ``partner`` sends it: with its own UNB sender id (the
    fixtures say BROKER01); the spoofed file carries another partner's id."""
    if fixture == OVERSIZE:
        return fixture_file("v02_multi_message.edi").read_bytes() * 3
    sender = SENDERS["broker03"] if fixture == SPOOFED else SENDERS[partner]
    return (
        fixture_file("v01_single.edi" if fixture == SPOOFED else fixture)
        .read_bytes()
        .replace(b"BROKER01:ZZZ", sender + b":ZZZ")
    )


TRAVERSAL = "x\\..\\..\\broker04\\inbox\\v08_latin1.edi"  # a legal file name on the server

# partner -> {uploaded name: fixture}
SFTP_FILES = {
    "v01_single.edi": "v01_single.edi",
    "v03_multi_line.edi": "v03_multi_line.edi",
    "i01_garbage.bin": "i01_garbage.bin",
    "big.edi": OVERSIZE,
    TRAVERSAL: "v08_latin1.edi",
    SPOOFED: SPOOFED,
}
S3_FILES = {
    "v05_decimal_comma.edi": "v05_decimal_comma.edi",
    "v07_two_interchanges.edi": "v07_two_interchanges.edi",
    "garbage.bin": "i01_garbage.bin",
    "big.edi": OVERSIZE,
    "nested/dir/v06_unoa_no_una.edi": "v06_unoa_no_una.edi",
}
ARCHIVED = {"v01_single.edi", "v03_multi_line.edi", "v05_decimal_comma.edi", "v07_two_interchanges.edi"}
# Refused unread (not downloaded, not hashed), answered with a rejecting CONTRL and quarantined:
REFUSED = {"big.edi": "SIZE", TRAVERSAL: "NAME", "nested/dir/v06_unoa_no_una.edi": "NAME"}


def registry_text(sftp_base: str, bucket: str) -> str:
    def sftp(partner: str) -> str:
        dirs = "\n".join(
            f'{a} = "{sftp_base}/{partner}/{a}"' for a in ("inbox", "outbox", "archive", "quarantine", "processing")
        )
        return f'[partners.channel]\ntype = "sftp"\nconnection_id = "{SFTP_CONN_ID}"\n{dirs}\n'

    def s3(partner: str) -> str:
        prefixes = "\n".join(
            f'{a}_prefix = "{partner}/{a}/"' for a in ("inbox", "outbox", "archive", "quarantine", "processing")
        )
        return f'[partners.channel]\ntype = "s3"\nconnection_id = "{S3_CONN_ID}"\nbucket = "{bucket}"\n{prefixes}\n'

    head = '[[partners]]\nid = "{0}"\nedifact_senders = [{{ id = "{1}", qualifier = "ZZZ" }}]\nimporter_accounts = ["123456782RM0001"]\n'
    return "\n".join(
        [
            head.format("broker01", "BROKER01") + 'channel = { type = "local", path = "partners/broker01" }\n',
            head.format("broker02", "BROKER02") + sftp("broker02"),
            head.format("broker03", "BROKER03") + s3("broker03"),
            head.format("broker04", "BROKER04") + sftp("broker04"),
            head.format("broker05", "BROKER05") + s3("broker05"),
        ]
    )


@pytest.fixture
def world(
    sshd: SshServer, s3_server: S3Server, gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The registry (local, two SFTP and two S3 partners), idle partners' and strangers' files seeded."""
    base = f"e2e-{uuid.uuid4().hex[:8]}"
    bucket = f"carm-e2e-{uuid.uuid4().hex[:8]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    registry = tmp_path / "partners.toml"
    registry.write_text(registry_text(base, bucket))
    monkeypatch.setenv("CARM_PARTNERS_PATH", str(registry))
    monkeypatch.setenv("CARM_MAX_FILE_BYTES", str(MAX_BYTES))
    monkeypatch.setenv("CARM_BATCH_SIZE", "3")
    # Areas nobody may touch: an idle partner's outbox, a stranger not in the registry.
    folders = ["", "/broker02", "/broker02/inbox", "/broker04", "/broker04/outbox", "/stranger", "/stranger/inbox"]
    sshd.sftp_batch("".join(f"mkdir {base}{folder}\n" for folder in folders))  # provisioning
    v01 = fixture_file("v01_single.edi")
    sshd.sftp_batch(
        f"put {v01} {base}/broker04/outbox/old.contrl.edi\nput {v01} {base}/stranger/inbox/v01_single.edi\n"
    )
    s3.put_object(Bucket=bucket, Key="broker05/outbox/old.contrl.edi", Body=v01.read_bytes())
    s3.put_object(Bucket=bucket, Key="stranger/inbox/v01_single.edi", Body=v01.read_bytes())
    return {"base": base, "bucket": bucket, "s3": s3, "sftp_root": sshd.root / base, "settings": Settings()}


def upload_sftp(sshd: SshServer, base: str, files: dict[str, str], tmp_path: Path) -> None:
    """broker02 uploads with OpenSSH's sftp in batch mode: to a temporary name, then rename."""
    local = tmp_path / "upload"
    local.mkdir(exist_ok=True)
    commands = []
    for number, (name, fixture) in enumerate(files.items()):
        source = local / f"{number}.dat"
        source.write_bytes(content(fixture, "broker02"))
        quoted = name.replace("\\", "\\\\")
        commands += [
            f'put {source} "{base}/broker02/inbox/.{number}.part"',
            f'rename "{base}/broker02/inbox/.{number}.part" "{base}/broker02/inbox/{quoted}"',
        ]
    sshd.sftp_batch("\n".join(commands) + "\n")


def upload_s3(s3: Any, bucket: str, files: dict[str, str]) -> None:
    for name, fixture in files.items():
        s3.put_object(Bucket=bucket, Key=f"broker03/inbox/{name}", Body=content(fixture, "broker03"))


def snapshot_sftp(root: Path, *partners: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for partner in partners
        for p in sorted((root / partner).rglob("*"))
        if p.is_file()
    }


def snapshot_s3(s3: Any, bucket: str, *prefixes: str) -> dict[str, bytes]:
    found = {}
    for prefix in prefixes:
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def run_dag_service(settings: Settings) -> list[dict[str, Any]]:
    """What the DAG does: plan batches over every partner, run each (here one after the other)."""
    return [service.run_batch(settings, batch, "e2e") for batch in service.plan_batches(settings)]


def check_acknowledgements(outbox: dict[str, bytes], name: str, fixture: str) -> None:
    """CONTRL (UCI/UCM actions) and CUSRES (BGM reference, GIS status) as in expected.json."""
    folder = "valid" if fixture.startswith("v") else "invalid"
    expected = EXPECTED["files"][f"{folder}/{fixture}"]
    base = stem(name)
    contrls = read_contrls(outbox[ack_name(outbox, base, "contrl.edi")])
    assert [(c["uci"]["reference"], c["uci"]["action"]) for c in contrls] == [
        (w["uci"]["reference"], w["uci"]["action"]) for w in expected["contrl"]
    ]
    for actual, wanted in zip(contrls, expected["contrl"], strict=True):
        assert [(m["ref"], m["action"]) for m in actual["messages"]] == [
            (m["ref"], m["action"]) for m in wanted["messages"]
        ]
        if "code" in wanted["uci"]:
            assert actual["uci"]["code"] == wanted["uci"]["code"]
    if expected["cusres"]:
        interchanges = read_cusres(outbox[ack_name(outbox, base, "cusres.edi")])
        actual_messages = [(m["ref"], m["reference"], m["status"]) for i in interchanges for m in i]
        assert actual_messages == [(m["ref"], m["reference"], m["status"]) for i in expected["cusres"] for m in i]
    else:
        assert not has_ack(outbox, base, "cusres.edi")


def safe(name: str) -> str:
    from transports.local import safe_name

    return safe_name(name)


def test_partners_over_sftp_and_s3_end_to_end(world: dict[str, Any], sshd: SshServer, tmp_path: Path) -> None:
    base, bucket, s3, root, settings = (
        world["base"],
        world["bucket"],
        world["s3"],
        world["sftp_root"],
        world["settings"],
    )
    untouched_sftp = snapshot_sftp(root, "broker04", "stranger")
    untouched_s3 = snapshot_s3(s3, bucket, "broker05/", "stranger/")
    upload_sftp(sshd, base, SFTP_FILES, tmp_path)
    upload_s3(s3, bucket, S3_FILES)

    batches = service.plan_batches(settings)
    assert [b["label"] for b in batches] == [
        "broker02 batch 1 (3 files)", "broker02 batch 2 (3 files)", "broker03 batch 1 (3 files)", "broker03 batch 2 (2 files)",
    ]  # fmt: skip
    results = [service.run_batch(settings, batch, "e2e") for batch in batches]
    states = {(b["partner"], f["name"]): f["state"] for b in results for f in b["files"]}
    assert states == {
        **{("broker02", n): "archived" if n in ARCHIVED else "quarantined" for n in SFTP_FILES},
        **{("broker03", n): "archived" if n in ARCHIVED else "quarantined" for n in S3_FILES},
    }

    sftp_outbox = {p.name: p.read_bytes() for p in (root / "broker02" / "outbox").iterdir()}
    s3_outbox = {k.rsplit("/", 1)[1]: v for k, v in snapshot_s3(s3, bucket, "broker03/outbox/").items()}
    for outbox, files in ((sftp_outbox, SFTP_FILES), (s3_outbox, S3_FILES)):
        for name, fixture in files.items():
            if name in REFUSED or name == SPOOFED:
                continue
            check_acknowledgements(outbox, name, fixture)
        for name in REFUSED.keys() & files.keys():
            # Refused unread: its report says why, and a CONTRL rejects it (0085 18, unspecified).
            report = json.loads(outbox[ack_name(outbox, stem(name), "report.json")])
            assert (report["accepted"], [e["code"] for e in report["errors"]]) == (False, [REFUSED[name]])
            [contrl] = read_contrls(outbox[ack_name(outbox, stem(name), "contrl.edi")])
            assert (contrl["uci"]["reference"], contrl["uci"]["action"], contrl["uci"]["code"]) == ("0", "4", "18")
        assert not any(n.endswith(".part") or n.startswith(".") for n in outbox)
    # The spoofed interchange is refused: UCI code 23 (unknown interchange sender) at UNB element 2
    # (S011 position 3), nothing posted.
    [contrl] = read_contrls(sftp_outbox[ack_name(sftp_outbox, SPOOFED, "contrl.edi")])
    assert (contrl["uci"]["reference"], contrl["uci"]["action"], contrl["uci"]["code"], contrl["uci"]["tag"], contrl["uci"]["position"]) == (
        "IC0001", "4", "23", "UNB", "3",
    )  # fmt: skip
    assert not has_ack(sftp_outbox, SPOOFED, "cusres.edi")

    # Originals filed away under <claim>__<safe name>, with the uploaded bytes' SHA-256 in the ledger.
    ledger = Ledger(settings.ledger_database_url())
    try:
        records = {(r.partner, r.name): r for r in ledger.files()}
    finally:
        ledger.dispose()
    assert set(records) == set(states)
    sftp_filed = {
        p.name.split("__", 1)[1]: (p.parent.parent.parent.parent.name, p.read_bytes())
        for p in (root / "broker02").rglob("*__*")
        if not p.name.endswith(".reason.txt")
    }
    s3_filed = {
        k.rsplit("__", 1)[1]: (k.split("/")[1], v)
        for k, v in snapshot_s3(s3, bucket, "broker03/archive/", "broker03/quarantine/").items()
        if not k.endswith(".reason.txt")
    }
    for partner, files, filed in (("broker02", SFTP_FILES, sftp_filed), ("broker03", S3_FILES, s3_filed)):
        for name, fixture in files.items():
            data = content(fixture, partner)
            record = records[(partner, name)]
            assert record.sha256 == ("" if name in REFUSED else hashlib.sha256(data).hexdigest())
            assert record.size == len(data)
            area, stored = filed[safe(name)]
            assert (area, stored) == ("archive" if name in ARCHIVED else "quarantine", data)
    assert not list((root / "broker02" / "inbox").iterdir()) and not list((root / "broker02" / "processing").iterdir())
    assert snapshot_s3(s3, bucket, "broker03/inbox/", "broker03/processing/") == {}

    # The traversal name stayed in broker02's area; nobody else's area changed.
    assert has_ack(sftp_outbox, "x_.._.._broker04_inbox_v08_latin1.edi", "contrl.edi")
    assert snapshot_sftp(root, "broker04", "stranger") == untouched_sftp
    assert snapshot_s3(s3, bucket, "broker05/", "stranger/") == untouched_s3
    assert sorted(p.name for p in root.iterdir()) == ["broker02", "broker04", "stranger"]
    assert {k.split("/")[0] for k in snapshot_s3(s3, bucket, "")} == {"broker03", "broker05", "stranger"}
    assert not (settings.resolved_data_dir / "partners" / "broker01" / "inbox").exists() or not any(
        (settings.resolved_data_dir / "partners" / "broker01" / "inbox").iterdir()
    )


def test_two_concurrent_runs_never_process_a_file_twice(world: dict[str, Any], sshd: SshServer, tmp_path: Path) -> None:
    base, bucket, s3, root, settings = (
        world["base"],
        world["bucket"],
        world["s3"],
        world["sftp_root"],
        world["settings"],
    )
    count = 12
    files = {f"g{n:02d}.bin": "i01_garbage.bin" for n in range(count)}  # answered without the portal: fast
    upload_sftp(sshd, base, files, tmp_path)
    upload_s3(s3, bucket, files)
    batches = service.plan_batches(settings)  # both runs were planned before either claimed anything
    Ledger(
        settings.ledger_database_url()
    ).dispose()  # the ledger exists before the runs (its first-use schema creation is not race-safe)
    assert sum(len(b["files"]) for b in batches) == 2 * count

    results: list[list[dict[str, Any]]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(index: int) -> None:
        try:
            barrier.wait()
            for batch in batches:  # same order: both race for every file
                results[index].append(service.run_batch(settings, batch, f"run-{index}"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    processed = [(b["partner"], f["name"]) for run_results in results for b in run_results for f in b["files"]]
    assert sorted(processed) == sorted((p, n) for p in ("broker02", "broker03") for n in files)  # each exactly once
    print(
        f"run 0 processed {sum(len(b['files']) for b in results[0])}, run 1 {sum(len(b['files']) for b in results[1])}"
    )

    ledger = Ledger(settings.ledger_database_url())
    try:
        records = [(r.partner, r.name, r.state) for r in ledger.files()]
    finally:
        ledger.dispose()
    assert sorted(records) == sorted((p, n, "quarantined") for p in ("broker02", "broker03") for n in files)
    quarantined = [p for p in (root / "broker02" / "quarantine").rglob("*__*") if not p.name.endswith(".reason.txt")]
    assert len(quarantined) == count
    assert len(snapshot_s3(s3, bucket, "broker03/quarantine/")) == 2 * count  # each original + its reason
    sftp_acks = sorted(p.name for p in (root / "broker02" / "outbox").iterdir() if p.name.endswith(".contrl.edi"))
    assert [name.split(".", 2)[0] for name in sftp_acks] == sorted(n.split(".")[0] for n in files)
