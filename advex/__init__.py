"""advex: concise explanations of neural networks using adversarial training.

A reproduction of Chalasani et al., "Concise Explanations of Neural Networks using
Adversarial Training", ICML 2020 (the paper, ``../shared/paper.md``). Sub-packages
follow the paper's ideas: ``data``, ``models``, ``attacks``, ``training``,
``attribution``, ``metrics``, ``theory``, ``experiments``.
"""

__version__ = "0.1.0"
