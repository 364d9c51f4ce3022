"""Reading our acknowledgement files back into plain structures for assertions."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from parsers.edifact.model import InterchangeStart, MessageRead
from parsers.edifact.reader import read_edifact


def stem(name: str) -> str:
    """The part of ``name``'s acknowledgement names before the ledger file id."""
    from gateway.pipeline import outbox_stem

    return outbox_stem(name, 0).removesuffix(".0")


def ack_names(names: Iterable[str], file: str, suffix: str) -> list[str]:
    """The outbox names answering the inbound ``file`` (its sanitised name) with
    ``suffix`` ("contrl.edi", "report.json" ...): ``<file>.<ledger file id>.<suffix>``."""
    pattern = re.compile(rf"{re.escape(file)}\.\d+\.{re.escape(suffix)}")
    found = [name for name in names if pattern.fullmatch(name)]
    return sorted(found, key=lambda name: int(name[len(file) + 1 :].split(".", 1)[0]))  # in delivery order


def ack_name(names: Iterable[str], file: str, suffix: str) -> str:
    """The one outbox name answering ``file`` with ``suffix``."""
    names = list(names)
    found = ack_names(names, file, suffix)
    assert len(found) == 1, f"expected one {file}.<id>.{suffix}, found {found} in {sorted(names)}"
    return found[0]


def ack_path(outbox: Path, file: str, suffix: str) -> Path:
    """The one file in ``outbox`` answering ``file`` with ``suffix``."""
    return outbox / ack_name((p.name for p in outbox.iterdir()), file, suffix)


def has_ack(outbox: Path | Iterable[str], file: str, suffix: str) -> bool:
    names = (p.name for p in outbox.iterdir()) if isinstance(outbox, Path) else outbox
    return bool(ack_names(names, file, suffix))


def read_contrls(data: bytes) -> list[dict[str, Any]]:
    """One dict per CONTRL interchange: its UCI and its UCM groups."""
    found: list[dict[str, Any]] = []
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, MessageRead):
            found.append(_contrl(event.message.segments))
    return found


def _contrl(segments) -> dict[str, Any]:
    result: dict[str, Any] = {"uci": None, "messages": []}
    message: dict[str, Any] | None = None
    ucs: dict[str, Any] | None = None
    for seg in segments:
        if seg.tag == "UCI":
            result["uci"] = {
                "reference": seg.get(1),
                "sender": seg.get(2),
                "recipient": seg.get(3),
                "action": seg.get(4),
                "code": seg.get(5),
                "tag": seg.get(6),
                "position": ":".join(c for c in (seg.elements[6] if len(seg.elements) > 6 else []) if c),
            }
        elif seg.tag == "UCM":
            message = {
                "ref": seg.get(1),
                "type": seg.get(2),
                "action": seg.get(3),
                "code": seg.get(4),
                "tag": seg.get(5),
                "position": ":".join(c for c in (seg.elements[5] if len(seg.elements) > 5 else []) if c),
                "segments": [],
            }
            result["messages"].append(message)
        elif seg.tag == "UCS" and message is not None:
            ucs = {"position": seg.get(1), "code": seg.get(2), "elements": []}
            message["segments"].append(ucs)
        elif seg.tag == "UCD" and ucs is not None:
            ucs["elements"].append({"code": seg.get(1), "position": ":".join(c for c in seg.elements[1] if c)})
    return result


def read_cusres(data: bytes) -> list[list[dict[str, Any]]]:
    """Per CUSRES interchange, one dict per message."""
    interchanges: list[list[dict[str, Any]]] = []
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, InterchangeStart):
            interchanges.append([])
        elif isinstance(event, MessageRead):
            interchanges[-1].append(_cusres(event.message))
    return interchanges


def _cusres(message) -> dict[str, Any]:
    result: dict[str, Any] = {"ref": message.reference, "errors": [], "totals": {}, "lines": {}}
    tax = ""
    line: str | None = None
    error: dict[str, Any] | None = None
    for seg in message.segments:
        if seg.tag == "BGM":
            result["reference"] = seg.get(2)
            result["response"] = seg.get(4)
        elif seg.tag == "GIS":
            result["status"] = seg.get(1)
        elif seg.tag == "RFF":
            result.setdefault("rff", {})[seg.get(1, 1)] = seg.get(1, 2)
        elif seg.tag == "ERC":
            error = {"code": seg.get(1)}
            result["errors"].append(error)
        elif seg.tag == "FTX" and seg.get(1) == "ZZZ" and error is not None:
            error["pointer"] = seg.get(4, 1)
            error["where"] = seg.get(4, 2)
        elif seg.tag == "FTX" and seg.get(1) in ("AAO", "AAI") and error is not None:
            error["message"] = " ".join(seg.elements[3])
            error["severity"] = "warning" if seg.get(1) == "AAI" else "error"
        elif seg.tag == "CST":
            line = seg.get(1)
            result["lines"][line] = {}
        elif seg.tag == "TAX":
            tax = seg.get(2)
        elif seg.tag == "MOA":
            key = f"{tax}:{seg.get(1, 1)}"
            if line is None:
                result["totals"][tax] = seg.get(1, 2)
            else:
                result["lines"][line][key] = seg.get(1, 2)
    return result
