"""Theory: Theorems 3.1 and E.1, Lemma 4.1 and Theorem 5.1 as live simulations (Sections 3-5, Appendices B-G)."""

import numpy as np
import pandas as pd
import streamlit as st

from advex.dashboard import theory_charts as charts
from advex.dashboard import theory_view as views
from advex.dashboard import url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import page_setup
from advex.dashboard.plots import style
from advex.dashboard.safe import safe_section
from advex.data.feat_trans import FAMILIES
from advex.losses import LOSSES
from advex.theory.ig_identity import ACTIVATIONS
from advex.theory.stable_ig import MAX_VERTEX_DIM

theorem31_view = st.cache_data(max_entries=64, show_spinner=False)(views.theorem31_view)
trajectory_view = st.cache_data(max_entries=32, show_spinner=False)(views.trajectory_view)
lemma41_view = st.cache_data(max_entries=64, show_spinner=False)(views.lemma41_view)
theorem51_view = st.cache_data(max_entries=64, show_spinner=False)(views.theorem51_view)
theorem_e1_view = st.cache_data(max_entries=64, show_spinner=False)(views.theorem_e1_view)

LOSS_NAMES = {"logistic": "logistic NLL", "hinge": "hinge", "softplus_hinge": "softplus hinge"}
WEIGHT_NAMES = {"zero": "zero", "small": "small (random signs, every 4th zero)", "natural": "trained natural model"}
E1_WEIGHT_NAMES = {"own": "each feature used by its class only", "shared": "first weak feature also used by the next class"}
GROUP_NAMES = {"weak": "weak features", "strong": "strong features", "all": "all features"}

presenting = page_setup("Theory")
st.title("The theory, live")
st.markdown(
    "A 1-layer model with loss g(-y<w, x>) (Assumption LOSS-CVX, App. B.1) trained on data whose features obey "
    "E[x_i | y] = a_i y (Assumption FEAT-TRANS, eq. 3). **Theorem 3.1** says what one SGD step on the "
    "l_inf(eps)-adversarial loss does to the weights on average, **Theorem E.1** (Appendix E) the same for k one-vs-all "
    "classifiers; **Lemma 4.1** gives the IG of such a model in "
    "closed form; **Theorem 5.1** says that training for stable IG explanations *is* adversarial training. "
    "Every number below is computed live; `advex theory` runs the same checks from the command line."
)

# ---- shared: the loss and the synthetic distribution D ---------------------------------------
st.subheader("Loss and data distribution (shared by the first three sections)")
for name, options in (("t31_loss", LOSSES), ("t31_family", FAMILIES)):
    url_state.check_choice(name, options)
row = st.columns(6)
loss_name = row[0].selectbox("loss g", list(LOSSES), format_func=LOSS_NAMES.get, key="t31_loss", bind=url_state.BIND)
family = row[1].selectbox("feature distribution", FAMILIES, key="t31_family", bind=url_state.BIND,
                          help="x_i = a_i y + noise; gaussian gives exact updates, the others Monte Carlo (95% CI).")
n_strong = row[2].slider("strong features", 1, 10, 3, key="t31_n_strong")
n_weak = row[3].slider("weak features", 0, 40, 20, key="t31_n_weak")
strong = row[4].slider("strong |a_i|", 0.1, 2.0, 1.0, 0.05, key="t31_strong")
weak = row[5].slider("weak |a_i|", 0.0, 0.5, 0.05, 0.01, key="t31_weak")
st.caption("Preset \"a few strong, many weak\": features with directed strength a_i = E[y x_i] (eq. 4) of alternating "
           "sign, each conditionally independent of the others given y.")


