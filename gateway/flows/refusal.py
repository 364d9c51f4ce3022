"""Answering a file the gateway refuses unread (too large, unsafe name) or failed
on ("failed: internal error") in the partner's own format: a CONTRL for EDIFACT,
a CAD-OUT for CAD-IN, a pain.002 for pain.001 (the pipeline writes the JSON
report beside it). The format is told from the file's first bytes when they may
be looked at (``gateway.sniff``); where it cannot be told, the partner's
registered formats decide (``registered_format``, docs/decisions.md)."""

from __future__ import annotations

from diagnostics import Finding
from gateway.flows.cadxml import MESSAGE_TYPE as CAD_IN
from gateway.flows.cadxml import XmlFlow
from gateway.flows.contract import FlowOptions
from gateway.flows.edifact import EdifactFlow
from gateway.flows.handlers import xml_registration
from gateway.flows.pain001 import PAIN001_TYPE, Pain001Flow
from gateway.partners import Partner
from gateway.report import FileReport
from gateway.sniff import Sniffed
from mappings import cadout

EDIFACT = "EDIFACT"
INTERNAL = "INTERNAL"  # the finding code of "failed: internal error"


def registered_format(partner: Partner | None) -> str:
    """The format a partner is answered in when its file's format cannot be told.
    The registry has no list of formats: a partner with XML senders and no
    EDIFACT senders can only have been registered for CAD-IN (the XML senders
    are CAD-IN's CommunicationMetaData/Sender); any other partner, or none,
    is answered in EDIFACT, as every refusal was before."""
    if partner is not None and partner.xml_senders and not partner.edifact_senders:
        return CAD_IN
    return EDIFACT


def refusal_format(sniffed: Sniffed | None, partner: Partner | None) -> str:
    """EDIFACT, CAD-IN or pain.001: the file's own format when its head says it
    (``sniffed``: None when the file was not looked at), else the partner's."""
    if sniffed is not None:
        if sniffed.format == "edifact":
            return EDIFACT
        registration = xml_registration(sniffed.root) if sniffed.format == "xml" else None
        if registration is not None:
            return registration.type
    return registered_format(partner)


def refuse(name: str, options: FlowOptions, findings: list[Finding], sniffed: Sniffed | None) -> FileReport:
    """The report and the rejecting acknowledgement of a refused or failed file."""
    kind = refusal_format(sniffed, options.partner)
    if kind == CAD_IN:
        failed = any(finding.code == INTERNAL for finding in findings)
        return XmlFlow(name, options).reject(findings, cadout.INTERNAL_ERROR if failed else cadout.SYNTAX_ERROR)
    if kind == PAIN001_TYPE:
        return Pain001Flow(name, options).reject(findings)
    return EdifactFlow(name, options).reject(findings)
