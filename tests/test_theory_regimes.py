"""The four regimes of Appendix D.2 and their plain-language reading."""

import numpy as np
import pytest

from advex.theory import checks
from advex.theory.regimes import REGIMES, describe_regimes, feature_regimes, group_regime, predicted_rate


def test_classification_by_hand():
    a = np.array([0.5, 0.5, 0.1, 0.5])
    w = np.array([0.0, -1.0, 1.0, 2.0])
    assert list(feature_regimes(a, w, 0.2)) == ["grow", "misaligned", "aligned_weak", "aligned_strong"]
    S = np.array([1, 3])  # a_S^w = (-0.5 + 1.0) / 3 = 1/6
    assert group_regime(a, w, S, 0.1) == "aligned_strong" and group_regime(a, w, S, 0.2) == "aligned_weak"
    assert predicted_rate(a, w, S, 0.2) == pytest.approx(1 / 6 - 0.2)
    assert np.isnan(predicted_rate(a, w, np.array([0]), 0.2))


@pytest.mark.parametrize("regime", REGIMES)
def test_regime_predictions_hold(regime):
    """Each regime's sign and rate (a_S^w - eps) as w_S -> 0, for all three losses (exact, gaussian)."""
    result = checks.check_regime(regime, np.random.default_rng(0))
    assert result.passed, result


def test_regime_check_refuses_a_mislabelled_scenario(monkeypatch):
    """A scenario whose feature is not in the regime it claims (strong labelled weak) is refused."""
    monkeypatch.setitem(checks.REGIME_CASES, "aligned_weak", (0.8, 1.0))
    with pytest.raises(ValueError, match="regime aligned_strong"):
        checks.check_regime("aligned_weak", np.random.default_rng(0))


def test_adversarial_shrinks_misaligned_weights_faster_than_natural():
    from advex.data.feat_trans import FeatTransDistribution, singleton_groups
    from advex.losses import LOGISTIC
    from advex.theory.sgd_update import exact_update

    dist = FeatTransDistribution(np.array([0.4, 0.8]), singleton_groups(2), "gaussian", 1.0)
    w = np.array([-1e-3, 1.0])
    assert exact_update(dist, w, 0.3, LOGISTIC).group_delta[0] < exact_update(dist, w, 0.0, LOGISTIC).group_delta[0] < 0


def test_reading_counts_the_regimes():
    text = describe_regimes(np.array([0.5, 0.5, 0.1, 0.5, 0.05]), np.array([0.0, -1.0, 1.0, 2.0, 1.0]), 0.2, 0.4)
    assert "1 have zero weight" in text and "1 point the wrong way" in text
    assert "2 point the right way but are weak" in text and "1 point the right way and are strong" in text
    assert "g'bar = 0.4" in text
