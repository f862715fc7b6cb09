import numpy as np
import pytest

from macefield_flows.comparison.metrics import mae, pearson_r2, r2_true, rankdata, rmse, spearman, summarize


def test_known_values():
    ref = np.array([1.0, 2.0, 3.0, 4.0])
    pred = ref + np.array([0.5, -0.5, 0.5, -0.5])
    assert mae(pred, ref) == pytest.approx(0.5)
    assert rmse(pred, ref) == pytest.approx(0.5)
    assert r2_true(pred, ref) == pytest.approx(1 - 1.0 / 5.0)


def test_r2_true_vs_pearson_for_scaled_predictions():
    ref = np.linspace(0, 10, 50)
    pred = 2.0 * ref + 1.0  # perfectly correlated but far from y = x
    assert pearson_r2(pred, ref) == pytest.approx(1.0)
    assert spearman(pred, ref) == pytest.approx(1.0)
    ss_tot = np.sum((ref - ref.mean()) ** 2)
    assert r2_true(pred, ref) == pytest.approx(1 - np.sum((ref + 1) ** 2) / ss_tot)
    assert r2_true(pred, ref) < 0


def test_spearman_with_ties_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 40).astype(float), rng.normal(size=40)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert np.allclose(rankdata([3, 1, 3, 2]), [3.5, 1, 3.5, 2])
    assert spearman(-b, b) == pytest.approx(-1.0)


def test_degenerate_inputs():
    assert np.isnan(r2_true([1.0], [1.0]))
    assert np.isnan(pearson_r2([1, 1, 1], [1, 2, 3]))
    assert summarize([], [])["n_points"] == 0
    with pytest.raises(ValueError):
        mae([1, 2], [1])
