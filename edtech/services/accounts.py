"""Accounts: who may sign in, with which role and schools (CLI `user ...`, the Admin page, sign-in).

- Emails are matched case-insensitively (stored lower case), for local passwords and SSO alike.
- Passwords are hashed with Argon2 (argon2-cffi); five failed attempts lock the account 15 minutes.
- Demo accounts (`demo=True`) work only in demo mode (`EDTECH_DEMO=1`, set by `make run`).
- Every change is audited with the acting principal.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from edtech.core.access import SYSTEM, AccessDenied, Action, Principal, Role, parse_role
from edtech.services import audit
from edtech.store import data
from edtech.store.models import Account

MAX_FAILED = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10
DEMO_DOMAIN = "demo.edtech-compass.org"
DEMO_ACCOUNTS: dict[Role, tuple[str, str]] = {
    Role.DIRECTOR: (f"director@{DEMO_DOMAIN}", "Dana Director (demo)"),
    Role.COORDINATOR: (f"coordinator@{DEMO_DOMAIN}", "Casey Coordinator (demo)"),
    Role.BOARD: (f"board@{DEMO_DOMAIN}", "Blake Board-member (demo)"),
    Role.VIEWER: (f"viewer@{DEMO_DOMAIN}", "Vic Viewer (demo)"),
}
DEMO_COORDINATOR_SCHOOLS = 2  # the demo coordinator gets the first two schools
_HASHER = PasswordHasher()


class AccountError(ValueError):
    """A request about accounts that cannot be done (unknown email, bad role…), in plain words."""


class SignInError(PermissionError):
    """A sign-in refused (wrong password, locked, no account, demo account outside demo mode)."""


@dataclass(frozen=True)
class AccountInfo:
    email: str
    name: str
    role: Role
    schools: tuple[str, ...]
    has_password: bool
    demo: bool
    locked_until: dt.datetime | None


def demo_mode() -> bool:
    return os.environ.get("EDTECH_DEMO", "").strip().lower() in {"1", "true", "yes", "on"}


def normalize_email(email: str) -> str:
    text = str(email or "").strip().lower()
    if "@" not in text or text.startswith("@") or text.endswith("@") or any(c.isspace() for c in text):
        raise AccountError(f"{email!r} is not an email address.")
    return text


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Stored times come back naive from SQLite and aware from PostgreSQL: compare them as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _schools_text(schools: Iterable[str]) -> str:
    return ",".join(sorted({str(s).strip() for s in schools if str(s).strip()}))


def _info(row: Account) -> AccountInfo:
    return AccountInfo(email=row.email, name=row.name, role=Role(row.role),
                       schools=tuple(s for s in row.schools.split(",") if s), has_password=bool(row.password_hash),
                       demo=row.demo, locked_until=_aware(row.locked_until))


def _check_schools(engine: Engine, role: Role, schools: Iterable[str]) -> str:
    text = _schools_text(schools)
    if role != Role.COORDINATOR:
        return ""
    known = set(data.read_table(engine, "schools")["school_id"].astype(str))
    unknown = [s for s in text.split(",") if s and known and s not in known]
    if unknown:
        raise AccountError(f"Unknown school ids {', '.join(unknown)}: use school_id values from the schools table.")
    return text


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"The password is too short: use at least {MIN_PASSWORD} characters.")


def add_user(engine: Engine, email: str, role: str | Role, *, schools: Iterable[str] = (), password: str | None = None,
             name: str = "", demo: bool = False, actor: Principal = SYSTEM) -> AccountInfo:
    """Create an account (password=None: single sign-on only). Refused when the email exists."""
    actor.require(Action.MANAGE_USERS)
    email, role = normalize_email(email), parse_role(role)
    school_text = _check_schools(engine, role, schools)
    if password is not None:
        _check_password(password)
    now = _now()
    with Session(engine) as session:
        if session.get(Account, email) is not None:
            raise AccountError(f"An account for {email} already exists (use `user set-role` to change it).")
        row = Account(email=email, name=name.strip(), role=role.value, schools=school_text,
                      password_hash=_HASHER.hash(password) if password is not None else None, demo=demo,
                      created_at=now, updated_at=now)
        session.add(row)
        session.commit()
        info = _info(row)
    audit.record(engine, actor, "user added", detail=f"{email} as {role.value}"
                 + (f" for {school_text}" if school_text else "") + ("" if password else " (single sign-on)"))
    return info


def list_users(engine: Engine, *, actor: Principal = SYSTEM) -> list[AccountInfo]:
    actor.require(Action.MANAGE_USERS)
    with Session(engine) as session:
        return [_info(r) for r in session.scalars(select(Account).order_by(Account.email))]


def users_frame(engine: Engine, *, actor: Principal = SYSTEM) -> pd.DataFrame:
    rows = [{"email": u.email, "name": u.name, "role": u.role.value, "schools": ", ".join(u.schools),
             "sign_in": "one click (demo mode)" if u.demo else "password" if u.has_password else "single sign-on",
             "demo": u.demo,
             "locked_until": u.locked_until} for u in list_users(engine, actor=actor)]
    return pd.DataFrame(rows, columns=["email", "name", "role", "schools", "sign_in", "demo", "locked_until"])


def _get(session: Session, email: str) -> Account:
    row = session.get(Account, normalize_email(email))
    if row is None:
        raise AccountError(f"There is no account for {email}.")
    return row


def remove_user(engine: Engine, email: str, *, actor: Principal = SYSTEM) -> None:
    actor.require(Action.MANAGE_USERS)
    with Session(engine) as session:
        row = _get(session, email)
        if row.email == actor.email:
            raise AccountError("You cannot remove your own account.")
        session.delete(row)
        session.commit()
    audit.record(engine, actor, "user removed", detail=normalize_email(email))


def unlock_user(engine: Engine, email: str, *, actor: Principal = SYSTEM) -> None:
    actor.require(Action.MANAGE_USERS)
    with Session(engine) as session:
        row = _get(session, email)
        row.failed_attempts, row.locked_until, row.updated_at = 0, None, _now()
        session.add(row)
        session.commit()
    audit.record(engine, actor, "user unlocked", detail=normalize_email(email))


def set_role(engine: Engine, email: str, role: str | Role, *, schools: Iterable[str] | None = None,
             actor: Principal = SYSTEM) -> AccountInfo:
    """Change an account's role (and a coordinator's schools; None keeps them)."""
    actor.require(Action.MANAGE_USERS)
    role = parse_role(role)
    with Session(engine) as session:
        row = _get(session, email)
        if row.email == actor.email and role != Role.DIRECTOR:
            raise AccountError("You cannot take the director role from your own account.")
        row.role = role.value
        row.schools = _check_schools(engine, role, row.schools.split(",") if schools is None else schools)
        row.updated_at = _now()
        session.add(row)
        session.commit()
        info = _info(row)
    audit.record(engine, actor, "role changed", detail=f"{info.email} -> {role.value}"
                 + (f" for {','.join(info.schools)}" if info.schools else ""))
    return info


def set_password(engine: Engine, email: str, password: str | None, *, actor: Principal = SYSTEM) -> None:
    """Set (or with None remove: single sign-on only) an account's password."""
    actor.require(Action.MANAGE_USERS)
    if password is not None:
        _check_password(password)
    with Session(engine) as session:
        row = _get(session, email)
        row.password_hash = _HASHER.hash(password) if password is not None else None
        row.failed_attempts, row.locked_until, row.updated_at = 0, None, _now()
        session.add(row)
        session.commit()
    audit.record(engine, actor, "password set" if password else "password removed", detail=normalize_email(email))


