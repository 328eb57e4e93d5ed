"""A tour of every page for every demo role in Debian Chromium: one 1440×900 PNG per role × page and the
presentation checks of issue 14 on each page (visible table headers without `_`, no None/nan/NaT cell, no
character Chromium draws as a missing glyph, no exception box).

`python -m tests.page_tour docs/screenshots` (what `make screenshots` runs) builds the demo district into a
temporary database like `make run`, serves it in demo mode, takes the tour and writes the PNGs;
tests/test_page_tour_browser.py takes the same tour into a temporary folder and asserts the checks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1440, "height": 900}
DEMO_ROLES = {  # file-name prefix -> the one-click button of the sign-in screen in demo mode
    "director": "Sign in as the demo director",
    "coordinator": "Sign in as the demo coordinator",
    "board": "Sign in as the demo board member",
    "viewer": "Sign in as the demo viewer",
}
# the demo's model is signed with the server key: the demo build and the server must share it
TOUR_SECRET_KEY = "page-tour-secret-key-0123456789"
MISSING_VALUES = ("None", "nan", "NaN", "NaT", "<NA>", "null", "undefined")

# What the page shows, read in the browser. Streamlit's st.dataframe draws on a canvas (glide-data-grid);
# its accessible mirror is a <table role="grid"> with <th role="columnheader"> for every column and
# <td role="gridcell"> for the rows it has drawn, built only while the grid is near the viewport: each
# visible grid is scrolled into view and read (GRID_CHECK_JS). st.table and markdown tables are plain
# <th>/<td>. Emoji and other pictographs have no glyph in Debian
# Chromium's fonts: any such code point in visible text (plotly's SVG text included) is reported.
GRID_CHECK_JS = r"""
grid => {
  const text = el => (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim();
  const table = grid.querySelector('table[role="grid"]');
  if (!table) return null;
  return {headers: [...table.querySelectorAll('[role="columnheader"]')].map(text).filter(Boolean),
          cells: [...table.querySelectorAll('[role="gridcell"]')].map(text)};
}
"""
PAGE_CHECK_JS = r"""
() => {
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const shown = el => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) return false;
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden') return false;
      if (e.getAttribute && e.getAttribute('aria-hidden') === 'true' && !e.closest('[data-testid="stDataFrame"]')) return false;
    }
    return true;
  };
  const inVisibleFrame = el => {
    const frame = el.closest('[data-testid="stDataFrame"], [data-testid="stTable"], [data-testid="stMarkdown"]');
    return frame ? shown(frame) : shown(el);
  };
  const text = el => (el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim();
  const headers = [], cells = [], glyphs = [];
  for (const th of main.querySelectorAll('th:not([role="columnheader"])')) {
    if (!inVisibleFrame(th)) continue;
    const t = text(th);
    if (t) headers.push(t);
  }
  for (const td of main.querySelectorAll('td:not([role="gridcell"]), [data-testid="stMetricValue"]')) {
    if (!inVisibleFrame(td)) continue;
    cells.push(text(td));
  }
  const pictograph = /[\u{1F000}-\u{1FAFF}\u{2600}-\u{27BF}\u{2B00}-\u{2BFF}\u{FE0F}\u{1F1E6}-\u{1F1FF}\u{E0020}-\u{E007F}\u{200D}]/u;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const value = node.nodeValue || '';
    if (!pictograph.test(value)) continue;
    const el = node.parentElement;
    if (!el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName) || !shown(el)) continue;
    const every = new RegExp(pictograph.source, 'gu');
    for (const ch of new Set(value.match(every))) {
      glyphs.push({char: 'U+' + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0'),
                   text: value.trim().slice(0, 80), tag: el.tagName.toLowerCase()});
    }
  }
  const exceptions = [...document.querySelectorAll('[data-testid="stException"]')].map(text).map(t => t.slice(0, 300));
  const grids = main.querySelectorAll('[data-testid="stDataFrame"]').length;
  const title = text(main.querySelector('h1') || main);
  return {title: title.slice(0, 80), headers, cells, glyphs, exceptions, grids};
}
"""


@dataclass
class PageResult:
    role: str
    page: str  # the page's URL path ('' = the role's default page)
    title: str
    png: Path
    grids: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.role}-{self.page or 'home'}"


def problems_on(found: dict) -> list[str]:
    """The presentation problems of one page, in words (empty = the page passes)."""
    out = [f"header with '_': {h!r}" for h in dict.fromkeys(found["headers"]) if "_" in h]
    out += [f"cell shows {c!r}" for c in dict.fromkeys(found["cells"]) if c in MISSING_VALUES]
    out += [f"missing glyph {g['char']} in <{g['tag']}> {g['text']!r}" for g in found["glyphs"]]
    out += [f"exception: {e}" for e in found["exceptions"]]
    return out


def _settle(page, seconds: float = 120) -> None:
    """Wait until the script run is over (no status widget, no spinner, no skeleton) and charts are drawn."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=seconds * 1000)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')
               && !document.querySelector('[data-testid="stSpinner"]')
               && !document.querySelector('[data-testid="stSkeleton"]')""", timeout=seconds * 1000)
    page.wait_for_timeout(700)  # plotly and the grids draw after the run
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')""", timeout=seconds * 1000)


