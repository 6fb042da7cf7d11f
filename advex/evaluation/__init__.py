"""Evaluate models: clean and robust accuracy, and the sparseness of their attributions (Section 6.3)."""
