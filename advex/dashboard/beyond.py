"""Beyond the paper: the gain of a and l over n for every explainer and sparseness measure, and precision at k.

The rows are those of ``advex beyond --json`` (:func:`advex.experiments.beyond.run_beyond` and
:func:`advex.experiments.beyond.ground_truth`). The file shipped beside the zoo (``zoo_dir()/"beyond.json"``)
lets the view open offline at once; it is read, checked and turned into the view's frames once per
file version and shared by every session. Each heatmap row links to the Saliency page with that
explainer and data set (``?method=...&images=...``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from advex.attribution.methods import METHOD_LABELS, METHODS
from advex.dashboard import saliency
from advex.dashboard.cache import SharedLRU
from advex.dashboard.navigation import SALIENCY
from advex.dashboard.results_file import read_checked_rows
from advex.errors import AdvexError
from advex.experiments.beyond import BEYOND_DATASETS, GROUND_TRUTH, SPARSENESS, cells_of, sparser, summary
from advex.experiments.ground_truth import PRECISION
from advex.metrics.measures import MEASURE_NAMES, MEASURES
from advex.vocabulary import DATASET_TITLES, KEYS, MODE_LABELS, MODE_OF_KEY, TABLE1_IMAGE_DATASETS

RESULTS_NAME = "beyond.json"
MAX_RESULTS_BYTES = 16 * 2**20  # a full run is ~700 rows (~500 kB); anything far larger is not a results file
VERDICTS = ("a", "l", "overlap")
CELL_COLUMNS = ["dataset", "method", "measure", "value_n", "gain_a", "ci_a", "gain_l", "ci_l", "a_sparser", "verdict",
                "eps", "lam", "n_images", "pool"]
PRECISION_COLUMNS = ["method", "model", "setting", "eps", "lam", "precision", "ci95", "k", "n_images"]
FIX = "produce them with `advex beyond --json FILE`"


def shipped_path() -> Path:
    """The results shipped beside the zoo (produced with `advex beyond --json`)."""
    from advex.zoo.catalogue import zoo_dir

    return zoo_dir() / RESULTS_NAME


# ---------------------------------------------------------------- reading and checking a results file


def _not_number(value: object, optional: bool) -> bool:
    if value is None:
        return not optional
    return isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)


def _problem(row: object) -> str | None:
    """Why ``row`` is not a row of `advex beyond` (None when it is one)."""
    if not isinstance(row, dict):
        return "is not an object"
    measures = MEASURE_NAMES if row.get("table") == SPARSENESS else (PRECISION,)
    for key, allowed in (("table", (SPARSENESS, GROUND_TRUTH)), ("dataset", BEYOND_DATASETS), ("method", METHODS),
                         ("model", KEYS), ("measure", measures)):
        if row.get(key) not in allowed:
            return f"has {key} {row.get(key)!r}, not one of {', '.join(allowed)}"
    for key, optional in (("eps", False), ("lam", False), ("value", True), ("improvement", True), ("improvement_ci95", True)):
        if _not_number(row.get(key), optional):
            return f"has {key} {row.get(key)!r}, not a finite number"
    if row["table"] == SPARSENESS and row.get("a_vs_l") not in VERDICTS:
        return f"has a_vs_l {row.get('a_vs_l')!r}, not one of {', '.join(VERDICTS)}"
    if row["table"] == GROUND_TRUTH and (not isinstance(row.get("k"), int) or row["k"] < 1):
        return f"has k {row.get('k')!r}, not a count of strong features"
    if isinstance(row.get("n_images"), bool) or not isinstance(row.get("n_images"), int) or row["n_images"] < 0:
        return f"has n_images {row.get('n_images')!r}, not a count of examples"
    return None


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a results file (a JSON list of `advex beyond` rows), checked; AdvexError otherwise."""
    return read_checked_rows(path, kind="`advex beyond` results", rows_name="`advex beyond` rows", fix=FIX,
                             max_bytes=MAX_RESULTS_BYTES, problem=_problem)


