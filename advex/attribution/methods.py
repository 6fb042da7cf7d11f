"""The attribution methods of ``explain(method=...)``: names, display labels, and which use a reference.

``ig`` and ``deepshap`` are the paper's (Section 6, J.1); the others go beyond the paper and come from captum.
"""

from __future__ import annotations

from advex.vocabulary import check_choice

METHODS = ("ig", "deepshap", "saliency", "input-x-gradient", "smoothgrad", "gradient-shap", "deeplift")
PAPER_METHODS = ("ig", "deepshap")
METHOD_LABELS = {
    "ig": "Integrated Gradients",
    "deepshap": "DeepSHAP",
    "saliency": "Saliency |gradient|",
    "input-x-gradient": "Input x Gradient",
    "smoothgrad": "SmoothGrad",
    "gradient-shap": "GradientSHAP",
    "deeplift": "DeepLIFT (captum)",
}
# Methods that compare x with a reference u (smoothgrad does when it smooths IG).
USES_REFERENCE = frozenset({"ig", "deepshap", "gradient-shap", "deeplift"})
# Methods whose attributions sum to F(x) - F(u) (gradient-shap in expectation only).
COMPLETE = frozenset({"ig", "deepshap", "gradient-shap", "deeplift"})
SMOOTHGRAD_BASES = ("saliency", "ig")  # the map SmoothGrad averages: the raw gradient, or IG


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else an AdvexError listing them."""
    return check_choice(method, METHODS, "attribution method")


def uses_reference(method: str, smoothgrad_base: str = "saliency") -> bool:
    """Whether ``method`` compares the input with a reference (SmoothGrad only when it smooths IG)."""
    return method in USES_REFERENCE or (method == "smoothgrad" and smoothgrad_base == "ig")
