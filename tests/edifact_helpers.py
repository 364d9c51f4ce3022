"""Reading fixture files into messages for tests."""

from __future__ import annotations

import io
from pathlib import Path

from parsers.edifact.model import InterchangeStart, Message, MessageRead
from parsers.edifact.reader import read_edifact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CUSDEC = FIXTURES / "cusdec"


def messages_of(data: bytes) -> list[tuple[Message, str]]:
    """Every message with the decimal mark of its interchange."""
    decimal = "."
    found = []
    for event in read_edifact(io.BytesIO(data)):
        if isinstance(event, InterchangeStart):
            decimal = event.header.delimiters.decimal
        elif isinstance(event, MessageRead):
            found.append((event.message, decimal))
    return found


def fixture_messages(name: str) -> list[tuple[Message, str]]:
    return messages_of((CUSDEC / name).read_bytes())
