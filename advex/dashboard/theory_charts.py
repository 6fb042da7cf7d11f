"""Plotly figures of the Theory page: Theorem 3.1 updates, the eps sweep of eq. 12, SGD paths, Theorem E.1, Lemma 4.1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from advex.dashboard.theory_view import Theorem31View, TheoremE1View
from advex.theory.ig_identity import IGComparison
from advex.theory.regimes import REGIME_COLORS, REGIME_LABELS, REGIMES
from advex.theory.sgd_update import Z95
from advex.theory.trajectories import Trajectory

RUN_COLORS = {"natural": "#4C72B0", "adversarial": "#C44E52"}
FEATURE_COLORS = {"strong": "#2ca02c", "weak": "#ff7f0e"}


def update_bars(view: Theorem31View) -> go.Figure:
    """Per feature: expected update Delta_i (bars, by regime, 95% CI), the bound of eq. 12 and g'bar a_i."""
    u = view.update
    fig = go.Figure()
    for regime in REGIMES:
        idx = np.flatnonzero(view.regimes == regime)
        if idx.size == 0:
            continue
        fig.add_bar(
            x=[view.names[i] for i in idx], y=u.delta[idx], name=REGIME_LABELS[regime],
            marker_color=REGIME_COLORS[regime],
            error_y={"type": "data", "array": Z95 * u.delta_se[idx], "visible": bool(np.any(u.delta_se[idx] > 0))},
            customdata=np.stack([u.strengths[idx], u.w[idx]], axis=-1),
            hovertemplate="%{x}<br>Delta_i = %{y:.4g}<br>a_i = %{customdata[0]:.3g}<br>w_i = %{customdata[1]:.3g}<extra></extra>",
        )
    fig.add_scatter(
        x=view.names, y=u.feature_bound, mode="markers", name="bound g'bar (a_i - sgn(w_i) eps)  (eq. 11 / 12)",
        marker={"symbol": "diamond", "size": 9, "color": "black"},
        hovertemplate="%{x}<br>bound = %{y:.4g}<extra></extra>",
    )
    fig.add_scatter(
        x=view.names, y=u.g_prime_bar * u.strengths, mode="markers", name="g'bar a_i  (strength, scaled)",
        marker={"symbol": "circle-open", "size": 9, "color": "#7f7f7f"},
        hovertemplate="%{x}<br>g'bar a_i = %{y:.4g}<extra></extra>",
    )
    method = "exact" if u.method == "exact" else f"Monte Carlo n = {u.n_samples}, 95% CI"
    fig.update_layout(
        title=f"Expected update per feature (eq. 9, {method})",
        xaxis={"title": "feature", "categoryorder": "array", "categoryarray": view.names},
        yaxis_title="expected update Delta_i", barmode="overlay",
    )
    fig.add_hline(y=0, line_color="#999", line_width=1)
    return fig


def group_sweep(view: Theorem31View, eps: float, group_label: str) -> go.Figure:
    """Delta_S^w against the bound g'bar (a_S^w - eps) of eq. 12 as eps sweeps, with the current eps marked."""
    fig = go.Figure()
    if np.any(view.sweep_se > 0):
        upper, lower = view.sweep_delta + Z95 * view.sweep_se, view.sweep_delta - Z95 * view.sweep_se
        fig.add_scatter(x=np.concatenate([view.eps_grid, view.eps_grid[::-1]]), y=np.concatenate([upper, lower[::-1]]),
                        fill="toself", fillcolor="rgba(196,78,82,0.2)", line={"width": 0}, name="95% CI",
                        hoverinfo="skip")
    fig.add_scatter(x=view.eps_grid, y=view.sweep_delta, mode="lines", name="Delta_S^w (eq. 6, 9)",
                    line={"color": RUN_COLORS["adversarial"], "width": 3})
    fig.add_scatter(x=view.eps_grid, y=view.sweep_bound, mode="lines", name="bound g'bar (a_S^w - eps)  (eq. 12)",
                    line={"color": "black", "dash": "dash"})
    fig.add_vline(x=eps, line_color="#555", line_dash="dot", annotation_text=f"eps = {eps:g}")
    if np.isfinite(view.a_sw) and view.eps_grid[0] <= view.a_sw <= view.eps_grid[-1]:
        fig.add_vline(x=view.a_sw, line_color="#2ca02c", line_dash="dot", annotation_text="eps = a_S^w",
                      annotation_position="bottom right")
    fig.add_hline(y=0, line_color="#999", line_width=1)
    fig.update_layout(title=f"Group average over S = {group_label}", xaxis_title="eps", yaxis_title="Delta_S^w")
    return fig


