"""SftpTransport against a real OpenSSH sshd on 127.0.0.1 (tests/servers.py), through
Airflow's SFTPHook and the ``carm_test_sftp`` connection (an AIRFLOW_CONN_ variable)."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import SFTP_CONN_ID, SshServer
from transports.base import InboundFile
from transports.channels import SftpChannel
from transports.sftp import SftpTransport


def make_channel(base: str) -> SftpChannel:
    return SftpChannel(
        connection_id=SFTP_CONN_ID, inbox=f"{base}/inbox", outbox=f"{base}/outbox", archive=f"{base}/archive",
        quarantine=f"{base}/quarantine", processing=f"{base}/processing",
    )  # fmt: skip


@pytest.fixture
def partner(sshd: SshServer) -> str:
    return f"p{uuid.uuid4().hex[:8]}"


@pytest.fixture
def transport(partner: str) -> Iterator[SftpTransport]:
    with SftpTransport({partner: make_channel(partner)}) as transport:
        yield transport


def put(transport: SftpTransport, partner: str, name: str, data: bytes) -> None:
    with transport.client(partner).open(f"{transport.channels[partner].inbox}/{name}", "wb") as handle:
        handle.set_pipelined(True)
        handle.write(data)


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file below root (server side) with its content."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
    }


def test_the_whole_cycle(sshd: SshServer, transport: SftpTransport, partner: str) -> None:
    area = sshd.root / partner
    put(transport, partner, "b.edi", b"UNB+second")
    put(transport, partner, "a.edi", b"UNB+first")
    assert transport.partners() == [partner]
    inbound = transport.list_inbox(partner)
    assert [(f.name, f.size) for f in inbound] == [("a.edi", 9), ("b.edi", 10)]

    claimed = transport.claim(inbound[0])
    assert claimed is not None
    assert claimed.location == f"{partner}/processing/{claimed.claim_id}__a.edi"
    assert transport.claim(inbound[0]) is None  # already taken
    assert [f.name for f in transport.list_inbox(partner)] == ["b.edi"]
    with transport.open(claimed) as stream:
        assert stream.read() == b"UNB+first"
        stream.seek(4)
        assert stream.read(3) == b"fir"

    with transport.write_outbox(partner, "a.edi.contrl.edi") as out:
        out.write(b"UNA:+.? 'UNB+...'")
    assert (area / "outbox" / "a.edi.contrl.edi").read_bytes() == b"UNA:+.? 'UNB+...'"

    archived = transport.archive(claimed)
    assert archived.startswith(f"{partner}/archive/") and archived.endswith(f"/{claimed.claim_id}__a.edi")
    assert (sshd.root / archived).read_bytes() == b"UNB+first"

    second = transport.claim(transport.list_inbox(partner)[0])
    assert second is not None
    quarantined = transport.quarantine(second, "not EDIFACT")
    assert (sshd.root / quarantined).read_bytes() == b"UNB+second"
    assert (sshd.root / f"{quarantined}.reason.txt").read_text() == "not EDIFACT\n"
    assert list((area / "processing").iterdir()) == [] and list((area / "inbox").iterdir()) == []
    assert not [p for p in area.rglob("*") if p.name.endswith(".part")]


def test_release_puts_the_file_back_without_overwriting_a_new_upload(
    sshd: SshServer, transport: SftpTransport, partner: str
) -> None:
    put(transport, partner, "x.edi", b"old")
    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    transport.release(claimed)
    assert (sshd.root / partner / "inbox" / "x.edi").read_bytes() == b"old"

    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    put(transport, partner, "x.edi", b"new upload")
    transport.release(claimed)
    inbox = sshd.root / partner / "inbox"
    assert (inbox / "x.edi").read_bytes() == b"new upload"
    assert (inbox / f"{claimed.claim_id}__x.edi").read_bytes() == b"old"


def test_a_large_file_streams_with_bounded_reads(transport: SftpTransport, partner: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 123)
    put(transport, partner, "big.edi", data)
    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    with transport.open(claimed) as stream:
        digest = hashlib.sha256()
        while chunk := stream.read(64 * 1024):
            digest.update(chunk)
        assert isinstance(stream, io.BufferedReader)
        raw = stream.raw
        assert len(raw._buffer) <= 1 << 20  # one window in memory, not the file
        stream.seek(0)
        assert stream.read(16) == data[:16]
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_failed_acknowledgement_leaves_nothing_behind(
    sshd: SshServer, transport: SftpTransport, partner: str
) -> None:
    outbox = sshd.root / partner / "outbox"
    with pytest.raises(RuntimeError), transport.write_outbox(partner, "a.contrl.edi") as out:
        out.write(b"half")
        out.flush()
        assert [p.name for p in outbox.iterdir() if not p.name.endswith(".part")] == []  # never visible half-written
        raise RuntimeError("boom")
    assert list(outbox.iterdir()) == []


def test_acknowledgements_replace_atomically(sshd: SshServer, transport: SftpTransport, partner: str) -> None:
    for content in (b"first", b"second"):
        with transport.write_outbox(partner, "a.contrl.edi") as out:
            out.write(content)
    assert (sshd.root / partner / "outbox" / "a.contrl.edi").read_bytes() == b"second"


def test_an_acknowledgement_is_read_back_until_the_partner_takes_it(
    sshd: SshServer, transport: SftpTransport, partner: str
) -> None:
    with transport.write_outbox(partner, "a.1.contrl.edi") as out:
        out.write(b"UNA:+.? 'UNB+UNOC:3'")
    stream = transport.read_outbox(partner, "a.1.contrl.edi")
    assert stream is not None
    with stream:
        assert stream.read() == b"UNA:+.? 'UNB+UNOC:3'"
    (sshd.root / partner / "outbox" / "a.1.contrl.edi").unlink()  # the partner collected it
    assert transport.read_outbox(partner, "a.1.contrl.edi") is None


def test_only_regular_visible_files_are_listed(sshd: SshServer, transport: SftpTransport, partner: str) -> None:
    put(transport, partner, "real.edi", b"UNB")
    put(transport, partner, ".upload.part", b"in progress")
    client = transport.client(partner)
    inbox = transport.channels[partner].inbox
    client.mkdir(f"{inbox}/folder.edi")
    client.symlink("/etc/passwd", f"{inbox}/passwd.edi")
    client.symlink("real.edi", f"{inbox}/link.edi")
    assert [f.name for f in transport.list_inbox(partner)] == ["real.edi"]


def test_traversal_names_never_leave_the_partner_area(sshd: SshServer, transport: SftpTransport, partner: str) -> None:
    other = sshd.root / "victim"
    other.mkdir(exist_ok=True)
    (other / "x.edi").write_bytes(b"someone else's")
    before = tree(sshd.root / "victim")
    # Names made of backslashes and dots are legal file names on the server. One starting
    # with a dot counts as hidden (an upload in progress, by convention) and is not listed.
    put(transport, partner, "..\\..\\victim\\x.edi", b"UNB+hidden")
    put(transport, partner, "a\\..\\..\\victim\\x.edi", b"UNB+evil")
    [inbound] = transport.list_inbox(partner)
    assert inbound.name == "a\\..\\..\\victim\\x.edi"

    # Forged names (not from the listing) are refused without touching anything.
    for forged in (
        "..\\..\\victim\\x.edi/../../../victim/x.edi",
        "../../victim/x.edi",
        "../victim/x.edi",
        "/etc/passwd",
        "..",
        "a/b.edi",
    ):
        assert transport.claim(InboundFile(partner, forged, 1)) is None
    claimed = transport.claim(inbound)
    assert claimed is not None
    assert claimed.location == f"{partner}/processing/{claimed.claim_id}__x.edi"
    with transport.write_outbox(partner, f"{inbound.name}.contrl.edi") as out:
        out.write(b"ack")
    with transport.write_outbox(partner, "../../victim/x.edi") as out:
        out.write(b"ack")
    transport.quarantine(claimed, "name")
    assert tree(sshd.root / "victim") == before
    outbox = sorted(p.name for p in (sshd.root / partner / "outbox").iterdir())
    assert outbox == ["x.edi", "x.edi.contrl.edi"]
    assert all(str(p.resolve()).startswith(str(sshd.root / partner)) for p in (sshd.root / partner).rglob("*"))


def test_two_workers_claiming_the_same_file_exactly_one_wins(transport: SftpTransport, partner: str) -> None:
    """Two transports (two SSH sessions) race for one file, 40 times over."""
    rounds = 40
    with SftpTransport({partner: make_channel(partner)}) as rival:
        workers = [transport, rival]
        for worker in workers:
            worker.list_inbox(partner)  # connect both before racing
        for number in range(rounds):
            put(transport, partner, f"f{number:03d}.edi", b"UNB")
        inbound = transport.list_inbox(partner)
        assert len(inbound) == rounds
        wins: list[list[object]] = [[], []]
        for file in inbound:
            barrier = threading.Barrier(2)

            def race(index: int, file: InboundFile = file, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                wins[index].append(workers[index].claim(file))

            threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        outcomes = list(zip(wins[0], wins[1], strict=True))
        assert len(outcomes) == rounds
        assert all((a is None) != (b is None) for a, b in outcomes), outcomes
        processing = transport.client(partner).listdir(transport.channels[partner].processing)
        assert len(processing) == rounds
        assert transport.list_inbox(partner) == []
        print(
            f"worker 1 won {sum(a is not None for a, _ in outcomes)}, worker 2 won {sum(b is not None for _, b in outcomes)}"
        )
