"""The group x trait heatmap: Cohen's d on a fixed scale, not standardised per chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from psyprofile.report.charts import (
    D_LIMIT,
    HEATMAP_CMAP,
    effect_size_matrix,
    heatmap,
    heatmap_figure,
)


def _groups(means: dict[str, list[float]], sd: float = 1.0, n: int = 400) -> pd.DataFrame:
    rows = []
    for score, ms in means.items():
        for i, m in enumerate(ms):
            half = 1.959963984540054 * sd / np.sqrt(n)
            rows.append({"grp": f"g{i}", "score": score, "mean": m, "n_users": n,
                         "ci_lo": m - half, "ci_hi": m + half, "suppressed": False})
    return pd.DataFrame(rows)


def test_effect_size_is_cohens_d_from_the_intervals():
    d = effect_size_matrix(_groups({"x": [0.03, -0.03], "y": [10.0, 12.0]}, sd=2.0))
    assert d.loc["g0", "x"] == pytest.approx(0.015) and d.loc["g1", "x"] == pytest.approx(-0.015)
    assert d.loc["g0", "y"] == pytest.approx(-0.5) and d.loc["g1", "y"] == pytest.approx(0.5)


def test_small_differences_are_near_white():
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    # the case: d = -.06 between groups was drawn full red after per-chart z-scoring
    g = _groups({"extraversion": [0.0, -0.06], "openness": [0.05, 0.0], "neuroticism": [0.02, -0.09]})
    d = effect_size_matrix(g)
    assert (d.abs() < 0.1).all().all()
    colours = colormaps[HEATMAP_CMAP](Normalize(-D_LIMIT, D_LIMIT)(d.to_numpy()))
    assert (colours[..., :3] > 0.85).all()  # every channel high: near white
    # and the colours drawn are those
    image = heatmap_figure(g, "group").axes[0].images[0]
    assert (image.to_rgba(image.get_array())[..., :3] > 0.85).all()
    assert heatmap(g, "group").uri.startswith("data:image/png;base64,")


def test_suppressed_cells_stay_empty():
    g = _groups({"x": [0.5, 0.0, 0.1]})
    g.loc[2, ["mean", "ci_lo", "ci_hi"]] = np.nan
    g.loc[2, "suppressed"] = True
    d = effect_size_matrix(g)
    assert np.isnan(d.loc["g2", "x"]) and d.loc["g0", "x"] > 0 > d.loc["g1", "x"]
