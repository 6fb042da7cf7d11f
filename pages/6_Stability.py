"""Stability: how far can an attacker move the explanation inside an l_inf(eps) ball (eq. 16)?"""

import numpy as np
import streamlit as st

from advex.dashboard import models, stability, tabular, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import page_setup
from advex.dashboard.plots import curves, style
from advex.dashboard.safe import safe_section
from advex.data.paths import available_datasets
from advex.vocabulary import TABULAR_CHOICES

presenting = page_setup("Stability")
st.title("Explanation stability")
st.markdown(
    "Eq. 16 measures how unstable an explanation is: the largest l1 change of the IG vector when the input moves "
    "anywhere within an l_inf ball of radius eps. We search for that worst case with an attack (projected "
    "sign-gradient ascent on the change itself, through differentiable IG) and average over test examples. "
    "Theorem 5.1: for 1-layer models, training for stable IG *is* adversarial training."
)

url_state.check_choice("domain", ("tabular", "images"))
domain = st.radio("Models", ("tabular", "images"), horizontal=True, key="domain", bind=url_state.BIND)
frame = None

with safe_section("Stability curves"):
    if domain == "tabular":
        present = available_datasets()
        names = [n for n in TABULAR_CHOICES if n == "synthetic" or present.get(n)]
        url_state.check_choice("dataset", names)
        url_state.check_float("eps", *tabular.EPS_RANGE)
        url_state.check_float("lam", *tabular.LAM_RANGE)
        columns = st.columns(3)
        name = columns[0].selectbox("Data set", names, key="dataset", bind=url_state.BIND)
        eps = columns[1].slider("eps of the adversarial model", *tabular.EPS_RANGE, value=0.1, step=0.01, key="eps",
                                bind=url_state.BIND)
        lam = columns[2].slider("lambda of the l1 model", *tabular.LAM_RANGE, value=0.02, step=0.005, format="%.3f",
                                key="lam", bind=url_state.BIND)
        named, X = stability.tabular_models(name, eps, lam)
        settings = stability.TABULAR_ATTACK
        x = X[: settings.n_examples]
        target = np.ones(len(x), dtype=np.int64)
        bar = st.progress(0.0, text="attacking") if not stability.is_cached(
            named, target, stability.TABULAR_RADII, settings, None, x.shape) else None
        frame = stability.curve(named, x, target, stability.TABULAR_RADII, settings, None,
                                progress=(lambda f, m: bar.progress(f, text=m)) if bar else None)
        if bar is not None:
            bar.empty()
        caption = (f"{len(x)} test examples of {name}; IG of P(label 1), {settings.ig_steps} steps; attack: "
                   f"{settings.attack_steps} PGD steps x {settings.restarts} random starts.")
    else:
        datasets = models.image_datasets_with_models()
        if not datasets:
            st.info("No image models yet: rebuild the zoo (`advex zoo build`) or train one on *Train a model*.")
        else:
            url_state.check_choice("images", datasets)
            columns = st.columns(3)
            dataset = columns[0].selectbox("Data set", datasets, key="images", bind=url_state.BIND)
            cards = models.cards(dataset)
            eps_labels = [f"{v:g}" for v in models.setting_values(cards, "adv")] or ["0"]
            url_state.check_choice("zoo_eps", eps_labels)
            url_state.check_int("attacked", 1, 16)
            eps = float(columns[1].select_slider("eps of the adversarial model", eps_labels, value=eps_labels[-1],
                                                 key="zoo_eps", bind=url_state.BIND))
            n_images = columns[2].slider("test images", 1, 16, stability.IMAGE_ATTACK.n_examples, key="attacked",
                                         bind=url_state.BIND)
            settings = stability.IMAGE_ATTACK
            chosen = models.triplet(cards, eps, 0.01)
            named = stability.image_models(chosen)
            images = models.eval_images(dataset)
            indices = images.choose(n_images, seed=0)
            x, target = images.X[indices], images.y[indices]
            cached = stability.is_cached(named, target, stability.IMAGE_RADII, settings, (0.0, 1.0), x.shape)
            if cached or st.button("Run the attack", type="primary",
                                   help="Second-order gradients of CNNs: about a minute on two CPU cores."):
                bar = None if cached else st.progress(0.0, text="attacking")
                frame = stability.curve(named, x, target, stability.IMAGE_RADII, settings, (0.0, 1.0),
                                        progress=(lambda f, m: bar.progress(f, text=m)) if bar else None)
                if bar is not None:
                    bar.empty()
            else:
                st.caption("Press *Run the attack*; results are kept for everyone on this server.")
            caption = (f"{n_images} test images of {dataset}; IG of the true class, {settings.ig_steps} steps; "
                       f"attack: {settings.attack_steps} PGD steps, pixels kept in [0, 1].")

if frame is not None:
    with safe_section("Chart"):
        relative = st.toggle("Relative to ||IG(x)||_1", key="relative", bind=url_state.BIND)
        value = "relative_change" if relative else "worst_change"
        largest = frame[frame["eps"] == frame["eps"].max()]
        columns = st.columns(len(largest))
        for column, (_, row) in zip(columns, largest.iterrows()):
            column.metric(f"{row['model']} at eps = {row['eps']:g}", f"{row[value]:.4f}")
        table = stability.wide(frame, value)
        y_title = "mean max ||IG(x') - IG(x)||_1" + (" / ||IG(x)||_1" if relative else "")
        fig = style(curves(table, "eps", [c for c in table.columns if c != "eps"],
                           "Worst-case change of IG within the l_inf(eps) ball (eq. 16)", y_title), presenting, 440)
        show_figure(fig, f"stability_{domain}", key="stability")
        st.caption(caption)
        table_download(frame, f"stability_{domain}", key="stability")
