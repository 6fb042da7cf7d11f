"""How robust is the conclusion? dG of the a- and l-models for every reference and output, from `advex ablate` results.

The rows are those of :func:`advex.experiments.ablation.run_ablation` (one per data set, attribution,
reference, output and model; dG of eqs. 21-22 with the 95% CI of the paired per-image differences,
eqs. 19-20). Two files can hold them: the one shipped beside the zoo (``zoo_dir()/"ablation.json"``,
so the view opens offline at once) and one recomputed on this server (``cache_dir()/"ablation"``).
Each file is read, checked and turned into the view's frame once per file version and shared by
every session. A recompute runs in the background, one at a time per server, on the data this
server has (the zoo's test sample when a data set is absent), and resumes from its per-image
results when it was stopped.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from advex.dashboard.cache import SharedLRU
from advex.dashboard.jobs import Job, JobQueue
from advex.dashboard.results_file import read_checked_rows
from advex.dashboard.saliency_view import paper_marked
from advex.errors import AdvexError
from advex.evaluation.attributions import TABLE1_LABELS
from advex.metrics.sparseness import verdict
from advex.vocabulary import (
    DATASET_TITLES,
    IMAGE_DATASETS,
    KEYS,
    MODE_COLORS,
    MODE_LABELS,
    MODE_OF_KEY,
    OUTPUTS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    REFERENCES,
    TABLE1_IMAGE_DATASETS,
    table1_settings,
)

RESULTS_NAME = "ablation.json"
SHIPPED, RECOMPUTED = "shipped", "recomputed"
SOURCES = (RECOMPUTED, SHIPPED)
MAX_RESULTS_BYTES = 16 * 2**20  # a full grid is ~120 rows (~50 kB); anything far larger is not an ablation file
ATTRS = tuple(TABLE1_LABELS.values())  # ("IG", "SHAP")
ATTR_NAMES = {"IG": "IG", "SHAP": "DeepSHAP"}
CELL = ("dataset", "attr", "reference", "output")
CELL_COLUMNS = [*CELL, "dG_a", "ci_a", "dG_l", "ci_l", "gini_n", "eps", "lam", "n_images", "pool", "paper_choice", "verdict"]
LEGEND_SETTING = {"a": "eps", "l": "lambda"}
VERDICTS = {"a": "a ahead (95% CIs apart)", "l": "l ahead (95% CIs apart)", "overlap": "95% CIs overlap"}


def shipped_path() -> Path:
    """The results shipped beside the zoo (produced with `advex ablate --json`)."""
    from advex.zoo.catalogue import zoo_dir

    return zoo_dir() / RESULTS_NAME


def recompute_dir() -> Path:
    """Where a recompute on this server keeps its results and, under ``work/``, its per-image Ginis."""
    from advex.data.paths import cache_dir

    return cache_dir() / "ablation"


def results_path(source: str) -> Path:
    return shipped_path() if source == SHIPPED else recompute_dir() / RESULTS_NAME


# ---------------------------------------------------------------- reading and checking a results file


def _problem(row: object) -> str | None:
    """Why ``row`` is not an ablation row (None when it is one)."""
    if not isinstance(row, dict):
        return "is not an object"
    for key, allowed in (("dataset", IMAGE_DATASETS), ("attr", ATTRS), ("reference", REFERENCES), ("output", OUTPUTS),
                         ("model", KEYS)):
        if row.get(key) not in allowed:
            return f"has {key} {row.get(key)!r}, not one of {', '.join(allowed)}"
    numbers = ["mean_gini", "eps", "lam"] + (["dG", "dG_ci95"] if row["model"] != "n" else [])
    for key in numbers:
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"has {key} {value!r}, not a finite number"
    if not isinstance(row.get("n_images"), int) or row["n_images"] < 1:
        return f"has n_images {row.get('n_images')!r}, not a count of images"
    return None


def read_rows(path: str | Path) -> list[dict]:
    """The rows of an ablation results file (a JSON list of `advex ablate` rows), checked; AdvexError otherwise."""
    fix = "recompute them on the Trade-offs page or with `advex ablate --json FILE`"
    return read_checked_rows(path, kind="ablation results", rows_name="ablation rows", fix=fix,
                             max_bytes=MAX_RESULTS_BYTES, problem=_problem)


def cells_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per (data set, attribution, reference, output) that has the n, l and a models: dG ± CI of a and l."""
    grouped: dict[tuple, dict[str, dict]] = {}
    for row in rows:  # a later row of the same cell and model replaces an earlier one
        grouped.setdefault(tuple(row[key] for key in CELL), {})[row["model"]] = row
    records = []
    for cell, models in grouped.items():
        if not set(KEYS) <= set(models):
            continue
        a, l_row, n = models["a"], models["l"], models["n"]
        records.append({
            **dict(zip(CELL, cell)), "dG_a": float(a["dG"]), "ci_a": float(a["dG_ci95"]),
            "dG_l": float(l_row["dG"]), "ci_l": float(l_row["dG_ci95"]), "gini_n": float(n["mean_gini"]),
            "eps": float(a["eps"]), "lam": float(l_row["lam"]), "n_images": int(a["n_images"]),
            "pool": str(a.get("pool") or "?"), "paper_choice": cell[2] == PAPER_REFERENCE and cell[3] == PAPER_OUTPUT,
            "verdict": verdict(a["dG"], a["dG_ci95"], l_row["dG"], l_row["dG_ci95"]),
        })
    order = [{value: i for i, value in enumerate(values)} for values in (IMAGE_DATASETS, ATTRS, REFERENCES, OUTPUTS)]
    records.sort(key=lambda record: tuple(rank[record[key]] for rank, key in zip(order, CELL)))
    return pd.DataFrame(records, columns=CELL_COLUMNS)


