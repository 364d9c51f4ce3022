"""Where an EDIFACT flow's acknowledgements go: one file per kind
(``<stem>.contrl.edi``, ``.cusres.edi``, ``.aperak.edi``: ``acknowledgement_name``), opened on first use,
and, per interchange, the writers and references of its answers."""

from __future__ import annotations

from contextlib import ExitStack
from typing import BinaryIO

from gateway.flows.contract import FlowOptions, SentInterchange, acknowledgement_name, control_reference
from gateway.report import FileReport
from mappings.contrl import Preference
from mappings.edifact_writer import InterchangeWriter
from parsers.edifact.model import InterchangeHeader


class AcknowledgementFiles:
    """The file's acknowledgement streams; closed with ``stack``."""

    def __init__(self, name: str, options: FlowOptions, report: FileReport, stack: ExitStack) -> None:
        self.name = name
        self._options = options
        self._report = report
        self._stack = stack
        self._streams: dict[str, BinaryIO] = {}

    def stream(self, kind: str) -> BinaryIO | None:
        """The stream of ``<stem>.<kind>.edi``; None when the flow writes no acknowledgements."""
        sink = self._options.sink
        if sink is None:
            return None
        if kind not in self._streams:
            name = acknowledgement_name(self._options, self.name, f"{kind}.edi")
            self._streams[kind] = self._stack.enter_context(sink.open(name))
            self._report.acknowledgements.append(name)
        return self._streams[kind]


class InterchangeReplies:
    """The answers to one inbound interchange (the ``index``-th of its file)."""

    def __init__(
        self, files: AcknowledgementFiles, options: FlowOptions, header: InterchangeHeader, index: int
    ) -> None:
        self.files = files
        self.options = options
        self.header = header
        self.index = index

    def reference(self, purpose: str) -> str:
        """Our UNB 0020 for the answer ``purpose`` ("contrl", "receipt", "cusres" ...): stable across reruns."""
        return control_reference(f"{self.options.seed}:{self.index}:{purpose}")

    def writer(self, kind: str, syntax: tuple[str, str] = ("UNOC", "3")) -> InterchangeWriter | None:
        """An interchange of answers of ``kind`` to the sender; None when no acknowledgements are written."""
        out = self.files.stream(kind)
        if out is None:
            return None
        return InterchangeWriter(
            out,
            sender=self.options.our_id,
            recipient=(self.header.sender, self.header.sender_qualifier),
            control_reference=self.reference(kind),
            syntax=syntax,
            prepared=self.options.now(),
        )

    def record_sent(self, reference: str, kind: str, messages: list[str]) -> None:
        registry = self.options.acknowledgements
        if registry is not None:
            header = self.header
            registry.record_sent(
                SentInterchange(
                    reference, kind, header.sender, tuple(messages), header.control_reference, self.files.name
                )
            )


def preferred_syntax(options: FlowOptions) -> Preference:
    """The partner's syntax identifier and version for our replies, if it set them."""
    partner = options.partner
    if partner is None:
        return (None, None)
    wish = partner.acknowledgements
    return (wish.charset, str(wish.syntax_version) if wish.syntax_version else None)
