"""Saliency maps: natural, l1 and adversarial models explain the same image (Figure 1, J.6-J.10)."""

import streamlit as st

from advex.dashboard import saliency_view as view
from advex.dashboard import url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import dataset_credit, page_setup
from advex.dashboard.plots import saliency_grid, style
from advex.dashboard.safe import safe_section

presenting = page_setup("Saliency maps")
st.title("Saliency maps")
st.markdown(
    "The same image explained by a **natural**, an **l1-regularized** and an **l_inf(eps)-adversarially trained** "
    "network. The adversarial model's map is much sparser (higher Gini index, eq. I.67) at little cost in "
    "accuracy (Figure 1, Figures J.6-J.10). Models come from the zoo and from the *Train a model* page. Besides the "
    "paper's IG and DeepSHAP, five more explainers can be chosen; *Beyond the paper* compares them all."
)

state = None
with safe_section("Choosing the models"):
    state = view.choose_models()

if state is not None:
    with safe_section("Choosing the image"):
        view.choose_images(state)

if state is not None and state.images is not None:
    with safe_section("Saliency maps"):
        grid = view.compute_grid(state)
        url_state.check_int("keep", 5, 100)
        controls = st.columns([2, 2, 3])
        signed = controls[0].radio("Colouring", ["signed", "absolute"], horizontal=True, key="color",
                                   bind=url_state.BIND) == "signed"
        overlay = controls[1].toggle("Overlay on the image", key="overlay", bind=url_state.BIND)
        keep = controls[2].slider("Keep the top k% of attribution mass", 5, 100, 100, step=5, key="keep",
                                  bind=url_state.BIND, help="Pixels outside the smallest set that holds k% of "
                                  "sum |attribution| are blanked: a sparse map needs few pixels.")
        metric_columns = st.columns(len(grid.columns))
        for column, label, gini, probability in zip(metric_columns, grid.columns, grid.mean_gini, grid.mean_probability):
            column.metric(f"{'mean ' if len(grid.images) > 1 else ''}Gini, {label}", f"{gini:.3f}")
            column.caption(f"{'mean ' if len(grid.images) > 1 else ''}probability of the explained class: "
                           f"{probability:.3f}")
        masks = view.masks(grid, keep / 100) if keep < 100 else None
        if masks is not None:
            st.caption(f"Pixels needed for {keep}% of the mass: " + ", ".join(
                f"{label} {share:.1%}" for label, share in zip(grid.columns, view.mask_share(masks))))
        fig = saliency_grid(grid.images, grid.columns, grid.maps, grid.titles, grid.row_titles, signed, overlay, masks)
        fig = style(fig, presenting)
        fig.update_layout(legend=None, margin={"l": 10, "r": 10, "t": 80, "b": 10})
        show_figure(fig, f"saliency_{state.dataset}_{state.method}_{state.reference}_eps{state.eps:g}", key="saliency")
        table_download(grid.table, f"saliency_{state.dataset}_{state.method}_{state.reference}_eps{state.eps:g}", key="saliency")

if state is not None:
    dataset_credit(state.dataset)
