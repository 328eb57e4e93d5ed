"""Sign-in in a real browser: `python -m edtech serve` (the app + its own OpenID Connect provider) and a
second provider playing the district's single sign-on, driven by Playwright in Debian Chromium.

The developer's files are untouched: a temp database, a temp secrets file (`--secrets-out`) and a temp
administrator SSO file (`--sso-secrets`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import oidc_sso_provider
from tests.browser_utils import browser_type_launch_args, free_port, wait_healthy  # noqa: F401 - fixture
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "a long enough password"
SSO_PROVIDER = "sso-test"  # Streamlit refuses "_" in provider names


def _serve(tmp: Path, sample_db: Path, *, demo: bool):
    """Start `python -m edtech serve` on free ports with a private database, secrets and SSO file."""
    from edtech.cli.serve import to_toml
    from edtech.services import accounts
    from edtech.store import data

    db = tmp / "sample.db"
    shutil.copy(sample_db, db)
    url = f"sqlite:///{db}"
    engine = data.make_engine(url)
    accounts.add_user(engine, "ann.director@district.org", "director", password=PASSWORD, name="Ann Director")
    accounts.add_user(engine, "sam.sso@district.org", "board", name="Sam Board-member")  # single sign-on only
    engine.dispose()

    port, idp_port = free_port(), free_port()
    sso = oidc_sso_provider.start(f"http://localhost:{port}/oauth2callback")
    sso_file = tmp / "admin-secrets.toml"
    sso_file.write_text(to_toml({"auth": {SSO_PROVIDER: oidc_sso_provider.secrets_section(sso)}}))
    secrets_out = tmp / "auth" / "secrets.toml"
    env = {k: v for k, v in os.environ.items() if k != "EDTECH_DEMO"}
    env.update(EDTECH_DATABASE_URL=url, EDTECH_SECRET_KEY="browser-test-secret-key-0123456789")
    if demo:
        env["EDTECH_DEMO"] = "1"
    log = tmp / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edtech", "serve", "--port", str(port), "--idp-port", str(idp_port),
             "--secrets-out", str(secrets_out), "--sso-secrets", str(sso_file)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        yield {"url": f"http://localhost:{port}", "idp": f"http://127.0.0.1:{idp_port}", "sso": sso.base_url,
               "secrets": secrets_out, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        sso.stop()


@pytest.fixture(scope="module")
def served(_sample_db_file: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from _serve(tmp_path_factory.mktemp("signin"), _sample_db_file, demo=False)


@pytest.fixture(scope="module")
def served_demo(_sample_db_file: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from _serve(tmp_path_factory.mktemp("signin-demo"), _sample_db_file, demo=True)


def _sidebar(page):
    return page.get_by_test_id("stSidebar")


def test_secrets_file_is_private_and_complete(served):
    import tomllib

    path: Path = served["secrets"]
    assert path.stat().st_mode & 0o777 == 0o600
    auth = tomllib.loads(path.read_text())["auth"]
    assert auth["redirect_uri"] == f"{served['url']}/oauth2callback"
    assert set(k for k, v in auth.items() if isinstance(v, dict)) == {"local", SSO_PROVIDER}  # no demo outside demo


def test_local_account_signs_in_and_survives_a_reload(served, browser):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(served["url"])
    button = page.get_by_role("button", name="Sign in with email and password")
    expect(button).to_be_visible(timeout=90_000)
    expect(_sidebar(page).get_by_text("Ann Director")).to_have_count(0)
    started = time.monotonic()
    button.click()
    page.wait_for_url(f"{served['idp']}/authorize**", timeout=30_000)
    page.get_by_label("Email").fill("Ann.Director@district.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{served['url']}/**", timeout=30_000)
    expect(_sidebar(page).get_by_text("Ann Director")).to_be_visible(timeout=90_000)
    print(f"local sign-in: {time.monotonic() - started:.1f} s from click to the name in the sidebar")

    page.reload()
    expect(_sidebar(page).get_by_text("Ann Director")).to_be_visible(timeout=90_000)
    expect(page.get_by_role("button", name="Sign in with email and password")).to_have_count(0)
    context.close()


def _sso_sign_in(served, browser, email: str):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(served["url"])
    button = page.get_by_role("button", name=re.compile(r"Sign in with Sso.Test"))
    expect(button).to_be_visible(timeout=90_000)
    button.click()
    page.wait_for_url(f"{served['sso']}/authorize**", timeout=30_000)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("whatever the district's IdP checks")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{served['url']}/**", timeout=30_000)
    return context, page


def test_sso_identity_with_an_account_signs_in(served, browser):
    from playwright.sync_api import expect

    started = time.monotonic()
    context, page = _sso_sign_in(served, browser, "SAM.SSO@district.org")  # matched case-insensitively
    expect(_sidebar(page).get_by_text("Sam Board-member")).to_be_visible(timeout=90_000)
    print(f"SSO sign-in: {time.monotonic() - started:.1f} s from the first page to the name in the sidebar")
    context.close()


def test_sso_identity_without_an_account_is_refused(served, browser):
    from playwright.sync_api import expect

    context, page = _sso_sign_in(served, browser, "stranger@district.org")
    expect(page.get_by_text("Ask your director")).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no pages, no data
    context.close()


def test_demo_mode_one_click_sign_in(served_demo, browser):
    import tomllib

    from playwright.sync_api import expect

    from edtech.services.accounts import DEMO_ACCOUNTS
    from edtech.services.identity_provider import DEMO_PROVIDERS

    auth = tomllib.loads(served_demo["secrets"].read_text())["auth"]
    assert set(DEMO_PROVIDERS.values()) <= set(auth)
    context = browser.new_context()
    page = context.new_page()
    page.goto(served_demo["url"])
    button = page.get_by_role("button", name="Sign in as the demo director")
    expect(button).to_be_visible(timeout=90_000)
    started = time.monotonic()
    button.click()  # no form: the provider signs the demo director in while demo mode is on
    page.wait_for_url(f"{served_demo['url']}/**", timeout=30_000)
    director_name = next(name for role, (email, name) in DEMO_ACCOUNTS.items() if role.value == "director")
    expect(_sidebar(page).get_by_text(director_name)).to_be_visible(timeout=90_000)
    print(f"demo sign-in: {time.monotonic() - started:.1f} s from click to the name in the sidebar")
    context.close()
