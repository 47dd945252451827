"""The report's charts, drawn with matplotlib and returned as inline PNG data URIs.

Every chart carries a title, axis labels with units, and is a :class:`Chart` whose ``title``
the HTML repeats as a caption. Suppressed groups (fewer users than the study's minimum) are
drawn as a labelled gap, never as a number.
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from psyprofile.extras import require

SUPPRESSED = "suppressed"
UNKNOWN_UNIT = "score units"
# Up to this many groups, groups suppressed for every score keep a labelled row in bar charts.
MAX_SUPPRESSED_ROWS = 15
# At most this many groups get a line in a trend chart (the largest by users); more is unreadable.
MAX_TREND_GROUPS = 8
_COLS = 3  # small multiples per row
# A panel's cell in inches, and the margins of its axes inside the cell (room for the panel
# title, y label, and rotated tick labels + x label). Laid out by hand: matplotlib's
# tight_layout took a third of the report's time.
_CELL = (4.2, 3.5)
_PAD = {"left": 1.0, "right": 0.2, "top": 0.35, "bottom": 1.05}
_TITLE_H = 0.75  # inches above the panels for the figure title (two lines)
_DPI = 90
_MIN_WIDTH = 7.5  # inches: room for the longest title on one line
_LABEL_CHARS = 22  # longer group names are shortened on the axes (the tables show them whole)


@dataclass
class Chart:
    """One rendered chart: its title (also the figure's title) and a ``data:image/png`` URI."""

    title: str
    uri: str
    note: str = ""


def _figure(n_panels: int, cell: tuple[float, float] = _CELL,
            pad: Mapping[str, float] = _PAD) -> tuple[Any, list[Any]]:
    """A figure with ``n_panels`` axes in rows of :data:`_COLS`, at fixed positions; ``cell``
    is a panel's (width, height) and ``pad`` its axes' margins inside the cell, in inches."""
    require("matplotlib", "report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = max(n_panels, 1)
    cols, rows = min(_COLS, n), math.ceil(n / _COLS)
    w, h = max(_MIN_WIDTH, cell[0] * cols), cell[1] * rows + _TITLE_H
    fig = Figure(figsize=(w, h), dpi=_DPI)
    FigureCanvasAgg(fig)
    cw = w / cols
    axes = []
    for i in range(n):
        r, c = divmod(i, cols)
        left = c * cw + pad["left"]
        bottom = h - _TITLE_H - (r + 1) * cell[1] + pad["bottom"]
        axes.append(fig.add_axes((left / w, bottom / h,
                                  (cw - pad["left"] - pad["right"]) / w,
                                  (cell[1] - pad["top"] - pad["bottom"]) / h)))
    return fig, axes


def _short(label: Any) -> str:
    text = str(label)
    return text if len(text) <= _LABEL_CHARS else text[:_LABEL_CHARS - 1] + "…"


def _label(name: str, units: Mapping[str, str], key: str | None = None) -> str:
    """'name (unit)', wrapped to fit beside a panel; ``key`` looks the unit up if not ``name``."""
    return textwrap.fill(f"{name} ({units.get(key or name, UNKNOWN_UNIT)})", 32)


def _encode(fig: Any, title: str, note: str = "") -> Chart:
    # ~9 bold 12-pt characters per inch: wrap rather than let a long title run off the image
    fig.suptitle(textwrap.fill(title, int(fig.get_figwidth() * 9)), fontsize=12, fontweight="bold",
                 y=1 - 0.1 / fig.get_figheight(), va="top")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return Chart(title, _data_uri(buf.getvalue()), note)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def png_uri(path: Any) -> str:
    """A PNG file as a ``data:image/png`` URI (for images made elsewhere, e.g. word clouds)."""
    with open(path, "rb") as fh:
        return _data_uri(fh.read())


def distributions(scores: pd.DataFrame, family: str, units: Mapping[str, str]) -> Chart:
    """Histograms of ``value`` per dimension of one profile ``family``.

    ``scores``: rows of ``profile_scores`` (columns ``dimension, value``) for that family;
    ``units`` maps a dimension to its unit (for the x axis).
    """
    dims = sorted(scores["dimension"].unique())
    fig, axes = _figure(len(dims))
    for ax, dim in zip(axes, dims, strict=False):
        v = scores.loc[scores["dimension"] == dim, "value"].dropna().to_numpy()
        ax.hist(v, bins=min(30, max(5, int(np.sqrt(len(v))))), color="#4c72b0", edgecolor="white")
        ax.set_title(f"{dim} (n = {len(v):,} users)", fontsize=10)
        ax.set_xlabel(_label(dim, units))
        ax.set_ylabel("users")
    return _encode(fig, f"Distribution of {family} scores across users")


def group_bars(groups: pd.DataFrame, by: str, family: str, units: Mapping[str, str]) -> Chart:
    """Horizontal bars of group means with 95% CI error bars, one panel per score of ``family``.

    ``groups``: rows of ``study_groups`` for one ``by`` and family without a period
    (columns ``grp, score, mean, ci_lo, ci_hi, suppressed``). A group suppressed for a score
    keeps its row, labelled 'suppressed', with no bar; when there are more than
    :data:`MAX_SUPPRESSED_ROWS` groups, those suppressed for every score are named in the
    chart's note instead. ``units`` maps a score to its unit.
    """
    supp = groups["suppressed"].fillna(False).astype(bool)
    names = sorted(groups["grp"].unique(), key=str)
    always = sorted(set(names) - set(groups.loc[~supp, "grp"]), key=str)
    rows_shown = names if len(names) <= MAX_SUPPRESSED_ROWS else [g for g in names if g not in always]
    scores = sorted(groups["score"].unique())
    label_w = 0.075 * max((len(_short(g)) for g in rows_shown), default=4)
    fig, axes = _figure(len(scores), cell=(4.6, 1.4 + 0.22 * max(len(rows_shown), 1)),
                        pad={"left": 0.45 + label_w, "right": 0.2, "top": 0.35, "bottom": 0.75})
    for ax, score in zip(axes, scores, strict=False):
        rows = (groups[groups["score"] == score].set_index("grp").reindex(rows_shown))
        y = np.arange(len(rows_shown))[::-1]  # first group on top
        hidden = rows["suppressed"].fillna(True).to_numpy(bool)
        mean = rows["mean"].to_numpy(float)
        err = np.vstack([mean - rows["ci_lo"].to_numpy(float), rows["ci_hi"].to_numpy(float) - mean])
        ok = ~hidden
        ax.barh(y[ok], mean[ok], xerr=err[:, ok], capsize=3, color="#4c72b0", ecolor="#222222")
        for yi in y[hidden]:
            ax.text(0.02, yi, SUPPRESSED, ha="left", va="center", fontsize=8, color="#888888",
                    style="italic", transform=ax.get_yaxis_transform())
        ax.set_yticks(y, [_short(g) for g in rows_shown], fontsize=8)
        ax.set_ylim(-0.6, len(rows_shown) - 0.4)
        ax.axvline(0, color="#999999", linewidth=0.6)
        ax.set_title(score, fontsize=10)
        ax.set_ylabel(by)
        ax.set_xlabel(_label("mean", units, score), fontsize=8)
    n_supp = len(set(groups.loc[supp, "grp"]))
    note = ""
    if len(rows_shown) < len(names):
        note = (f"{len(always)} group(s) suppressed for every score (fewer users than the "
                f"minimum) are not drawn: {', '.join(map(str, always))}.")
    elif n_supp:
        note = f"{n_supp} group(s) with fewer users than the minimum are shown as suppressed."
    return _encode(fig, f"{family} by {by}: group means with 95% CIs", note)


def trends(groups: pd.DataFrame, by: str, family: str, units: Mapping[str, str]) -> Chart:
    """Line chart of group means over periods with shaded 95% CI bands, one panel per score
    and the legend in a panel of its own.

    ``groups``: rows of ``study_groups`` with a ``period``. Suppressed group-periods are gaps
    in the lines; the time axis runs from the first to the last period with a value. Only
    the :data:`MAX_TREND_GROUPS` groups with the most users are drawn.
    """
    shown = groups[~groups["suppressed"].fillna(False).astype(bool)]
    sizes = shown.groupby("grp")["n_users"].max().sort_values(ascending=False)
    keep = sorted(sizes.index[:MAX_TREND_GROUPS], key=str)
    hidden = groups["grp"].nunique() - len(sizes)
    with_values = sorted(shown.loc[shown["grp"].isin(keep), "period"].dropna().unique())
    everything = sorted(groups["period"].dropna().unique())
    periods = (everything[everything.index(with_values[0]):everything.index(with_values[-1]) + 1]
               if with_values else everything)
    x = np.arange(len(periods))
    scores = sorted(groups["score"].unique())
    fig, axes = _figure(len(scores) + 1)
    lines = []
    for ax, score in zip(axes, scores, strict=False):
        lines = []
        for grp in keep:
            rows = groups[(groups["score"] == score) & (groups["grp"] == grp)]
            rows = rows.set_index("period").reindex(periods)
            line = ax.plot(x, rows["mean"].to_numpy(float), marker="o", ms=3, label=str(grp))[0]
            ax.fill_between(x, rows["ci_lo"].to_numpy(float), rows["ci_hi"].to_numpy(float),
                            color=line.get_color(), alpha=0.15, linewidth=0)
            lines.append(line)
        step = max(1, len(periods) // 8)
        ax.set_xticks(x[::step], periods[::step], rotation=45, ha="right", fontsize=8)
        ax.set_title(score, fontsize=10)
        ax.set_xlabel("period")
        ax.set_ylabel(_label("mean", units, score), fontsize=8)
    axes[-1].set_axis_off()
    if lines:
        axes[-1].legend(handles=lines, labels=[_short(g) for g in keep], loc="center",
                        fontsize=8, title=by, title_fontsize=9, frameon=False)
    notes = []
    if len(sizes) > len(keep):
        notes.append(f"Only the {len(keep)} largest groups are drawn "
                     f"({len(sizes) - len(keep)} more are left out).")
    if hidden:
        notes.append(f"{hidden} group(s) suppressed in every period are not drawn.")
    notes.append("Gaps are periods where a group was suppressed or had no users.")
    return _encode(fig, f"{family} by {by} over time: means with 95% CI bands", " ".join(notes))


# The heatmap's colour scale: Cohen's d, fixed, so that the same colour means the same
# difference in every study and a negligible one (|d| < .1) is drawn near white.
D_LIMIT = 1.0
HEATMAP_CMAP = "RdBu_r"  # white at d = 0
_Z95 = 1.959963984540054


def effect_size_matrix(groups: pd.DataFrame) -> pd.DataFrame:
    """Group x score matrix of Cohen's d: each group's mean minus the mean over the users of
    all unsuppressed groups, divided by the pooled within-group SD.

    A group's SD is read back from its 95% CI of the mean and its users
    (``sd = (ci_hi - ci_lo) / (2 * 1.96) * sqrt(n_users)``), the rows of :mod:`analysis.groups`.
    Returns a frame indexed by ``grp`` with one column per score; suppressed cells, and
    scores without a usable spread, are NaN.
    """
    visible = groups[~groups["suppressed"].fillna(False).astype(bool)].copy()
    n = visible["n_users"].astype(float)
    visible["sd"] = (visible["ci_hi"] - visible["ci_lo"]) / (2 * _Z95) * np.sqrt(n)
    visible["n"] = n
    out = {}
    for score, g in visible.groupby("score"):
        g = g.dropna(subset=["mean", "sd"])
        dof = (g["n"] - 1).clip(lower=0)
        if g.empty or dof.sum() <= 0:
            continue
        pooled = float(np.sqrt((dof * g["sd"] ** 2).sum() / dof.sum()))
        grand = float((g["n"] * g["mean"]).sum() / g["n"].sum())
        if pooled > 0:
            out[score] = pd.Series(((g["mean"] - grand) / pooled).to_numpy(), index=g["grp"].to_numpy())
    d = pd.DataFrame(out)
    return d.reindex(index=sorted(groups["grp"].unique()), columns=sorted(groups["score"].unique()))


def heatmap(groups: pd.DataFrame, by: str) -> Chart:
    """Heatmap of :func:`effect_size_matrix` (groups in rows, traits in columns) on the fixed
    scale d = -1 to 1 (beyond it, full colour); suppressed cells are grey and labelled 'S'."""
    return _encode(heatmap_figure(groups, by),
                   f"Traits by {by}: group difference from the mean, Cohen's d (S = suppressed)")


def heatmap_figure(groups: pd.DataFrame, by: str) -> Any:
    """The matplotlib figure of :func:`heatmap` (its first axes hold the image)."""
    require("matplotlib", "report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    z = effect_size_matrix(groups)
    rows, cols = [_short(g) for g in z.index], [_short(c) for c in z.columns]
    # inches: margins sized to the longest labels (~0.075 in per 8-pt character)
    left = 0.6 + 0.075 * max(map(len, rows), default=1)
    bottom = 0.6 + 0.06 * max(map(len, cols), default=1)
    right = 1.4  # colour bar and its label
    plot_w, plot_h = max(0.45 * len(cols), 2.5), max(0.35 * len(rows), 2.2)
    w = max(_MIN_WIDTH, left + plot_w + right)
    h = _TITLE_H + plot_h + bottom
    fig = Figure(figsize=(w, h), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left / w, bottom / h, plot_w / w, plot_h / h))
    cax = fig.add_axes(((left + plot_w + 0.2) / w, bottom / h, 0.2 / w, plot_h / h))
    ax.set_facecolor("#dddddd")
    im = ax.imshow(np.ma.masked_invalid(z.to_numpy(float)), cmap=HEATMAP_CMAP, vmin=-D_LIMIT,
                   vmax=D_LIMIT, aspect="auto")
    for (i, j), v in np.ndenumerate(z.to_numpy(float)):
        if np.isnan(v):
            ax.text(j, i, "S", ha="center", va="center", fontsize=7, color="#555555")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("trait / score")
    ax.set_ylabel(by)
    bar = fig.colorbar(im, cax=cax)
    bar.set_label("Cohen's d: group mean vs all users\n(pooled SD; scale fixed at -1 to 1)",
                  fontsize=8)
    return fig

