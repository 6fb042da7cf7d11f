"""The paper's figures: Figure 2 (pointwise dG boxplots), Figure 3 (accuracy vs mean Gini), saliency grids.

Each figure is built in two steps: a tidy ``pandas`` frame (or :class:`SaliencyExamples`) from
measured values, then a renderer: ``*_plotly`` returns an interactive ``plotly`` figure (the
dashboard reuses these; ``write_html`` for files), ``*_matplotlib`` a ``matplotlib`` Figure for
PNG (no browser or kaleido needed).

* Figure 2: per data set and attribution method, boxplots of dG^a[A](x; eps) and dG^l[A](x; lam)
  over test images x (eqs. 19-20).
* Figure 3: for each data set, accuracy against the average Gini G^a[A](eps) / G^l[A](lambda)
  as eps (line A[IG], A[SH]) or lambda (L[IG], L[SH]) varies; the natural model is the common
  starting point (eps = lambda = 0).
* Saliency grids (Figure 1, J.6-J.10): per example the image, then the |attribution| maps of
  the natural, l1 and adversarial models, each titled with its Gini (eq. I.67).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from matplotlib.figure import Figure as MplFigure
from plotly.subplots import make_subplots
from torch import nn

from advex.attribution import explain
from advex.evaluation.attributions import TABLE1_LABELS, AttributionPlan
from advex.metrics.gini import gini
from advex.models.io import atomic_write_bytes
from advex.vocabulary import DATASET_TITLES, MODE_COLORS, MODE_KEYS, MODE_LABELS, Setting, paper_settings

FAMILY_COLORS = {key: MODE_COLORS[mode] for mode, key in MODE_KEYS.items()}
FAMILY_NAMES = {key: MODE_LABELS[mode] for mode, key in MODE_KEYS.items()}
METHOD_SHORT = {"IG": "IG", "SHAP": "SH"}  # the paper's M[A] labels use SH for DeepSHAP
PARTS = ("fig2", "fig3", "saliency")
# Figure 3 sweeps for the tabular sets (logistic models, J.1 protocol); they include Table 1's settings.
TABULAR_EPS = (0.02, 0.05, 0.1, 0.2)
TABULAR_LAM = (0.005, 0.01, 0.02, 0.05)


def _setting(family: str, eps: float, lam: float) -> str:
    return Setting.of_key(family, eps, lam).short()


# ---------------------------------------------------------------- Figure 2: pointwise dG boxplots


def dG_frame(dataset: str, ginis: dict[str, dict[str, np.ndarray]], eps: float, lam: float) -> pd.DataFrame:
    """Pointwise dG (eqs. 19-20) as a long frame: dataset, attr, family ("a"/"l"), setting, dG.

    ``ginis[family][method]`` holds per-example Ginis of the same test examples for families
    "n", "l" and "a" (e.g. from :class:`advex.experiments.image_eval.PointwiseGini`).
    """
    parts = []
    for method, natural in ginis["n"].items():
        for family in ("a", "l"):
            if method not in ginis.get(family, {}):
                continue
            values = np.asarray(ginis[family][method]) - np.asarray(natural)
            parts.append(pd.DataFrame({
                "dataset": dataset, "attr": method, "family": family,
                "setting": _setting(family, eps, lam), "dG": values,
            }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["dataset", "attr", "family", "setting", "dG"])


def figure2_plotly(frame: pd.DataFrame) -> go.Figure:
    """Figure 2: one panel per data set, boxes of pointwise dG per attribution method, a vs l."""
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig = make_subplots(rows=1, cols=max(len(datasets), 1), shared_yaxes=True,
                        subplot_titles=[DATASET_TITLES.get(d, d) for d in datasets])
    shown = set()
    for col, dataset in enumerate(datasets, start=1):
        part = frame[frame["dataset"] == dataset]
        for family in ("a", "l"):
            rows = part[part["family"] == family]
            if rows.empty:
                continue
            name = f"{FAMILY_NAMES[family]}: {rows['setting'].iloc[0]}"
            fig.add_trace(go.Box(
                x=[f"{METHOD_SHORT.get(m, m)}" for m in rows["attr"]], y=rows["dG"],
                name=name, legendgroup=family,
                marker_color=FAMILY_COLORS[family], boxmean=True, showlegend=name not in shown,
                hovertemplate="%{x}: dG=%{y:.4f}<extra>" + rows["setting"].iloc[0] + "</extra>",
            ), row=1, col=col)
            shown.add(name)
    fig.add_hline(y=0.0, line_dash="dot", line_color="gray")
    fig.update_layout(boxmode="group", template="plotly_white", yaxis_title="pointwise dG (eqs. 19-20)",
                      title="Figure 2: pointwise sparseness improvement over the natural model",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0})
    return fig


def figure2_matplotlib(frame: pd.DataFrame) -> MplFigure:
    """Figure 2 as a static matplotlib figure (for PNG)."""
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig = MplFigure(figsize=(3.6 * max(len(datasets), 1), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(datasets), 1), sharey=True))
    for ax, dataset in zip(axes, datasets):
        part = frame[frame["dataset"] == dataset]
        methods = list(dict.fromkeys(part["attr"]))
        positions, values, colors, labels = [], [], [], []
        for i, method in enumerate(methods):
            for j, family in enumerate(("a", "l")):
                rows = part[(part["attr"] == method) & (part["family"] == family)]
                if rows.empty:
                    continue
                positions.append(3 * i + j)
                values.append(rows["dG"].to_numpy())
                colors.append(FAMILY_COLORS[family])
                labels.append(f"{METHOD_SHORT.get(method, method)}\n{family}")
        boxes = ax.boxplot(values, positions=positions, widths=0.8, patch_artist=True, showfliers=True,
                           flierprops={"markersize": 2})
        for patch, color in zip(boxes["boxes"], colors):
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        ax.set_xticks(positions, labels, fontsize=8)
        ax.axhline(0.0, color="gray", linestyle=":", linewidth=1)
        settings = ", ".join(dict.fromkeys(part.loc[part["family"] != "n", "setting"]))
        ax.set_title(f"{DATASET_TITLES.get(dataset, dataset)}\n{settings}", fontsize=9)
    axes[0].set_ylabel("pointwise dG")
    fig.suptitle("Figure 2: pointwise sparseness improvement (a: adversarial, l: l1)", fontsize=10)
    return fig


# ---------------------------------------------------------------- Figure 3: accuracy vs mean Gini


def zoo_tradeoff_frame(cards: list[dict]) -> pd.DataFrame:
    """Figure 3's points from model cards (zoo): dataset, attr, family, param, accuracy, mean_gini, line.

    Uses each card's ``clean_accuracy`` and ``gini`` ({"ig", "shap"}); the natural model is the
    eps = 0 point of the A lines and the lambda = 0 point of the L lines.
    """
    rows = []
    for card in cards:
        gini_card = card.get("gini") or {}
        accuracy = card.get("clean_accuracy")
        if accuracy is None:
            continue
        mode = card.get("mode")
        families = {"natural": ("a", "l"), "adv": ("a",), "l1": ("l",)}.get(mode, ())
        for method, key in (("IG", "ig"), ("SHAP", "deepshap")):
            value = gini_card.get(key)
            if not isinstance(value, (int, float)):
                continue
            for family in families:
                param = 0.0 if mode == "natural" else float(card["eps"] if family == "a" else card["lam"])
                rows.append({"dataset": card.get("dataset"), "attr": method, "family": family, "param": param,
                             "accuracy": float(accuracy), "mean_gini": float(value), "model": card.get("name", mode)})
    return _with_lines(pd.DataFrame(rows, columns=["dataset", "attr", "family", "param", "accuracy", "mean_gini", "model"]))


def tabular_tradeoff_frame(dataset_name: str, eps_values, lam_values, data_dir=None, seed: int = 0,
                           progress=None) -> pd.DataFrame:
    """Figure 3's points for a tabular data set: logistic models (J.1) over eps (A[IG]) and lambda (L[IG]).

    IG only, as in the paper (for 1-layer models DeepSHAP's Gini is virtually the same, Section 6.3).
    """
    from advex.experiments.tabular import load_tabular_or_synthetic, train_and_evaluate

    data = load_tabular_or_synthetic(dataset_name, data_dir=data_dir, seed=seed)
    settings = [("n", 0.0)] + [("a", float(e)) for e in eps_values] + [("l", float(lam)) for lam in lam_values]
    rows = []
    for key, value in settings:
        if progress is not None:
            progress(f"{dataset_name}: {FAMILY_NAMES[key]} {value:g}")
        eps, lam = (value, 0.0) if key == "a" else (0.0, value)
        result = train_and_evaluate(data, Setting.of_key(key, eps, lam), seed)
        for family in (("a", "l") if key == "n" else (key,)):
            rows.append({"dataset": dataset_name, "attr": "IG", "family": family, "param": value,
                         "accuracy": result.accuracy, "mean_gini": result.mean_gini, "model": _setting(key, eps, lam)})
    return _with_lines(pd.DataFrame(rows))


def _with_lines(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the paper's line label M[A] (A = adversarial, L = l1; IG or SH) and sort each line by its parameter."""
    if frame.empty:
        return frame.assign(line=pd.Series(dtype=str))
    frame = frame.assign(line=[f"{f.upper()}[{METHOD_SHORT.get(a, a)}]" for f, a in zip(frame["family"], frame["attr"])])
    return frame.sort_values(["dataset", "line", "param"], kind="stable").reset_index(drop=True)


LINE_STYLES = {"A[IG]": ("#C44E52", "solid"), "A[SH]": ("#DD8452", "dash"),
               "L[IG]": ("#55A868", "solid"), "L[SH]": ("#4C72B0", "dash")}
LINE_NAMES = {"A[IG]": "A[IG]: adversarial over eps, IG", "A[SH]": "A[SH]: adversarial over eps, DeepSHAP",
              "L[IG]": "L[IG]: l1 over lambda, IG", "L[SH]": "L[SH]: l1 over lambda, DeepSHAP"}


def figure3_plotly(frame: pd.DataFrame) -> go.Figure:
    """Figure 3: per data set, accuracy against mean Gini along eps (A lines) and lambda (L lines)."""
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig = make_subplots(rows=1, cols=max(len(datasets), 1),
                        subplot_titles=[DATASET_TITLES.get(d, d) for d in datasets])
    shown = set()
    for col, dataset in enumerate(datasets, start=1):
        part = frame[frame["dataset"] == dataset]
        for line, rows in part.groupby("line", sort=True):
            color, dash = LINE_STYLES.get(line, ("#8172B2", "solid"))
            param = "eps" if line.startswith("A") else "lambda"
            fig.add_trace(go.Scatter(
                x=rows["mean_gini"], y=rows["accuracy"], mode="lines+markers", name=LINE_NAMES.get(line, line),
                legendgroup=line,
                showlegend=line not in shown, line={"color": color, "dash": dash},
                customdata=np.stack([rows["param"], rows["model"]], axis=1),
                hovertemplate=f"{line}<br>{param}=%{{customdata[0]}} (%{{customdata[1]}})<br>"
                              "mean Gini=%{x:.4f}<br>accuracy=%{y:.2%}<extra></extra>",
            ), row=1, col=col)
            shown.add(line)
        fig.update_xaxes(title_text="mean Gini", row=1, col=col)
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", row=1, col=1)
    fig.update_layout(template="plotly_white", title="Figure 3: accuracy vs attribution sparseness",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0})
    return fig


