"""What every page shares: page config, the presentation switch, data-set help and credits."""

from __future__ import annotations

import streamlit as st

from advex.dashboard.presentation import presentation_toggle
from advex.data.paths import DATA_ENV
from advex.data.registry import DATASETS

PAPER = (
    "Chalasani, Chen, Roy Chowdhury, Jha, Wu: *Concise Explanations of Neural Networks using "
    "Adversarial Training*, ICML 2020"
)


def page_setup(title: str, icon: str) -> bool:
    """Configure the page (wide layout), draw the sidebar switch, and return whether presentation mode is on."""
    st.set_page_config(page_title=f"{title} - advex", page_icon=icon, layout="wide")
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
