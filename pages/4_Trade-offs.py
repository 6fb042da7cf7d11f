"""Trade-offs: Table 1 measured beside the paper, Figure 3 (accuracy vs sparseness) and Figure 2 (pointwise dG)."""

import streamlit as st

from advex.dashboard import models, tradeoffs, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import page_setup
from advex.dashboard.plots import style
from advex.dashboard.safe import safe_section
from advex.data.paths import available_datasets
from advex.experiments.figures import figure2_plotly, figure3_plotly
from advex.vocabulary import TABLE1_TABULAR_DATASETS

presenting = page_setup("Trade-offs")
st.title("Trade-offs: accuracy vs sparseness")
st.markdown(
    "Does adversarial training buy sparser explanations for little accuracy, and more than l1 regularization does? "
    "**dG** is the average Gini improvement over the natural model (eqs. 21-22), **AcDrop** the accuracy lost "
    "(Table 1). Image numbers come from the model cards (zoo and your own models), tabular ones are trained now."
)

image_datasets = models.image_datasets_with_models()
present = available_datasets()
tabular_names = [name for name in TABLE1_TABULAR_DATASETS if present.get(name)]

with safe_section("Table 1"):
    st.subheader("Table 1: measured and in the paper")
    missing = [name for name in TABLE1_TABULAR_DATASETS if not present.get(name)]
    table = tradeoffs.table1_frame(image_datasets, tabular_names)
    if missing:
        st.caption(f"Not measured (data missing): {', '.join(missing)}; see the Home page for how to get them.")
    st.dataframe(table, hide_index=True, column_config={
        "dG": st.column_config.NumberColumn(format="%.3f"), "dG (paper)": st.column_config.NumberColumn(format="%.3f"),
        "AcDrop": st.column_config.NumberColumn(format="percent"),
        "AcDrop (paper)": st.column_config.NumberColumn(format="percent")})
    table_download(table, "table1_measured_vs_paper", key="table1")

with safe_section("Figure 3"):
    st.subheader("Figure 3: accuracy vs mean Gini over eps and lambda")
    with_tabular = st.toggle("Include the tabular data sets", value=True, key="fig3_tabular",
                             help=f"Logistic models over eps {tradeoffs.TABULAR_EPS_GRID} and lambda "
                                  f"{tradeoffs.TABULAR_LAM_GRID}, trained once per server.")
    with st.spinner("Training the tabular curves"):
        frame = tradeoffs.figure3_frame(models.cards(), tabular_names if with_tabular else [])
    if frame.empty:
        st.info("No model card has both accuracy and mean Gini yet: rebuild the zoo or train a model.")
    else:
        fig = style(figure3_plotly(frame), presenting, height=460)
        show_figure(fig, "figure3_accuracy_vs_gini", key="fig3")
        table_download(frame, "figure3_accuracy_vs_gini", key="fig3")

with safe_section("Figure 2"):
    st.subheader("Figure 2: pointwise sparseness improvements")
    if not image_datasets:
        st.info("Figure 2 needs image models; rebuild the zoo or train some on the *Train a model* page.")
    else:
        url_state.check_int("n_images", 5, 100)
        columns = st.columns([2, 2, 2])
        n_images = columns[0].slider("test images per model", 5, 100, 20, step=5, key="n_images", bind=url_state.BIND)
        methods = columns[1].multiselect("attribution", ["IG", "SHAP"], default=["IG"], key="methods",
                                         help="DeepSHAP takes about a second per image and model on a CPU.")
        chosen = columns[2].multiselect("data sets", image_datasets, default=image_datasets, key="fig2_datasets")
        parts = []
        for dataset in chosen:
            settings = tradeoffs.IMAGE_SETTINGS.get(dataset, {"eps": 0.1, "lam": 0.01})
            cards = models.triplet(models.cards(dataset), settings["eps"], settings["lam"])
            if "natural" not in cards:
                st.warning(f"{dataset}: no natural model, so no dG.")
                continue
            with st.spinner(f"{dataset}: attributions of {n_images} images"):
                parts.append(tradeoffs.pointwise_dg(dataset, cards, n_images, tuple(methods)))
        if parts and methods:
            import pandas as pd

            points = pd.concat(parts, ignore_index=True)
            fig = style(figure2_plotly(points), presenting, height=460)
            show_figure(fig, "figure2_pointwise_dG", key="fig2")
            table_download(points, "figure2_pointwise_dG", key="fig2")
