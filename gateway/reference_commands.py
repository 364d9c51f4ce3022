"""``carm-edi tariff`` and ``carm-edi rates``: show the table in use, update the cache from a URL or a file.

The cache lives under ``settings.reference_cache_dir`` (``reference_sources.cache``);
without it the shipped excerpt is in use, and ``show`` says so. Exit codes: 0 done,
2 cannot run (the source failed or its answer was refused; the cache is left as it was).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway.settings import Settings

EXIT_DONE, EXIT_CANNOT_RUN = 0, 2


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(data_dir=Path(args.data_dir)) if args.data_dir else Settings()


def _print(as_json: bool, body: dict[str, Any]) -> None:
    if as_json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return
    counts, warnings = body.pop("counts", None), body.pop("warnings", None)
    print(", ".join(f"{key} {value}" for key, value in body.items() if value is not None))
    if counts:
        print(", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items()))
    for warning in warnings or ():
        print(f"warning: {warning}")


def _show(args: argparse.Namespace) -> int:
    from reference_sources.cache import ReferenceCache
    from validators.reference_data import ReferenceData

    settings = _settings(args)
    table = args.table
    info = ReferenceCache(settings.reference_cache_dir).info(table)
    if table == "tariff" and settings.active_tariff_path() != settings.reference_cache_dir / "tariff.csv":
        info = None  # an explicit tariff_path wins over the cache
    if info is not None:
        _print(args.json, {"table": table, "cached": True} | asdict(info))
        return EXIT_DONE
    if table == "tariff":
        from duties.tariff import Tariff

        path = settings.active_tariff_path()
        _print(args.json, {"table": table, "cached": False, "source": str(path), "version": Tariff.load(path).version})
    else:
        reference = ReferenceData.load(settings.reference_dir)
        latest = reference.exchange_rates.latest()
        body = {
            "table": table,
            "cached": False,
            "source": str(settings.reference_dir / "exchange_rates.csv"),
            "version": reference.versions["exchange_rates.csv"],
            "rate_date": latest.isoformat() if latest else None,
        }
        _print(args.json, body)
    return EXIT_DONE


def _update(args: argparse.Namespace) -> int:
    from reference_sources.cache import ReferenceCache
    from reference_sources.exchange_rates import fetch_rates, load_rates_file
    from reference_sources.http import SourceError
    from reference_sources.schedule import load_schedule, schedule_layout
    from reference_sources.tariff_service import fetch_tariff, load_tariff_file

    settings = _settings(args)
    cache = ReferenceCache(settings.reference_cache_dir)
    try:
        if args.table == "tariff":
            layout = schedule_layout(Path(args.file)) if args.file else None
            if (args.effective is not None) != (layout is not None):
                raise SourceError(
                    "CBSA's schedule carries no dates: say from when its rates apply with --effective YYYY-MM-DD"
                    if layout is not None
                    else "--effective applies to CBSA's schedule (a file with its header) only"
                )
            if layout is not None:
                effective = dt.date.fromisoformat(args.effective)
                info = load_schedule(cache, Path(args.file), effective=effective, version=args.version, layout=layout)
            elif args.file:
                info = load_tariff_file(cache, Path(args.file), version=args.version)
            else:
                info = fetch_tariff(cache, url=args.url or settings.tariff_service_url, version=args.version)
        elif args.file:
            info = load_rates_file(cache, Path(args.file))
        else:
            end = dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date()
            start = dt.date.fromisoformat(args.start) if args.start else end - dt.timedelta(days=30)
            info = fetch_rates(cache, start, end, url=args.url or settings.exchange_rates_url)
    except (SourceError, ValueError) as error:
        print(f"cannot update the {args.table}: {error}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    _print(args.json, {"table": args.table, "cached": True} | asdict(info))
    return EXIT_DONE


def add_commands(commands: Any) -> None:
    """Add ``tariff`` and ``rates`` to the ``carm-edi`` sub-commands."""
    for table, name, what in (
        ("tariff", "tariff", "the Customs Tariff (CBSA's OData tariff service)"),
        ("exchange_rates", "rates", "the exchange rates (CBSA's Exchange Rates API)"),
    ):
        parser = commands.add_parser(name, help=f"{what}: show the table in use, update the local cache")
        sub = parser.add_subparsers(dest=f"{name}_command", required=True)
        show = sub.add_parser("show", help="source, version, fetch date (and rate date) of the table in use")
        update = sub.add_parser("update", help="fetch into the cache from the service (or --url) or install --file")
        source = update.add_mutually_exclusive_group()
        source.add_argument("--url", help="the service URL (default: settings)")
        if table == "tariff":
            source.add_argument(
                "--file",
                help="a saved answer (.json), a table in the gateway's CSV shape, or CBSA's schedule saved as CSV "
                "(or tab-separated; told by its header)",
            )
            update.add_argument("--version", help="the version to record (default: the fetch date or the file's)")
            update.add_argument("--effective", help="for CBSA's schedule: the date its rates apply from, YYYY-MM-DD")
        else:
            source.add_argument("--file", help="a saved answer (.json) or a table in the gateway's CSV shape")
            update.add_argument("--start", help="StartDate, YYYY-MM-DD (default: 30 days before the end)")
            update.add_argument("--end", help="EndDate, YYYY-MM-DD (default: today)")
        for command, handler in ((show, _show), (update, _update)):
            command.add_argument("--inbox", dest="data_dir", help="data folder holding the cache (default: settings)")
            command.add_argument("--json", action="store_true", help="print one JSON object")
            command.set_defaults(handler=handler, table=table)
