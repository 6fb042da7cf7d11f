"""Show errors as friendly messages, never as tracebacks (bad input never breaks a view).

``with safe_section("Feature impact"):`` runs one part of a page: an :class:`AdvexError`
(message names the problem and the fix) or a ``ValueError`` is shown as ``st.error`` with
that message; anything else is logged with its traceback on the server and shown as a
short generic message. The rest of the page keeps rendering either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from PIL import UnidentifiedImageError

from advex.errors import AdvexError

LOGGER = logging.getLogger("advex.dashboard")

# Errors whose message is written for the user: shown as they are.
USER_ERRORS = (AdvexError, ValueError, UnidentifiedImageError)


def friendly_message(error: BaseException, section: str = "this view") -> str:
    """The text a user sees for ``error``: its own message for user errors, a generic line otherwise."""
    if isinstance(error, USER_ERRORS):
        return str(error) or f"{section}: invalid input"
    if isinstance(error, MemoryError):
        return f"{section}: not enough memory for this request; try a smaller input or fewer images."
    return (
        f"{section} could not be shown ({type(error).__name__}). The details are in the server log; "
        "change a setting or reload the page."
    )


@contextmanager
def safe_section(section: str = "this view") -> Iterator[None]:
    """Run a block of page code; show any error as ``st.error`` with a friendly message, no traceback.

    Streamlit's own control flow (rerun, stop, page switch) derives from ``BaseException`` and
    passes through.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 - any failure of a section becomes a message
        if not isinstance(error, USER_ERRORS):
            LOGGER.exception("dashboard section %r failed", section)
        st.error(friendly_message(error, section), icon=":material/error:")

