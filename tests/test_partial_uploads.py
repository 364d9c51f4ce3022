"""Partial uploads (issue 15, item 3; docs/reliability.md, fault matrix row 19): a
file is claimed only once it is complete.

A plain ``sftp put`` writes under the final name while the upload runs; the
gateway claimed 261 KB of a 934 KB file and rejected it. Here partners upload
with the real OpenSSH ``sftp`` client, rate-limited (``-l``), to the real sshd
while ``carm-edi process`` runs (``service.process_once``), and write local
inbox files while the planner looks (``service.plan_batches``, the DAG's
planner). Quiet periods are short here (``uploads.quiet_seconds`` in the
registry, ``CARM_QUIET_SECONDS``); the production default is 5 s.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from gateway import service
from gateway.partners import RegistryError, parse_registry
from gateway.settings import Settings
from ledger import Ledger
from tests.builders import declaration, declaration_data
from tests.conftest import fixture_file
from tests.servers import S3_CONN_ID, SFTP_CONN_ID, S3Server, SshServer

T = TypeVar("T")
V01 = fixture_file("v01_single.edi").read_bytes()
AREAS = ("inbox", "outbox", "archive", "quarantine", "processing")
PARTNER = '[[partners]]\nid = "{id}"\nedifact_senders = [{{ id = "{sender}", qualifier = "ZZZ" }}]\nimporter_accounts = ["123456782RM0001"]\n{uploads}\n'


def local_partner(partner: str, uploads: str = "", sender: str = "BROKER01") -> str:
    return PARTNER.format(id=partner, sender=sender, uploads=uploads) + (
        f'channel = {{ type = "local", path = "partners/{partner}" }}\n'
    )


def sftp_partner(partner: str, base: str, uploads: str, sender: str) -> str:
    folders = "\n".join(f'{area} = "{base}/{area}"' for area in AREAS)
    channel = f'[partners.channel]\ntype = "sftp"\nconnection_id = "{SFTP_CONN_ID}"\n{folders}\n'
    return PARTNER.format(id=partner, sender=sender, uploads=uploads) + channel


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: str, quiet: float) -> Settings:
    """The gateway's settings (``gateway_settings`` exported them) with this registry and default quiet period."""
    path = tmp_path / f"partners-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(registry)
    monkeypatch.setenv("CARM_PARTNERS_PATH", str(path))
    monkeypatch.setenv("CARM_QUIET_SECONDS", str(quiet))
    return Settings()


def inbox_of(settings: Settings, partner: str) -> Path:
    inbox = settings.resolved_data_dir / "partners" / partner / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    return inbox


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def ledger_records(settings: Settings) -> list[tuple[str, str, int]]:
    ledger = Ledger(settings.ledger_database_url())
    try:
        return [(r.name, r.state, r.size) for r in ledger.files()]
    finally:
        ledger.dispose()


def big_cusdec(sender: str, lines: int = 4700) -> bytes:
    """One valid CUSDEC declaration of ``lines`` goods lines, about 200 bytes each:
    4,700 make ~950 KB, the size of the file in issue 15."""
    line = declaration_data()["lines"][0]
    invoice = {**declaration_data()["invoice"], "total_amount": Decimal("600.00") * lines}
    cad = declaration(lines=[{**line, "line_number": n} for n in range(1, lines + 1)], invoice=invoice)
    from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
    from mappings.edifact_writer import InterchangeWriter

    out = io.BytesIO()
    writer = InterchangeWriter(out, sender=(sender, "ZZZ"), recipient=("CARMGW", "ZZZ"), control_reference="BIG0001")
    writer.write_message("1", IDENTIFIER, cusdec_segments(cad))
    writer.close()
    return out.getvalue()


# --- local folders: the planner ----------------------------------------------------------------


