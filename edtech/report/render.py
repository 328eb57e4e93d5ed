"""Plotly figure -> PNG bytes with kaleido and the system (Debian) Chromium.

One persistent headless browser (`kaleido.start_sync_server`) serves every render of the
process: the first figure costs ~1.5 s (browser start), the next ones ~0.15 s each, instead of
~2 s per figure with a fresh browser. A lock serializes renders because the server is a
process-wide singleton and Streamlit runs sessions in threads.

When no Chromium is installed we raise `RenderError` with the fix (install Debian `chromium`)
instead of kaleido's hint to download a browser, which is not an option offline.
"""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from collections.abc import Sequence

import plotly.graph_objects as go

from edtech.core.charts import escape_figure

DEFAULT_WIDTH = 1200
DEFAULT_HEIGHT = 600
DEFAULT_SCALE = 1.5
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_lock = threading.Lock()


class RenderError(RuntimeError):
    """Charts cannot be turned into images (no browser, or the browser failed)."""


def chromium_path() -> str | None:
    """The browser kaleido will use: BROWSER_PATH, else chromium on PATH, else the Debian location."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit and os.path.exists(explicit):
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in _CANDIDATES if os.path.exists(p)), None)


def _missing_browser() -> RenderError:
    return RenderError("Charts need a Chromium browser to be drawn as images, and none was found. "
                       "Install the Debian package: `apt-get install -y chromium` (or set BROWSER_PATH). "
                       "The report can still be built without charts.")


def _ensure_server() -> None:
    import kaleido

    if chromium_path() is None:
        raise _missing_browser()
    kaleido.start_sync_server(silence_warnings=True)  # no-op when already running



def render_png(fig: go.Figure, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
               scale: float = DEFAULT_SCALE) -> bytes:
    """One figure as PNG bytes."""
    return render_many([fig], width=width, height=height, scale=scale)[0]


def render_many(figs: Sequence[go.Figure], width: int = DEFAULT_WIDTH, height: int | Sequence[int] = DEFAULT_HEIGHT,
                scale: float = DEFAULT_SCALE) -> list[bytes]:
    """Several figures through the same browser (batch); `height` may be one per figure."""
    import plotly.io as pio

    heights = [height] * len(figs) if isinstance(height, int) else list(height)
    if len(heights) != len(figs):
        raise ValueError("one height per figure")
    out: list[bytes] = []
    with _lock:
        _ensure_server()
        for fig, h in zip(figs, heights, strict=True):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "kopts is ignored if using a server": harmless
                    # names from data drawn as text (plotly reads <b>, <a href>… in every label)
                    out.append(pio.to_image(escape_figure(fig), format="png", width=width, height=int(h),
                                            scale=scale))
            except Exception as exc:  # noqa: BLE001 - kaleido raises plain exceptions
                text = str(exc)
                if "Chrome" in text or "chrome" in text or "browser" in text.lower():
                    raise _missing_browser() from exc
                raise RenderError(f"Chart could not be drawn: {text}") from exc
    return out
