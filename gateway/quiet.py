"""Complete files only: which inbox files the planner may hand out for claiming.

A partner who writes a file under its final name (a plain ``sftp put``, a copy
into a local folder) shows it while it is still growing; claimed then, the
first part would be answered as a broken file and the rest would land in the
inbox after it. So an inbox file is claimed only once it is complete
(docs/transports.md, "Complete files only"):

* a name of an upload in progress (a leading dot, or one of the partner's
  ``uploads.temporary_names``: ``*.part``, ``*.filepart``...) is never claimed;
* a file of a partner that uploads under a temporary name and renames it when
  done (``uploads.mode = "rename"``) is complete when listed, and so is every
  S3 object (``InboundFile.whole``: S3 shows an object only once its PUT or
  multipart upload completed);
* any other file is complete once its size and modification time held still
  over the partner's quiet period (``uploads.quiet_seconds``, default
  ``settings.quiet_seconds``). The planner lists every inbox, waits once (for
  the longest quiet period among the partners that have such files, and only
  then), lists those inboxes again, and hands out the files that did not
  change; a file still changing is left for the next run.

The run measures this itself, within the run: no schedule interval is added,
and nothing depends on the server's clock agreeing with ours. What the planner
saw travels with its batch (``observation``), so that a file changed between
planning and claiming (the DAG's mapped tasks run later) is not claimed either
(``Pipeline.process_names``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gateway.partners import Partner, Uploads
from transports.base import InboundFile, Transport
from transports.partner_channels import PartnerChannels
from transports.serialized import SerializedTransport

log = logging.getLogger(__name__)

Observation = list[float | None]
"""``[size, modification time]`` of an inbox file as the planner saw it (a JSON list: batches are XComs)."""


@dataclass(frozen=True)
class Completion:
    """When one partner's inbox files are complete."""

    quiet: float  # seconds a file's size and modification time must hold still; 0: complete when listed
    temporary: tuple[str, ...]  # lower-case glob patterns of names of uploads in progress

    def is_temporary(self, name: str) -> bool:
        base = name.rsplit("/", 1)[-1].lower()
        return base.startswith(".") or any(fnmatchcase(base, pattern) for pattern in self.temporary)


def completion(partner: Partner | None, default_quiet: float) -> Completion:
    """The partner's rule (a partner outside the registry: the defaults)."""
    uploads = partner.uploads if partner is not None else Uploads()
    quiet = 0.0 if uploads.mode == "rename" else uploads.quiet_seconds
    return Completion(
        default_quiet if quiet is None else quiet, tuple(pattern.lower() for pattern in uploads.temporary_names)
    )


def observation(inbound: InboundFile) -> Observation:
    return [inbound.size, inbound.modified]


def unchanged(inbound: InboundFile, observed: Observation) -> bool:
    """The file is as it was observed: same size, same modification time."""
    return observation(inbound) == list(observed)


def complete_files(
    transport: Transport, completions: Mapping[str, Completion], unlisted: dict[str, str] | None = None
) -> dict[str, list[InboundFile]]:
    """Each partner's complete inbox files, in name order. A partner whose inbox
    cannot be listed is logged, left out and named in ``unlisted`` (with why); one
    whose second listing fails keeps only the files that were complete when first listed."""
    ready: dict[str, list[InboundFile]] = {}
    waiting: list[tuple[float, str, list[InboundFile]]] = []  # (when to look again, partner, files)
    for partner, rule in completions.items():
        files = _list(transport, partner, unlisted)
        if files is None:
            continue
        listed_at = time.monotonic()  # after the listing: every observation in it is at most this recent
        temporary = [f.name for f in files if rule.is_temporary(f.name)]
        if temporary:
            log.info(
                "%s: %d uploads in progress under temporary names, not claimed: %s",
                partner,
                len(temporary),
                _names(temporary),
            )
        files = [f for f in files if not rule.is_temporary(f.name)]
        ready[partner] = [f for f in files if f.whole or rule.quiet <= 0]
        pending = [f for f in files if not (f.whole or rule.quiet <= 0)]
        if pending:
            waiting.append((listed_at + rule.quiet, partner, pending))
    if waiting:
        count = sum(len(files) for _, _, files in waiting)
        wait = max(deadline for deadline, _, _ in waiting) - time.monotonic()
        log.info("waiting up to %.1f s: %d inbox files must hold still to show they are complete", wait, count)
    for deadline, partner, pending in sorted(waiting, key=lambda item: item[0]):
        time.sleep(max(0.0, deadline - time.monotonic()))
        again = _list(transport, partner, unlisted)
        if again is None:
            continue
        now = {f.name: f for f in again}
        settled: list[InboundFile] = []
        moving: list[InboundFile] = []
        for first in pending:
            second = now.get(first.name)  # None: gone meanwhile (another run claimed it)
            if second is not None:
                (settled if unchanged(second, observation(first)) else moving).append(second)
        if moving:
            log.info(
                "%s: %d files still being written, left for the next run: %s",
                partner,
                len(moving),
                _names([f.name for f in moving]),
            )
        ready[partner] = sorted(ready[partner] + settled, key=lambda f: f.name)
    return ready


def _list(transport: Transport, partner: str, unlisted: dict[str, str] | None = None) -> list[InboundFile] | None:
    try:
        return transport.list_inbox(partner)
    except Exception as error:
        channels = transport.inner if isinstance(transport, SerializedTransport) else transport  # files in flight
        where = channels.describe(partner) if isinstance(channels, PartnerChannels) else partner
        log.exception("partner %s: cannot list the inbox of %s", partner, where)
        if unlisted is not None:
            unlisted[partner] = f"{where}: {type(error).__name__}: {error}"[:500]
        return None


def _names(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(repr(name) for name in names[:shown]) + more