def test_a_growing_file_is_left_for_the_next_run_and_a_still_one_is_handed_out(
    gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(tmp_path, monkeypatch, local_partner("broker01", "uploads = { quiet_seconds = 0.6 }"), 30)
    inbox = inbox_of(settings, "broker01")
    (inbox / "still.edi").write_bytes(V01)
    stop = threading.Event()

    def write_slowly() -> None:  # a partner's upload: a chunk every 50 ms
        with open(inbox / "growing.edi", "wb") as out:
            while not stop.is_set():
                out.write(b"UNH+1+CUSDEC:D:96B:UN:CAD01'\n")
                out.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        while not (inbox / "growing.edi").exists():
            time.sleep(0.01)
        batches, elapsed = timed(lambda: service.plan_batches(settings))
    finally:
        stop.set()
        writer.join()
    still = (inbox / "still.edi").stat()
    assert batches == [
        {
            "partner": "broker01",
            "files": ["still.edi"],
            "observed": {"still.edi": [still.st_size, still.st_mtime]},
            "label": "broker01 batch 1 (1 files)",
        }
    ]
    # One wait of the partner's quiet period (0.6 s, not the settings' 30 s) within the run.
    assert 0.6 <= elapsed < 3

    # The upload is over: the next run finds it unchanged over the quiet period.
    batches, elapsed = timed(lambda: service.plan_batches(settings))
    assert [b["files"] for b in batches] == [["growing.edi", "still.edi"]]
    assert 0.6 <= elapsed < 3
    assert ledger_records(settings) == []  # planning claims nothing


def test_names_of_uploads_in_progress_are_never_claimed_and_never_waited_for(
    gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = local_partner("broker01") + local_partner(
        "broker02", 'uploads = { temporary_names = ["~*", "*.uploading"] }', sender="BROKER02"
    )
    settings = configure(tmp_path, monkeypatch, registry, 30)
    defaults = [".v01.edi", "v01.edi.part", "v01.edi.filepart", "V01.EDI.PARTIAL", "v01.edi.tmp"]
    for name in defaults:
        (inbox_of(settings, "broker01") / name).write_bytes(V01)
    for name in ("~v01.edi", "v01.edi.uploading", ".v01.edi"):
        (inbox_of(settings, "broker02") / name).write_bytes(V01)

    processed, elapsed = timed(lambda: service.process_once(settings))
    assert processed == []
    assert elapsed < 3  # nothing that could be claimed: no quiet period to wait for (it is 30 s)
    # A dotfile being uploaded is not claimed and refused for its name: it is left alone.
    assert sorted(p.name for p in inbox_of(settings, "broker01").iterdir()) == sorted(defaults)
    assert ledger_records(settings) == []
    for partner in ("broker01", "broker02"):
        outbox = settings.resolved_data_dir / "partners" / partner / "outbox"
        assert not outbox.exists() or list(outbox.iterdir()) == []

    # A partner's own list replaces the defaults: broker02's "*.part" is an ordinary name.
    (inbox_of(settings, "broker02") / "v02.edi.part").write_bytes(V01)
    monkeypatch.setenv("CARM_QUIET_SECONDS", "0.2")
    batches = service.plan_batches(Settings())
    assert [(b["partner"], b["files"]) for b in batches] == [("broker02", ["v02.edi.part"])]


def test_a_partner_that_renames_its_uploads_is_served_at_once(
    gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = configure(tmp_path, monkeypatch, local_partner("broker01", 'uploads = { mode = "rename" }'), 30)
    inbox = inbox_of(settings, "broker01")
    (inbox / "v01.edi.part").write_bytes(V01)  # its upload in progress
    (inbox / "v01.edi.part").rename(inbox / "v01.edi")  # done

    processed, elapsed = timed(lambda: service.process_once(settings))
    assert [(p.name, p.state, p.report.accepted) for p in processed] == [("v01.edi", "archived", True)]
    assert elapsed < 5  # no quiet period (30 s for the others); the processing itself takes about 1 s


def test_an_s3_object_is_complete_when_listed(
    gateway_settings: Settings, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"carm-quiet-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    prefixes = "\n".join(f'{area}_prefix = "broker03/{area}/"' for area in AREAS)
    channel = f'[partners.channel]\ntype = "s3"\nconnection_id = "{S3_CONN_ID}"\nbucket = "{bucket}"\n{prefixes}\n'
    registry = PARTNER.format(id="broker03", sender="BROKER03", uploads="") + channel
    settings = configure(tmp_path, monkeypatch, registry, 30)
    client.put_object(Bucket=bucket, Key="broker03/inbox/v01.edi", Body=V01)

    batches, elapsed = timed(lambda: service.plan_batches(settings))
    assert [(b["partner"], b["files"]) for b in batches] == [("broker03", ["v01.edi"])]
    assert elapsed < 15  # an object appears only once its PUT completed: no quiet period (30 s) to wait;
    # the margin is for a loaded machine (4.8 s seen), still half the quiet period


def test_uploads_settings_are_checked() -> None:
    with pytest.raises(RegistryError, match="quiet_seconds applies to mode 'in_place' only"):
        parse_registry(local_partner("broker01", 'uploads = { mode = "rename", quiet_seconds = 3 }'))
    with pytest.raises(RegistryError, match=r"uploads\.mode: Input should be 'in_place' or 'rename'"):
        parse_registry(local_partner("broker01", 'uploads = { mode = "append" }'))
    with pytest.raises(RegistryError, match=r"uploads\.quiet_seconds: Input should be less than or equal to 300"):
        parse_registry(local_partner("broker01", "uploads = { quiet_seconds = 600 }"))


# --- between planning and the claim, and after the claim -----------------------------------------


def test_a_file_that_changed_after_planning_is_left_for_the_next_run(
    gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload paused longer than the quiet period, then went on before the batch ran."""
    settings = configure(tmp_path, monkeypatch, local_partner("broker01"), 0.3)
    inbox = inbox_of(settings, "broker01")
    (inbox / "v01.edi").write_bytes(V01[:300])
    [batch] = service.plan_batches(settings)
    assert batch["observed"] == {"v01.edi": [300, (inbox / "v01.edi").stat().st_mtime]}
    with open(inbox / "v01.edi", "ab") as out:
        out.write(V01[300:])

    assert service.run_batch(settings, batch, "run-1")["files"] == []
    assert (inbox / "v01.edi").read_bytes() == V01
    assert ledger_records(settings) == []

    [processed] = service.process_once(settings)
    assert (processed.name, processed.state, processed.report.accepted) == ("v01.edi", "archived", True)


def test_a_file_written_on_after_its_claim_goes_back_unanswered(
    gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer holds the file open: its writes follow the file into processing/."""
    settings = configure(tmp_path, monkeypatch, local_partner("broker01"), 0.3)
    inbox = inbox_of(settings, "broker01")
    outbox = settings.resolved_data_dir / "partners" / "broker01" / "outbox"
    with open(inbox / "v01.edi", "wb") as writer:
        writer.write(V01[:300])
        writer.flush()
        [batch] = service.plan_batches(settings)  # it held still for the quiet period

        def write_on(point: str) -> None:
            if point == "moved" and writer.tell() == 300:
                writer.write(V01[300:])
                writer.flush()

        with service.open_pipeline(settings, checkpoint=write_on) as pipeline:
            [released] = service.work_batch(pipeline, batch, "run-1")
    assert released.state == "released"
    [finding] = released.report.errors
    assert finding.code == "PARTIAL"
    assert f"listed at 300 bytes, {len(V01)} bytes when read after the claim" in finding.message
    assert (inbox / "v01.edi").read_bytes() == V01  # back in the inbox, whole
    assert not outbox.exists() or list(outbox.iterdir()) == []  # not answered
    [(name, state, _size)] = ledger_records(settings)
    assert (name, state) == ("v01.edi", "released")

    [processed] = service.process_once(settings)
    assert (processed.name, processed.state, processed.report.accepted) == ("v01.edi", "archived", True)


# --- a real sftp client uploading slowly to the real sshd ----------------------------------------


@pytest.fixture
def sftp_world(
    sshd: SshServer, gateway_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path]:
    """broker02 (writes in place, quiet 3 s) and broker04 (renames) on the real sshd."""
    base = f"quiet-{uuid.uuid4().hex[:8]}"
    registry = sftp_partner("broker02", f"{base}/broker02", "uploads = { quiet_seconds = 3 }", "BROKER02")
    registry += sftp_partner("broker04", f"{base}/broker04", 'uploads = { mode = "rename" }', "BROKER04")
    configure(tmp_path, monkeypatch, registry, 20)
    folders = ["", "/broker02", "/broker02/inbox", "/broker04", "/broker04/inbox"]
    sshd.sftp_batch("".join(f"mkdir {base}{folder}\n" for folder in folders))
    return base, sshd.root / base


def start_upload(sshd: SshServer, commands: str, kbit_per_second: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        sshd.sftp_command("-l", str(kbit_per_second)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(commands)
    process.stdin.close()
    return process


def finish(upload: subprocess.Popen[str]) -> None:
    assert upload.wait(timeout=60) == 0, upload.stderr.read() if upload.stderr else ""


def test_a_slow_sftp_put_is_claimed_only_once_complete(
    sftp_world: tuple[str, Path], sshd: SshServer, tmp_path: Path
) -> None:
    base, root = sftp_world
    settings = Settings()
    content = big_cusdec("BROKER02")
    source = tmp_path / "cad.edi"
    source.write_bytes(content)
    remote = root / "broker02" / "inbox" / "cad.edi"

    assert service.process_once(settings) == []  # the first run's imports are behind us
    # At 1,200 kbit/s OpenSSH's sftp writes 255 KiB bursts (a first one of 261,120 bytes:
    # the "261 KB") 1.7 s apart, in about 6 s: a run claiming when it lists took the
    # first burst. The quiet period (3 s) is longer than the writer's pauses.
    upload = start_upload(sshd, f"put {source} {base}/broker02/inbox/cad.edi\n", 1200)
    while not remote.exists() and upload.poll() is None:
        time.sleep(0.02)
    processed = []
    partial_runs = 0
    try:
        while upload.poll() is None:  # carm-edi process, run after run, while the upload goes on
            size = remote.stat().st_size if remote.exists() else 0
            processed += service.process_once(settings)
            partial_runs += 0 < size < len(content)
    finally:
        finish(upload)
    assert partial_runs >= 1  # runs began while the file was partly there
    processed += service.process_once(settings)  # (the last run of the loop may have taken it, complete)

    # Claimed once, whole: a claim of a part would have been rejected and its rest quarantined.
    assert [(p.name, p.state, p.report.accepted) for p in processed] == [("cad.edi", "archived", True)]
    [archived] = [p for p in (root / "broker02" / "archive").rglob("*") if p.is_file()]
    assert hashlib.sha256(archived.read_bytes()).digest() == hashlib.sha256(content).digest()
    assert [p for p in (root / "broker02" / "quarantine").rglob("*") if p.is_file()] == []
    assert ledger_records(settings) == [("cad.edi", "archived", len(content))]


def test_an_sftp_upload_renamed_into_place_is_served_at_once(
    sftp_world: tuple[str, Path], sshd: SshServer, tmp_path: Path
) -> None:
    base, root = sftp_world
    settings = Settings()
    source = tmp_path / "v01.edi"
    source.write_bytes(big_cusdec("BROKER04"))
    inbox = f"{base}/broker04/inbox"

    commands = f"put {source} {inbox}/v01.edi.part\nrename {inbox}/v01.edi.part {inbox}/v01.edi\n"
    upload = start_upload(sshd, commands, 4000)  # ~500 KB/s: ~2 s under the temporary name
    runs = 0
    try:
        while upload.poll() is None:
            # The .part file is no candidate: nothing claimed, and no quiet period (20 s) waited for.
            batches, elapsed = timed(lambda: service.plan_batches(settings))
            if (root / "broker04" / "inbox" / "v01.edi.part").exists():
                assert (batches, elapsed < 3) == ([], True)
                runs += 1
    finally:
        finish(upload)
    assert runs >= 1

    batches, elapsed = timed(lambda: service.plan_batches(settings))
    assert [(b["partner"], b["files"]) for b in batches] == [("broker04", ["v01.edi"])]
    assert elapsed < 3  # renamed into place: complete when listed
    [result] = service.run_batch(settings, batches[0], "run-1")["files"]
    assert (result["name"], result["state"], result["accepted"]) == ("v01.edi", "archived", True)
