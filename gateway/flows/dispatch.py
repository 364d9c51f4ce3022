"""The flow for a file: XML by its root element, EDIFACT by its envelope; a
file that is neither goes to the flow of the partner's registered format
(``gateway.flows.refusal.registered_format``): EDIFACT unless the partner is
registered for CAD-IN only."""

from __future__ import annotations

from typing import BinaryIO

from diagnostics import Finding, Location
from gateway.flows.cadxml import CAD_IN_ROOT
from gateway.flows.cadxml import MESSAGE_TYPE as CAD_IN
from gateway.flows.contract import FlowOptions
from gateway.flows.edifact import EdifactFlow
from gateway.flows.handlers import xml_registration
from gateway.flows.refusal import refuse, registered_format
from gateway.report import FileReport
from gateway.sniff import sniff
from parsers.xml.secure import first_parse_error
from validators.rules import RuleContext

OFFLINE_RULES = RuleContext()
"""Offline checking has no portal to ask, so the gateway applies every rule it
can on its own, warnings included (the portal-backed ones are skipped)."""


def check_stream(stream: BinaryIO, name: str, options: FlowOptions | None = None) -> FileReport:
    """Run one file through the flow for its format; with default options,
    check it offline without posting or answering (``carm-edi check``)."""
    options = options or FlowOptions(rules_context=OFFLINE_RULES)
    sniffed = sniff(stream)
    if sniffed.format == "xml":
        registration = xml_registration(sniffed.root)
        if registration is None:
            finding = _unsupported_xml(sniffed.root, sniffed.problem or _parse_error(stream))
            report = refuse(name, options, [finding], sniffed)  # in the partner's registered format
            report.format = "xml"
            return report
        return registration.flow(name, options).run(stream)
    if sniffed.format in ("unknown", "empty") and registered_format(options.partner) == CAD_IN:
        # Neither EDIFACT nor XML: answered as the CAD-IN it should have been (a CAD-OUT saying why).
        cad_in = xml_registration(CAD_IN_ROOT)
        assert cad_in is not None  # CAD-IN is always registered
        return cad_in.flow(name, options).run(stream)
    return EdifactFlow(name, options).run(stream)


def _parse_error(stream: BinaryIO) -> Finding | None:
    """The first well-formedness error of the whole file; the stream is rewound."""
    problem = first_parse_error(stream)
    stream.seek(0)
    return problem


def _unsupported_xml(root: str | None, problem: Finding | None) -> Finding:
    """Why a document no flow takes is refused: its well-formedness error when
    it has one (that comes first: junk after a root element is not an unknown
    type), else ``XML-TYPE``."""
    if problem is not None:
        return problem
    return Finding(
        "XML-TYPE",
        f"XML document {root or '(unreadable root element)'} is not supported: this gateway accepts "
        f"CAD-IN ({CAD_IN_ROOT}), ISO 20022 pain.001 (version 09 or later) and EDIFACT "
        "CUSDEC, PAYMUL and REMADV D:96B",
        Location(xpath="/*[1]"),
    )