def _float(value) -> float:
    return float("nan") if value is None else float(value)


def cells_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per (data set, method, measure) with the n, l and a models: n's mean, the gains ± CI of a and l."""
    records = [{
        "dataset": n["dataset"], "method": n["method"], "measure": n["measure"], "value_n": _float(n["value"]),
        "gain_a": _float(a["improvement"]), "ci_a": _float(a["improvement_ci95"]),
        "gain_l": _float(l_row["improvement"]), "ci_l": _float(l_row["improvement_ci95"]), "a_sparser": sparser(a),
        "verdict": a["a_vs_l"], "eps": float(a["eps"]), "lam": float(l_row["lam"]), "n_images": int(a["n_images"]),
        "pool": str(a.get("pool") or "?"),
    } for n, l_row, a in ((cell["n"], cell["l"], cell["a"]) for cell in cells_of(rows))]
    order = [{value: i for i, value in enumerate(values)} for values in (BEYOND_DATASETS, METHODS, MEASURE_NAMES)]
    records.sort(key=lambda r: (order[0][r["dataset"]], order[1][r["method"]], order[2][r["measure"]]))
    return pd.DataFrame(records, columns=CELL_COLUMNS)


def precision_frame(rows: list[dict]) -> pd.DataFrame:
    """The ground-truth rows: precision at k per method and model (n at eps 0, l, a over eps)."""
    records = [{"method": r["method"], "model": r["model"], "setting": r.get("setting", r["model"]), "eps": float(r["eps"]),
                "lam": float(r["lam"]), "precision": _float(r["value"]), "ci95": _float(r.get("value_ci95")),
                "k": int(r["k"]), "n_images": int(r["n_images"])} for r in rows if r["table"] == GROUND_TRUTH]
    frame = pd.DataFrame(records, columns=PRECISION_COLUMNS)
    rank = {method: i for i, method in enumerate(METHODS)}
    return frame.sort_values(["method", "eps"], key=lambda s: s.map(rank) if s.name == "method" else s, kind="stable",
                             ignore_index=True)


# ---------------------------------------------------------------- one results file, built once per version


@dataclass(frozen=True)
class Results:
    """One results file: its rows, the view's frames, the plain-language reading and where it comes from."""

    path: Path
    rows: tuple[dict, ...]
    cells: pd.DataFrame
    precision: pd.DataFrame
    reading: tuple[str, ...]
    version: tuple  # (path, size, mtime): what the shared caches are keyed on

    def describe(self) -> str:
        """Where the numbers come from: examples per data set."""
        pools = dict.fromkeys(f"{DATASET_TITLES.get(d, d)}: {p}" for d, p in zip(self.cells["dataset"], self.cells["pool"]))
        return f"Results shipped with the zoo ({self.path}): " + "; ".join(pools) + "."


RESULTS: SharedLRU[Results] = SharedLRU(max_entries=4)


def results(path: str | Path | None = None) -> Results | None:
    """The results at ``path`` (default: shipped with the zoo) when that file exists; built once per file version."""
    path = Path(path) if path is not None else shipped_path()
    try:
        stat = path.stat()
    except OSError:
        return None

    def build() -> Results:
        rows = read_rows(path)
        return Results(path, tuple(rows), cells_frame(rows), precision_frame(rows), tuple(summary(rows)), version)

    version = (str(path), stat.st_size, stat.st_mtime_ns)
    return RESULTS.get_or_compute(version, build)


# ---------------------------------------------------------------- the heatmap and its links


def saliency_query(dataset: str, method: str) -> dict[str, str]:
    """The Saliency page's URL parameters that show ``method``'s maps on ``dataset``."""
    return {"method": saliency.URL_VALUES[method], "images": dataset}


def saliency_link(dataset: str, method: str) -> str:
    """A relative link to the Saliency page with ``method`` and ``dataset`` chosen."""
    return f"{SALIENCY.url_path}?{urlencode(saliency_query(dataset, method))}"