@st.fragment
def theorem31_section() -> None:
    """Theorem 3.1 simulator: per-feature updates and the eps sweep of eq. 12 (reruns alone on its widgets)."""
    st.header("Theorem 3.1: the expected SGD update")
    for name, options in (("t31_weights", views.WEIGHT_CHOICES), ("t31_group", views.GROUP_CHOICES)):
        url_state.check_choice(name, options)
    url_state.check_float("t31_eps", 0.0, 1.0)
    row = st.columns([3, 3, 2])
    eps = row[0].slider("eps (adversary's l_inf radius)", 0.0, 1.0, 0.2, 0.01, key="t31_eps", bind=url_state.BIND)
    weights = row[1].selectbox("current weights w", views.WEIGHT_CHOICES, index=1, format_func=WEIGHT_NAMES.get,
                               key="t31_weights", bind=url_state.BIND)
    weight_scale = row[2].slider("|w_i| of 'small' weights", 0.001, 1.0, 0.05, 0.001, format="%.3f", key="t31_scale",
                                 disabled=weights != "small")
    group = st.radio("group S for the eps sweep", views.GROUP_CHOICES, format_func=GROUP_NAMES.get, horizontal=True,
                     key="t31_group", bind=url_state.BIND)
    with safe_section("Theorem 3.1 simulator"):
        view = theorem31_view(eps, loss_name, family, n_strong, n_weak, strong, weak, weights, weight_scale, group)
        defined = not np.isnan(view.a_sw)
        metrics = st.columns(4)
        metrics[0].metric("g'bar = E g'(eps||w||_1 - y<w,x>)  (eq. 10)", f"{view.update.g_prime_bar:.4f}")
        metrics[1].metric("a_S^w (eq. 6)", f"{view.a_sw:.4f}" if defined else "undefined (w_S = 0)")
        metrics[2].metric("Delta_S^w at this eps", f"{view.group_delta_now:.4f}" if defined else "-")
        metrics[3].metric("bound g'bar (a_S^w - eps)  (eq. 12)", f"{view.group_bound_now:.4f}" if defined else "-")
        if defined and view.update.method != "exact":
            half = 1.96 * view.group_delta_se_now
            st.caption(f"Monte Carlo with n = {view.update.n_samples} draws: Delta_S^w lies in "
                       f"[{view.group_delta_now - half:.4f}, {view.group_delta_now + half:.4f}] with 95% confidence.")
        left, right = st.columns([3, 2])
        with left:
            show_figure(charts.legend_below(style(charts.update_bars(view), presenting, height=620), y=-0.35),
                        f"theorem31_updates_eps{eps:g}", key="t31_bars")
        with right:
            if defined:
                show_figure(charts.legend_below(style(charts.group_sweep(view, eps, GROUP_NAMES[group]), presenting,
                                                     height=620), y=-0.2),
                            f"theorem31_sweep_{group}", key="t31_sweep")
            else:
                st.info("The group average of eq. 6 needs a non-zero weight in S: choose other weights or another group.")
        st.markdown("**Reading (Appendix D.2).** " + view.reading.replace("\nAll rates", "\n\nAll rates"))
        frame = pd.DataFrame({"feature": view.names, "a_i": view.update.strengths, "w_i": view.update.w,
                              "Delta_i": view.update.delta, "s.e.": view.update.delta_se,
                              "bound g'bar(a_i - sgn(w_i) eps)": view.update.feature_bound, "regime": view.regimes})
        table_download(frame, f"theorem31_eps{eps:g}_{loss_name}_{family}", key="t31_table", label="Updates CSV")


@st.fragment
def trajectories_section() -> None:
    """Natural vs adversarial SGD runs: animated weight paths, Gini and accuracy over the steps."""
    st.header("SGD trajectories: natural vs adversarial training")
    st.markdown(
        "The same features, now trained by actual minibatch SGD (batch 32, 2000 draws) from w = 0, once naturally "
        "(eps = 0) and once adversarially, on the same sequence of minibatches. Weak features (|a_i| < eps) should "
        "be pruned toward zero by adversarial training and kept by natural training. Press Play."
    )
    row = st.columns(3)
    traj_eps = row[0].slider("eps of the adversarial run", 0.0, 1.0, 0.3, 0.01, key="traj_eps")
    traj_steps = row[1].slider("SGD steps", 50, 800, 400, 50, key="traj_steps")
    traj_lr = row[2].select_slider("learning rate", [0.01, 0.03, 0.1, 0.3, 1.0], value=0.1, key="traj_lr")
    with safe_section("SGD trajectories"):
        natural, adversarial = trajectory_view(traj_eps, loss_name, family, n_strong, n_weak, strong, weak,
                                               traj_steps, traj_lr)
        weak_idx = slice(n_strong, n_strong + n_weak)
        metrics = st.columns(4)
        if n_weak:
            metrics[0].metric("mean |w| of weak features, natural", f"{np.abs(natural.final_weights[weak_idx]).mean():.4f}")
            metrics[1].metric("... adversarial", f"{np.abs(adversarial.final_weights[weak_idx]).mean():.4f}")
        metrics[2].metric("Gini of |w| (eq. I.67), natural", f"{natural.weight_gini[-1]:.3f}")
        metrics[3].metric("... adversarial", f"{adversarial.weight_gini[-1]:.3f}")
        names = views.feature_names(n_strong, n_weak)
        show_figure(charts.legend_right(style(charts.weight_paths(natural, adversarial, names), presenting, height=520)),
                    f"sgd_weight_paths_eps{traj_eps:g}", key="traj_paths")
        show_figure(charts.legend_below(style(charts.gini_curves(natural, adversarial), presenting, height=520), y=-0.25),
                    f"sgd_gini_eps{traj_eps:g}", key="traj_gini")
        st.caption("Final weights are averaged over the last quarter of the run. IG relative to the baseline u = 0 "
                   "(the class midpoint under FEAT-TRANS), by Lemma 4.1.")


