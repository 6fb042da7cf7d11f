"""Trade-offs: Table 1 beside the paper for a chosen reference and output, Figure 3 and the robustness-sparseness
frontier, how robust the conclusion is to the attribution's choices, and Figure 2 (pointwise dG)."""

import pandas as pd
import streamlit as st

from advex.dashboard import conclusion, models, tradeoffs, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import page_setup
from advex.dashboard.plots import style
from advex.dashboard.safe import safe_section
from advex.dashboard.saliency_view import choose_reference, paper_marked
from advex.data.paths import available_datasets
from advex.experiments.ablation import METHODS
from advex.vocabulary import (
    DATASET_TITLES,
    OUTPUTS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    REFERENCES,
    TABLE1_TABULAR_DATASETS,
    paper_settings,
)

presenting = page_setup("Trade-offs")
st.title("Trade-offs: accuracy vs sparseness")
st.markdown(
    "Does adversarial training buy sparser explanations for little accuracy, and more than l1 regularization does? "
    "**dG** is the average Gini improvement over the natural model (eqs. 21-22), **AcDrop** the accuracy lost "
    "(Table 1). Choose what the attributions are measured against: the paper's choice is marked."
)

image_datasets = models.image_datasets_with_models()
cards = models.cards()  # listed once per run: a model trained on the Train page shows at once
present = available_datasets()
tabular_names = [name for name in TABLE1_TABULAR_DATASETS if present.get(name)]
reference, output = PAPER_REFERENCE, PAPER_OUTPUT
ablation = None

with safe_section("Choosing the reference"):
    reference, output = choose_reference()
    sources = conclusion.available_sources()
    if len(sources) > 1:
        source = st.radio("Ablation results", sources, horizontal=True, key="ablation_source",
                          format_func=lambda s: {"shipped": "shipped with the zoo", "recomputed": "recomputed here"}[s],
                          help="Both files hold `advex ablate` rows; the recomputed one was made on this server.")
    else:
        source = sources[0] if sources else None
    ablation = conclusion.results(source) if source else None

with safe_section("Table 1"):
    st.subheader("Table 1: measured and in the paper")
    missing = [name for name in TABLE1_TABULAR_DATASETS if not present.get(name)]
    table = tradeoffs.table1_frame(image_datasets, tabular_names, reference, output, ablation, cards)
    st.caption(
        f"Image rows explain the {paper_marked(output, PAPER_OUTPUT)} against the {paper_marked(reference, PAPER_REFERENCE)} "
        "reference. Accuracies (AcDrop) come from the model cards; the mean Gini comes from the cards when they were "
        "measured with this reference and output, otherwise from the ablation results (then dG has the 95% CI of the "
        "paired per-image differences). The **Gini from** column says which, row by row. Tabular rows are trained "
        "now and keep the tabular pipeline's all-zero reference and probability."
    )
    if missing:
        st.caption(f"Not measured (data missing): {', '.join(missing)}; see the Home page for how to get them.")
    st.dataframe(table, hide_index=True, column_config={
        "mean Gini": st.column_config.NumberColumn(format="%.4f"),
        "dG": st.column_config.NumberColumn(format="%.4f"), "dG ± (95% CI)": st.column_config.NumberColumn(format="%.4f"),
        "dG (paper)": st.column_config.NumberColumn(format="%.3f"),
        "AcDrop": st.column_config.NumberColumn(format="percent"),
        "AcDrop (paper)": st.column_config.NumberColumn(format="percent")})
    table_download(table, f"table1_{reference}_{output}", key="table1")

