"""The sweep of outbox temporaries a killed writer left (``Transport.sweep_temporaries``),
on local folders and over SFTP to the real sshd: only the gateway's own hidden
``.<name>.<8 hex>.part`` files, only regular files, only those not written to for
``older_than`` seconds. The runs that sweep: tests/test_fault_matrix.py (``mid_upload``)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers import SFTP_CONN_ID, SshServer
from transports.base import Transport
from transports.channels import SftpChannel
from transports.local import LocalFolderTransport
from transports.sftp import SftpTransport

STALE = ".f00001.edi.7.cusres.edi.e40dbe85.part"  # a killed write's temporary, an hour old
FRESH = ".f00002.edi.8.cusres.edi.0123abcd.part"  # a write in progress
KEPT_OLD = (
    "f00001.edi.7.contrl.edi",  # an answer
    ".partner-notes.part",  # hidden, but not a name the gateway writes
    ".f00003.edi.9.report.json.part",  # no random tag: not the gateway's
    ".f00004.edi.1.cusres.edi.E40DBE85.part",  # upper-case tag: not the gateway's
)


def plant(outbox: Path) -> None:
    hour_ago = time.time() - 3600
    for name in (STALE, *KEPT_OLD):
        (outbox / name).write_bytes(b"UNA:+.? 'UNB")
        os.utime(outbox / name, (hour_ago, hour_ago))
    (outbox / FRESH).write_bytes(b"UNA")
    folder = outbox / ".f00005.edi.2.cusres.edi.00000000.part"  # a directory: never removed
    folder.mkdir()
    os.utime(folder, (hour_ago, hour_ago))


def check(transport: Transport, partner: str, outbox: Path) -> None:
    before = sorted(p.name for p in outbox.iterdir())
    assert transport.sweep_temporaries(partner, older_than=600) == [STALE]
    assert sorted(p.name for p in outbox.iterdir()) == sorted(set(before) - {STALE})
    assert transport.sweep_temporaries(partner, older_than=600) == []  # a second sweep finds nothing
    assert transport.sweep_temporaries(partner, older_than=0) == [FRESH]  # any age: the fresh one too


def test_local_outbox(tmp_path: Path) -> None:
    transport = LocalFolderTransport(tmp_path)
    transport.ensure_partner("p1")
    outbox = tmp_path / "p1" / "outbox"
    plant(outbox)
    check(transport, "p1", outbox)


@pytest.fixture
def sftp_outbox(sshd: SshServer) -> Callable[[], tuple[SftpTransport, str, Path]]:
    partner = f"p{uuid.uuid4().hex[:8]}"
    channel = SftpChannel(
        connection_id=SFTP_CONN_ID,
        **{f"{area}": f"{partner}/{area}" for area in ("inbox", "outbox", "archive", "quarantine", "processing")},
    )
    return lambda: (SftpTransport({partner: channel}), partner, sshd.root / partner / "outbox")


def test_sftp_outbox(sftp_outbox: Callable[[], tuple[SftpTransport, str, Path]]) -> None:
    transport, partner, outbox = sftp_outbox()
    with transport:
        with transport.write_outbox(partner, "f00000.edi.6.contrl.edi") as out:  # the outbox made, an answer in it
            out.write(b"UNA")
        plant(outbox)  # on the server's disk, as a killed worker's session left them
        check(transport, partner, outbox)
        assert (outbox / "f00000.edi.6.contrl.edi").read_bytes() == b"UNA"