# ---------------------------------------------------------------- one results file, built once per version


@dataclass(frozen=True)
class Results:
    """One results file: its rows, the view's frame, the plain-language reading and a line on where it comes from."""

    source: str
    path: Path
    rows: tuple[dict, ...]
    cells: pd.DataFrame
    reading: tuple[str, ...]
    modified: float
    index: dict[tuple, dict]  # (dataset, attr, reference, output, model) -> its last row
    version: tuple  # (source, path, size, mtime): what the shared caches are keyed on

    def describe(self) -> str:
        """Where the numbers come from: shipped or recomputed, images per cell and their pool."""
        counts = sorted({int(row["n_images"]) for row in self.rows})
        pools = sorted({str(row.get("pool") or "?") for row in self.rows})
        images = "/".join(str(count) for count in counts) or "no"
        origin = ("shipped with the zoo" if self.source == SHIPPED else
                  "recomputed on this server " + pd.Timestamp(self.modified, unit="s").strftime("(%Y-%m-%d %H:%M UTC)"))
        return (f"Ablation results {origin}: {images} images per cell from the {' and '.join(pools)}, "
                f"{len(self.cells)} choices ({self.path}).")

    def row(self, dataset: str, attr: str, reference: str, output: str, model: str) -> dict | None:
        """The (last) row of this cell and model, or None."""
        return self.index.get((dataset, attr, reference, output, model))


RESULTS: SharedLRU[Results] = SharedLRU(max_entries=4)


def results(source: str) -> Results | None:
    """The ``source`` results (shipped or recomputed) when that file exists; built once per file version."""
    path = results_path(source)
    try:
        stat = path.stat()
    except OSError:
        return None

    def build() -> Results:
        rows = read_rows(path)
        cells = cells_frame(rows)
        index = {(*(row[key] for key in CELL), row["model"]): row for row in rows}
        return Results(source, path, tuple(rows), cells, tuple(reading(cells)), stat.st_mtime, index, version)

    version = (source, str(path), stat.st_size, stat.st_mtime_ns)
    return RESULTS.get_or_compute(version, build)


def available_sources() -> list[str]:
    """The results files that exist here, recomputed (the freshest) first."""
    return [source for source in SOURCES if results_path(source).is_file()]


# ---------------------------------------------------------------- the reading and the chart


def _choice(cell) -> str:
    return f"{DATASET_TITLES.get(cell.dataset, cell.dataset)} {ATTR_NAMES[cell.attr]}, {cell.reference}, {cell.output}"