with safe_section("Figure 3"):
    st.subheader("Figure 3 and the robustness-sparseness frontier")
    url_state.check_choice("fig3_y", ("clean", "robust"))
    axis = st.radio("Accuracy on the y axis", ("clean", "robust"), horizontal=True, key="fig3_y", bind=url_state.BIND,
                    help="clean: Figure 3, accuracy vs mean Gini over eps and lambda. robust: every model's robust "
                         "accuracy (AutoAttack where measured) against its mean Gini, the robustness-sparseness frontier.")
    if axis == "clean":
        with_tabular = st.toggle("Include the tabular data sets", value=True, key="fig3_tabular",
                                 help=f"Logistic models over eps {tradeoffs.TABULAR_EPS} and lambda "
                                      f"{tradeoffs.TABULAR_LAM}, trained once per server.")
        with st.spinner("Training the tabular curves"):
            frame = tradeoffs.figure3_frame(cards, tabular_names if with_tabular else [])
        if frame.empty:
            st.info("No model card has both accuracy and mean Gini yet: rebuild the zoo or train a model.")
        else:
            from advex.experiments.figures import figure3_plotly

            fig = style(figure3_plotly(frame), presenting, height=460)
            show_figure(fig, "figure3_accuracy_vs_gini", key="fig3")
            table_download(frame, "figure3_accuracy_vs_gini", key="fig3")
    else:
        url_state.check_choice("frontier_attr", ("IG", "SHAP"))
        attr = st.radio("Attribution", ("IG", "SHAP"), horizontal=True, key="frontier_attr", bind=url_state.BIND,
                        format_func=conclusion.ATTR_NAMES.get)
        frame = tradeoffs.frontier_frame(cards)
        if frame[frame["attr"] == attr].empty:
            st.info("No model card has both a robust accuracy and a mean Gini for this attribution yet.")
        else:
            fig = style(tradeoffs.frontier_plotly(frame, attr), presenting, height=460)
            show_figure(fig, f"frontier_{attr}", key="frontier")
            fallback = frame[(frame["attr"] == attr) & frame["attack"].str.startswith("PGD")]
            st.caption(
                "Every model of the zoo and of your folder (trained on the *Train a model* page, any protocol) at its "
                "data set's eps. Filled markers: accuracy under AutoAttack (the RobustBench convention); open markers: "
                "PGD, because AutoAttack was not measured for that model (PGD overstates robustness). Diamonds: your "
                "models. Dashed: the frontier, the models that no other model beats on both axes. "
                + (f"PGD stands in for AutoAttack at {len(fallback)} of {len(frame[frame['attr'] == attr])} points."
                   if len(fallback) else "All points use AutoAttack."))
            with st.expander("The points"):
                st.dataframe(frame[frame["attr"] == attr], hide_index=True, column_config={
                    "robust_accuracy": st.column_config.NumberColumn(format="percent"),
                    "clean_accuracy": st.column_config.NumberColumn(format="percent"),
                    "mean_gini": st.column_config.NumberColumn(format="%.4f")})
            table_download(frame, "robustness_sparseness_frontier", key="frontier")

with safe_section("How robust is the conclusion?"):
    st.subheader("How robust is the conclusion?")
    st.markdown(
        "Table 1 says adversarial training (**a**) makes explanations sparser than l1 regularization (**l**). "
        "Does that hold whatever the attribution is measured against? Each bar is dG of the a- or l-model of "
        "Table 1 with its 95% confidence interval (paired per-image differences), per reference and output; "
        "the paper's choice is marked and shaded."
    )
    if ablation is None:
        st.info("No ablation results here yet: recompute them below, or run `advex ablate --json FILE` and put the "
                f"file at {conclusion.shipped_path()}.")
    else:
        st.caption(ablation.describe())
        st.markdown("\n".join(f"- {line}" for line in ablation.reading))
        if not ablation.cells.empty:
            show_figure(conclusion.figure(ablation, presenting), "ablation_dG_a_vs_l", key="ablation")
            with st.expander("The numbers"):
                st.dataframe(conclusion.cells_table(ablation.cells), hide_index=True)
        table_download(pd.DataFrame(list(ablation.rows)), f"ablation_{ablation.source}", key="ablation")

