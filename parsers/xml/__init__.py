"""The XML channel's parsing: hardened lxml settings and the streaming CAD-IN reader.

Schemas (our own WCO-data-model subset) ship in ``parsers/xml/schemas``.
"""

from parsers.xml.secure import SCHEMA_DIR, XmlLimits, load_schema, secure_parser

__all__ = ["SCHEMA_DIR", "XmlLimits", "load_schema", "secure_parser"]
