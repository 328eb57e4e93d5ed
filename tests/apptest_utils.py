"""Opening one page of the real app in AppTest, signed in as an account of a given role (shared by the page tests)."""

from __future__ import annotations

import hashlib
import os

from streamlit.testing.v1 import AppTest

from tests.conftest import APP

ROLE_CODES = {"Director": "director", "School coordinator": "coordinator", "Board member": "board",
              "Viewer": "viewer", "director": "director", "coordinator": "coordinator", "board": "board",
              "viewer": "viewer"}


def account_for(role: str, schools: list[str] | None = None, url: str | None = None) -> str:
    """An account of this role (a coordinator: assigned exactly `schools`) in the test database; its email."""
    import datetime as dt

    from sqlmodel import Session

    from edtech.store import data
    from edtech.store.models import Account

    code = ROLE_CODES[role]
    tag = hashlib.sha1(",".join(sorted(schools or [])).encode()).hexdigest()[:8] if code == "coordinator" else ""
    email = f"{code}{'-' + tag if tag else ''}@test.example"
    engine = data.make_engine(url or os.environ["EDTECH_DATABASE_URL"])
    try:
        data.init_db(engine)
        with Session(engine) as session:  # written directly: a test may assign a school the district lacks
            if session.get(Account, email) is None:
                now = dt.datetime.now(dt.UTC)
                session.add(Account(email=email, name=f"Test {role}", role=code, created_at=now, updated_at=now,
                                    schools=",".join(sorted(schools or [])) if code == "coordinator" else ""))
                session.commit()
    finally:
        engine.dispose()
    return email


def sign_in(at: AppTest, role: str = "Director", schools: list[str] | None = None) -> str:
    """Sign the AppTest session in as an account of `role` (Streamlit's test user = verified id_token claims)."""
    email = account_for(role, schools)
    at.user = {"is_logged_in": True, "email": email, "name": f"Test {role}", "iss": "test", "sub": email}
    return email


def open_page(page: str, role: str | None = None, schools: list[str] | None = None,
              query: dict[str, str] | None = None, timeout: int = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    sign_in(at, role or "Director", schools)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def new_app(timeout: int = 60, role: str = "Director", schools: list[str] | None = None) -> AppTest:
    """The app in AppTest, signed in as an account of `role` (not yet run)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    sign_in(at, role, schools)
    return at


def pages_for(role: str) -> list[str]:
    """The page files a role opens (from the one permission matrix)."""
    from edtech.core.access import PAGES
    from ui import nav

    code = ROLE_CODES[role]
    return [p for p, _, _, key in nav.PAGES if code in PAGES[key] and (nav.ROOT / p).exists()]
