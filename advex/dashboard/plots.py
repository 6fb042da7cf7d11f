"""Plotly styling and the dashboard's own charts (Feature-Impact bars of Figures J.4/J.5, IG bars, curves).

One palette for the three model types everywhere (natural, l1-regularized, adversarial), a
clean white template, and a larger font in presentation mode.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from advex.dashboard.presentation import FONT_SCALE

MODEL_COLORS = {"natural": "#4C72B0", "l1-regularized": "#55A868", "adversarial": "#C44E52"}
BASE_FONT = 14


def style(fig: go.Figure, presentation: bool = False, height: int | None = None) -> go.Figure:
    """The dashboard look: white template, readable font (larger when presenting), legend on top."""
    size = round(BASE_FONT * (FONT_SCALE if presentation else 1.0))
    fig.update_layout(
        template="plotly_white",
        font={"size": size},
        title={"font": {"size": round(size * 1.2)}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"l": 60, "r": 20, "t": 70, "b": 60},
    )
    if height is not None:
        fig.update_layout(height=round(height * (1.25 if presentation else 1.0)))
    return fig


def color_of(model_label: str) -> str:
    return MODEL_COLORS.get(model_label, "#8172B2")


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
                                     line={"color": MODEL_COLORS.get(column)}))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y_title)
    return fig


def heatmap_limits(values: np.ndarray, signed: bool) -> tuple[float, float]:
    """Colour range of a saliency map: symmetric about 0 when signed, [0, max] when absolute."""
    peak = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    peak = peak if peak > 0 else 1.0
    return (-peak, peak) if signed else (0.0, peak)
