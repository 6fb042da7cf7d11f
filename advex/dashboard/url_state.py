"""A view's state in the URL (``st.query_params``), so a teacher can bookmark and share it.

Widgets are bound to the URL with Streamlit's ``bind="query-params"`` (their ``key`` is the
parameter name); a bound select widget writes its option's *label* into the URL, so bound
selects show the plain option names. Streamlit silently drops a bound parameter whose value the widget cannot
take (``?eps=7`` on a 0-0.5 slider), but not every such value (``?row=1e400`` overflows a number
input); :func:`note_invalid_param` reads the raw value first, drops it from the URL and tells the
user what was ignored and what is allowed.

Streamlit keeps a bound key's value when the user moves to another page, so a key means the
same thing on every page that uses it: ``dataset``/``eps``/``lam`` are the tabular data set and
settings (Tabular explorer, Stability), ``images``/``zoo_eps``/``zoo_lam`` an image data set and
its zoo models' settings (Saliency maps, Stability), ``train_*`` the Train page's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import streamlit as st

BIND = "query-params"


def raw_param(name: str) -> str | None:
    """The URL's value for ``name`` as typed (None when absent)."""
    value = st.query_params.get(name)
    return None if value is None else str(value)


def float_param_problem(text: str, low: float, high: float) -> str | None:
    """Why ``text`` is not a number in [low, high] (None when it is)."""
    try:
        value = float(text)
    except ValueError:
        return f"{text!r} is not a number"
    if not math.isfinite(value) or not low <= value <= high:
        return f"{text} is outside the allowed range {low:g} to {high:g}"
    return None


def choice_param_problem(text: str, options: Iterable[str]) -> str | None:
    """Why ``text`` is not one of ``options`` (None when it is)."""
    options = [str(option) for option in options]
    return None if text in options else f"{text!r} is not one of {', '.join(options)}"


def int_param_problem(text: str, low: int, high: int) -> str | None:
    """Why ``text`` is not an integer in [low, high] (None when it is)."""
    try:
        value = int(text)
    except ValueError:
        return f"{text!r} is not a whole number"
    if not low <= value <= high:
        return f"{value} is outside the allowed range {low} to {high}"
    return None


def note_invalid_param(name: str, problem: str | None) -> None:
    """Drop the URL's ``name`` (its widget takes its default) and warn, without a traceback, why it was ignored."""
    if problem is not None:
        del st.query_params[name]
        st.warning(f"The link's `{name}` was ignored: {problem}. Using the default instead.", icon=":material/link_off:")


def check_float(name: str, low: float, high: float) -> None:
    """Warn when the URL's ``name`` is not a number in [low, high]."""
    text = raw_param(name)
    if text is not None:
        note_invalid_param(name, float_param_problem(text, low, high))


def check_choice(name: str, options: Iterable[str]) -> None:
    """Warn when the URL's ``name`` is not one of ``options``."""
    text = raw_param(name)
    if text is not None:
        note_invalid_param(name, choice_param_problem(text, options))


def check_int(name: str, low: int, high: int) -> None:
    """Warn when the URL's ``name`` is not an integer in [low, high]."""
    text = raw_param(name)
    if text is not None:
        note_invalid_param(name, int_param_problem(text, low, high))
