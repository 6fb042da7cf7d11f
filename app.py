"""advex seminar dashboard (`streamlit run app.py`): the views of `advex.dashboard.navigation`, Home first."""

import streamlit as st

from advex.dashboard.navigation import PAGES, favicon

st.set_page_config(page_title="advex", page_icon=favicon(), layout="wide")
st.navigation(
    [st.Page(page.script, title=page.title, icon=page.icon, url_path=page.url_path, default=page is PAGES[0])
     for page in PAGES]
).run()
