"""Agreement metrics between predictions and references (pure numpy).

All functions take 1-D arrays of equal length (``pred``, ``ref``) in the same
unit and return floats (errors in that unit; correlations dimensionless).
``r2_true`` measures agreement with the line y = x (the usual coefficient of
determination about the reference mean); ``pearson_r2`` is the squared
correlation coefficient, which the MACE-Field paper reports as "R^2" and which
ignores any offset or scale error. Report both.
"""

from __future__ import annotations

import numpy as np


def _pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=float).ravel()
    r = np.asarray(ref, dtype=float).ravel()
    if p.shape != r.shape:
        raise ValueError(f"{p.shape=} != {r.shape=}")
    return p, r


def mae(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean absolute error; NaN for empty input."""
    p, r = _pair(pred, ref)
    return float(np.mean(np.abs(p - r))) if p.size else float("nan")


def rmse(pred: np.ndarray, ref: np.ndarray) -> float:
    """Root-mean-square error; NaN for empty input."""
    p, r = _pair(pred, ref)
    return float(np.sqrt(np.mean((p - r) ** 2))) if p.size else float("nan")


def r2_true(pred: np.ndarray, ref: np.ndarray) -> float:
    """Coefficient of determination against y = x: 1 - sum (p - r)^2 / sum (r - mean r)^2.

    Can be negative. NaN when fewer than 2 points or constant references.
    """
    p, r = _pair(pred, ref)
    ss_tot = float(np.sum((r - r.mean()) ** 2)) if r.size else 0.0
    if r.size < 2 or ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((p - r) ** 2)) / ss_tot


def pearson_r2(pred: np.ndarray, ref: np.ndarray) -> float:
    """Squared Pearson correlation; NaN for < 2 points or zero variance."""
    p, r = _pair(pred, ref)
    if p.size < 2 or np.std(p) == 0 or np.std(r) == 0:
        return float("nan")
    return float(np.corrcoef(p, r)[0, 1] ** 2)


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=float).ravel()
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size, dtype=float)
    ranks[order] = np.arange(1, x.size + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(pred: np.ndarray, ref: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks)."""
    p, r = _pair(pred, ref)
    if p.size < 2:
        return float("nan")
    rp, rr = rankdata(p), rankdata(r)
    if np.std(rp) == 0 or np.std(rr) == 0:
        return float("nan")
    return float(np.corrcoef(rp, rr)[0, 1])


def summarize(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """All metrics at once: n_points, mae, rmse, r2_true, pearson_r2, spearman."""
    p, r = _pair(pred, ref)
    return {
        "n_points": int(p.size),
        "mae": mae(p, r),
        "rmse": rmse(p, r),
        "r2_true": r2_true(p, r),
        "pearson_r2": pearson_r2(p, r),
        "spearman": spearman(p, r),
    }