with safe_section("Recompute"):
    latest = conclusion.latest_job()
    running = latest is not None and latest.active
    ready = conclusion.recomputable_datasets(cards)
    with st.expander("Recompute the ablation on this server", expanded=running):
        if not ready:
            st.info("Recomputing needs the n, l and a models of Table 1 for MNIST or Fashion-MNIST (`advex zoo build`).")
        else:
            pools = "; ".join(f"{DATASET_TITLES[d]}: " + ("its test set" if present.get(d) else
                              "the zoo's 200-image test sample (the data set is not on this server)") for d in ready)
            st.caption(f"Runs `advex ablate` in the background, one at a time per server, on {pools}. A stopped run "
                       "resumes where it stopped. The train-sample reference averages 100 references, about 100 times "
                       "slower than the others.")
            cols = st.columns(5)
            datasets = cols[0].multiselect("Data sets", ready, default=ready, key="ablate_datasets",
                                           format_func=DATASET_TITLES.get)
            methods = cols[1].multiselect("Attributions", METHODS, default=list(METHODS), key="ablate_methods",
                                          format_func={"ig": "IG", "deepshap": "DeepSHAP"}.get)
            references = cols[2].multiselect("References", REFERENCES, default=list(REFERENCES), key="ablate_references",
                                             format_func=lambda r: paper_marked(r, PAPER_REFERENCE))
            outputs = cols[3].multiselect("Outputs", OUTPUTS, default=list(OUTPUTS), key="ablate_outputs",
                                          format_func=lambda o: paper_marked(o, PAPER_OUTPUT))
            n_images = cols[4].number_input("Test images per cell", 2, 10_000, 100, step=50, key="ablate_images")
            if st.button("Recompute", icon=":material/refresh:", key="recompute", disabled=running, type="primary"):
                conclusion.start_recompute(datasets, methods, references, outputs, int(n_images))
                st.rerun()


@st.fragment(run_every=1.0 if running else None)
def recompute_status() -> None:
    """The server's recompute: progress while it runs (refreshed every second), then how it ended."""
    with safe_section("Recompute"):
        job = conclusion.latest_job()
        if job is None:
            return
        if running and not job.active:
            if job.status == "done":
                st.session_state["ablation_source"] = conclusion.RECOMPUTED
            st.rerun(scope="app")  # finished: redraw the page once with the fresh results, stop polling
        s = job.settings
        if job.active:
            st.progress(job.progress, text=f"Recomputing ({s['n_images']} images per cell): {job.message}")
            if st.button("Stop", icon=":material/stop:", key=f"stop-ablation-{job.id}"):
                conclusion.recompute_queue().stop(job.id)
        elif job.status == "done":
            st.success(f"Last recompute ({s['n_images']} images per cell) wrote {job.result['rows']} rows to "
                       f"{job.result['path']}; choose *recomputed here* above to see them.")
        elif job.should_stop():
            st.info("The last recompute was stopped; the cells it finished are kept and a new one resumes from them.")
        else:
            st.error(f"The last recompute failed: {job.error}")


recompute_status()

with safe_section("Figure 2"):
    st.subheader("Figure 2: pointwise sparseness improvements")
    if not image_datasets:
        st.info("Figure 2 needs image models; rebuild the zoo or train some on the *Train a model* page.")
    else:
        url_state.check_int("n_images", 5, 100)
        columns = st.columns([2, 2, 2])
        n_images = columns[0].slider("test images per model", 5, 100, 20, step=5, key="n_images", bind=url_state.BIND)
        methods = columns[1].multiselect("attribution", ["IG", "SHAP"], default=["IG"], key="methods",
                                         help="DeepSHAP takes about a second per image and model on a CPU; the "
                                              "train-sample reference about 100 times longer.")
        chosen = columns[2].multiselect("data sets", image_datasets, default=image_datasets, key="fig2_datasets")
        parts = []
        for dataset in chosen:
            settings = paper_settings(dataset)
            triplet = models.triplet([c for c in cards if c.get("dataset") == dataset], settings.eps, settings.lam)
            if "natural" not in triplet:
                st.warning(f"{dataset}: no natural model, so no dG.")
                continue
            with st.spinner(f"{dataset}: attributions of {n_images} images"):
                parts.append(tradeoffs.pointwise_dg(dataset, triplet, n_images, tuple(methods), reference, output))
        if parts and methods:
            from advex.experiments.figures import figure2_plotly

            points = pd.concat(parts, ignore_index=True)
            fig = style(figure2_plotly(points), presenting, height=460)
            st.caption(f"Attributions against the {reference} reference, explaining the {output} (chosen at the top).")
            show_figure(fig, "figure2_pointwise_dG", key="fig2")
            table_download(points, "figure2_pointwise_dG", key="fig2")