@st.fragment
def theorem_e1_section() -> None:
    """Theorem E.1 (App. E): the expected update of each class's own weights in a one-vs-all model, with its bound."""
    st.header("Theorem E.1: the multi-class update (Appendix E)")
    st.markdown(
        "k one-vs-all classifiers w_i with labels y_i = +1 iff the class is i and loss L_T = sum_i g(-y_i <w_i, x>); "
        "feature j belongs to class o(j): x_j = a_j y_o(j) + noise (FEAT-EXP for its owner). One attack delta* "
        "(eqs. E.52-E.53) must serve all k losses at once. **Theorem E.1**: a zero weight moves by a g'bar_i (part 1); "
        "a non-zero one by at most g'bar_i (a sgn(w) - eps) (eq. E.62) when the attack always moves x_j against its "
        "owner (Case I). If another classifier also uses x_j, the attack may move it the other way (Case II): then "
        "the paper needs a different constant g*_i (eq. E.65, Assumption DIST-EXPC) and the bound with g'bar_i can fail."
    )
    url_state.check_choice("e1_weights", views.E1_WEIGHT_CHOICES)
    url_state.check_float("e1_eps", 0.0, 1.0)
    url_state.check_int("e1_classes", 3, views.E1_MAX_CLASSES)
    row = st.columns(6)
    n_classes = row[0].slider("classes k", 3, views.E1_MAX_CLASSES, 3, key="e1_classes", bind=url_state.BIND)
    eps = row[1].slider("eps", 0.0, 1.0, 0.3, 0.01, key="e1_eps", bind=url_state.BIND)
    e1_strong = row[2].slider("strong |a_j|", 0.1, 2.0, 1.0, 0.05, key="e1_strong")
    e1_weak = row[3].slider("weak |a_j|", 0.0, 0.5, 0.1, 0.01, key="e1_weak")
    n_weak = row[4].slider("weak features per class", 1, 3, 2, key="e1_n_weak")
    weights = row[5].radio("weights W", views.E1_WEIGHT_CHOICES, format_func=E1_WEIGHT_NAMES.get, key="e1_weights",
                           bind=url_state.BIND)
    with safe_section("Theorem E.1"):
        view = theorem_e1_view(n_classes, eps, e1_strong, e1_weak, n_weak, weights, loss_name, family)
        case1, case1_z = view.max_excess("Case I")
        shared, shared_z = view.max_excess("shared")
        metrics = st.columns(4)
        metrics[0].metric("mean g'bar_i (eq. E.51)", f"{view.update.g_prime_bar.mean():.4f}")
        metrics[1].metric("max (rate - bound), Case I (eq. E.62)", f"{case1:.4f}" if np.isfinite(case1) else "-")
        metrics[2].metric("max (rate - bound), shared features", f"{shared:.4f}" if np.isfinite(shared) else "-")
        attacked = (view.kinds == "shared") & (view.weights != 0)
        metrics[3].metric("points in Case I (eq. E.55), shared weights",
                          f"{view.case1_share[attacked].mean():.0%}" if np.any(attacked) else "-")
        if view.update.method != "exact":
            st.caption(f"Monte Carlo with n = {view.update.n_samples} draws: the largest excess over the bound is "
                       f"z = {case1_z:.1f} standard errors for Case-I weights (within noise if <= 4)"
                       + (f" and z = {shared_z:.1f} for shared features." if np.isfinite(shared_z) else "."))
        show_figure(charts.legend_below(style(charts.e1_update_bars(view), presenting, height=560), y=-0.35),
                    f"theorem_e1_k{n_classes}_eps{eps:g}", key="e1_bars")
        frame = pd.DataFrame({"feature": view.names, "owner class": view.owners + 1, "w": view.weights,
                              "rate (eq. E.50)": view.rate, "s.e.": view.rate_se, "bound (Thm E.1)": view.bound,
                              "share in Case I": view.case1_share, "kind": view.kinds})
        table_download(frame, f"theorem_e1_k{n_classes}_eps{eps:g}_{loss_name}_{family}", key="e1_table", label="Updates CSV")


