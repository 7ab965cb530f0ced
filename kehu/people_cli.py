"""`kehu user add/list/disable/enable/passwd`: the accounts people sign in to the console with.

The commands call the console's ``/api/people`` with an admin API token (``KEHU_TOKEN``, else the
dev token of `kehu up`), so they work the same against this machine and a deployed console
(``KEHU_CONSOLE_URL``). Passwords are asked for twice without echo, or read from stdin with
``--password-stdin`` (for scripts); they never appear in the shell's history or the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

import httpx

from kehu.client import cli_token
from shared.settings import Settings

ROLES = ("admin", "manager", "sales", "service", "readonly")


def add_parser(commands: Any) -> None:
    user = commands.add_parser("user", help="manage the accounts people sign in to the console with")
    sub = user.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="add an account (asks for the password)")
    add.add_argument("name", help="sign-in name: 2-32 of a-z 0-9 . _ -")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--display-name", help="how the console names the person (any script)")
    add.add_argument("--owner", help="for salespeople: the owner id their customers carry")
    add.add_argument("--locale", choices=("zh-CN", "en"), default="zh-CN")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", help="every account: name, role, owner, state")
    for name, text in (("disable", "disable an account (its sessions end at once)"), ("enable", "enable it again")):
        command = sub.add_parser(name, help=text)
        command.add_argument("name")
    passwd = sub.add_parser("passwd", help="set a new password (the person's sessions end)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("kehu user: the two passwords differ")
    return first


def console_url(settings: Settings) -> str:
    return (settings.console_url or f"http://127.0.0.1:{settings.console_port}").rstrip("/")


def run_cli(args: argparse.Namespace) -> int:
    settings = Settings()
    token = cli_token(settings)
    if not token:
        print("kehu user: no token: set KEHU_TOKEN to an admin token (or start kehu with `make up`)", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    base = console_url(settings) + "/api/people"
    command = args.user_command
    try:
        with httpx.Client(timeout=30.0, headers=headers) as http:
            if command == "list":
                response = http.get(base)
            elif command == "add":
                body = {"name": args.name, "role": args.role, "locale": args.locale,
                        "password": _password(args.password_stdin)}
                body |= {k: v for k, v in (("display_name", args.display_name), ("owner", args.owner)) if v}
                response = http.post(base, json=body)
            elif command == "passwd":
                response = http.put(f"{base}/{args.name}/password", json={"password": _password(args.password_stdin)})
            else:
                response = http.post(f"{base}/{args.name}/{command}")
    except httpx.HTTPError as exc:
        print(f"kehu user: the console at {console_url(settings)} does not answer ({exc}); is kehu up?",
              file=sys.stderr)
        return 1
    if response.status_code >= 400:
        problem = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        print(f"kehu user: {problem.get('detail') or response.text}", file=sys.stderr)
        return 1
    if command == "list":
        rows = [("NAME", "ROLE", "OWNER", "STATE", "SHOWN AS")] + [
            (p["name"], p["role"], p["owner"] or "-", "disabled" if p["disabled"] else "active", p["display_name"])
            for p in response.json()["items"]]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4])
        return 0
    person = response.json()
    done = {"add": "added", "passwd": "new password set for", "disable": "disabled", "enable": "enabled"}[command]
    print(f"{done} {person['name']} ({person['role']})")
    return 0
