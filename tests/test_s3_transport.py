"""S3Transport against a real SeaweedFS S3 endpoint on 127.0.0.1 (``weed mini``, tests/servers.py),
through Airflow's S3Hook and the ``carm_test_s3`` connection (an AIRFLOW_CONN_ variable)."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.servers import S3_CONN_ID, S3Server
from transports.base import InboundFile
from transports.channels import S3Channel
from transports.s3 import S3Transport

BUCKET = "carm-transport-tests"


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> Any:
    client = s3_server.client()
    try:
        client.create_bucket(Bucket=BUCKET)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    return client


def make_channel(base: str) -> S3Channel:
    return S3Channel(
        connection_id=S3_CONN_ID, bucket=BUCKET, inbox_prefix=f"{base}/inbox/", outbox_prefix=f"{base}/outbox/",
        archive_prefix=f"{base}/archive/", quarantine_prefix=f"{base}/quarantine/", processing_prefix=f"{base}/processing/",
    )  # fmt: skip


@pytest.fixture
def partner(s3: Any) -> str:
    return f"p{uuid.uuid4().hex[:8]}"


@pytest.fixture
def transport(partner: str) -> Iterator[S3Transport]:
    with S3Transport({partner: make_channel(partner)}) as transport:
        yield transport


def keys(s3: Any, prefix: str) -> dict[str, bytes]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def test_the_server_checks_credentials(s3_server: S3Server, s3: Any) -> None:
    with pytest.raises(ClientError) as error:
        s3_server.client(secret_key="wrong-secret").list_objects_v2(Bucket=BUCKET)
    assert error.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")


def test_the_whole_cycle(s3: Any, transport: S3Transport, partner: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/b.edi", Body=b"UNB+second")
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/a.edi", Body=b"UNB+first")
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/.hidden.part", Body=b"uploading")
    inbound = transport.list_inbox(partner)
    assert [(f.name, f.size) for f in inbound] == [("a.edi", 9), ("b.edi", 10)]

    claimed = transport.claim(inbound[0])
    assert claimed is not None
    assert claimed.location == f"{partner}/processing/{claimed.claim_id}__a.edi"
    assert transport.claim(inbound[0]) is None
    with transport.open(claimed) as stream:
        assert stream.read() == b"UNB+first"
        stream.seek(4)
        assert stream.read(3) == b"fir"
    with transport.write_outbox(partner, "a.edi.contrl.edi") as out:
        out.write(b"UNA:+.? 'UNB+...'")
    archived = transport.archive(claimed)
    assert archived.startswith(f"{partner}/archive/") and archived.endswith(f"/{claimed.claim_id}__a.edi")

    second = transport.claim(transport.list_inbox(partner)[0])
    assert second is not None
    quarantined = transport.quarantine(second, "not EDIFACT")
    everything = keys(s3, f"{partner}/")
    assert everything == {
        f"{partner}/inbox/.hidden.part": b"uploading",
        f"{partner}/outbox/a.edi.contrl.edi": b"UNA:+.? 'UNB+...'",
        archived: b"UNB+first",
        quarantined: b"UNB+second",
        f"{quarantined}.reason.txt": b"not EDIFACT\n",
    }  # no claim markers, nothing left in processing/


def test_release_puts_the_file_back_without_overwriting_a_new_upload(
    s3: Any, transport: S3Transport, partner: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/x.edi", Body=b"old")
    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    transport.release(claimed)
    assert keys(s3, f"{partner}/inbox/") == {f"{partner}/inbox/x.edi": b"old"}

    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/x.edi", Body=b"new upload")
    transport.release(claimed)
    assert keys(s3, f"{partner}/inbox/") == {
        f"{partner}/inbox/x.edi": b"new upload",
        f"{partner}/inbox/{claimed.claim_id}__x.edi": b"old",
    }
    assert keys(s3, f"{partner}/processing/") == {}


def test_a_large_object_streams(s3: Any, transport: S3Transport, partner: str) -> None:
    data = os.urandom(6 * 1024 * 1024 + 7)
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/big.edi", Body=data)
    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    with transport.open(claimed) as stream:
        digest = hashlib.sha256()
        while chunk := stream.read(256 * 1024):
            digest.update(chunk)
        stream.seek(0)
        assert stream.read(16) == data[:16]
        stream.seek(-5, 2)
        assert stream.read() == data[-5:]
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_an_empty_object(s3: Any, transport: S3Transport, partner: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/empty.edi", Body=b"")
    claimed = transport.claim(transport.list_inbox(partner)[0])
    assert claimed is not None
    with transport.open(claimed) as stream:
        assert stream.read() == b""


def test_an_acknowledgement_is_read_back_until_the_partner_takes_it(
    s3: Any, transport: S3Transport, partner: str
) -> None:
    with transport.write_outbox(partner, "a.1.contrl.edi") as out:
        out.write(b"UNA:+.? 'UNB+UNOC:3'")
    stream = transport.read_outbox(partner, "a.1.contrl.edi")
    assert stream is not None
    with stream:
        assert stream.read() == b"UNA:+.? 'UNB+UNOC:3'"
    s3.delete_object(Bucket=BUCKET, Key=f"{partner}/outbox/a.1.contrl.edi")  # the partner collected it
    assert transport.read_outbox(partner, "a.1.contrl.edi") is None


def test_a_failed_acknowledgement_puts_nothing(s3: Any, transport: S3Transport, partner: str) -> None:
    with pytest.raises(RuntimeError), transport.write_outbox(partner, "a.contrl.edi") as out:
        out.write(b"half")
        raise RuntimeError("boom")
    assert keys(s3, f"{partner}/outbox/") == {}


def test_names_with_slashes_and_traversal_attempts_stay_in_the_partner_area(
    s3: Any, transport: S3Transport, partner: str
) -> None:
    victim = f"victim-{partner}/inbox/x.edi"
    s3.put_object(Bucket=BUCKET, Key=victim, Body=b"someone else's")
    # SeaweedFS refuses keys with '.' or '..' segments outright.
    for key in (f"{partner}/inbox/../../{victim}", f"{partner}/inbox/./y.edi"):
        with pytest.raises(ClientError):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"evil")
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/sub/dir/z.edi", Body=b"UNB+nested")
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/%2e%2e%2f%2e%2e%2fx.edi", Body=b"UNB+encoded")
    names = [f.name for f in transport.list_inbox(partner)]
    assert names == ["%2e%2e%2f%2e%2e%2fx.edi", "sub/dir/z.edi"]

    for forged in (f"../../victim-{partner}/inbox/x.edi", "./x.edi", "a//b.edi", ""):
        assert transport.claim(InboundFile(partner, forged, 1)) is None
    for inbound in transport.list_inbox(partner):
        claimed = transport.claim(inbound)
        assert claimed is not None
        assert claimed.location.startswith(f"{partner}/processing/{claimed.claim_id}__")
        assert "/" not in claimed.location.removeprefix(f"{partner}/processing/")
        with transport.write_outbox(partner, f"{inbound.name}.contrl.edi") as out:
            out.write(b"ack")
        transport.quarantine(claimed, "test")
    with transport.write_outbox(partner, f"../../victim-{partner}/inbox/x.edi") as out:
        out.write(b"ack")
    assert keys(s3, f"victim-{partner}/") == {victim: b"someone else's"}
    assert sorted(keys(s3, f"{partner}/outbox/")) == [
        f"{partner}/outbox/{n}" for n in ("unnamed", "x.edi", "z.edi.contrl.edi")
    ]  # safe_name: the last path segment, characters outside [A-Za-z0-9._-] as '_', "unnamed" when that starts oddly


def test_a_stale_claim_marker_is_broken_after_the_lease(s3: Any, partner: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/a.edi", Body=b"UNB")
    import hashlib as _h

    marker = f"{partner}/processing/.claims/{_h.sha256(f'{partner}/inbox/a.edi'.encode()).hexdigest()[:40]}"
    s3.put_object(Bucket=BUCKET, Key=marker, Body=b"crashed worker")
    with S3Transport({partner: make_channel(partner)}, claim_lease_seconds=3600) as patient:
        assert patient.claim(patient.list_inbox(partner)[0]) is None  # held by someone
    with S3Transport({partner: make_channel(partner)}, claim_lease_seconds=0) as impatient:
        claimed = impatient.claim(impatient.list_inbox(partner)[0])
    assert claimed is not None
    assert keys(s3, f"{partner}/processing/.claims/") == {}


@pytest.mark.parametrize(("workers", "rounds"), [(2, 30), (4, 8)])
def test_concurrent_claimers_of_the_same_file_exactly_one_wins(
    s3: Any, partner: str, workers: int, rounds: int
) -> None:
    """Separate transports (separate HTTP clients) race for one object, many times over.
    (SeaweedFS backs off about 1 s on a contended conditional write, hence few 4-way rounds.)"""
    transports = [S3Transport({partner: make_channel(partner)}) for _ in range(workers)]
    for transport in transports:
        transport.list_inbox(partner)
    for number in range(rounds):
        s3.put_object(Bucket=BUCKET, Key=f"{partner}/inbox/f{number:03d}.edi", Body=f"UNB {number}".encode())
    inbound = transports[0].list_inbox(partner)
    assert len(inbound) == rounds
    winners = []
    for file in inbound:
        barrier = threading.Barrier(workers)
        results: list[Any] = [None] * workers

        def race(
            index: int, file: InboundFile = file, barrier: threading.Barrier = barrier, results: list[Any] = results
        ) -> None:
            barrier.wait()
            results[index] = transports[index].claim(file)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        won = [i for i, r in enumerate(results) if r is not None]
        assert len(won) == 1, f"{file.name}: {won}"
        winners.append(won[0])
    processing = keys(s3, f"{partner}/processing/")
    assert len(processing) == rounds  # one copy per file, no markers left
    assert sorted(processing.values()) == sorted(f"UNB {n}".encode() for n in range(rounds))
    assert keys(s3, f"{partner}/inbox/") == {}
    print(f"wins per worker: {[winners.count(i) for i in range(workers)]}")
