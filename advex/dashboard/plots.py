"""Plotly styling and the dashboard's own charts (Feature-Impact bars of Figures J.4/J.5, IG bars, curves).

One palette for the three model types everywhere (natural, l1-regularized, adversarial), a
clean white template, and a larger font in presentation mode.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from advex.dashboard.presentation import FONT_SCALE

MODEL_COLORS = {"natural": "#4C72B0", "l1-regularized": "#55A868", "adversarial": "#C44E52"}
BASE_FONT = 14


def use_dashboard_template() -> None:
    """Make ``plotly_white`` this process's default template (the dashboard server calls it once).

    A figure picks up the default when it is created, without the validation and deep copy that
    assigning a template to each figure costs (~10 ms a figure, a large share of a page run).
    """
    pio.templates.default = "plotly_white"


def style(fig: go.Figure, presentation: bool = False, height: int | None = None) -> go.Figure:
    """The dashboard look: readable font (larger when presenting), legend on top.

    A figure that placed its legend below the plot (the multi-panel Figures 2 and 3, whose panel titles
    sit where a top legend would go) keeps it there, with room for it.
    """
    size = round(BASE_FONT * (FONT_SCALE if presentation else 1.0))
    legend_below = fig.layout.legend.y is not None and fig.layout.legend.y < 0
    fig.update_layout(
        font={"size": size},
        title={"font": {"size": round(size * 1.2)}},
        margin={"l": 60, "r": 20, "t": 70, "b": 130 if legend_below else 60},
    )
    if not legend_below:
        fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0})
    if height is not None:
        fig.update_layout(height=round(height * (1.25 if presentation else 1.0)))
    return fig


def color_of(model_label: str) -> str:
    """The palette colour of a model label such as "adversarial eps=0.3" (matched by its first word)."""
    for name, color in MODEL_COLORS.items():
        if model_label.startswith(name.split("-")[0]):
            return color
    return "#8172B2"


def feature_impact_bars(frame: pd.DataFrame, title: str, models: Iterable[str] | None = None) -> go.Figure:
    """Grouped bars of Feature Impact (App. H) per feature and model, in the frame's feature order.

    ``frame`` is long (feature, model, FI) sorted by the natural model's FI, as in Figures J.4/J.5.
    """
    models = list(models) if models is not None else list(dict.fromkeys(frame["model"]))
    features = list(dict.fromkeys(frame["feature"]))
    fig = go.Figure()
    for model in models:
        rows = frame[frame["model"] == model].set_index("feature").reindex(features)
        fig.add_trace(go.Bar(name=model, x=features, y=rows["FI"], marker_color=color_of(model)))
    fig.update_layout(
        title=title, barmode="group", xaxis_title="feature", yaxis_title="Feature Impact (mean |IG|, summed per feature)",
        xaxis_tickangle=-60,
    )
    return fig


def example_ig_bars(frame: pd.DataFrame, title: str, top: int = 25) -> go.Figure:
    """Signed IG of one example per feature and model (columns: one per model; index: feature).

    Shows the ``top`` features by largest |IG| over the models, sorted by the first column.
    """
    magnitude = frame.abs().max(axis=1)
    shown = frame.loc[magnitude.sort_values(ascending=False, kind="stable").index[:top]]
    shown = shown.reindex(shown.iloc[:, 0].abs().sort_values(ascending=False, kind="stable").index)
    fig = go.Figure()
    for model in shown.columns:
        fig.add_trace(go.Bar(name=model, x=list(shown.index), y=shown[model], marker_color=color_of(model)))
    fig.update_layout(title=title, barmode="group", xaxis_title="feature value (column)", yaxis_title="IG",
                      xaxis_tickangle=-60)
    return fig


def curves(frame: pd.DataFrame, x: str, columns: Iterable[str], title: str, y_title: str) -> go.Figure:
    """Line chart of ``columns`` of ``frame`` against column ``x`` (training curves, stability vs eps)."""
    fig = go.Figure()
    for column in columns:
        if column in frame:
            fig.add_trace(go.Scatter(x=frame[x], y=frame[column], mode="lines+markers", name=column,
                                     line={"color": color_of(str(column))}))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y_title)
    return fig


def heatmap_limits(values: np.ndarray, signed: bool) -> tuple[float, float]:
    """Colour range of a saliency map: symmetric about 0 when signed, [0, max] when absolute."""
    peak = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    peak = peak if peak > 0 else 1.0
    return (-peak, peak) if signed else (0.0, peak)


def _gray_or_rgb(image: np.ndarray) -> go.Trace:
    """The input image as a trace: grey heatmap for one channel, an RGB image for three."""
    if image.shape[0] == 1:
        return go.Heatmap(z=image[0], colorscale="gray", showscale=False, zmin=0, zmax=1, hoverinfo="skip")
    return go.Image(z=np.clip(image.transpose(1, 2, 0) * 255, 0, 255).astype(np.uint8), hoverinfo="skip")


def saliency_grid(
    images: list[np.ndarray],
    columns: list[str],
    maps: list[list[np.ndarray]],
    titles: list[list[str]],
    row_titles: list[str],
    signed: bool,
    overlay: bool,
    masks: list[list[np.ndarray]] | None = None,
    cell: int = 250,
) -> go.Figure:
    """A grid of saliency maps (Figure 1, J.6-J.10): one row per image, the input then one column per model.

    ``maps[r][c]`` is the (H, W) map of image r under model c, ``titles[r][c]`` its caption (Gini,
    probability; ``<br>`` breaks a line). ``cell`` is the height of one row in pixels. Signed maps use a
    diverging scale centred on 0 (red positive, blue negative), absolute maps a sequential one; each row
    shares one colour range so models compare fairly.
    ``overlay`` draws the map translucently over the image; ``masks`` blank the pixels outside the
    kept share of attribution mass. The colour bar shows the first row's range.
    """
    from plotly.subplots import make_subplots

    n_rows, n_cols = len(images), len(columns) + 1
    subplot_titles = []
    for r in range(n_rows):
        subplot_titles += [row_titles[r]] + titles[r]
    height = cell * n_rows + 100
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=subplot_titles,
                        horizontal_spacing=0.02, vertical_spacing=min(70 / height, 0.3))
    colorscale = "RdBu_r" if signed else "Hot_r"
    for r, image in enumerate(images):
        fig.add_trace(_gray_or_rgb(image), row=r + 1, col=1)
        shown = [m if signed else np.abs(m) for m in maps[r]]
        low, high = heatmap_limits(np.stack(shown), signed)
        for c, values in enumerate(shown):
            if overlay:
                fig.add_trace(_gray_or_rgb(image), row=r + 1, col=c + 2)
            z = values.astype(np.float64)
            if masks is not None:
                z = np.where(masks[r][c], z, np.nan)
            fig.add_trace(
                go.Heatmap(z=z, colorscale=colorscale, zmin=low, zmax=high, zmid=0 if signed else None,
                           opacity=0.65 if overlay else 1.0, showscale=(r == 0 and c == len(shown) - 1),
                           colorbar={"len": 0.5, "thickness": 12} if (r == 0 and c == len(shown) - 1) else None,
                           hovertemplate="x=%{x} y=%{y}<br>attribution=%{z:.2e}<extra></extra>"),
                row=r + 1, col=c + 2,
            )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed",
                     scaleanchor="x", constrain="domain")
    for index in range(1, n_rows * n_cols + 1):
        fig.update_yaxes(scaleanchor=f"x{index if index > 1 else ''}", row=(index - 1) // n_cols + 1,
                         col=(index - 1) % n_cols + 1)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig

