"""`kehu export insights` and `kehu replay insights`: thin clients of the insights service's API.

    kehu export insights [--as-of DATE] [--output FILE]   every customer's scores as CSV
    kehu replay insights [--refit]                        rebuild insights from the outboxes, swap
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from kehu.client import cli_token
from shared.settings import Settings, service_url


def add_parsers(commands: Any) -> None:
    export = commands.add_parser("export", help="export a view as CSV")
    export.add_argument("what", choices=["insights"])
    export.add_argument("--as-of", help="date (the end of that day, shop time zone) or RFC 3339 time; default now")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    replay = commands.add_parser("replay", help="rebuild a service's views from the retained outboxes")
    replay.add_argument("what", choices=["insights"])
    replay.add_argument("--refit", action="store_true",
                        help="fit every population model anew instead of reusing the stored fits of the same inputs")


def run_cli(args: argparse.Namespace) -> int:
    settings = Settings()
    bearer = cli_token(settings)
    if bearer is None:
        print(f"kehu {args.command}: no token: set KEHU_TOKEN, or start kehu with `kehu up` "
              f"(it writes {settings.home / 'dev-token'})", file=sys.stderr)
        return 2
    base = service_url(settings, "insights")
    headers = {"Authorization": f"Bearer {bearer}"}
    try:
        if args.command == "export":
            return _export(base, headers, args)
        return _replay(base, headers, refit=args.refit)
    except httpx.HTTPError as exc:
        print(f"kehu {args.command}: insights at {base} is unreachable: {exc}", file=sys.stderr)
        return 2


def _export(base: str, headers: dict[str, str], args: argparse.Namespace) -> int:
    params = {"as_of": args.as_of} if args.as_of else {}
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    rows = 0
    try:
        with httpx.stream("GET", f"{base}/export/insights.csv", params=params, headers=headers,
                          timeout=httpx.Timeout(10, read=600)) as response:
            if response.status_code != 200:
                response.read()
                print(f"kehu export: {response.status_code}: {response.text}", file=sys.stderr)
                return 1
            for chunk in response.iter_bytes():
                rows += chunk.count(b"\n")
                out.write(chunk)
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"kehu export: {max(rows - 1, 0)} customers written to {args.output}", file=sys.stderr)
    return 0


def _replay(base: str, headers: dict[str, str], *, refit: bool) -> int:
    response = httpx.post(f"{base}/admin/replay", params={"refit": "true"} if refit else {}, headers=headers,
                          timeout=httpx.Timeout(10, read=3600))
    if response.status_code != 200:
        print(f"kehu replay: {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    result = response.json()
    print(json.dumps(result, indent=2))
    return 1 if result.get("skipped") else 0
