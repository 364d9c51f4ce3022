"""CUSDEC interchanges of varied content for the directory checker's C/Python equivalence tests:
5-15 lines per declaration, released ``?'`` ``?+`` ``?:`` in some descriptions, Latin-1 party
names, UNOC, written by ``cusdec_segments`` + ``InterchangeWriter``. (The benchmarks check what
users send instead, ``benchmarks/user_inputs.py``; these declarations need not pass the rules.)"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

DECLARATIONS_PER_INTERCHANGE = 400
BN15 = ("123456782RM0001", "123026635RM0001")

# Realistic descriptions: most plain, some with released service characters.
DESCRIPTIONS = [
    "COTTON T-SHIRTS, MEN'S, KNITTED",
    "WOMEN'S WOOL SWEATERS 100% MERINO",
    "STAINLESS STEEL BOLTS M8 X 40: ISO 4017",
    "LED LAMPS 9W E26 + DRIVER",
    "CERAMIC TILES 30X30 CM, GLAZED",
    "CHILDREN'S FOOTWEAR, RUBBER SOLES: SIZE 10+",
    "BICYCLE PARTS - FRONT FORKS",
    "PLASTIC FOOD CONTAINERS WITH LIDS",
    "LAPTOP BAGS, POLYESTER OUTER SURFACE",
    "GARDEN HOSES 15 M, PVC REINFORCED",
    "COFFEE MAKERS 12 CUP, 'DELUXE' MODEL",
    "VITAMIN SUPPLEMENTS IN TABLET FORM, RETAIL PACKS OF 100 TABLETS, NOT FOR RESALE TO MINORS",
]
IMPORTERS = [
    "SOCIÉTÉ GÉNÉRALE D'IMPORTATION",
    "MAPLE LEAF IMPORTS INC",
    "LES ENTREPÔTS DU NORD LTÉE",
    "CASCADE TRADING CO",
]
VENDORS = [
    ("GLOBAL TEXTILES CO", "12 HARBOUR ROAD", "SHANGHAI", "200000", "CN"),
    ("MÜLLER & SÖHNE GMBH", "HAUPTSTRASSE 5", "MÜNCHEN", "80331", "DE"),
    ("SAIGON GARMENT JSC", "22 LE LOI", "HO CHI MINH", "700000", "VN"),
]
HS_CODES = ["6109100010", "6110110010", "7318150020", "8539500000", "6907210000", "6402990030"]


# Generating the files ------------------------------------------------------------


def _declaration(rng: random.Random, index: int):
    from domain import Declaration
    from domain.identifiers import transaction_check_digit

    body = f"1{rng.randint(0, 9999):04d}{index:08d}"
    lines = []
    total_amount = Decimal("0.00")
    for number in range(1, rng.randint(5, 15) + 1):
        amount = Decimal(rng.randint(100, 500_000)) / 100
        total_amount += amount
        vfd = (amount * Decimal("1.35")).quantize(Decimal("0.01"))
        duty = (vfd * Decimal("0.18")).quantize(Decimal("0.01"))
        vft = vfd + duty
        lines.append(
            {
                "line_number": number,
                "description": rng.choice(DESCRIPTIONS),
                "hs_code": rng.choice(HS_CODES),
                "tariff_treatment": rng.choice(["2", "2", "10", "13"]),
                "country_of_origin": rng.choice(["CN", "VN", "DE", "US"]),
                "quantity": Decimal(rng.randint(1, 5000)),
                "unit": rng.choice(["NMB", "KGM", "PR"]),
                "invoice_amount": amount,
                "value_for_duty": vfd,
                "duty_rate": Decimal("18"),
                "customs_duty": duty,
                "value_for_tax": vft,
                "gst": (vft * Decimal("0.05")).quantize(Decimal("0.01")),
            }
        )
    name, street, city, postcode, country = rng.choice(VENDORS)
    return Declaration.model_validate(
        {
            "transaction_number": body + str(transaction_check_digit(body)),
            "version": 1,
            "function": "9",
            "type_code": "AB",
            "importer": {"account": BN15[0], "name": rng.choice(IMPORTERS)},
            "declarant": {"account": BN15[1], "name": "NORTHERN CUSTOMS BROKERS LTD"},
            "office_of_release": rng.choice(["0497", "0395", "0440"]),
            "release_date": dt.date(2025, 1, 15) + dt.timedelta(days=index % 300),
            "currency": "USD",
            "exchange_rate": Decimal("1.35"),
            "invoice": {
                "number": f"INV-{index:07d}",
                "issue_date": dt.date(2025, 1, 10),
                "total_amount": total_amount,
            },
            "vendor": {"name": name, "street": street, "city": city, "postcode": postcode, "country": country},
            "filer_reference": f"BRK-2025-{index:06d}",
            "lines": lines,
        }
    )


def generate(path: Path, size_bytes: int, seed: int = 2025) -> None:
    """Write CUSDEC interchanges to ``path`` until it holds at least ``size_bytes``."""
    from mappings.declaration_cusdec import IDENTIFIER, cusdec_segments
    from mappings.edifact_writer import InterchangeWriter

    rng = random.Random(seed)
    prepared = dt.datetime(2025, 1, 15, 9, 30)
    index = 0
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as out:
        interchange = 0
        while out.tell() < size_bytes:
            interchange += 1
            writer = InterchangeWriter(
                out,
                sender=("123026635", "ZZ"),
                recipient=("CBSACARM", "ZZ"),
                control_reference=f"IC{interchange:06d}",
                prepared=prepared,
            )
            for number in range(1, DECLARATIONS_PER_INTERCHANGE + 1):
                index += 1
                writer.write_message(f"M{number}", IDENTIFIER, cusdec_segments(_declaration(rng, index)))
                if out.tell() >= size_bytes:
                    break
            writer.close()
    tmp.replace(path)
