"""One switch for every attribution: ``explain(model, inputs, target, method, reference, output)``.

Each attribution names its method (:data:`methods.METHODS`), its reference u (:data:`REFERENCES`,
default ``black``, J.1) and the explained output F (:data:`OUTPUTS`, default ``probability``, J.1).
IG (eq. 13) and DeepSHAP satisfy completeness, sum_i A_i(x) = F(x) - F(u) (averaged over the rows
of ``train-sample``); ``return_delta=True`` returns the error of that identity per example.
:class:`Explainer` holds the choices and draws the training-data references once, with captum's
one verb ``.attribute(inputs, target=...)``.
"""

from __future__ import annotations

import torch
from torch import nn

from advex.attribution import gradient_methods
from advex.attribution.arguments import as_batch, as_targets, eval_model, private_copy
from advex.attribution.completeness import completeness_delta
from advex.attribution.deep_shap import deeplift_shap_rules
from advex.attribution.integrated_gradients import ROWS_PER_PASS, ig_pairs
from advex.attribution.methods import COMPLETE, METHOD_LABELS, SMOOTHGRAD_BASES, check_method, uses_reference
from advex.attribution.outputs import ClassOutput
from advex.attribution.references import BLUR_SIGMA, NEEDS_TRAINING_DATA, Reference, make_reference, shared_values
from advex.errors import AdvexError
from advex.vocabulary import (
    IG_STEPS,
    OUTPUTS,
    PAPER_OUTPUT,
    PAPER_REFERENCE,
    REFERENCES,
    TRAIN_SAMPLE_SIZE,
    check_choice,
    check_nonnegative,
)

HOOKED_METHODS = ("deepshap", "deeplift")  # methods that hook the model's modules: they run on a private copy


