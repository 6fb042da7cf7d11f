"""Beyond the paper: is adversarial training's sparseness a property of the models, or of IG, DeepSHAP and Gini?"""

import streamlit as st

from advex.attribution.methods import METHOD_LABELS
from advex.dashboard import beyond, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import page_setup
from advex.dashboard.safe import safe_section
from advex.vocabulary import DATASET_TITLES, TABLE1_IMAGE_DATASETS

presenting = page_setup("Beyond the paper")
st.title("Beyond the paper: other explainers, other measures")
st.markdown(
    "The paper measures two explainers (IG, DeepSHAP) with one measure (the Gini index). Here the n, l and a models of "
    "Table 1 are explained by seven explainers and measured by six sparseness measures. A cell's **gain** is the mean "
    "of the paired per-example differences with n, signed so that **positive = sparser** (dG of eqs. 19-22 for the "
    "Gini index), with its 95% CI. On the synthetic FEAT-TRANS set the truly strong features are known, so the last "
    "chart asks whether a sparser map is also a **correct** one."
)

found = None
with safe_section("Reading the results"):
    found = beyond.results()
    if found is None:
        st.info(f"No results here yet: run `advex beyond --json {beyond.shipped_path()}` (about 5 minutes on 2 cores).")

if found is not None:
    with safe_section("Gain in sparseness"):
        st.caption(found.describe())
        st.markdown("\n".join(f"- {line}" for line in found.reading))
        url_state.check_choice("beyond_model", ("a", "l"))
        key = st.radio("Gain over n of", ("a", "l"), horizontal=True, key="beyond_model", bind=url_state.BIND,
                       help="a: adversarially trained (Table 1's eps); l: l1-regularized (Table 1's lambda).")
        show_figure(beyond.figure(found, key, presenting), f"beyond_gain_{key}", key="beyond-heatmap")
        image_datasets = [d for d in TABLE1_IMAGE_DATASETS if d in set(found.cells["dataset"])]
        for dataset in image_datasets:
            methods = list(dict.fromkeys(found.cells.loc[found.cells["dataset"] == dataset, "method"]))
            links = st.container(horizontal=True, wrap=True)
            links.caption(f"Saliency maps on {DATASET_TITLES[dataset]}:")
            for method in methods:
                links.page_link("pages/2_Saliency_maps.py", label=METHOD_LABELS[method], width="content",
                                query_params=beyond.saliency_query(dataset, method))
        table = beyond.cells_table(found.cells)
        st.dataframe(table, hide_index=True)
        table_download(table, "beyond_gains", key="beyond-gains")

    if not found.precision.empty:
        with safe_section("Precision at k"):
            st.subheader("Concise and correct? Precision at k on synthetic data")
            st.markdown(
                f"The synthetic set has {int(found.precision['k'].iloc[0])} strong features (directed strength "
                "|a_i| = 0.8, eq. 4) among weak ones (0.05). Precision at k is the share of a map's k largest |A_i| "
                "that fall on strong features (ties shared out evenly), averaged over the test rows."
            )
            show_figure(beyond.figure(found, "precision", presenting), "beyond_precision_at_k", key="beyond-precision")
            precision = beyond.precision_table(found.precision)
            st.dataframe(precision)
            table_download(precision, "beyond_precision_at_k", key="beyond-precision")