def _method_tick(dataset: str, method: str) -> str:
    label = METHOD_LABELS[method]
    if dataset not in TABLE1_IMAGE_DATASETS:
        return label
    return f'<a href="{saliency_link(dataset, method)}" target="_self">{label}</a>'


def heatmap(cells: pd.DataFrame, key: str = "a") -> go.Figure:
    """The gain over n of model ``key`` ("a" or "l"), explainer x measure, one panel per data set.

    Positive (blue) = sparser than n. A cell's text is the gain; "▲" marks a cell where a beats l with the
    95% CIs apart ("▼" where l beats a). Image panels' explainer names link to the Saliency page.
    """
    if key not in ("a", "l"):
        raise AdvexError(f"the heatmap shows the gain of a or l, got {key!r}")
    datasets = list(dict.fromkeys(cells["dataset"]))
    fig = make_subplots(rows=max(len(datasets), 1), cols=1, vertical_spacing=0.12 / max(len(datasets), 1) + 0.03,
                        subplot_titles=[DATASET_TITLES.get(d, d) for d in datasets])
    limit = float(cells[f"gain_{key}"].abs().max()) if len(cells) else 1.0
    limit = limit if math.isfinite(limit) and limit > 0 else 1.0
    marks = {"a": " ▲", "l": " ▼", "overlap": ""}
    for index, dataset in enumerate(datasets, start=1):
        part = cells[cells["dataset"] == dataset]
        methods = [m for m in METHODS if m in set(part["method"])]
        measures = [m for m in MEASURE_NAMES if m in set(part["measure"])]
        by_cell = part.set_index(["method", "measure"])
        z, text, hover = [], [], []
        for method in methods:
            z.append([]), text.append([]), hover.append([])
            for measure in measures:
                row = by_cell.loc[(method, measure)] if (method, measure) in by_cell.index else None
                gain = None if row is None or not math.isfinite(row[f"gain_{key}"]) else float(row[f"gain_{key}"])
                z[-1].append(gain)
                text[-1].append("" if gain is None else f"{gain:+.3f}{marks[row['verdict']]}")
                hover[-1].append("no result" if row is None else
                                 f"{METHOD_LABELS[method]} · {MEASURES[measure].label}<br>n: {row['value_n']:.4f}<br>"
                                 f"gain of a: {row['gain_a']:+.4f} ± {row['ci_a']:.4f}<br>"
                                 f"gain of l: {row['gain_l']:+.4f} ± {row['ci_l']:.4f}<br>"
                                 f"{row['n_images']} examples (95% CIs, paired)")
        fig.add_trace(go.Heatmap(
            z=z, x=measures, y=[_method_tick(dataset, m) for m in methods], text=text, texttemplate="%{text}",
            customdata=hover, hovertemplate="%{customdata}<extra></extra>", name=dataset, zmin=-limit, zmax=limit,
            zmid=0.0, colorscale="RdBu", showscale=index == 1,
            colorbar={"title": {"text": f"gain of {key}"}, "len": 0.5, "y": 1, "yanchor": "top"},
        ), row=index, col=1)
        fig.update_yaxes(autorange="reversed", row=index, col=1)
    setting = "Table 1's eps" if key == "a" else "Table 1's lambda"
    fig.update_layout(title=f"Gain in sparseness of {key} ({MODE_LABELS[MODE_OF_KEY[key]]}, {setting}) over n, "
                            "positive = sparser; ▲ a beats l (95% CIs apart), ▼ l beats a",
                      height=300 * max(len(datasets), 1) + 100)
    return fig


def cells_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells as the page's table: labels in words and the verdict."""
    words = {"a": "a ahead (95% CIs apart)", "l": "l ahead (95% CIs apart)", "overlap": "95% CIs overlap"}
    return cells.assign(method=cells["method"].map(METHOD_LABELS), measure=cells["measure"].map(lambda m: MEASURES[m].label),
                        verdict=cells["verdict"].map(words)).rename(columns={
        "value_n": "n", "gain_a": "gain a", "ci_a": "a ± (95% CI)", "gain_l": "gain l", "ci_l": "l ± (95% CI)",
        "a_sparser": "a sparser than n (95%)", "verdict": "a vs l", "n_images": "examples"})


