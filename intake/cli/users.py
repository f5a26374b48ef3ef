"""`intake user add|list|remove`: the console's operators.

The password is read from a prompt (twice), or from the environment variable named by
`--password-env` (for scripts); it is never an argument, so it stays out of shell history
and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from console import auth
from intake.cli.wiring import open_runtime
from intake.settings import Settings


def add_parsers(sub: Any) -> None:
    cmd = sub.add_parser("user", help="the console's operators: add, list, remove")
    cmd.add_argument("action", choices=["add", "list", "remove"])
    cmd.add_argument("name", nargs="?", help="user name (add, remove)")
    cmd.add_argument("--password-env", help="add: read the password from this variable")
    cmd.set_defaults(handler=user)


def user(args: argparse.Namespace, settings: Settings) -> int:
    if args.action != "list" and not args.name:
        print(f"intake: user {args.action} needs a user name", file=sys.stderr)
        return 64
    password = _password(args) if args.action == "add" else ""
    if password is None:
        return 1
    rt = open_runtime(settings, with_broker=False)
    try:
        with rt.sessions.begin() as session:
            if args.action == "add":
                row = auth.add_user(session, args.name, password)
                print(f"user {row.username}: password set")
            elif args.action == "remove":
                if not auth.remove_user(session, args.name):
                    print(f"intake: no user {args.name}", file=sys.stderr)
                    return 1
                print(f"user {args.name.lower()}: removed")
            else:
                for row in auth.list_users(session):
                    last = (
                        row.last_login_at.isoformat(timespec="minutes")
                        if row.last_login_at
                        else "never"
                    )
                    print(f"{row.username}\tlast login {last}")
    finally:
        rt.close()
    return 0


def _password(args: argparse.Namespace) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            print(f"intake: {args.password_env} is not set", file=sys.stderr)
            return None
        return value
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        print("intake: the passwords differ", file=sys.stderr)
        return None
    return first
