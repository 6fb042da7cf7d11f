"""advex seminar dashboard, home page (`streamlit run app.py`): the paper's claims linked to their views; device, data, zoo."""

import streamlit as st

from advex.dashboard import home
from advex.dashboard.downloads import table_download
from advex.dashboard.layout import PAPER, page_setup
from advex.dashboard.safe import safe_section

page_setup("Home")
st.title("Concise explanations via adversarial training")
st.markdown(f"An interactive companion to {PAPER}. What the paper claims, and where to see it:")

for claim in home.CLAIMS:
    with st.container(border=True):
        st.markdown(claim.text)
        links = st.container(horizontal=True, wrap=True)  # each link as wide as its label: never cut off
        for page, label in claim.pages:
            links.page_link(page.script, label=label, icon=":material/arrow_forward:", width="content")

with safe_section("Compute device"):
    st.subheader("This server")
    st.markdown(f"Computing on: **{home.device_text()}**")

with safe_section("Data sets"):
    datasets = home.datasets_frame()
    st.dataframe(datasets, hide_index=True)
    table_download(datasets, "advex_datasets", key="datasets")
    for name, hint in home.missing_data_hints().items():
        st.caption(f"{name} is missing: {hint}.")

with safe_section("Model zoo"):
    for problem in home.broken_model_files():
        st.warning(problem, icon=":material/broken_image:")
    zoo = home.zoo_frame()
    if zoo.empty:
        st.info(home.ZOO_EMPTY_HINT)
    else:
        st.dataframe(zoo, hide_index=True)
        table_download(zoo, "advex_models", key="zoo")