# ---------------------------------------------------------------- precision at k against eps


def precision_figure(frame: pd.DataFrame) -> go.Figure:
    """Precision at k against eps per explainer (n at eps 0, then the a-models), l as a dotted level per explainer."""
    fig = go.Figure()
    palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3"]
    symbols = ["circle", "square", "diamond", "cross", "x", "triangle-up", "star"]  # explainers that coincide stay visible
    top = float(frame["eps"].max()) if len(frame) else 0.0
    for index, method in enumerate(dict.fromkeys(frame["method"])):
        part = frame[frame["method"] == method]
        colour = palette[index % len(palette)]
        path = part[part["model"].isin(["n", "a"])].sort_values("eps")
        fig.add_trace(go.Scatter(
            x=path["eps"].tolist(), y=path["precision"].tolist(), mode="lines+markers", name=METHOD_LABELS[method],
            legendgroup=method, line={"color": colour}, marker={"symbol": symbols[index % len(symbols)], "size": 9},
            error_y={"type": "data", "array": path["ci95"].tolist(), "visible": True},
            hovertemplate=f"{METHOD_LABELS[method]}<br>eps %{{x:g}}<br>precision %{{y:.3f}} ± %{{error_y.array:.3f}}<extra></extra>",
        ))
        for row in part[part["model"] == "l"].itertuples():
            fig.add_trace(go.Scatter(
                x=[0.0, top], y=[row.precision, row.precision], mode="lines", name=f"{METHOD_LABELS[method]}, l",
                legendgroup=method, showlegend=False, line={"color": colour, "dash": "dot"},
                hovertemplate=f"{METHOD_LABELS[method]}, l (lambda {row.lam:g})<br>precision {row.precision:.3f}<extra></extra>",
            ))
    k = int(frame["k"].iloc[0]) if len(frame) else 0
    fig.update_layout(title=f"Concise and correct? Precision at k = {k} on the synthetic set's strong features "
                            "(dotted: l)", xaxis_title="eps of the adversarial model (0: natural)",
                      yaxis_title=f"share of the {k} largest |A_i| on strong features", legend={"orientation": "h", "y": -0.2})
    low = float(frame["precision"].min() - frame["ci95"].fillna(0).max()) if len(frame) else 0.0
    fig.update_yaxes(range=[max(0.0, min(low, 0.9) - 0.05), 1.02])
    return fig


def precision_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Precision at k as the page's table: explainer (rows) x model (columns)."""
    columns = {(m, s): ("n (eps 0)" if m == "n" else f"{m} ({s})") for m, s in zip(frame["model"], frame["setting"])}
    table = frame.assign(column=[columns[(m, s)] for m, s in zip(frame["model"], frame["setting"])],
                         method=frame["method"].map(METHOD_LABELS))
    wide = table.pivot(index="method", columns="column", values="precision")
    ordered = [c for c in dict.fromkeys(columns.values()) if c in wide.columns]
    return wide.reindex(index=[METHOD_LABELS[m] for m in dict.fromkeys(frame["method"])], columns=ordered)



FIGURES: SharedLRU[go.Figure] = SharedLRU(max_entries=16)


def figure(found: Results, kind: str, presenting: bool) -> go.Figure:
    """The page's chart ``kind`` ("a", "l": the heatmap of that model's gain; "precision"), styled, built once per
    file version and shared by every session."""
    from advex.dashboard.plots import style

    def build() -> go.Figure:
        if kind == "precision":
            return style(precision_figure(found.precision), presenting, height=480)
        fig = heatmap(found.cells, kind)
        fig = style(fig, presenting, height=fig.layout.height)
        return fig.update_layout(margin={"l": 190, "t": 110})  # room for the explainers' names and the two-line title

    return FIGURES.get_or_compute((found.version, kind, presenting), build)
