"""The mapping tables of docs/formats/, generated from the guides so that they cannot drift:

    python -m mappings.guide_docs          # rewrites the generated blocks in place

A generated block stands between ``<!-- generated: NAME -->`` and
``<!-- end: NAME -->``; the prose around it is written by hand.
tests/test_edifact_guide.py checks that the committed pages equal this output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mappings import xml_guide
from mappings.cadin_guide import CADIN
from mappings.carmpy_guide import CARMPY_PAYMUL, CARMPY_REMADV
from mappings.cusdec_guide import CAD01
from mappings.edifact_guide import guide_markdown
from mappings.pain001_guide import PAIN001

DOCS = Path(__file__).resolve().parents[1] / "docs" / "formats"

BLOCKS: dict[tuple[str, str], Callable[[], str]] = {
    ("cusdec-cad.md", "CAD01"): lambda: guide_markdown(CAD01),
    ("payments.md", "CARMPY-PAYMUL"): lambda: guide_markdown(CARMPY_PAYMUL),
    ("payments.md", "CARMPY-REMADV"): lambda: guide_markdown(CARMPY_REMADV),
    ("cad-xml.md", "CAD-IN"): lambda: xml_guide.guide_markdown(CADIN),
    ("payments.md", "pain.001"): lambda: xml_guide.guide_markdown(PAIN001),
}
"""(page, block name) → what the block holds."""


def render(page: str, text: str) -> str:
    """``text`` (a page of docs/formats) with its generated blocks made anew."""
    for (name, block), make in BLOCKS.items():
        if name != page:
            continue
        pattern = re.compile(rf"<!-- generated: {re.escape(block)} -->\n.*?(?=<!-- end: {re.escape(block)} -->)", re.S)
        found = pattern.search(text)
        if found is None:
            raise ValueError(f"docs/formats/{page} has no generated block {block!r}")
        body = make().strip("\n")
        text = f"{text[: found.start()]}<!-- generated: {block} -->\n{body}\n{text[found.end() :]}"
    return text


def pages() -> list[str]:
    return sorted({page for page, _ in BLOCKS})


def main() -> None:
    for page in pages():
        path = DOCS / page
        path.write_text(render(page, path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
