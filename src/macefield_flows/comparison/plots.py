"""Parity plots (predicted vs DFPT) with matplotlib's Agg backend.

Readable by construction: the title is wrapped and the figure is saved with a
tight bounding box (nothing clipped); the statistics box sits outside the axes,
to the right, so it covers no point; points are coloured by split with a
legend; the largest errors are labelled with their material; both axes become
logarithmic when the values span more than :data:`LOG_SPAN` (``symlog`` when
some are not positive). Each plot returns a :class:`ParityPlot` with the file
path and the number of points drawn.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

logger = logging.getLogger(__name__)

SPLIT_COLOURS = {"train": "#1f77b4", "valid": "#ff7f0e", "test": "#2ca02c", "unknown": "#7f7f7f"}
LOG_SPAN = 20.0
"""max/min of |values| above which the axes become logarithmic."""


@dataclass(frozen=True)
class ParityPlot:
    """One written parity plot."""

    property: str
    path: Path
    n_points: int
    scale: str = "linear"
    labelled: list[str] = field(default_factory=list)


def axis_scale(values: np.ndarray) -> str:
    """Axis scale for the values of a parity plot.

    'log' when all values are positive and span more than :data:`LOG_SPAN`
    (max/min); 'symlog' when some are not positive but the largest magnitudes
    exceed LOG_SPAN times the median magnitude and 10 (a few huge values would
    squash the rest at zero); else 'linear' (e.g. Born charges of both signs).
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return "linear"
    if np.all(v > 0):
        return "log" if v.max() / v.min() > LOG_SPAN else "linear"
    mags = np.abs(v)
    big = mags.max()
    return "symlog" if big > 10 and big > LOG_SPAN * max(float(np.median(mags)), 1e-12) else "linear"


def parity_plot(pred: np.ndarray, ref: np.ndarray, prop: str, units: str, path: Path, title: str = "",
                annotate: str = "", splits: Optional[Sequence[str]] = None, labels: Optional[Sequence[str]] = None,
                n_label: int = 3, label: str = "") -> ParityPlot:
    """Scatter ``pred`` against ``ref`` with the y = x line and write a PNG.

    Parameters
    ----------
    pred, ref
        shape (n,), same unit ``units``.
    splits
        Split of each point (colours), shape (n,); default all 'unknown'.
    labels
        Material label of each point; the ``n_label`` largest errors are annotated.
    label
        Axis text of the property (default ``prop``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    p = np.asarray(pred, float).ravel()
    r = np.asarray(ref, float).ravel()
    sp = np.asarray(list(splits) if splits is not None else ["unknown"] * p.size, dtype=object)
    both = np.concatenate([p, r]) if p.size else np.array([0.0, 1.0])
    scale = axis_scale(both)
    fig, ax = plt.subplots(figsize=(5.0, 4.4), dpi=110)
    n_drawn = 0
    labelled: list[str] = []
    try:
        for name, colour in SPLIT_COLOURS.items():
            sel = sp == name
            if sel.any():
                coll = ax.scatter(r[sel], p[sel], s=16, alpha=0.75, edgecolors="none", color=colour,
                                  label=f"{name} ({int(sel.sum())})")
                n_drawn += len(coll.get_offsets())
        finite = both[np.isfinite(both)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if scale == "log":
            lo, hi = lo / 1.5, hi * 1.5
        else:
            pad = 0.05 * (hi - lo or 1.0)
            lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, zorder=0)
        if scale != "linear":
            from matplotlib.ticker import NullFormatter

            kw = {"linthresh": 1.0} if scale == "symlog" else {}
            ax.set_xscale(scale, **kw)
            ax.set_yscale(scale, **kw)
            for axis in (ax.xaxis, ax.yaxis):  # decade labels only: minor labels clutter short log ranges
                axis.set_minor_formatter(NullFormatter())
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        unit = "" if units in ("", "dimensionless") else f" ({units})"
        ax.set_xlabel(f"DFPT {label or prop}{unit}")
        ax.set_ylabel(f"predicted {label or prop}{unit}")
        ax.set_title("\n".join(textwrap.wrap(title or prop, 48)), fontsize=9)
        if labels is not None and p.size:
            err = np.abs(p - r)
            if scale == "log":
                err = np.abs(np.log10(np.clip(p, 1e-12, None)) - np.log10(np.clip(r, 1e-12, None)))
            seen: set[str] = set()
            placed: list = []
            renderer = fig.canvas.get_renderer()
            for i in np.argsort(-np.nan_to_num(err))[: 3 * n_label]:
                if len(labelled) >= n_label:
                    break
                if labels[i] in seen or not np.isfinite(err[i]):
                    continue
                seen.add(labels[i])
                # keep the label inside the axes (text grows away from the nearer edge) and stagger
                # successive labels vertically so that neighbours do not overprint
                fx, fy = ax.transAxes.inverted().transform(ax.transData.transform((r[i], p[i])))
                right = fx > 0.55
                inside = ax.get_window_extent(renderer)
                first = None
                for dy in (4, -10, 16, -22, 28, -34, 40, -46):  # near the point, off other labels, inside
                    ann = ax.annotate(labels[i], (r[i], p[i]), xytext=(-4 if right else 4, dy),
                                      textcoords="offset points", fontsize=7, color="#b00000",
                                      ha="right" if right else "left",
                                      arrowprops={"arrowstyle": "-", "color": "#b00000", "lw": 0.5})
                    box = ann.get_window_extent(renderer)
                    ok = (box.y0 >= inside.y0 and box.y1 <= inside.y1 and box.x0 >= inside.x0
                          and box.x1 <= inside.x1 and not any(box.overlaps(b) for b in placed))
                    if ok:
                        first = None
                        break
                    if first is None:
                        first = (dy, box)
                    ann.remove()
                if first is not None:  # nowhere free: the first position
                    ann = ax.annotate(labels[i], (r[i], p[i]), xytext=(-4 if right else 4, first[0]),
                                      textcoords="offset points", fontsize=7, color="#b00000",
                                      ha="right" if right else "left",
                                      arrowprops={"arrowstyle": "-", "color": "#b00000", "lw": 0.5})
                    box = first[1]
                placed.append(box)
                labelled.append(labels[i])
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(title="split", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 0.45),
                      frameon=False)
        if annotate:
            ax.text(1.03, 1.0, annotate, transform=ax.transAxes, va="top", ha="left", fontsize=7,
                    family="monospace", bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#999999"})
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight", pad_inches=0.15)
    finally:
        plt.close(fig)
    logger.debug("wrote %s (%d points, %s axes)", path, n_drawn, scale)
    return ParityPlot(property=prop, path=path, n_points=n_drawn, scale=scale, labelled=labelled)
