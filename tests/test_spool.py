"""The declaration spool gives back what phase 1 put in (format 4), and keeps only what phase 2 will use."""

from __future__ import annotations

from typing import Any

from diagnostics import Finding, Location, Severity
from gateway.flows.contract import FlowOptions
from gateway.flows.spool import Spool, SpooledDeclaration
from tests.builders import declaration


def _items() -> list[SpooledDeclaration]:
    accepted = SpooledDeclaration(
        "1",
        "CUSDEC",
        declaration(),
        sources={"lines[0].hs_code": [17, "CST", 2, 1]},
        filer_reference="BRK-2025-0001",
    )
    rejected = SpooledDeclaration(
        "2",
        "CUSDEC",
        declaration(transaction_number="10207003000596", filer_reference="BRK\t2025\n2 «É»"),
        status="41",
        errors=[Finding("ID-TXN", "bad check digit", Location(message_ref="2", field="transaction_number"))],
        sources={"transaction_number": [3, "BGM", 2, 1]},
        filer_reference="BRK\t2025\n2 «É»",
    )
    unmapped = SpooledDeclaration("3", "CUSDEC", None, status="400", errors=[], xpath="/D[3]", line=40)
    return [accepted, rejected, unmapped]


def _spooled(spool: Spool) -> Spool:
    for item in _items():
        spool.add(item)
    return spool


def test_every_field_comes_back() -> None:
    back = list(_spooled(Spool()))
    assert back == _items()
    assert back[1].errors[0].severity is Severity.ERROR


def test_rows_outlive_the_memory_limit() -> None:
    assert list(_spooled(Spool(memory_limit=10))) == _items()  # on disk after the first row


def test_a_spool_without_sources_gives_them_back_empty() -> None:
    back = list(_spooled(Spool(sources=False)))
    assert [item.sources for item in back] == [{}, {}, {}]
    assert [item.declaration for item in back] == [item.declaration for item in _items()]


def test_reading_without_declarations_leaves_them_unread() -> None:
    back = list(_spooled(Spool()).read(declarations=False))
    assert [item.declaration for item in back] == [None, None, None]
    assert [(item.ref, item.status, item.filer_reference) for item in back] == [
        (item.ref, item.status, item.filer_reference) for item in _items()
    ]


def test_a_spool_without_declarations_gives_back_the_verdicts_only() -> None:
    back = list(_spooled(Spool(sources=False, declarations=False)))
    assert [item.declaration for item in back] == [None, None, None]
    assert [(item.ref, item.status, item.errors, item.filer_reference) for item in back] == [
        (item.ref, item.status, item.errors, item.filer_reference) for item in _items()
    ]


def test_a_check_keeps_neither_sources_nor_declarations_a_posting_flow_keeps_both() -> None:
    item = _items()[0]  # the accepted one: a declaration and a source
    checking = FlowOptions().spool()  # carm-edi check: no poster, no acknowledgements
    answering = FlowOptions(sink=_NoSink()).spool()  # answers the declarations, posts none
    posting = FlowOptions(poster=_NoPoster()).spool()
    for spool in (checking, answering, posting):
        spool.add(item)
    ((checked,), (answered,), (posted,)) = (list(checking), list(answering), list(posting))
    assert (checked.declaration, checked.sources) == (None, {})
    assert (answered.declaration, answered.sources) == (item.declaration, {})
    assert (posted.declaration, posted.sources) == (item.declaration, item.sources)


class _NoSink:
    def open(self, name: str) -> Any:
        raise AssertionError("the spool never writes acknowledgements")


class _NoPoster:
    def post(self, *args: object, **kwargs: object) -> Any:
        raise AssertionError("the spool never posts")
