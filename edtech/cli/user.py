"""`python -m edtech user …`: local accounts (data contract v2) over edtech.services.accounts.

Passwords are read from standard input only (`--password-stdin`; a terminal gets a hidden prompt),
never from an argument: arguments end up in shell history and in every process listing.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from edtech.cli.exit_codes import EXIT_OK, EXIT_USAGE
from edtech.core.access import ROLE_LABELS, SYSTEM, AccessDenied, Principal, Role
from edtech.services import accounts, workspace
from edtech.services.accounts import AccountError

ROLE_CHOICES = [r.value for r in Role]
PASSWORD_CHOICE = ("choose how this account signs in: --password-stdin (a password read from standard input) "
                   "or --sso-only (single sign-on only, no password)")


class _UsageError(Exception):
    pass


def _schools(text: str | None) -> list[str] | None:
    return None if text is None else [s.strip() for s in text.split(",") if s.strip()]


def read_password() -> str:
    """The password from standard input: a hidden prompt (asked twice) on a terminal, else the first line."""
    if sys.stdin is None:
        raise _UsageError("--password-stdin needs a password on standard input")
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != first:
            raise _UsageError("the two passwords differ")
        return first
    text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise _UsageError("--password-stdin: standard input held no password")
    return text


def _actor(args: argparse.Namespace) -> Principal:
    """The acting principal: the command line's (a director unless the global `--as EMAIL`)."""
    return getattr(args, "principal", None) or SYSTEM


def _describe(info: accounts.AccountInfo) -> str:
    where = f" for schools {', '.join(info.schools)}" if info.schools else ""
    how = "password" if info.has_password else "single sign-on only"
    return f"{info.email}: {ROLE_LABELS[info.role]}{where} ({how})"


def _add(args: argparse.Namespace) -> int:
    if not args.password_stdin and not args.sso_only:
        raise _UsageError(PASSWORD_CHOICE)
    engine = workspace.open_engine(args.db)
    password = read_password() if args.password_stdin else None
    info = accounts.add_user(engine, args.email, args.role, schools=_schools(args.schools) or (), password=password,
                             name=args.name or "", actor=_actor(args))
    print(f"added {_describe(info)}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    users = accounts.list_users(engine, actor=_actor(args))
    if args.format == "json":
        rows = [{"email": u.email, "name": u.name, "role": u.role.value, "schools": list(u.schools),
                 "sign_in": "password" if u.has_password else "sso", "demo": u.demo,
                 "locked_until": u.locked_until.isoformat() if u.locked_until else None} for u in users]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not users:
        print("No accounts yet: add one with `python -m edtech user add EMAIL --role director --password-stdin`.")
        return EXIT_OK
    header = ["Email", "Name", "Role", "Schools", "Signs in with", "Demo", "Locked until"]
    rows = [[u.email, u.name, ROLE_LABELS[u.role], ", ".join(u.schools) or "—",
             "password" if u.has_password else "single sign-on", "yes" if u.demo else "no",
             u.locked_until.strftime("%Y-%m-%d %H:%M UTC") if u.locked_until else "—"] for u in users]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    accounts.remove_user(engine, args.email, actor=_actor(args))
    print(f"removed {accounts.normalize_email(args.email)}")
    return EXIT_OK


def _unlock(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    accounts.unlock_user(engine, args.email, actor=_actor(args))
    print(f"unlocked {accounts.normalize_email(args.email)}")
    return EXIT_OK


def _set_role(args: argparse.Namespace) -> int:
    engine = workspace.open_engine(args.db)
    info = accounts.set_role(engine, args.email, args.role, schools=_schools(args.schools),
                             actor=_actor(args))
    print(f"changed {_describe(info)}")
    return EXIT_OK


def _set_password(args: argparse.Namespace) -> int:
    if not args.password_stdin:
        raise _UsageError("the new password is read from standard input: pass --password-stdin")
    engine = workspace.open_engine(args.db)
    accounts.set_password(engine, args.email, read_password(), actor=_actor(args))
    print(f"password set for {accounts.normalize_email(args.email)}")
    return EXIT_OK


def _guarded(func):  # noqa: ANN001, ANN202
    """Refusals a person can act on end in exit 2 with the message, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (_UsageError, AccountError, AccessDenied) as exc:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    return run


def register(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="local accounts: add, list, remove, unlock, set-role, set-password",
                          description="Accounts and their roles. Passwords are read from standard input "
                                      "(--password-stdin), never from an argument.")
    actions = user.add_subparsers(dest="user_command", metavar="ACTION")
    roles = "|".join(ROLE_CHOICES)

    p = actions.add_parser("add", allow_abbrev=False, help="add an account")
    p.add_argument("email")
    p.add_argument("--role", required=True, choices=ROLE_CHOICES, metavar=roles)
    p.add_argument("--schools", metavar="IDS", help="a coordinator's schools, comma-separated (e.g. 0101,0102)")
    p.add_argument("--name", help="the name shown in the app")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument("--sso-only", action="store_true", help="no password: sign in with single sign-on only")
    p.set_defaults(func=_guarded(_add))

    p = actions.add_parser("list", allow_abbrev=False, help="list accounts")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=_guarded(_list))

    p = actions.add_parser("remove", allow_abbrev=False, help="remove an account")
    p.add_argument("email")
    p.set_defaults(func=_guarded(_remove))

    p = actions.add_parser("unlock", allow_abbrev=False, help="unlock an account locked after failed sign-ins")
    p.add_argument("email")
    p.set_defaults(func=_guarded(_unlock))

    p = actions.add_parser("set-role", allow_abbrev=False, help="change an account's role (and a coordinator's schools)")
    p.add_argument("email")
    p.add_argument("role", choices=ROLE_CHOICES, metavar=roles)
    p.add_argument("--schools", metavar="IDS", help="a coordinator's schools, comma-separated (default: unchanged)")
    p.set_defaults(func=_guarded(_set_role))

    p = actions.add_parser("set-password", allow_abbrev=False, help="set an account's password (read from standard input)")
    p.add_argument("email")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_guarded(_set_password))

    def _no_action(args: argparse.Namespace) -> int:
        user.print_help(sys.stderr)
        return EXIT_USAGE

    user.set_defaults(func=_no_action)
