"""Widgets of the Saliency page: choose data set, method and models; choose or upload images; build the grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from advex.attribution.methods import uses_reference
from advex.dashboard import models, saliency, url_state
from advex.dashboard.safe import friendly_message
from advex.data.uploads import UPLOAD_TYPES, image_from_upload
from advex.errors import AdvexError
from advex.vocabulary import (
    MODE_LABELS,
    MODES,
    OUTPUT_DESCRIPTIONS,
    OUTPUTS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    REFERENCE_DESCRIPTIONS,
    REFERENCES,
)

GALLERY_MAX = 16  # images in a gallery, whatever the method (SmoothGrad / GradientSHAP: ~0.1-0.2 s per image and model)
FAST_METHODS = ("Saliency", "InputXGradient")  # one gradient per image: no progress bar
SOURCES = ("test image", "gallery", "upload")
PICKS = ("index", "random", "class", "misclassified")


@dataclass
class ViewState:
    """What the user chose: data set, method, models, and the images to explain."""

    dataset: str
    method: str
    reference: str
    output: str
    eps: float
    lam: float
    cards: dict[str, dict]
    models: dict[str, nn.Module]
    pool: object  # advex.evaluation.images.EvalImages
    images: np.ndarray | None = None
    targets: np.ndarray | None = None
    row_titles: list[str] = field(default_factory=list)


@dataclass
class Grid:
    """Saliency maps of every image under every model, with their Ginis and probabilities."""

    images: list[np.ndarray]
    columns: list[str]
    maps: list[list[np.ndarray]]
    titles: list[list[str]]
    row_titles: list[str]
    mean_gini: list[float]
    mean_probability: list[float]
    table: pd.DataFrame


def choose_models() -> ViewState | None:
    """Data set, attribution method, eps and lambda; loads the natural, l1 and adversarial models."""
    datasets = models.image_datasets_with_models()
    if not datasets:
        st.info("No image models found in the zoo or your folder: rebuild the zoo with `advex zoo build`, or "
                "train one on the *Train a model* page.")
        return None
    url_state.check_choice("images", datasets)
    url_state.check_choice("method", saliency.METHODS)
    top = st.columns([2, 2, 3, 2])
    dataset = top[0].selectbox("Data set", datasets, key="images", bind=url_state.BIND)
    method = top[1].selectbox("Attribution", list(saliency.METHODS), key="method", bind=url_state.BIND,
                              help="IG: Integrated Gradients, 50 steps (eq. 13). SHAP: DeepSHAP (DeepLIFT's rescale rule "
                                   "averaged over the reference). Beyond the paper: " + "; ".join(
                                       f"{value}: {label}" for value, label in saliency.METHODS.items()
                                       if value not in ("IG", "SHAP")) + ".")
    reference, output = choose_reference()
    cards = models.cards(dataset)
    eps_values = models.setting_values(cards, "adv")
    lam_values = models.setting_values(cards, "l1")
    eps = lam = 0.0
    if eps_values:
        labels = [f"{value:g}" for value in eps_values]
        url_state.check_choice("zoo_eps", labels)
        default = min(labels, key=lambda text: abs(float(text) - 0.3 if dataset == "mnist" else float(text) - 0.1))
        eps = float(top[2].select_slider("eps of the adversarial model", labels, value=default, key="zoo_eps",
                                         bind=url_state.BIND))
    if lam_values:
        labels = [f"{value:g}" for value in lam_values]
        url_state.check_choice("zoo_lam", labels)
        default = min(labels, key=lambda text: abs(float(text) - 0.01))
        lam = float(top[3].selectbox("lambda of the l1 model", labels, index=labels.index(default), key="zoo_lam",
                                     bind=url_state.BIND))
    chosen = choose_exact(cards, models.triplet(cards, eps, lam), eps, lam)
    loaded: dict[str, nn.Module] = {}
    for mode, card in chosen.items():
        try:
            loaded[mode] = models.load(card)
        except Exception as error:  # noqa: BLE001 - one broken model file must not hide the others
            st.error(f"{models.describe(card)}: {friendly_message(error, 'this model')}", icon=":material/error:")
    if "natural" not in loaded:
        st.warning("No natural model could be loaded for this data set; the comparison needs one.")
    if not loaded:
        return None
    return ViewState(dataset, method, reference, output, eps, lam, {m: chosen[m] for m in loaded}, loaded,
                     models.eval_images(dataset))


def paper_marked(choice: str, paper: str) -> str:
    """A choice's label, marked when it is the paper's."""
    return f"{choice} (paper)" if choice == paper else choice


def choose_reference() -> tuple[str, str]:
    """The reference and the output explained, the paper's choices marked (App. J.1: black, probability)."""
    url_state.check_choice("reference", REFERENCES)
    url_state.check_choice("output", OUTPUTS)
    left, right = st.columns(2)
    reference = left.selectbox("Reference", REFERENCES, key="reference", bind=url_state.BIND,
                               format_func=lambda r: paper_marked(r, PAPER_REFERENCE),
                               help="What the attribution is measured against: " + "; ".join(
                                   f"{r}: {text}" for r, text in REFERENCE_DESCRIPTIONS.items()))
    output = right.radio("Output explained", OUTPUTS, horizontal=True, key="output", bind=url_state.BIND,
                         format_func=lambda o: paper_marked(o, PAPER_OUTPUT),
                         help="; ".join(f"{o}: {text}" for o, text in OUTPUT_DESCRIPTIONS.items()))
    return reference, output


