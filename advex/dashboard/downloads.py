"""Every figure downloadable as PNG and SVG, every table as CSV (seminar requirement).

Figures are rendered on demand with plotly's ``Figure.to_image`` (kaleido drives a headless
Chromium on the server): the download buttons take a callable, so nothing is rendered until
a user clicks. One export runs at a time (a lock), so a room clicking at once cannot start
thirty browsers. Without Chromium on the server the chart's own toolbar camera still saves a
PNG in the browser, and the page says how to enable server-side export.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from advex.errors import AdvexError

EXPORT_SCALE = 2  # PNG pixel density: print-quality slides
_EXPORT_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def image_export_available() -> bool:
    """True when plotly can render static images here (kaleido and a Chromium-based browser)."""
    try:
        import kaleido  # noqa: F401
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=False) is not None
    except Exception:  # noqa: BLE001 - any failure means: no server-side export
        return False


def safe_file_stem(text: str) -> str:
    """A file-name stem from a title: letters, digits, dot, dash and underscore only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return stem[:80] or "figure"


def figure_bytes(fig: go.Figure, fmt: str) -> bytes:
    """The figure rendered as ``fmt`` ("png" or "svg"); one render at a time."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"unknown image format {fmt!r}; use png or svg")
    if not image_export_available():
        raise AdvexError(
            "static image export needs a Chromium browser on the server: install it "
            "(Debian: `apt-get install chromium`) or use the camera icon of the chart's toolbar"
        )
    with _EXPORT_LOCK:
        return fig.to_image(format=fmt, scale=EXPORT_SCALE if fmt == "png" else 1)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV (index kept only when it carries names)."""
    keep_index = any(name is not None for name in frame.index.names)
    return frame.to_csv(index=keep_index).encode("utf-8")


def plotly_config(stem: str) -> dict:
    """Plotly toolbar settings: the camera saves a PNG named ``stem`` at print density."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": safe_file_stem(stem), "scale": EXPORT_SCALE},
    }


def show_figure(fig: go.Figure, stem: str, key: str) -> None:
    """Draw ``fig`` with PNG and SVG download buttons underneath (rendered only when clicked)."""
    stem = safe_file_stem(stem)
    st.plotly_chart(fig, config=plotly_config(stem), key=f"{key}-chart")
    if not image_export_available():
        st.caption(
            "Save as PNG with the camera icon above the chart. SVG download needs Chromium on the "
            "server (`apt-get install chromium`)."
        )
        return
    left, right, _ = st.columns([1, 1, 4])
    left.download_button(
        "PNG", data=lambda: figure_bytes(fig, "png"), file_name=f"{stem}.png", mime="image/png",
        key=f"{key}-png", on_click="ignore", icon=":material/download:",
    )
    right.download_button(
        "SVG", data=lambda: figure_bytes(fig, "svg"), file_name=f"{stem}.svg", mime="image/svg+xml",
        key=f"{key}-svg", on_click="ignore", icon=":material/download:",
    )


def table_download(frame: pd.DataFrame, stem: str, key: str, label: str = "CSV") -> None:
    """A CSV download button for ``frame``."""
    st.download_button(
        label, data=lambda: csv_bytes(frame), file_name=f"{safe_file_stem(stem)}.csv", mime="text/csv",
        key=f"{key}-csv", on_click="ignore", icon=":material/download:",
    )