E1_KIND_COLORS = {"Case I": "#2ca02c", "zero weight": "#1f77b4", "shared": "#d62728"}
E1_KIND_LABELS = {
    "Case I": "own feature only: Case I, bound eq. E.62",
    "zero weight": "zero column: part 1, = a g'bar_i",
    "shared": "also used by another classifier: Case II on some points",
}


def e1_update_bars(view: TheoremE1View) -> go.Figure:
    """Per feature, the owner weight's expected update (eq. E.50, 95% CI) against Theorem E.1's value or bound."""
    fig = go.Figure()
    for kind, color in E1_KIND_COLORS.items():
        idx = np.flatnonzero(view.kinds == kind)
        if idx.size == 0:
            continue
        fig.add_bar(
            x=[view.names[i] for i in idx], y=view.rate[idx], name=E1_KIND_LABELS[kind], marker_color=color,
            error_y={"type": "data", "array": Z95 * view.rate_se[idx], "visible": bool(np.any(view.rate_se[idx] > 0))},
            customdata=np.stack([view.weights[idx], view.case1_share[idx]], axis=-1),
            hovertemplate="%{x}<br>rate = %{y:.4g}<br>w = %{customdata[0]:.3g}<br>Case I on %{customdata[1]:.0%} of points"
                          "<extra></extra>",
        )
    fig.add_scatter(
        x=view.names, y=view.bound, mode="markers", name="Theorem E.1: a g'bar_i (w = 0) / g'bar_i (a sgn(w) - eps)",
        marker={"symbol": "diamond", "size": 9, "color": "black"}, hovertemplate="%{x}<br>bound = %{y:.4g}<extra></extra>",
    )
    u = view.update
    method = "exact" if u.method == "exact" else f"Monte Carlo n = {u.n_samples}, 95% CI"
    fig.update_layout(
        title=f"Expected update of each feature's own weight (eq. E.50, {method})",
        xaxis={"title": "feature (its owner class)", "categoryorder": "array", "categoryarray": view.names},
        yaxis_title="E[sgn(w) Delta w]  (E Delta w where w = 0)", barmode="overlay",
    )
    fig.add_hline(y=0, line_color="#999", line_width=1)
    return fig


def legend_below(fig: go.Figure, y: float = -0.3) -> go.Figure:
    """Move a long legend under the plot so it does not cover the title (call after styling)."""
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": y, "xanchor": "left", "x": 0})
    fig.update_layout(margin={"b": max(fig.layout.margin.b or 60, 60 + int(-y * 400))})
    return fig


def legend_right(fig: go.Figure) -> go.Figure:
    """A vertical legend right of the plot (call after styling)."""
    fig.update_layout(legend={"orientation": "v", "yanchor": "top", "y": 1.0, "xanchor": "left", "x": 1.02})
    return fig


def _feature_kind(names: list[str]) -> list[str]:
    return ["strong" if name.startswith("strong") else "weak" for name in names]