def reading(cells: pd.DataFrame) -> list[str]:
    """A plain-language reading of the cells: how often a beats l overall and per data set and attribution."""
    if cells.empty:
        return ["No choice has results for all three models (n, l and a) yet."]
    total = len(cells)
    ahead = int((cells["dG_a"] > cells["dG_l"]).sum())
    apart = int((cells["verdict"] == "a").sum())
    behind = cells[cells["verdict"] == "l"]
    lines = [f"Adversarial training (a) makes explanations sparser than l1 regularization (l) does, i.e. larger dG, "
             f"under **{ahead} of {total}** choices (data set, attribution, reference, output); under {apart} of them "
             f"the 95% confidence intervals do not overlap."]
    if len(behind):
        lines.append(f"l is clearly ahead under {len(behind)}: " + "; ".join(_choice(c) for c in behind.itertuples()) + ".")
    for (dataset, attr), part in cells.groupby(["dataset", "attr"], sort=False):
        line = (f"{DATASET_TITLES.get(dataset, dataset)}, {ATTR_NAMES[attr]}: a beats l under "
                f"{int((part['dG_a'] > part['dG_l']).sum())} of {len(part)} choices "
                f"({int((part['verdict'] == 'a').sum())} with CIs apart)")
        paper = part[part["paper_choice"]]
        if len(paper):
            cell = paper.iloc[0]
            line += (f"; the paper's choice ({PAPER_REFERENCE}, {PAPER_OUTPUT}): dG a {cell.dG_a:.3f} ± {cell.ci_a:.3f}, "
                     f"l {cell.dG_l:.3f} ± {cell.ci_l:.3f}")
        lines.append(line + ".")
    return lines


def conclusion_plotly(cells: pd.DataFrame) -> go.Figure:
    """dG of a and l (bars, 95% CI error bars) per reference; one panel per data set, attribution and output.

    The paper's reference is labelled "(paper)" and shaded in the panels of the paper's output.
    """
    datasets = list(dict.fromkeys(cells["dataset"]))
    panels = [(attr, output) for attr in ATTRS for output in OUTPUTS
              if ((cells["attr"] == attr) & (cells["output"] == output)).any()]
    titles = [f"{DATASET_TITLES.get(d, d)} · {ATTR_NAMES[a]} · {paper_marked(o, PAPER_OUTPUT)}"
              for d in datasets for a, o in panels]
    fig = make_subplots(rows=max(len(datasets), 1), cols=max(len(panels), 1), subplot_titles=titles,
                        horizontal_spacing=0.05, vertical_spacing=0.2)
    shown = set()
    for r, dataset in enumerate(datasets, start=1):
        for c, (attr, output) in enumerate(panels, start=1):
            part = cells[(cells["dataset"] == dataset) & (cells["attr"] == attr) & (cells["output"] == output)]
            if part.empty:
                continue
            x = [paper_marked(reference, PAPER_REFERENCE) for reference in part["reference"]]
            for key in ("a", "l"):
                mode = MODE_OF_KEY[key]
                setting = f"eps {part['eps'].iloc[0]:g}" if key == "a" else f"lambda {part['lam'].iloc[0]:g}"
                fig.add_trace(go.Bar(
                    x=x, y=part[f"dG_{key}"], name=f"{key}: {MODE_LABELS[mode]} (Table 1's {LEGEND_SETTING[key]})",
                    legendgroup=key,
                    showlegend=key not in shown, marker_color=MODE_COLORS[mode],
                    error_y={"type": "data", "array": part[f"ci_{key}"].tolist(), "visible": True},
                    customdata=part[["n_images"]].to_numpy(),
                    hovertemplate=f"{key} ({setting})<br>%{{x}}<br>dG=%{{y:.4f}} ± %{{error_y.array:.4f}} (95% CI)"
                                  "<br>%{customdata[0]} images<extra></extra>",
                ), row=r, col=c)
                shown.add(key)
            if output == PAPER_OUTPUT and PAPER_REFERENCE in set(part["reference"]):
                at = list(part["reference"]).index(PAPER_REFERENCE)
                fig.add_vrect(x0=at - 0.5, x1=at + 0.5, fillcolor="#999999", opacity=0.2, line_width=0, layer="below",
                              row=r, col=c)
        fig.update_yaxes(title_text="dG (eqs. 21-22)", row=r, col=1)
    fig.update_layout(title="How robust is the conclusion? dG of a vs l for every reference and output", barmode="group",
                      height=330 * max(len(datasets), 1) + 80,
                      legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0})
    return fig


