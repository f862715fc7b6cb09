"""Parity plots are readable: log axes over decades, outliers labelled, statistics box off the points."""

from __future__ import annotations

import numpy as np

from macefield_flows.comparison.plots import axis_scale, parity_plot


def test_axis_scale_rules():
    assert axis_scale(np.array([1.0, 2.0, 5.0])) == "linear"
    assert axis_scale(np.array([0.5, 3.0, 40.0, 300.0])) == "log"  # eps_ionic up to 300
    assert axis_scale(np.array([-2.5, -1.0, 0.01, 1.2, 3.1])) == "linear"  # Born charges of both signs
    assert axis_scale(np.array([-0.2, 1.0, 2.0, 3.0, 2.0, 350.0])) == "symlog"  # one huge value


def test_plot_labels_outliers_and_keeps_the_box_outside(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure

    ref = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
    pred = ref * 1.05
    pred[5] = 300.0  # the worst point
    labels = [f"X{i} (mp-{i})" for i in range(ref.size)]
    splits = ["train"] * 4 + ["test"] * 4
    boxes = {}
    real_savefig = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):  # record where the statistics box and the axes are
        fig.canvas.draw()
        ax = fig.axes[0]
        text = next(t for t in ax.texts if t.get_text().startswith("N ="))
        boxes["text"] = text.get_window_extent()
        boxes["axes"] = ax.get_window_extent()
        boxes["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot = parity_plot(pred, ref, "eps_ionic", "dimensionless", tmp_path / "p.png", title="a long title " * 6,
                       annotate="N = 8\nMAE = 1", splits=splits, labels=labels, n_label=2)
    assert plot.scale == "log" and plot.n_points == 8
    assert plot.labelled[0] == "X5 (mp-5)" and len(plot.labelled) == 2
    assert boxes["text"].x0 >= boxes["axes"].x1  # right of the axes: covers no point
    assert boxes["legend"] == ["train (4)", "test (4)"]
    assert (tmp_path / "p.png").stat().st_size > 5000
