"""Tabular explorer: natural vs l1 vs adversarial logistic regression on Mushroom, Spambase or synthetic data."""

import streamlit as st

from advex.dashboard import tabular, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import credit, how_to_get, page_setup
from advex.dashboard.safe import safe_section
from advex.errors import DataMissingError
from advex.vocabulary import TABULAR_CHOICES

presenting = page_setup("Tabular explorer")
st.title("Tabular explorer")
st.markdown(
    "Logistic regression trained three ways (Appendix J.1): **natural**, **l1-regularized** (lambda) and "
    "**l_inf(eps)-adversarial** (closed form, eq. 8). Move eps and watch the adversarial model's "
    "Integrated Gradients get sparser (higher Gini, eq. I.67) while accuracy barely drops (Table 1, Figures J.4/J.5)."
)

url_state.check_choice("dataset", TABULAR_CHOICES)
url_state.check_float("eps", *tabular.EPS_RANGE)
url_state.check_float("lam", *tabular.LAM_RANGE)
controls = st.columns([2, 3, 3])
name = controls[0].selectbox("Data set", TABULAR_CHOICES, index=TABULAR_CHOICES.index(tabular.default_dataset()),
                             key="dataset", bind=url_state.BIND,
                             help="Mushroom and Spambase: UCI (Appendix J.1); synthetic: FEAT-TRANS data, Section 2")
eps = controls[1].slider("eps (l_inf radius of the adversary)", *tabular.EPS_RANGE, value=0.1, step=0.01,
                         key="eps", bind=url_state.BIND)
lam = controls[2].slider("lambda (l1 strength)", *tabular.LAM_RANGE, value=0.02, step=0.005, format="%.3f",
                         key="lam", bind=url_state.BIND)

data = None
with safe_section("Loading the data set"):
    try:
        data = tabular.dataset(name)
    except DataMissingError as missing:
        st.error(f"{missing}", icon=":material/folder_off:")
        st.info(f"To get it: {how_to_get(name)}. Meanwhile the synthetic set works without any download.")
        st.button("Use the synthetic set", on_click=st.session_state.update, kwargs={"dataset": "synthetic"})

result = None
if data is not None:
    with safe_section("Training"):
        if tabular.is_cached(data, eps, lam):
            result = tabular.comparison(data, eps, lam)
        else:
            bar = st.progress(0.0, text="training")
            result = tabular.comparison(data, eps, lam, progress=lambda f, m: bar.progress(f, text=m))
            bar.empty()

view = None
if result is not None:
    with safe_section("Accuracy and sparseness"):
        view = tabular.comparison_view(data, result, presenting)
        columns = st.columns(3)
        for column, (label, row) in zip(columns, view.summary.iterrows()):
            column.subheader(label)
            column.caption(row["setting"])
            column.metric("test accuracy", f"{row['accuracy']:.1%}",
                          delta=None if label == "natural" else f"{-row['AcDrop']:+.1%}")
            column.metric("mean Gini of IG", f"{row['mean Gini']:.3f}",
                          delta=None if label == "natural" else f"{row['dG']:+.3f} (dG)")
        table_download(view.summary, f"{name}_summary_eps{eps:g}_lam{lam:g}", key="summary", label="Summary CSV")

    if view is not None:
        with safe_section("Feature impact"):
            show_figure(view.feature_impact_figure, f"{name}_feature_impact_eps{eps:g}_lam{lam:g}", key="fi")
            table_download(view.feature_impact, f"{name}_feature_impact_eps{eps:g}_lam{lam:g}", key="fi",
                           label="Feature impact CSV")

    with safe_section("One test example"):
        st.subheader("One test example")
        n_test = len(data.X_test)
        url_state.check_int("row", 0, n_test - 1)
        row = st.number_input("test row", 0, n_test - 1, value=0, step=1, key="row", bind=url_state.BIND)
        example = tabular.example_view(data, result, int(row), presenting)
        st.dataframe(example.summary, column_config={"Gini of IG": st.column_config.NumberColumn(format="%.3f")})
        show_figure(example.ig_figure, f"{name}_row{row}_ig_eps{eps:g}_lam{lam:g}", key="ig")
        table_download(example.ig, f"{name}_row{row}_ig", key="ig", label="IG CSV")

    credit(data.credit)