def choose_exact(cards: list[dict], chosen: dict[str, dict], eps: float, lam: float) -> dict[str, dict]:
    """An expander to swap in any model of each mode (e.g. one you trained); defaults to ``chosen``."""
    with st.expander("Choose the exact models (zoo or yours)"):
        columns = st.columns(len(MODES))
        for column, mode in zip(columns, MODES):
            options = models.by_mode(cards, mode)
            if not options:
                column.caption(f"no {MODE_LABELS[mode]} model")
                continue
            by_label = {f"{models.describe(card)}: {card['name']}": card for card in options}
            labels = list(by_label)
            default = next((i for i, c in enumerate(options) if mode in chosen and c["stem"] == chosen[mode]["stem"]), 0)
            # keyed by the slider settings, so moving eps / lambda picks that setting's model again
            label = column.selectbox(MODE_LABELS[mode], labels, index=default, key=f"exact-{mode}-{eps:g}-{lam:g}")
            chosen[mode] = by_label[label]
    return chosen


def _class_names(state: ViewState) -> list[str]:
    from advex.data.registry import DATASETS

    names = list(DATASETS[state.dataset].class_names) if state.dataset in DATASETS else []
    return names or [str(k) for k in range(10)]


def _set_image(index: int) -> None:
    st.session_state["image"] = int(index)


def _pick_test_image(state: ViewState) -> None:
    pool = state.pool
    n = len(pool.y)
    names = _class_names(state)
    url_state.check_int("image", 0, n - 1)
    url_state.check_choice("pick", PICKS)
    pick = st.radio("Pick the image", PICKS, horizontal=True, key="pick", bind=url_state.BIND)
    current = int(st.session_state.get("image", 0) or 0)
    if pick == "random":
        st.button("Another random image", on_click=lambda: _set_image(np.random.default_rng().integers(n)))
    elif pick == "class":
        label = st.selectbox("class", range(len(names)), format_func=lambda k: names[k], key="pick_class")
        st.button(f"Next image of class {names[label]}",
                  on_click=lambda: _set_image(saliency.next_of_class(pool.y, label, current)))
    elif pick == "misclassified":
        predicted = {mode: saliency.predictions(models.version_key(state.cards[mode]), model, pool.X)
                     for mode, model in state.models.items()}
        wrong = saliency.misclassified(predicted, pool.y)
        if wrong.size == 0:
            st.info("Every model classifies every image of the pool correctly.")
        else:
            def describe(index: int) -> str:
                says = ", ".join(f"{MODE_LABELS[m]} says {names[p[index]]}" for m, p in predicted.items())
                return f"#{index}: true {names[pool.y[index]]}; {says}"

            st.selectbox(f"{wrong.size} images that a model gets wrong", wrong.tolist(), format_func=describe,
                         key="wrong_pick", on_change=lambda: _set_image(st.session_state["wrong_pick"]))
    index = int(st.number_input(f"test image (0-{n - 1}, {pool.pool})", 0, n - 1, value=0, step=1, key="image",
                                bind=url_state.BIND))
    state.images = pool.X[index : index + 1]
    state.targets = pool.y[index : index + 1]
    state.row_titles = [f"#{index}: {names[pool.y[index]]}"]


def _pick_gallery(state: ViewState) -> None:
    pool = state.pool
    limit = GALLERY_MAX
    url_state.check_int("n", 2, limit)
    columns = st.columns(2)
    count = columns[0].slider("images", 2, limit, min(6, limit), key="n", bind=url_state.BIND)
    seed = int(columns[1].number_input("draw (seed)", 0, 10_000, 0, key="seed", bind=url_state.BIND))
    indices = pool.choose(count, seed)
    names = _class_names(state)
    state.images = pool.X[indices]
    state.targets = pool.y[indices]
    state.row_titles = [f"#{i}: {names[pool.y[i]]}" for i in indices]


