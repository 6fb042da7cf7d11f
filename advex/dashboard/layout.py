"""What every page shares: page config, the presentation switch, data-set help and credits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from advex.dashboard.navigation import PAGES, favicon
from advex.dashboard.plots import use_dashboard_template
from advex.dashboard.presentation import presentation_toggle
from advex.data.paths import DATA_ENV
from advex.data.registry import DATASETS

PAPER = (
    "Chalasani, Chen, Roy Chowdhury, Jha, Wu: *Concise Explanations of Neural Networks using "
    "Adversarial Training*, ICML 2020"
)


THREADS_ENV = "ADVEX_TORCH_THREADS"
_configured = False


def configure_process() -> None:
    """Once per server process: the plotly template, torch threads and the cache warm-up (:mod:`advex.dashboard.warmup`).

    Torch uses ``$ADVEX_TORCH_THREADS`` threads per operation (default 1).

    A seminar server runs many sessions at once; one thread per request avoids threads fighting
    over the cores (measured: IG of three CNNs 0.27 s with 1 thread vs 1.7 s with 2 on a busy
    2-core machine). Only under ``streamlit run``, so tests and library use keep torch's default.
    """
    global _configured
    if _configured:
        return
    _configured = True
    use_dashboard_template()
    configured = os.environ.get(THREADS_ENV)
    under_server = "streamlit" in Path(sys.argv[0]).parts[-2:] or Path(sys.argv[0]).name == "streamlit"
    under_server = under_server and sys.argv[1:2] == ["run"]
    if configured or under_server:
        import torch

        torch.set_num_threads(max(1, int(configured or 1)))
    if under_server:
        from advex.dashboard.warmup import start_once

        start_once()


def page_setup(title: str) -> bool:
    """Configure the page (title, icon, wide layout), draw the sidebar (views, presentation switch, paper).

    Returns whether presentation mode is on.
    """
    configure_process()
    st.set_page_config(page_title=f"{title} - advex", page_icon=favicon(), layout="wide")
    try:
        for page in PAGES:
            st.sidebar.page_link(page.script, label=page.title, icon=page.icon)
        st.sidebar.divider()
    except StreamlitPageNotFoundError:
        pass  # a page run on its own (`streamlit run pages/...`, AppTest): there are no other views to link

    presenting = presentation_toggle()
    st.sidebar.caption(f"Paper: {PAPER}.")
    return presenting


def how_to_get(name: str) -> str:
    """One line on how to make data set ``name`` available to the dashboard."""
    spec = DATASETS[name]
    return (
        f"`advex data fetch {name}`, or put the files in `<dir>/{spec.folder}/` and start the "
        f"dashboard with `{DATA_ENV}=<dir>`"
    )


def credit(text: str) -> None:
    """The data's credit line, shown wherever something derived from it is displayed."""
    if text:
        st.caption(f"Data: {text}")


def dataset_credit(name: str) -> None:
    """The credit line of registered data set ``name``."""
    spec = DATASETS.get(name)
    if spec is not None:
        credit(spec.credit)
