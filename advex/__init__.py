"""advex: concise explanations of neural networks using adversarial training (Chalasani et al., ICML 2020).

Use it like captum or shap::

    import advex
    model = advex.load_model("mnist/adv_0.3")            # zoo id, your model's id, or a file stem
    X, y = advex.load_sample("mnist")                    # numpy arrays: the zoo's shipped test sample
    A = advex.explain(model, X[:8], y[:8], method="ig")  # also "deepshap"; reference=, output=
    advex.gini(A)                                        # one Gini index (eq. I.67) per example

Sub-packages follow the paper's ideas: ``data``, ``models``, ``attacks``, ``attribution``, ``metrics``,
``theory``, ``training``, ``evaluation``, ``zoo``, ``experiments``, ``sweeps``. Names load on first use.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "load_model": "advex.api", "load_sample": "advex.api", "load_dataset": "advex.api", "train": "advex.api",
    "attack": "advex.api", "evaluate": "advex.api",
    "explain": "advex.attribution", "Explainer": "advex.attribution", "METHODS": "advex.attribution",
    "gini": "advex.metrics.gini", "MEASURES": "advex.metrics.measures", "measure_all": "advex.metrics.measures",
    "Setting": "advex.vocabulary", "REFERENCES": "advex.vocabulary", "OUTPUTS": "advex.vocabulary",
    "AdvexError": "advex.errors",
}
_MODULES = {"sparseness": "advex.metrics.measures", "theory": "advex.theory", "vocabulary": "advex.vocabulary"}

__all__ = sorted([*_PUBLIC, *_MODULES, "__version__"])


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    if name in _MODULES:
        return import_module(_MODULES[name])
    raise AttributeError(f"module 'advex' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
