"""Sweep grids: a TOML file naming data sets, modes, eps and lambda values, seeds, protocol and evaluation; its trials.

A grid (``sweeps/*.toml``)::

    datasets = ["mushroom", "spambase"]   # required
    modes = ["natural", "l1", "adv"]      # default: all three
    eps = [0.1]                           # adv models; default: the data set's Table 1 eps
    lam = [0.02]                          # l1 models; default: the data set's Table 1 lambda
    seeds = [0, 1]                        # default: [0]
    protocol = "fast"                     # image models: fast or paper (App. J.1); tabular models train with J.1
    adv_protocol = "paper"                # optional: the protocol of adversarial image models
    steps = 100                           # optional: override the image protocol's number of steps
    float16 = false                       # store weights as float16, xz-compressed (the zoo's format)

    [dataset.mnist]                       # optional, per data set: modes, eps, lam, seeds, protocol, adv_protocol, steps
    eps = [0.1, 0.3]

    [evaluation]                          # image models (Section 6.3): clean accuracy always, then
    attacks = ["pgd"]                     # robust accuracy: pgd and/or autoattack ([] for none)
    robust_images = 1000                  # default: the whole test set
    gini_images = 1000                    # mean Gini (eq. I.67) over this many seeded test images (0: none)
    methods = ["ig", "deepshap"]          # attribution methods whose Gini is measured
    reference = "black"                   # advex.vocabulary.REFERENCES
    output = "probability"                # advex.vocabulary.OUTPUTS
    ig_steps = 50

    [resources]                           # what one trial asks Ray for
    cpus = 1
    gpus = 0.25                           # image trials, when the cluster has GPUs (default 0.25; CIFAR-10 1)

Tabular trials always measure clean accuracy and the Gini of IG (closed form, Lemma 4.1) on the
whole test split; an ``[evaluation]`` table in a grid without image data sets is an error.
Settings are :class:`advex.vocabulary.Setting`, so a natural model is one trial per seed whatever
the eps and lambda lists hold. Every problem of a grid file is reported in one :class:`AdvexError`.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from advex.attribution.methods import METHODS
from advex.errors import AdvexError
from advex.evaluation.attributions import AttributionPlan
from advex.evaluation.report import ATTACKS, EvaluationPlan
from advex.training.image import PROTOCOLS
from advex.vocabulary import IMAGE_DATASETS, MODES, OUTPUTS, REFERENCES, TABULAR_CHOICES, Setting, paper_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_GRID_BYTES = 1 << 20
MAX_TRIALS = 10_000
DEFAULT_GPUS = {"cifar10": 1.0}  # WRN-28-10 fills a GPU; the MNIST-like CNNs share one four ways
DEFAULT_IMAGE_GPUS = 0.25
SETTING_KEYS = ("modes", "eps", "lam", "seeds", "protocol", "adv_protocol", "steps")
GRID_KEYS = ("datasets", *SETTING_KEYS, "float16", "dataset", "evaluation", "resources")
EVALUATION_KEYS = ("attacks", "robust_images", "gini_images", "methods", "reference", "output", "ig_steps",
                   "train_sample_size")
RESOURCE_KEYS = ("cpus", "gpus")
IMAGE_ONLY_KEYS = ("protocol", "adv_protocol", "steps")


@dataclass(frozen=True)
class Trial:
    """One model of a sweep: train ``setting`` on ``dataset`` with ``seed``, evaluate it per ``plan``, store it as ``name``.

    ``protocol``, ``steps`` and ``plan`` apply to image models (tabular ones train with J.1; their
    protocol and steps become ``None``).
    """

    dataset: str
    setting: Setting
    seed: int = 0
    protocol: str | None = "fast"
    steps: int | None = None
    plan: EvaluationPlan = field(default_factory=EvaluationPlan)
    float16: bool = False
    name: str = ""  # default: <setting.name>_seed<seed>

    def __post_init__(self) -> None:
        if self.dataset not in IMAGE_DATASETS and self.dataset not in TABULAR_CHOICES:
            raise AdvexError(f"unknown data set {self.dataset!r}; choose one of {', '.join((*TABULAR_CHOICES, *IMAGE_DATASETS))}")
        if not _is_int(self.seed) or self.seed < 0:
            raise AdvexError(f"a seed is an integer >= 0, got {self.seed!r}")
        if self.dataset not in IMAGE_DATASETS:  # tabular models train with J.1: no protocol, steps or plan
            object.__setattr__(self, "protocol", None)
            object.__setattr__(self, "steps", None)
        elif self.protocol not in PROTOCOLS:
            raise AdvexError(f"unknown protocol {self.protocol!r}; use one of {', '.join(PROTOCOLS)}")
        if self.steps is not None and (not _is_int(self.steps) or self.steps < 1):
            raise AdvexError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.setting.name}_seed{self.seed}")
        if Path(self.name).name != self.name or self.name.startswith("."):
            raise AdvexError(f"a trial's name is a plain file name (no folders, no leading dot), got {self.name!r}")

    @property
    def id(self) -> str:
        """``<dataset>/<name>``: where its model and its result row are stored."""
        return f"{self.dataset}/{self.name}"

    @property
    def is_image(self) -> bool:
        return self.dataset in IMAGE_DATASETS

    def config(self) -> dict:
        """Everything that determines the trial's result, as JSON values (a stored row matches it to resume)."""
        return json.loads(json.dumps({
            "dataset": self.dataset, "mode": self.setting.mode, "eps": self.setting.eps, "lam": self.setting.lam,
            "seed": self.seed, "protocol": self.protocol, "steps": self.steps, "float16": self.float16, "name": self.name,
            "plan": asdict(self.plan) if self.is_image else None,
        }))


