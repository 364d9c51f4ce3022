"""Running CAD-IN fixtures through XmlFlow and reading the CAD-OUT back (tests)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from parsers.xml.secure import load_schema, secure_parser

XML_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "xml"
EXPECTED = json.loads((XML_FIXTURES / "expected.json").read_text())
_N = "{urn:wco:datamodel:WCO:Declaration:1}"


class MemorySink:
    """An AckSink keeping what was written, by name."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        out = io.BytesIO()
        yield out
        self.files[name] = out.getvalue()


def read_cadout(data: bytes) -> list[dict[str, Any]]:
    """Validate a CAD-OUT against cad-out.xsd and return its Responses as dicts."""
    document = etree.fromstring(data, secure_parser())
    schema = load_schema("cad-out.xsd")
    assert schema.validate(document), schema.error_log
    responses = []
    for response in document.iterfind(f"{_N}Response"):
        declaration = response.find(f"{_N}Declaration")
        entry: dict[str, Any] = {
            "status": response.findtext(f"{_N}Status/{_N}NameCode"),
            "sequence": int(declaration.findtext(f"{_N}SequenceNumeric")) if declaration is not None else None,
            "errors": [
                {
                    "code": error.findtext(f"{_N}ValidationCode"),
                    "pointer": error.findtext(f"{_N}Pointer/{_N}Location"),
                    "line": int(error.findtext(f"{_N}Pointer/{_N}LineNumeric"))
                    if error.find(f"{_N}Pointer/{_N}LineNumeric") is not None
                    else None,
                }
                for error in response.iterfind(f"{_N}Error")
            ],
        }
        warnings = [
            {
                "code": warning.findtext(f"{_N}StatementCode"),
                "message": warning.findtext(f"{_N}StatementDescription"),
                "type": warning.findtext(f"{_N}StatementTypeCode"),
                "pointer": warning.findtext(f"{_N}Pointer/{_N}Location"),
                "line": int(warning.findtext(f"{_N}Pointer/{_N}LineNumeric"))
                if warning.find(f"{_N}Pointer/{_N}LineNumeric") is not None
                else None,
            }
            for warning in response.iterfind(f"{_N}AdditionalInformation")
        ]
        if warnings:
            entry["warnings"] = warnings
        if declaration is not None:
            entry["id"] = declaration.findtext(f"{_N}ID")
            totals = {
                fee.findtext(f"{_N}TypeCode"): fee.findtext(f"{_N}Payment/{_N}TaxAssessedAmount")
                for fee in declaration.iterfind(f"{_N}DutyTaxFee")
            }
            if totals:
                entry["totals"] = totals
        responses.append(entry)
    return responses


def expected_responses(name: str, mode: str) -> list[dict[str, Any]]:
    entry = EXPECTED["files"][name]
    return entry.get(mode, entry.get("both"))
