"""The paper's theory as numerical simulations and checks (Sections 2-5, Appendices B-G).

Modules: ``sgd_update`` (expected SGD update, eqs. 6, 9-12: Monte Carlo and exact), ``regimes``
(App. D.2), ``multiclass`` (Theorem E.1, eqs. E.50-E.62), ``ig_identity`` (Lemma 4.1, eq. 15),
``stable_ig`` (Theorem 5.1, eqs. 17-18), ``trajectories`` (SGD runs, binary and one-vs-all),
``checks`` and ``multiclass_checks`` (the registry run by ``advex theory``).
The data of the theory (FEAT-TRANS, eq. 3, and App. E.1) live in :mod:`advex.data.feat_trans`,
the LOSS-CVX losses g (App. B.1) in :mod:`advex.losses` (re-exported here).
"""

from advex.losses import HINGE, LOGISTIC, LOSSES, SOFTPLUS_HINGE, MarginLoss, get_loss

__all__ = ["HINGE", "LOGISTIC", "LOSSES", "SOFTPLUS_HINGE", "MarginLoss", "get_loss"]