FIGURES: SharedLRU[go.Figure] = SharedLRU(max_entries=8)


def figure(results: Results, presenting: bool) -> go.Figure:
    """The chart of ``results``, styled for the page (or the projector), built once per file version and shared."""
    from advex.dashboard.plots import style

    def build() -> go.Figure:
        fig = conclusion_plotly(results.cells)
        return style(fig, presenting, height=fig.layout.height)

    return FIGURES.get_or_compute((results.version, presenting), build)


def cells_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells as the page's table: dG ± CI of a and l per choice and the verdict in words."""
    table = cells.assign(reference=[paper_marked(r, PAPER_REFERENCE) for r in cells["reference"]],
                         output=[paper_marked(o, PAPER_OUTPUT) for o in cells["output"]],
                         verdict=cells["verdict"].map(VERDICTS))
    return table.rename(columns={"dG_a": "dG a", "ci_a": "a ± (95% CI)", "dG_l": "dG l", "ci_l": "l ± (95% CI)",
                                 "gini_n": "mean Gini n", "n_images": "images"}).drop(columns=["paper_choice"])


# ---------------------------------------------------------------- recomputing in the background


class RecomputeStopped(AdvexError):
    """A recompute was stopped; its per-image results are kept, so the next one resumes."""


def run_recompute(job: Job) -> dict:
    """Run `advex ablate` for ``job.settings`` (an AblationGrid's fields) and write the rows atomically."""
    from advex.experiments.ablation import AblationGrid, run_ablation
    from advex.models.io import atomic_write_json

    grid = AblationGrid(**{key: tuple(value) if isinstance(value, list) else value for key, value in job.settings.items()})
    total, started = grid.cells(), [0]

    def progress(message: str) -> None:
        if job.should_stop():
            raise RecomputeStopped("recompute stopped; the cells done so far are kept and the next recompute resumes")
        job.report(started[0] / total, f"{message} (cell {started[0] + 1} of {total})")
        started[0] += 1

    rows = run_ablation(grid, work_dir=recompute_dir() / "work", progress=progress)
    path = results_path(RECOMPUTED)
    atomic_write_json(path, rows)
    return {"path": str(path), "rows": len(rows)}


def recomputable_datasets(cards: list[dict]) -> list[str]:
    """The Table 1 image data sets whose n, l and a models (named as in the zoo) are here, as `advex ablate` loads them."""
    names = {(card.get("dataset"), card.get("name")) for card in cards}
    return [dataset for dataset in TABLE1_IMAGE_DATASETS
            if all((dataset, setting.name) in names for setting in table1_settings(dataset).values())]


_QUEUE: JobQueue | None = None
_QUEUE_LOCK = threading.Lock()
_START_LOCK = threading.Lock()
OWNER = "server"  # one recompute at a time per server, whoever asked


def recompute_queue() -> JobQueue:
    """This server's recompute queue: one job running, none waiting (created on first use)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = JobQueue(run_recompute, max_running=1, max_queued=1, keep_finished=3)
        return _QUEUE


def latest_job() -> Job | None:
    """The running recompute, else the last finished one, else None."""
    jobs = recompute_queue().jobs()
    return jobs[0] if jobs else None


def start_recompute(datasets, methods, references, outputs, n_images: int) -> Job:
    """Queue a recompute of this grid; AdvexError when the grid is empty or one is already running."""
    from advex.experiments.ablation import AblationGrid

    grid = AblationGrid(tuple(datasets), tuple(methods), tuple(references), tuple(outputs), int(n_images))
    settings = {"datasets": list(grid.datasets), "methods": list(grid.methods), "references": list(grid.references),
                "outputs": list(grid.outputs), "n_images": grid.n_images}
    queue = recompute_queue()
    with _START_LOCK:
        current = latest_job()
        if current is not None and current.active:
            raise AdvexError("a recompute is already running on this server (one at a time); its progress is shown "
                             "here: wait for it or stop it")
        return queue.submit(OWNER, settings)