# ------------------------------------------------------------------------------- sign-in
def _principal(row: Account) -> Principal:
    info = _info(row)
    return Principal(email=info.email, role=info.role, name=info.name, schools=frozenset(info.schools), demo=info.demo)


def principal_for(engine: Engine, email: str | None) -> Principal | None:
    """The principal of a verified identity (SSO id_token email, or a local sign-in); None when there is
    no usable account (unknown email, or a demo account outside demo mode)."""
    try:
        key = normalize_email(email or "")
    except AccountError:
        return None
    with Session(engine) as session:
        row = session.get(Account, key)
        if row is None or (row.demo and not demo_mode()):
            return None
        return _principal(row)


def authenticate_password(engine: Engine, email: str, password: str) -> Principal:
    """Check a local password (Argon2). Raises SignInError with the reason a person may be told."""
    generic = "The email or password is not right."
    try:
        key = normalize_email(email)
    except AccountError:
        raise SignInError(generic) from None
    now = _now()
    with Session(engine) as session:
        row = session.get(Account, key)
        if row is None or not row.password_hash:
            _HASHER.hash(password or "-")  # same work either way: no account-existence timing hint
            audit.record(engine, None, "sign-in refused", detail=f"{key}: no local account")
            raise SignInError(generic)
        if row.demo and not demo_mode():
            audit.record(engine, None, "sign-in refused", detail=f"{key}: demo account outside demo mode")
            raise SignInError("Demo accounts work only in demo mode.")
        locked_until = _aware(row.locked_until)
        if locked_until is not None and locked_until > now:
            minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
            audit.record(engine, None, "sign-in refused", detail=f"{key}: locked")
            raise SignInError(f"Too many failed attempts: the account is locked for {minutes} more minute(s), "
                              "or until a director unlocks it.")
        try:
            _HASHER.verify(row.password_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            row.failed_attempts += 1
            if row.failed_attempts >= MAX_FAILED:
                row.locked_until, row.failed_attempts = now + dt.timedelta(minutes=LOCK_MINUTES), 0
            session.add(row)
            session.commit()
            audit.record(engine, None, "sign-in refused", detail=f"{key}: wrong password"
                         + (" (account locked)" if row.failed_attempts == 0 else ""))
            raise SignInError(generic) from None
        if _HASHER.check_needs_rehash(row.password_hash):
            row.password_hash = _HASHER.hash(password)
        row.failed_attempts, row.locked_until = 0, None
        session.add(row)
        session.commit()
        return _principal(row)


def ensure_demo_accounts(engine: Engine) -> list[str]:
    """The demo director, coordinator (first two schools), board member and viewer (no passwords)."""
    schools = sorted(data.read_table(engine, "schools")["school_id"].astype(str))[:DEMO_COORDINATOR_SCHOOLS]
    now, made = _now(), []
    with Session(engine) as session:
        for role, (email, name) in DEMO_ACCOUNTS.items():
            if session.get(Account, email) is None:
                session.add(Account(email=email, name=name, role=role.value, demo=True, created_at=now, updated_at=now,
                                    schools=_schools_text(schools) if role == Role.COORDINATOR else ""))
                made.append(email)
        session.commit()
    return made


__all__ = ["AccessDenied", "AccountError", "AccountInfo", "SignInError", "add_user", "authenticate_password",
           "demo_mode", "ensure_demo_accounts", "list_users", "principal_for", "remove_user", "set_password",
           "set_role", "unlock_user", "users_frame"]