def _paths(run: Trajectory, columns: np.ndarray, upto: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weight paths of ``columns`` as one line with gaps (one trace per kind keeps frames light).

    Records after ``upto`` are NaN, so animation frames only replace y. Returns x, y and the
    1-based feature number of every point (for the hover).
    """
    k, n = len(columns), len(run.steps)
    x, y = np.full((k, n + 1), np.nan), np.full((k, n + 1), np.nan)
    x[:, :n] = run.steps
    y[:, :upto] = run.weights[:upto, columns].T
    return x.ravel(), y.ravel(), np.repeat(columns + 1.0, n + 1)


def weight_paths(natural: Trajectory, adversarial: Trajectory, names: list[str]) -> go.Figure:
    """Weights over the SGD steps, natural | adversarial side by side, animated with a play button."""
    kinds = np.array(_feature_kind(names))
    runs = (("natural (eps = 0)", natural), (f"adversarial (eps = {adversarial.eps:g})", adversarial))
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=[title for title, _ in runs])
    groups = [(kind, np.flatnonzero(kinds == kind)) for kind in FEATURE_COLORS if np.any(kinds == kind)]
    n = len(natural.steps)
    for col, (_, run) in enumerate(runs, start=1):
        for kind, columns in groups:
            x, y, number = _paths(run, columns, n)
            fig.add_scatter(
                x=x, y=y, customdata=number, mode="lines", name=f"{kind} features", legendgroup=kind,
                showlegend=col == 1, line={"color": FEATURE_COLORS[kind], "width": 2 if kind == "strong" else 1},
                hovertemplate=f"{kind} feature #%{{customdata}}<br>step %{{x}}<br>w = %{{y:.3g}}<extra></extra>",
                row=1, col=col,
            )
    frames_at = np.unique(np.linspace(1, n, min(n, 30)).round().astype(int))
    fig.frames = [
        {"name": str(k), "data": [{"y": _paths(run, columns, k)[1]} for _, run in runs for _, columns in groups]}
        for k in frames_at
    ]
    all_w = np.concatenate([natural.weights.ravel(), adversarial.weights.ravel()])
    pad = 0.05 * (all_w.max() - all_w.min() + 1e-9)
    fig.update_yaxes(range=[all_w.min() - pad, all_w.max() + pad])
    fig.update_xaxes(range=[0, natural.steps[-1]], title_text="SGD step")
    fig.update_yaxes(title_text="weight w_i", col=1)
    fig.update_layout(
        title="Weight paths under SGD: natural vs adversarial",
        updatemenus=[{
            "type": "buttons", "showactive": False, "x": 0.0, "y": -0.3, "xanchor": "left", "yanchor": "top",
            "buttons": [
                {"label": "Play", "method": "animate",
                 "args": [None, {"frame": {"duration": 80, "redraw": False}, "fromcurrent": False, "transition": {"duration": 0}}]},
                {"label": "Pause", "method": "animate",
                 "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]},
            ],
        }],
        sliders=[{
            "x": 0.15, "y": -0.22, "len": 0.85, "currentvalue": {"prefix": "step "}, "active": len(frames_at) - 1,
            "steps": [{"label": str(natural.steps[k - 1]), "method": "animate",
                       "args": [[str(k)], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]}
                      for k in frames_at],
        }],
        margin={"b": 140},
    )
    return fig


def gini_curves(natural: Trajectory, adversarial: Trajectory) -> go.Figure:
    """Gini of |w| and mean Gini of IG (eq. I.67) over the steps, and natural/robust accuracy."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["Sparseness (Gini, eq. I.67)", "Accuracy on fresh draws"])
    for label, run in (("natural", natural), ("adversarial", adversarial)):
        color = RUN_COLORS[label]
        fig.add_scatter(x=run.steps, y=run.weight_gini, mode="lines", name=f"{label}: Gini of |w|",
                        line={"color": color}, row=1, col=1)
        fig.add_scatter(x=run.steps, y=run.ig_gini, mode="lines", name=f"{label}: mean Gini of IG",
                        line={"color": color, "dash": "dash"}, row=1, col=1)
        fig.add_scatter(x=run.steps, y=run.accuracy, mode="lines", name=f"{label}: accuracy",
                        line={"color": color}, row=1, col=2, showlegend=False)
        fig.add_scatter(x=run.steps, y=run.robust_accuracy, mode="lines", name=f"{label}: robust accuracy (eps = {adversarial.eps:g})",
                        line={"color": color, "dash": "dot"}, row=1, col=2)
    fig.update_xaxes(title_text="SGD step")
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(title="Sparseness and accuracy over the steps")
    return fig


def ig_comparison_bars(comparison: IGComparison) -> go.Figure:
    """Closed-form (eq. 15) and numerical (eq. 13) IG per feature for one point."""
    d = comparison.closed_form.shape[-1]
    labels = [f"x{i + 1}" for i in range(d)]
    fig = go.Figure()
    fig.add_bar(x=labels, y=comparison.closed_form.ravel(), name="closed form (eq. 15)", marker_color="#4C72B0")
    fig.add_bar(x=labels, y=comparison.numerical.ravel(), name="numerical, captum (eq. 13)", marker_color="#DD8452")
    fig.update_layout(barmode="group", title="Integrated Gradients per feature", xaxis_title="feature", yaxis_title="IG_i")
    return fig


def ig_comparison_frame(comparison: IGComparison) -> pd.DataFrame:
    """Per-feature table of both IG computations and their difference."""
    closed, numerical = comparison.closed_form.ravel(), comparison.numerical.ravel()
    return pd.DataFrame({
        "feature": [f"x{i + 1}" for i in range(closed.size)],
        "closed form (eq. 15)": closed,
        "numerical (eq. 13)": numerical,
        "difference": closed - numerical,
    })
