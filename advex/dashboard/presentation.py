"""Presentation mode: larger type on the page and in every chart, for a projector in a seminar.

Page links never cut their labels off: in presentation mode a label that does not fit wraps.

The switch lives in the sidebar of every page; its state is kept per browser session (it
survives page switches) and in the URL as ``?present=1``, so a bookmarked link opens in
presentation mode.
"""

from __future__ import annotations

import streamlit as st

STATE_KEY = "advex_presentation"
WIDGET_KEY = "advex_presentation_toggle"
URL_PARAM = "present"
FONT_SCALE = 1.45  # presentation type relative to normal

PRESENTATION_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 1.35rem; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.35rem; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] p { font-size: 2.6rem; line-height: 1.2; }
[data-testid="stMetricLabel"] p { font-size: 1.3rem; }
[data-testid="stMetricLabel"] * { white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stSidebar"] p, [data-testid="stSidebar"] span { font-size: 16px !important; }
[data-testid="stWidgetLabel"] p { font-size: 1.25rem; }
[data-testid="stPageLink"] a, [data-testid="stPageLink"] a * { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; max-width: none !important; height: auto !important; }
h1 { font-size: 3.2rem !important; }
h2 { font-size: 2.4rem !important; }
h3 { font-size: 1.9rem !important; }
</style>
"""


def _url_says_present() -> bool:
    return st.query_params.get(URL_PARAM, "") in ("1", "true", "yes", "on")


def _copy_widget_to_state() -> None:
    st.session_state[STATE_KEY] = bool(st.session_state[WIDGET_KEY])


def presentation_toggle() -> bool:
    """Draw the sidebar switch, apply the large-type style when on, and return whether it is on."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = _url_says_present()
    st.session_state[WIDGET_KEY] = st.session_state[STATE_KEY]
    st.sidebar.toggle(
        "Presentation mode", key=WIDGET_KEY, on_change=_copy_widget_to_state,
        help="Larger type on the page and in the charts, for a projector.",
    )
    on = bool(st.session_state[STATE_KEY])
    if on:
        st.query_params[URL_PARAM] = "1"
        st.html(PRESENTATION_CSS)
    elif URL_PARAM in st.query_params:
        del st.query_params[URL_PARAM]
    return on