def figure3_matplotlib(frame: pd.DataFrame) -> MplFigure:
    """Figure 3 as a static matplotlib figure (for PNG)."""
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig = MplFigure(figsize=(3.8 * max(len(datasets), 1), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(datasets), 1)))
    for ax, dataset in zip(axes, datasets):
        part = frame[frame["dataset"] == dataset]
        for line, rows in part.groupby("line", sort=True):
            color, dash = LINE_STYLES.get(line, ("#8172B2", "solid"))
            ax.plot(rows["mean_gini"], 100 * rows["accuracy"], marker="o", markersize=3, color=color,
                    linestyle="--" if dash == "dash" else "-", label=line)
        ax.set_title(DATASET_TITLES.get(dataset, dataset), fontsize=10)
        ax.set_xlabel("mean Gini")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("accuracy (%)")
    fig.suptitle("Figure 3: accuracy vs attribution sparseness (A: adversarial over eps, L: l1 over lambda)",
                 fontsize=10)
    return fig


# ---------------------------------------------------------------- saliency grids (Figure 1, J.6-J.10)


@dataclass
class SaliencyExamples:
    """Images and the attribution maps of several models for them, with the maps' Ginis."""

    dataset: str
    method: str  # "IG" or "SHAP"
    images: np.ndarray  # (n, C, H, W) in [0, 1]
    labels: np.ndarray  # (n,)
    indices: np.ndarray  # pool indices
    maps: dict[str, np.ndarray]  # column title -> (n, C, H, W) attributions
    ginis: dict[str, np.ndarray]  # column title -> (n,)
    class_names: list[str] | None = None