@st.fragment
def lemma41_section() -> None:
    """Lemma 4.1: closed-form vs numerical IG at a random point."""
    st.header("Lemma 4.1: IG of a 1-layer network in closed form")
    st.markdown("For F(x) = A(<w, x>), IG(x, u) = [F(x) - F(u)] (x - u) ⊙ w / <x - u, w> (eq. 15). Blue: this "
                "formula; orange: captum's numerical path integral (eq. 13, Gauss-Legendre).")
    row = st.columns(4)
    activation = row[0].selectbox("activation A", list(ACTIVATIONS), key="l41_activation")
    d = row[1].slider("features d", 2, 20, 6, key="l41_d")
    seed = row[2].number_input("random point (seed)", 0, 10_000, 0, key="l41_seed")
    baseline = row[3].radio("baseline u", ["zero", "random"], horizontal=True, key="l41_baseline")
    with safe_section("Lemma 4.1"):
        w, x, u, comparison = lemma41_view(activation, d, int(seed), baseline)
        f = ACTIVATIONS[activation].numpy
        metrics = st.columns(3)
        metrics[0].metric("F(x) - F(u)", f"{float(f(x @ w) - f(u @ w)):.6f}")
        metrics[1].metric("sum of IG (completeness)", f"{comparison.numerical.sum():.6f}")
        metrics[2].metric("max |closed form - numerical|", f"{comparison.max_abs_error:.2e}")
        left, right = st.columns([3, 2])
        with left:
            show_figure(style(charts.ig_comparison_bars(comparison), presenting, height=380), "lemma41_ig", key="l41_bars")
        with right:
            st.dataframe(charts.ig_comparison_frame(comparison), hide_index=True,
                         column_config={"difference": st.column_config.NumberColumn(format="%.2e")})


@st.fragment
def theorem51_section() -> None:
    """Theorem 5.1: both sides of eq. 18 at a random point, inner maxima by search."""
    st.header("Theorem 5.1: stable IG = adversarial robustness")
    st.markdown(
        "Left side (eq. 17): L(x, y; w) + max over ||x' - x||_inf <= eps of ||IG^{L_y}(x, x')||_1, the inner max "
        "found by **search** (all 2^d vertices of the box, random points and projected gradient ascent). Right side "
        "(eq. 18): max over ||delta||_inf <= eps of L(x + delta, y; w), by vertex search."
    )
    row = st.columns(4)
    loss = row[0].selectbox("loss g", list(LOSSES), format_func=LOSS_NAMES.get, key="t51_loss")
    eps = row[1].slider("eps", 0.01, 1.0, 0.3, 0.01, key="t51_eps")
    d = row[2].slider("features d", 1, MAX_VERTEX_DIM - 2, 6, key="t51_d")
    seed = row[3].number_input("random point (seed)", 0, 10_000, 0, key="t51_seed")
    with safe_section("Theorem 5.1"):
        w, x, y, result = theorem51_view(loss, eps, d, int(seed))
        metrics = st.columns(4)
        metrics[0].metric("L(x, y; w)", f"{result.natural_loss:.6f}")
        metrics[1].metric("stable-IG loss (left of eq. 18)", f"{result.stable_ig_loss:.6f}")
        metrics[2].metric("adversarial loss (right of eq. 18)", f"{result.adversarial_loss:.6f}")
        metrics[3].metric("difference", f"{result.difference:.2e}")
        st.caption(f"y = {y:+.0f}; max ||IG||_1 found = {result.max_ig_norm:.6f} (gradient ascent alone: "
                   f"{result.ascent_max:.6f}); eq. 8 in closed form: {result.adversarial_loss_formula:.6f}.")
        st.dataframe(pd.DataFrame({
            "feature": [f"x{i + 1}" for i in range(d)], "w_i": w, "x_i": x,
            "x' - x found by search": result.argmax_delta, "-y sgn(w_i) eps (eq. 7)": -y * np.sign(w) * eps,
        }), hide_index=True)


theorem31_section()
trajectories_section()
theorem_e1_section()
lemma41_section()
theorem51_section()
