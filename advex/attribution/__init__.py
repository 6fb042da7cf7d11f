"""Attributions (Section 4, J.1): IG (eq. 13), DeepSHAP, the closed form of Lemma 4.1 (eq. 15), and more via captum.

Entry point: :func:`explain` / :class:`Explainer`, with a named method, reference and explained output.
"""

from advex.attribution.completeness import completeness_gaps
from advex.attribution.explain import Explainer, explain
from advex.attribution.methods import METHOD_LABELS, METHODS, PAPER_METHODS

__all__ = ["METHODS", "METHOD_LABELS", "PAPER_METHODS", "Explainer", "completeness_gaps", "explain"]