def pick_confident_examples(models: dict[str, nn.Module], X: np.ndarray, y: np.ndarray, n: int, seed: int = 0,
                            min_probability: float = 0.9, exclude: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``n`` images (seeded order) that every model classifies correctly with probability >= ``min_probability``.

    As in J.4; if fewer qualify, the most confidently correct remaining images fill up the list.
    """
    candidates = np.random.default_rng(seed).permutation(len(y))
    if exclude is not None and len(exclude):
        candidates = candidates[~np.isin(candidates, exclude)]
    candidates = candidates[: max(50 * n, 500)]
    X_c = torch.as_tensor(X[candidates])
    y_c = torch.as_tensor(y[candidates]).long()
    worst = torch.ones(len(candidates))
    with torch.no_grad():
        for model in models.values():
            model.eval()
            probabilities = torch.cat([torch.softmax(model(X_c[i : i + 500]), dim=1) for i in range(0, len(X_c), 500)])
            worst = torch.minimum(worst, probabilities.gather(1, y_c[:, None])[:, 0])
    worst = worst.numpy()
    confident = candidates[worst >= min_probability]
    if len(confident) >= n:
        return confident[:n]
    rest = candidates[np.argsort(-worst, kind="stable")]
    return np.concatenate([confident, rest[~np.isin(rest, confident)]])[:n]


def saliency_examples(models: dict[str, nn.Module], X: np.ndarray, y: np.ndarray, indices: np.ndarray, method: str,
                      plan: AttributionPlan = AttributionPlan(), X_train: np.ndarray | None = None, dataset: str = "",
                      class_names=None) -> SaliencyExamples:
    """Attribution maps of the true class by each model for the images ``indices`` (``plan``'s reference and output)."""
    images = X[indices]
    labels = np.asarray(y[indices], dtype=np.int64)
    maps, ginis = {}, {}
    for title, model in models.items():
        values = explain(model, images, labels, method=method, reference=plan.reference, output=plan.output,
                         X_train=X_train, n_steps=plan.n_steps, k=plan.k, seed=plan.seed)
        maps[title] = values
        ginis[title] = gini(values)
    return SaliencyExamples(dataset, TABLE1_LABELS.get(method, method), images, labels, np.asarray(indices), maps, ginis,
                            class_names)


def _display(map_chw: np.ndarray) -> np.ndarray:
    """|attribution| summed over channels and scaled to [0, 1] for display (the Gini uses |A| too)."""
    magnitude = np.abs(map_chw).sum(axis=0)
    top = magnitude.max()
    return magnitude / top if top > 0 else magnitude


def _image_hw(image_chw: np.ndarray) -> np.ndarray:
    return image_chw[0] if image_chw.shape[0] == 1 else np.transpose(image_chw, (1, 2, 0))


def _label_text(examples: SaliencyExamples, i: int) -> str:
    label = int(examples.labels[i])
    return examples.class_names[label] if examples.class_names else str(label)


def saliency_plotly(examples: SaliencyExamples, title: str | None = None) -> go.Figure:
    """A grid: one row per image; columns image, then each model's |attribution| map titled with its Gini."""
    columns = list(examples.maps)
    n = len(examples.labels)
    titles = []
    for i in range(n):
        titles.append(f"image (class {_label_text(examples, i)})")
        titles += [f"{c}: Gini {examples.ginis[c][i]:.3f}" for c in columns]
    fig = make_subplots(rows=n, cols=1 + len(columns), subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=0.3 / max(n, 1))
    for i in range(n):
        image = _image_hw(examples.images[i])
        if image.ndim == 2:
            fig.add_trace(go.Heatmap(z=image[::-1], colorscale="gray", showscale=False, zmin=0, zmax=1,
                                     hovertemplate="pixel %{x},%{y}: %{z:.2f}<extra></extra>"), row=i + 1, col=1)
        else:
            fig.add_trace(go.Image(z=(255 * image).astype(np.uint8)), row=i + 1, col=1)
        for j, column in enumerate(columns, start=2):
            fig.add_trace(go.Heatmap(z=_display(examples.maps[column][i])[::-1], colorscale="Hot", reversescale=True,
                                     zmin=0, zmax=1, showscale=False,
                                     hovertemplate="pixel %{x},%{y}: %{z:.3f} of max<extra>" + column + "</extra>"),
                          row=i + 1, col=j)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    for k in range(1, n * (1 + len(columns)) + 1):  # square pixels: each y axis anchored to its own x axis
        fig.layout[f"yaxis{k if k > 1 else ''}"].scaleanchor = f"x{k if k > 1 else ''}"
    method = {"IG": "Integrated Gradients", "SHAP": "DeepSHAP"}.get(examples.method, examples.method)
    fig.update_layout(template="plotly_white", height=230 * n + 80, width=200 * (1 + len(columns)) + 40,
                      title=title or f"{DATASET_TITLES.get(examples.dataset, examples.dataset)}: {method} saliency maps",
                      margin={"l": 10, "r": 10, "t": 80, "b": 10})
    fig.update_annotations(font_size=11)
    return fig


def saliency_matplotlib(examples: SaliencyExamples, title: str | None = None) -> MplFigure:
    """The saliency grid as a static matplotlib figure (for PNG)."""
    columns = list(examples.maps)
    n = len(examples.labels)
    fig = MplFigure(figsize=(2.0 * (1 + len(columns)), 2.1 * n + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 1 + len(columns)))
    for i in range(n):
        image = _image_hw(examples.images[i])
        axes[i, 0].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        axes[i, 0].set_title(f"image (class {_label_text(examples, i)})", fontsize=8)
        for j, column in enumerate(columns, start=1):
            axes[i, j].imshow(_display(examples.maps[column][i]), cmap="hot_r", vmin=0, vmax=1)
            axes[i, j].set_title(f"{column}\nGini {examples.ginis[column][i]:.3f}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    method = {"IG": "Integrated Gradients", "SHAP": "DeepSHAP"}.get(examples.method, examples.method)
    fig.suptitle(title or f"{DATASET_TITLES.get(examples.dataset, examples.dataset)}: {method} saliency maps",
                 fontsize=10)
    return fig


# ---------------------------------------------------------------- files


def write_figure(fig: go.Figure, static: MplFigure, out_dir: str | Path, name: str,
                 include_plotlyjs: bool | str = "cdn") -> list[Path]:
    """Write ``name.png`` (matplotlib, 150 dpi) and ``name.html`` (plotly) into ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    buffer = io.BytesIO()
    static.savefig(buffer, format="png", dpi=150)
    png, html = out_dir / f"{name}.png", out_dir / f"{name}.html"
    atomic_write_bytes(png, buffer.getvalue())
    atomic_write_bytes(html, fig.to_html(include_plotlyjs=include_plotlyjs, full_html=True).encode())
    return [png, html]


# ---------------------------------------------------------------- what `advex figures` draws per data set


def image_figure_parts(dataset: str, only, n_images: int, examples: int, results: Path, plan: AttributionPlan,
                       data_dir=None, seed: int = 0, progress=lambda _message: None):
    """Figure 2 frame, Figure 3 frame and saliency grids (name -> (plotly, matplotlib)) of an image data set (zoo)."""
    from advex.experiments.image_eval import cached_table1_pointwise
    from advex.vocabulary import table1_settings
    from advex.zoo.catalogue import list_models, load_eval_images, load_zoo_model

    settings = paper_settings(dataset)
    dG = tradeoff = None
    grids = {}
    if "fig3" in only:
        tradeoff = zoo_tradeoff_frame(list_models(dataset, include_user=False))
    if "fig2" not in only and "saliency" not in only:
        return dG, tradeoff, grids
    images = load_eval_images(dataset, data_dir=data_dir, seed=seed)
    if "fig2" in only:
        points = cached_table1_pointwise(dataset, images, n_images, seed, results, plan, progress)
        ginis = {key: {TABLE1_LABELS[m]: values for m, values in p.gini.items()} for key, p in points.items()}
        dG = dG_frame(dataset, ginis, settings.eps, settings.lam)
    if "saliency" in only:
        models = {setting.describe(): load_zoo_model(dataset, setting.name)[0]
                  for setting in table1_settings(dataset).values()}
        chosen = pick_confident_examples(models, images.X, images.y, examples, seed, exclude=images.reserved)
        for method in plan.methods:
            progress(f"{dataset}: {method} saliency grid")
            grid = saliency_examples(models, images.X, images.y, chosen, method, plan, images.X_train, dataset)
            grids[f"saliency_{dataset}_{TABLE1_LABELS[method]}"] = (saliency_plotly(grid), saliency_matplotlib(grid))
    return dG, tradeoff, grids


def tabular_figure_parts(dataset: str, only, data_dir=None, seed: int = 0, progress=lambda _message: None):
    """Figure 2 frame (IG, Table 1's eps / lambda) and Figure 3 frame (eps / lambda sweeps) of a tabular data set."""
    from advex.experiments.tabular import load_tabular_or_synthetic, run_tabular_comparison

    settings = paper_settings(dataset)
    dG = tradeoff = None
    if "fig2" in only:
        progress(f"{dataset}: n, l, a models")
        data = load_tabular_or_synthetic(dataset, data_dir=data_dir, seed=seed)
        comparison = run_tabular_comparison(data, settings.eps, settings.lam, seed=seed)
        ginis = {key: {"IG": result.gini} for key, result in comparison.results.items()}
        dG = dG_frame(dataset, ginis, settings.eps, settings.lam)
    if "fig3" in only:
        tradeoff = tabular_tradeoff_frame(dataset, TABULAR_EPS, TABULAR_LAM, data_dir, seed, progress)
    return dG, tradeoff