def _positive_int(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = 0
    if isinstance(value, bool) or number != value or number < 1:
        raise AdvexError(f"{name} must be a positive integer, got {value!r}")
    return number


class Explainer:
    """Attributions of ``model`` by ``method`` against ``reference``, explaining ``output``; ``.attribute(inputs, target)``.

    ``X_train`` (numpy or torch, shaped like the inputs) is needed by the ``train-sample`` (k rows,
    seeded) and ``mean`` references. ``n_steps``: IG's quadrature points. ``seed``: train-sample
    rows, uniform noise, SmoothGrad's and GradientSHAP's draws. Options of single methods:
    ``blur_sigma`` (blur reference), ``smoothgrad_base`` ("saliency" or "ig"), ``nt_samples`` and
    ``stdev`` (SmoothGrad), ``n_samples`` and ``gradient_shap_stdev`` (GradientSHAP). ``rows_per_pass``
    bounds the rows in one forward/backward pass (memory). The caller's model is never changed.
    """

    def __init__(
        self,
        model: nn.Module,
        method: str = "ig",
        reference: str = PAPER_REFERENCE,
        output: str = PAPER_OUTPUT,
        *,
        X_train=None,
        n_steps: int = IG_STEPS,
        k: int = TRAIN_SAMPLE_SIZE,
        seed: int = 0,
        blur_sigma: float = BLUR_SIGMA,
        smoothgrad_base: str = "saliency",
        nt_samples: int = gradient_methods.SMOOTHGRAD_SAMPLES,
        stdev: float = gradient_methods.SMOOTHGRAD_STDEV,
        n_samples: int = gradient_methods.GRADIENT_SHAP_SAMPLES,
        gradient_shap_stdev: float = gradient_methods.GRADIENT_SHAP_STDEV,
        rows_per_pass: int = ROWS_PER_PASS,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise AdvexError(f"model must be a torch nn.Module, got {type(model).__name__}")
        self.model = model
        self.method = check_method(method)
        self.reference = check_choice(reference, REFERENCES, "reference")
        self.output = check_choice(output, OUTPUTS, "output")
        self.smoothgrad_base = check_choice(smoothgrad_base, SMOOTHGRAD_BASES, "smoothgrad_base")
        self.uses_reference = uses_reference(self.method, self.smoothgrad_base)
        if self.uses_reference and self.reference in NEEDS_TRAINING_DATA and X_train is None:
            raise AdvexError(f"reference {reference!r} needs training data: pass X_train= (the training examples, "
                             "numpy or torch, shaped like the inputs), or choose reference='black'")
        self.X_train = X_train
        self.n_steps = _positive_int(n_steps, "n_steps")
        self.k = _positive_int(k, "k")
        self.seed = int(seed)
        self.blur_sigma = check_nonnegative(blur_sigma, "blur_sigma")
        self.nt_samples = _positive_int(nt_samples, "nt_samples")
        self.stdev = check_nonnegative(stdev, "stdev")
        self.n_samples = _positive_int(n_samples, "n_samples")
        self.gradient_shap_stdev = check_nonnegative(gradient_shap_stdev, "gradient_shap_stdev")
        self.rows_per_pass = _positive_int(rows_per_pass, "rows_per_pass")
        self._shared: torch.Tensor | None = None  # train-sample / mean / black values, drawn on the first call

    def describe(self) -> str:
        """E.g. "Integrated Gradients of the class probability, reference black"."""
        text = f"{METHOD_LABELS[self.method]} of the class {self.output}"
        return f"{text}, reference {self.reference}" if self.uses_reference else text

    def __repr__(self) -> str:
        return f"Explainer(method={self.method!r}, reference={self.reference!r}, output={self.output!r})"

    def _reference(self, X: torch.Tensor) -> Reference:
        if self._shared is None or self._shared.shape[1:] != X.shape[1:]:
            self._shared = shared_values(self.reference, X, self.X_train, self.k, self.seed)
        return make_reference(self.reference, X, seed=self.seed, blur_sigma=self.blur_sigma, shared=self._shared)

    def attribute(self, inputs, target=None, return_delta: bool = False):
        """Attributions shaped like ``inputs`` (numpy in, float32 numpy out; one example without batch axis works).

        ``target``: None (the predicted class), an int, a 0-d tensor or one class per example.
        With ``return_delta`` also returns sum_i A_i - (F(x) - F(u)) per example (methods with completeness).
        """
        if return_delta and self.method not in COMPLETE:
            raise AdvexError(f"method {self.method!r} has no completeness property; "
                             f"return_delta needs one of {', '.join(sorted(COMPLETE))}")
        model = private_copy(self.model) if self.method in HOOKED_METHODS else eval_model(self.model)
        batch = as_batch(model, inputs)
        targets = as_targets(target, model, batch.X)
        reference = self._reference(batch.X) if self.uses_reference else None
        attributions = self._attribute(model, batch.X, targets, reference)
        if not return_delta:
            return batch.restore(attributions)
        delta = completeness_delta(model, batch.X, attributions, targets, reference, self.output)
        return batch.restore(attributions), batch.restore_scalars(delta)

    def _attribute(self, model: nn.Module, X: torch.Tensor, targets: torch.Tensor, reference: Reference | None) -> torch.Tensor:
        if len(X) == 0:
            return torch.zeros_like(X)
        if self.method == "deepshap":
            return deeplift_shap_rules(model, X, targets, reference, self.output, max(1, self.rows_per_pass // 2))
        explained = ClassOutput(model, self.output)
        rows = self.rows_per_pass
        if self.method == "ig":
            return ig_pairs(explained, X, targets, reference, self.n_steps, rows_per_pass=rows)
        if self.method == "saliency":
            return gradient_methods.saliency(explained, X, targets, rows)
        if self.method == "input-x-gradient":
            return gradient_methods.input_x_gradient(explained, X, targets, rows)
        if self.method == "smoothgrad":
            return gradient_methods.smoothgrad(explained, X, targets, reference, base=self.smoothgrad_base, nt_samples=self.nt_samples,
                                               stdev=self.stdev, seed=self.seed, n_steps=self.n_steps, rows_per_pass=rows)
        if self.method == "gradient-shap":
            return gradient_methods.gradient_shap(explained, X, targets, reference, n_samples=self.n_samples,
                                                  stdev=self.gradient_shap_stdev, seed=self.seed, rows_per_pass=rows)
        return gradient_methods.deeplift(explained, X, targets, reference, rows)


def explain(
    model: nn.Module,
    inputs,
    target=None,
    method: str = "ig",
    reference: str = PAPER_REFERENCE,
    output: str = PAPER_OUTPUT,
    *,
    X_train=None,
    n_steps: int = IG_STEPS,
    k: int = TRAIN_SAMPLE_SIZE,
    seed: int = 0,
    return_delta: bool = False,
    **options,
):
    """Attributions of ``inputs`` by ``method`` against ``reference``, explaining ``output`` of class ``target``.

    Same as ``Explainer(model, method, reference, output, X_train=..., ...).attribute(inputs, target)``;
    ``options`` are the Explainer's method options (blur_sigma, smoothgrad_base, nt_samples, stdev,
    n_samples, gradient_shap_stdev, rows_per_pass).
    """
    explainer = Explainer(model, method, reference, output, X_train=X_train, n_steps=n_steps, k=k, seed=seed, **options)
    return explainer.attribute(inputs, target, return_delta=return_delta)
