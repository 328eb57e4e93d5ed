"""The main journey in a real browser: Playwright driving Debian Chromium against `python -m edtech serve` in
demo mode (the one-click demo director sign-in goes through st.login and the app's own provider)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser_utils import browser_type_launch_args, free_port, wait_healthy  # noqa: F401 - fixture
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_url(_sample_db_file: Path, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("browserdb") / "sample.db"
    shutil.copy(_sample_db_file, db)
    port, idp_port = free_port(), free_port()
    auth = tmp_path_factory.mktemp("browserauth")
    log = auth / "serve.log"
    env = {**os.environ, "EDTECH_DATABASE_URL": f"sqlite:///{db}", "EDTECH_DEMO": "1",
           "EDTECH_SECRET_KEY": "browser-test-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edtech", "serve", "--port", str(port), "--idp-port", str(idp_port),
         "--secrets-out", str(auth / "secrets.toml"), "--sso-secrets", str(auth / "none.toml")],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://localhost:{port}"  # the host of the sign-in redirect (cookies are per host)
    wait_healthy(f"http://127.0.0.1:{port}", proc, log)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _goto_page(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()


def test_director_journey(page, app_url: str, tmp_path: Path):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1500, "height": 1300})
    page.goto(app_url)
    page.get_by_role("button", name="Sign in as the demo director").click(timeout=90_000)
    expect(page.get_by_role("heading", name="District overview")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("Annual spend", exact=True)).to_be_visible(timeout=60_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(tmp_path / "overview.png"))
    if os.environ.get("EDTECH_SAVE_SCREENSHOTS"):
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "overview.png"))

    # data page: a bad usage file is rejected with the line and column named
    _goto_page(page, "Data")
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible(timeout=30_000)
    bad = tmp_path / "usage.csv"
    bad.write_text("student_id,tool_id,date,minutes\n999999,T01,2025-02-30,-4\n")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("nothing was written")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("line 2, column date").first).to_be_visible()

    # every other page opens without an error box
    for title in ["Tool ROI", "Vetting", "School adoption", "At-risk students", "Budget scenarios", "Board report"]:
        link = page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True)
        if link.count() == 0:
            continue
        link.click()
        page.wait_for_timeout(500)
        page.wait_for_selector('[data-testid="stMain"] h1', timeout=90_000)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
        assert page.locator('[data-testid="stException"]').count() == 0, title