def _pick_upload(state: ViewState) -> None:
    channels, size = state.pool.X.shape[1], state.pool.X.shape[2]
    upload = st.file_uploader("Upload a PNG or JPEG", type=list(UPLOAD_TYPES), key="upload")
    if upload is None:
        st.caption(f"It is converted to the models' input: {size}x{size}, "
                   f"{'grey-scale' if channels == 1 else 'colour'}, pixels in [0, 1].")
        return
    invert_choice = st.radio("Invert (white on black, like MNIST)", ("auto", "yes", "no"), horizontal=True,
                             key="invert")
    invert = {"auto": None, "yes": True, "no": False}[invert_choice]
    try:
        image, inverted = image_from_upload(upload.getvalue(), channels, size, invert)
    except AdvexError as error:
        st.error(str(error), icon=":material/broken_image:")
        return
    natural = state.models.get("natural") or next(iter(state.models.values()))
    names = _class_names(state)
    suggested = int(saliency.predictions(("upload", saliency.image_digest(image)), natural, image[None])[0])
    preview, choice = st.columns([1, 3])
    preview.image(np.transpose(image, (1, 2, 0)) if channels == 3 else image[0], clamp=True,
                  caption=f"model input{' (inverted)' if inverted else ''}", width=140)
    label = choice.selectbox("class to explain", range(len(names)), index=suggested, format_func=lambda k: names[k],
                             key="upload_class", help="Defaults to the natural model's prediction.")
    state.images = image[None]
    state.targets = np.array([label])
    state.row_titles = [f"upload: {names[label]}"]


def choose_images(state: ViewState) -> None:
    """Fill ``state.images`` / ``targets``: a test image, a gallery of many, or an upload."""
    url_state.check_choice("source", SOURCES)
    source = st.radio("Explain", SOURCES, horizontal=True, key="source", bind=url_state.BIND)
    {"test image": _pick_test_image, "gallery": _pick_gallery, "upload": _pick_upload}[source](state)


def compute_grid(state: ViewState) -> Grid:
    """Attribute every image under every model (cached), with a progress bar when work is needed."""
    modes = list(state.models)
    bar = None
    results = {}
    for step, mode in enumerate(modes):
        key = models.version_key(state.cards[mode])
        if bar is None and state.method not in FAST_METHODS:
            bar = st.progress(0.0, text=f"computing {saliency.METHODS[state.method]}")
        if bar is not None:
            bar.progress(step / len(modes), text=f"{saliency.METHODS[state.method]}: {models.describe(state.cards[mode])}")
        results[mode] = saliency.cached_explain(key, state.models[mode], state.images, state.targets, state.method,
                                                state.reference, state.output, state.pool.X_train)
    if bar is not None:
        bar.empty()
    columns = [models.describe(state.cards[mode]) for mode in modes]
    reference = state.reference if uses_reference(saliency.METHOD_NAMES[state.method]) else "none"
    maps, titles, rows = [], [], []
    for r in range(len(state.images)):
        maps.append([saliency.pixel_map(results[mode][r].attribution) for mode in modes])
        titles.append([f"{MODE_LABELS[mode]}<br>Gini {results[mode][r].gini:.3f}, "
                       f"p {results[mode][r].probability:.2f}" for mode in modes])
        for mode in modes:
            rows.append({"image": state.row_titles[r], "model": models.describe(state.cards[mode]),
                         "method": state.method, "reference": reference, "output": state.output,
                         "gini": results[mode][r].gini,
                         "probability": results[mode][r].probability, "predicted": results[mode][r].predicted})
    return Grid(
        images=list(state.images), columns=columns, maps=maps, titles=titles, row_titles=state.row_titles,
        mean_gini=[float(np.nanmean([s.gini for s in results[m]])) for m in modes],
        mean_probability=[float(np.mean([s.probability for s in results[m]])) for m in modes],
        table=pd.DataFrame(rows),
    )


def masks(grid: Grid, fraction: float) -> list[list[np.ndarray]]:
    """The top-mass masks of every map of the grid."""
    return [[saliency.top_mass_mask(values, fraction) for values in row] for row in grid.maps]


def mask_share(grid_masks: list[list[np.ndarray]]) -> list[float]:
    """Per model (column), the average share of pixels kept by the masks."""
    return [float(np.mean([row[c].mean() for row in grid_masks])) for c in range(len(grid_masks[0]))]