def _page_links(page) -> list[tuple[str, str]]:
    """(title, url path) of every page in the sidebar menu."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    out = []
    for i in range(links.count()):
        link = links.nth(i)
        path = urlparse(link.get_attribute("href") or "").path.strip("/")  # '' for the default page
        label = link.inner_text().strip().splitlines()[-1].strip()  # after the icon's ligature text
        out.append((label, path))
    return out


def _read_grids(page, found: dict) -> list[int]:
    """Add the headers and drawn cells of every visible grid to `found` (each scrolled into view first, as
    the grid builds its accessible table only near the viewport); returns the grids that showed none."""
    grids = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]')
    unread = []
    for i in range(grids.count()):
        grid = grids.nth(i)
        if not grid.is_visible():  # in a tab that is not open, a collapsed expander…
            continue
        grid.scroll_into_view_if_needed()
        read = None
        for _ in range(10):
            page.wait_for_timeout(200)
            read = grid.evaluate(GRID_CHECK_JS)
            if read and read["headers"]:
                break
        if not read or not read["headers"]:
            unread.append(i)
            continue
        found["headers"] += read["headers"]
        found["cells"] += read["cells"]
    return unread


def shrink_png(path: Path) -> None:
    """A 256-colour palette PNG (a page screenshot: ~60 KB instead of ~130 KB, text as crisp)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _slug(path: str, title: str) -> str:
    text = path or title
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "home"


def tour_role(browser, url: str, role: str, out_dir: Path, log=print) -> list[PageResult]:
    """Sign in with the role's demo button, open every page its menu lists, save a PNG and check each."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    results: list[PageResult] = []
    try:
        page.goto(url)
        button = page.get_by_role("button", name=DEMO_ROLES[role])
        expect(button).to_be_visible(timeout=120_000)
        button.click()
        expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible(timeout=120_000)
        _settle(page)
        links = _page_links(page)
        log(f"{role}: {len(links)} page(s): {', '.join(title for title, _ in links)}")
        for i, (title, path) in enumerate(links):
            started = time.monotonic()
            page.locator('[data-testid="stSidebarNav"] a').nth(i).click()
            page.wait_for_timeout(1200)  # the click starts a script run (in-page routing, no load event)
            _settle(page)
            slug = _slug(path, title)
            png = out_dir / f"{role}-{slug}.png"
            page.screenshot(path=str(png))  # the top of the page, before the grids are scrolled into view
            shrink_png(png)
            found = page.evaluate(PAGE_CHECK_JS)
            unread = _read_grids(page, found)
            result = PageResult(role=role, page=slug, title=found["title"], png=png, grids=found["grids"],
                                problems=problems_on(found) + [f"grid {i + 1} could not be read" for i in unread])
            results.append(result)
            log(f"{result.name}: {len(result.problems)} problem(s), {found['grids']} grid(s), "
                f"{time.monotonic() - started:.1f} s")
    finally:
        context.close()
    return results


@contextmanager
def served_demo(db_url: str, workdir: Path, log_path: Path) -> Iterator[str]:
    """`python -m edtech serve` in demo mode on free ports (its own secrets files); yields the app's URL."""
    from tests.browser_utils import free_port, wait_healthy

    port, idp_port = free_port(), free_port()
    env = {**os.environ, "EDTECH_DATABASE_URL": db_url, "EDTECH_DEMO": "1",
           "EDTECH_SECRET_KEY": TOUR_SECRET_KEY}
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edtech", "serve", "--port", str(port), "--idp-port", str(idp_port),
             "--secrets-out", str(workdir / "secrets.toml"), "--sso-secrets", str(workdir / "no-sso.toml")],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log_path, seconds=120)
        yield f"http://localhost:{port}"  # the host of the sign-in redirect (cookies are per host)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def build_demo(db_path: Path, log=print) -> str:
    """`python -m edtech demo` into a new SQLite file, as `make run` does on a first start."""
    url = f"sqlite:///{db_path}"
    started = time.monotonic()
    env = {**os.environ, "EDTECH_SECRET_KEY": TOUR_SECRET_KEY}
    subprocess.run([sys.executable, "-m", "edtech", "--db", url, "demo"], cwd=ROOT, check=True, env=env,
                   stdout=subprocess.DEVNULL)
    log(f"demo district built in {time.monotonic() - started:.0f} s")
    return url


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from tests.browser_utils import CHROMIUM, CHROMIUM_ARGS

    args = argv if argv is not None else sys.argv[1:]
    out_dir = Path(args[0] if args else ROOT / "docs" / "screenshots").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[PageResult] = []
    with tempfile.TemporaryDirectory(prefix="edtech-tour-") as tmp:
        work = Path(tmp)
        print("building the demo district (python -m edtech demo) …", flush=True)
        url = build_demo(work / "demo.db", log=lambda m: print(m, flush=True))
        with served_demo(url, work, work / "serve.log") as app, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for role in DEMO_ROLES:
                    results += tour_role(browser, app, role, out_dir, log=lambda m: print(m, flush=True))
            finally:
                browser.close()
    ours = {p.name for role in DEMO_ROLES for p in out_dir.glob(f"{role}-*.png")}
    stale = ours - {r.png.name for r in results}
    for name in sorted(stale):  # a page that no longer exists (or a role that lost it); other PNGs stay
        (out_dir / name).unlink()
    print(f"{len(results)} screenshots in {out_dir}")
    bad = [r for r in results if r.problems]
    for r in bad:
        print(f"  {r.name}: " + "; ".join(r.problems[:6]))
    print(f"{len(bad)} page(s) with presentation problems" if bad else "every page passes the presentation checks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