@dataclass(frozen=True)
class Resources:
    """What one trial asks Ray for: CPUs, and GPUs for image trials (``None``: 0.25, CIFAR-10 1) when there are GPUs."""

    cpus: float = 1.0
    gpus: float | None = None

    def gpus_for(self, dataset: str) -> float:
        return self.gpus if self.gpus is not None else DEFAULT_GPUS.get(dataset, DEFAULT_IMAGE_GPUS)


@dataclass(frozen=True)
class Grid:
    """A parsed grid file: its trials (in order: data set, setting, seed) and the resources of one trial."""

    path: Path
    trials: tuple[Trial, ...]
    resources: Resources = Resources()


class _Problems:
    """Collects every problem of a grid file, so that one error names them all."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def unknown_keys(self, table: dict, allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})")

    def choices(self, value, allowed: tuple[str, ...], what: str) -> list[str]:
        values = self.string_list(value, what)
        for item in values:
            if item not in allowed:
                self.add(f"unknown {what} value {item!r} (choose from {', '.join(allowed)})")
        return [item for item in dict.fromkeys(values) if item in allowed]

    def string_list(self, value, what: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.add(f"{what} must be a list of strings, got {value!r}")
            return []
        return value

    def positive_numbers(self, value, what: str) -> list[float]:
        if not isinstance(value, list) or not all(_is_number(item) for item in value):
            self.add(f"{what} must be a list of numbers, got {value!r}")
            return []
        bad = [item for item in value if not (math.isfinite(item) and item > 0)]
        if bad:
            self.add(f"{what} values must be finite and > 0 (0 would train a natural model), got {bad}")
        return [float(item) for item in dict.fromkeys(value) if item not in bad]

    def count(self, value, what: str, minimum: int) -> int | None:
        if not _is_int(value) or value < minimum:
            self.add(f"{what} must be an integer >= {minimum}, got {value!r}")
            return None
        return int(value)

    def choice(self, value, allowed: tuple[str, ...], what: str) -> str | None:
        if value not in allowed:
            self.add(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
            return None
        return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float))) and not isinstance(value, bool)


def load_grid(path: str | Path) -> Grid:
    """Read and validate the grid file ``path``; one :class:`AdvexError` lists every problem."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_GRID_BYTES:
            raise AdvexError(f"grid file {path} is {size} bytes; a grid is a small TOML file (at most {MAX_GRID_BYTES})")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AdvexError(f"grid file {path} not found; see sweeps/tabular_small.toml for an example") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AdvexError(f"cannot read grid file {path}: {err}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise AdvexError(f"grid file {path} is not valid TOML: {err}") from None
    return parse_grid(table, path)


def parse_grid(table: dict, path: str | Path = "<grid>") -> Grid:
    """The :class:`Grid` of a parsed TOML table (see the module docstring for its keys)."""
    problems = _Problems()
    problems.unknown_keys(table, GRID_KEYS, "the grid")
    if not table.get("datasets"):
        problems.add('the grid needs a non-empty datasets list, e.g. datasets = ["mushroom", "spambase"]')
    datasets = problems.choices(table.get("datasets", []), (*TABULAR_CHOICES, *IMAGE_DATASETS), "datasets")
    overrides = _overrides(table.get("dataset", {}), datasets, problems)
    has_images = any(d in IMAGE_DATASETS for d in datasets)
    if datasets and not has_images:
        _image_only(table, "a grid without image data sets", problems)
    plan = _evaluation_plan(table.get("evaluation"), has_images, problems)
    resources = _resources(table.get("resources", {}), problems)
    float16 = table.get("float16", False)
    if not isinstance(float16, bool):
        problems.add(f"float16 must be true or false, got {float16!r}")
    common = {key: table[key] for key in SETTING_KEYS if key in table}
    trials: list[Trial] = []
    for dataset in datasets:
        trials += _dataset_trials(dataset, {**common, **overrides.get(dataset, {})}, plan, float16 is True, problems)
    for key, mode in (("eps", "adv"), ("lam", "l1")):
        if table.get(key) and not any(t.setting.mode == mode for t in trials):
            problems.add(f"{key} values are used only by {mode} models and no data set trains one; add {mode!r} to modes or remove {key}")
    if len({t.id for t in trials}) < len(trials):
        problems.add("two settings give the same model name; use eps/lambda values that differ in their first 6 digits")
    if len(trials) > MAX_TRIALS:
        problems.add(f"the grid has {len(trials)} trials; at most {MAX_TRIALS} per grid file (split it)")
    if problems.items:
        raise AdvexError(f"grid file {path}: " + "; ".join(problems.items))
    return Grid(Path(path), tuple(trials), resources)


def _overrides(tables, datasets: list[str], problems: _Problems) -> dict[str, dict]:
    """The valid ``[dataset.<name>]`` tables, by data set."""
    if not isinstance(tables, dict):
        problems.add("dataset must hold per-data-set tables, e.g. [dataset.mnist]")
        return {}
    valid = {}
    for name, override in tables.items():
        if name not in datasets:
            problems.add(f"[dataset.{name}] names a data set that is not in datasets {datasets}")
        elif not isinstance(override, dict):
            problems.add(f"dataset.{name} must be a table")
        else:
            problems.unknown_keys(override, SETTING_KEYS, f"[dataset.{name}]")
            if name not in IMAGE_DATASETS:
                _image_only(override, f"[dataset.{name}]", problems)
            valid[name] = override
    return valid


def _image_only(table: dict, where: str, problems: _Problems) -> None:
    for key in IMAGE_ONLY_KEYS:
        if key in table:
            problems.add(f"{key} in {where}: it applies to image models; tabular models train with the J.1 protocol")


def _dataset_trials(dataset: str, spec: dict, plan: EvaluationPlan, float16: bool, problems: _Problems) -> list[Trial]:
    """The trials of one data set: each distinct Setting (natural once) times each seed."""
    where = f"{dataset}: "
    if "modes" in spec and not spec["modes"]:
        problems.add(where + "modes is empty")
    modes = problems.choices(spec.get("modes", list(MODES)), MODES, where + "modes")
    paper = paper_settings(dataset)
    eps = problems.positive_numbers(spec.get("eps", [paper.eps]), where + "eps")
    lam = problems.positive_numbers(spec.get("lam", [paper.lam]), where + "lam")
    for key, mode in (("eps", "adv"), ("lam", "l1")):
        if mode in modes and spec.get(key) == []:
            problems.add(f"{where}{mode} models need at least one {key} value")
    seeds = spec.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        problems.add(f"{where}seeds must be a non-empty list of integers >= 0, got {seeds!r}")
        seeds = []
    image = dataset in IMAGE_DATASETS
    protocol = problems.choice(spec.get("protocol", "fast"), PROTOCOLS, where + "protocol")
    adv_protocol = problems.choice(spec["adv_protocol"], PROTOCOLS, where + "adv_protocol") if "adv_protocol" in spec else protocol
    steps = problems.count(spec["steps"], where + "steps", 1) if "steps" in spec else None
    if protocol is None or adv_protocol is None or ("steps" in spec and steps is None):
        return []  # the problem is recorded
    settings = dict.fromkeys(
        Setting(mode, eps=e, lam=strength) for mode in modes for e in (eps if mode == "adv" else [0.0])
        for strength in (lam if mode == "l1" else [0.0])
    )
    return [
        Trial(dataset, setting, seed,
              protocol=(adv_protocol if setting.mode == "adv" else protocol) if image else None,
              steps=steps if image else None, plan=plan if image else EvaluationPlan(), float16=float16)
        for setting in settings for seed in dict.fromkeys(seeds)
    ]


def _evaluation_plan(table, has_images: bool, problems: _Problems) -> EvaluationPlan:
    """The ``[evaluation]`` table as an :class:`EvaluationPlan` (defaults: the zoo's plan)."""
    if table is None:
        return EvaluationPlan()
    if not isinstance(table, dict):
        problems.add("evaluation must be a table: [evaluation]")
        return EvaluationPlan()
    if not has_images:
        problems.add("[evaluation] applies to image models; tabular trials always measure clean accuracy and the "
                     "Gini of IG (closed form) on the whole test split: remove the table")
        return EvaluationPlan()
    problems.unknown_keys(table, EVALUATION_KEYS, "[evaluation]")
    default, attributions = EvaluationPlan(), AttributionPlan()
    attacks = problems.choices(table.get("attacks", list(default.attacks)), ATTACKS, "evaluation.attacks")
    methods = problems.choices(table.get("methods", list(attributions.methods)), METHODS, "evaluation.methods")
    robust = problems.count(table["robust_images"], "evaluation.robust_images", 0) if "robust_images" in table else None
    gini = problems.count(table.get("gini_images", default.gini_images), "evaluation.gini_images", 0)
    if gini and not methods:
        problems.add("evaluation.methods is empty; name a method (e.g. [\"ig\"]) or set gini_images = 0")
    return EvaluationPlan(
        gini_images=gini if gini is not None else default.gini_images, robust_images=robust, attacks=tuple(attacks),
        attributions=AttributionPlan(
            methods=tuple(methods),
            reference=problems.choice(table.get("reference", attributions.reference), REFERENCES, "evaluation.reference")
            or attributions.reference,
            output=problems.choice(table.get("output", attributions.output), OUTPUTS, "evaluation.output") or attributions.output,
            n_steps=problems.count(table.get("ig_steps", attributions.n_steps), "evaluation.ig_steps", 1) or attributions.n_steps,
            k=problems.count(table.get("train_sample_size", attributions.k), "evaluation.train_sample_size", 1) or attributions.k,
        ),
    )


def _resources(table, problems: _Problems) -> Resources:
    if not isinstance(table, dict):
        problems.add("resources must be a table: [resources]")
        return Resources()
    problems.unknown_keys(table, RESOURCE_KEYS, "[resources]")
    values = {}
    for key in RESOURCE_KEYS:
        if key in table:
            value = table[key]
            if not _is_number(value) or not math.isfinite(value) or value <= 0 or (value > 1 and value != int(value)):
                problems.add(f"resources.{key} must be a number > 0 (a fraction up to 1, or whole units), got {value!r}")
            else:
                values[key] = float(value)
    return Resources(**values)


def zoo_trials(jobs: list[tuple[str, Setting]], protocol: str = "fast", adv_protocol: str | None = None, seed: int = 0,
               steps: int | None = None, plan: EvaluationPlan = EvaluationPlan()) -> list[Trial]:
    """The trials of the zoo's models ``jobs`` (``advex.zoo.catalogue.zoo_jobs``): named by their setting, float16."""
    return [Trial(dataset, setting, seed, protocol=(adv_protocol or protocol) if setting.mode == "adv" else protocol,
                  steps=steps, plan=plan, float16=True, name=setting.name) for dataset, setting in jobs]
