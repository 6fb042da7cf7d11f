"""The paper's theory as numerical simulations and checks (Sections 2-5, Appendices B-G).

Modules: ``distributions`` (data satisfying FEAT-TRANS, eq. 3, and deliberately broken ones),
``sgd_update`` (expected SGD update, eqs. 6, 9-12: Monte Carlo and exact), ``regimes`` (App. D.2),
``ig_identity`` (Lemma 4.1, eq. 15), ``stable_ig`` (Theorem 5.1, eqs. 17-18), ``trajectories``
(SGD runs), ``checks`` (the registry run by ``advex theory``), ``simulator`` (the dashboard's views).
The LOSS-CVX losses g (App. B.1) live in :mod:`advex.losses` and are re-exported here.
"""

from advex.losses import HINGE, LOGISTIC, LOSSES, SOFTPLUS_HINGE, MarginLoss, get_loss

__all__ = ["HINGE", "LOGISTIC", "LOSSES", "SOFTPLUS_HINGE", "MarginLoss", "get_loss"]
