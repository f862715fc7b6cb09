"""Parity plots (predicted vs DFPT) with matplotlib's Agg backend.

Each plot returns a :class:`ParityPlot` with the file path and the number of
points drawn, so that callers (and tests) can check what was plotted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParityPlot:
    """One written parity plot."""

    property: str
    path: Path
    n_points: int


def parity_plot(pred: np.ndarray, ref: np.ndarray, prop: str, units: str, path: Path,
                title: str = "", annotate: str = "") -> ParityPlot:
    """Scatter ``pred`` against ``ref`` with the y = x line and write a PNG.

    Parameters
    ----------
    pred, ref
        shape (n,), same unit ``units``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    p = np.asarray(pred, float).ravel()
    r = np.asarray(ref, float).ravel()
    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=110)
    try:
        coll = ax.scatter(r, p, s=14, alpha=0.7, edgecolors="none")
        n_drawn = len(coll.get_offsets())
        both = np.concatenate([p, r]) if p.size else np.array([0.0, 1.0])
        lo, hi = float(np.min(both)), float(np.max(both))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel(f"DFPT {prop} ({units})")
        ax.set_ylabel(f"predicted {prop} ({units})")
        ax.set_title(title or prop, fontsize=9)
        if annotate:
            ax.text(0.03, 0.97, annotate, transform=ax.transAxes, va="top", fontsize=7, family="monospace")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    logger.debug("wrote %s (%d points)", path, n_drawn)
    return ParityPlot(property=prop, path=path, n_points=n_drawn)
