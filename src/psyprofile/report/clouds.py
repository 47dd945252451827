"""Word clouds of DLA results: the words and topics that go with each end of an outcome.

Per outcome and feature set, one cloud of the most positively and one of the most negatively
associated significant features (``p_corrected < alpha``): word size is |coef| (for a
two-valued outcome |r|, the bounded point-biserial correlation), colour the
feature's overall frequency in the study (sequential colour map, log scale, with a colour
bar). For a topic set (one whose topics' words are given in ``topic_words``), one cloud per
top topic shows that topic's highest-weighted words, sized by weight. Every cloud is written
as PNG and SVG (or the ``formats`` asked for) at a fixed pixel size, with the outcome,
direction and feature set in the title. Clouds use the ``wordcloud`` package's bundled font,
so they render offline; its layout never overlaps words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from psyprofile.extras import require
from psyprofile.features.topic_words import topic_label, topic_words_for
from psyprofile.store.db import quote_ident
from psyprofile.store.workspace import Workspace

DIRECTIONS = {"positive": "pos", "negative": "neg"}
FORMATS = ("png", "svg")  # file extensions written per cloud by default
# single colours per direction, for clouds without frequencies (topic words, or none given)
_DIRECTION_COLOURS = {"positive": "#b2182b", "negative": "#2166ac"}
_CMAP = "viridis"
_CMAP_RANGE = (0.0, 0.85)  # the pale yellow end of viridis is unreadable on white
_TITLE_FRAC, _CLOUD_FRAC = 0.13, 0.70  # shares of the image height: title, cloud, colour bar


def effect_column(rows: pd.DataFrame) -> str:
    """The column that sizes and ranks the DLA results ``rows`` of one outcome: ``r`` for a
    two-valued outcome (its bounded point-biserial correlation; the log-odds of a rare word
    that nearly separates the classes would dwarf every other), else ``coef``."""
    return "r" if "r" in rows and rows["r"].notna().any() else "coef"


@dataclass
class CloudReport:
    """The files written and, for every cloud not written, why."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def feature_frequencies(ws: Workspace, feature_set: str, level: str = "user") -> dict[str, float]:
    """Total ``value`` (for ngrams: occurrences) of every feature of ``feature_set`` over all
    groups at ``level``: the 'overall frequency' the clouds are coloured by."""
    from psyprofile.features.store import require_feature_set

    with ws.connect() as con:
        table = require_feature_set(con, feature_set, level)
        rows = con.execute(f"SELECT feature, sum(value) FROM {quote_ident(table)} GROUP BY feature").fetchall()
    return {f: float(v) for f, v in rows}


def write_clouds(
    results: pd.DataFrame,
    outdir: str | Path,
    *,
    alpha: float = 0.05,
    max_words: int = 50,
    max_topics: int = 5,
    topic_words_shown: int = 15,
    frequencies: Mapping[str, Mapping[str, float]] | None = None,
    topic_words: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    size: tuple[int, int] = (800, 400),
    formats: tuple[str, ...] = FORMATS,
) -> CloudReport:
    """Write the clouds of ``results`` (the frame :func:`psyprofile.analysis.dla.run_dla`
    returns) into ``outdir``.

    ``frequencies`` maps feature set -> feature -> overall frequency (colour; sets without
    one get a single colour); ``topic_words`` maps a topic feature set -> topic id -> {word:
    weight}. ``size`` is (width, height) of every image in pixels. Only features with
    ``p_corrected < alpha`` appear: at most ``max_words`` per word cloud, ``max_topics``
    topic clouds per direction with ``topic_words_shown`` words each. Each cloud is written
    once per file extension in ``formats`` (default PNG and SVG).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    report = CloudReport()
    frequencies = frequencies or {}
    topic_words = topic_words or {}
    for (outcome, fset), rows in results.groupby(["outcome", "feature_set"], sort=False):
        eff = effect_column(rows)
        sig = rows[rows["p_corrected"] < alpha].dropna(subset=[eff])
        for direction, tag in DIRECTIONS.items():
            side = sig[sig[eff] > 0] if direction == "positive" else sig[sig[eff] < 0]
            side = side.reindex(side[eff].abs().sort_values(ascending=False).index)
            where = f"{outcome} / {fset} / {direction}"
            if side.empty:
                report.notes.append(
                    f"{where}: no feature significant at p_corrected < {alpha}; no cloud written")
                continue
            stem = f"{_safe(outcome)}_{_safe(fset)}_{tag}"
            if fset in topic_words:
                _topic_clouds(side.head(max_topics), topic_words[fset], topic_words_shown,
                              outcome, fset, direction, outdir / stem, size, formats, report)
                continue
            top = side.head(max_words)
            weights = dict(zip(top["feature"], top[eff].abs(), strict=True))
            freq = frequencies.get(fset)
            title = (f"{outcome}: {direction}ly associated {fset} features "
                     f"({len(top)} of {len(side)} significant shown)\n"
                     + ("size = |point-biserial r|" if eff == "r"
                        else "size = |standardised coefficient|")
                     + (", colour = overall frequency" if freq is not None else ""))
            report.files += _render(weights, title, outdir / stem, size, formats, freq=freq,
                                    single=_DIRECTION_COLOURS[direction])
    return report


def _topic_clouds(topics: pd.DataFrame, words: Mapping[str, Mapping[str, float]], shown: int,
                  outcome: str, fset: str, direction: str, stem: Path, size: tuple[int, int],
                  formats: tuple[str, ...], report: CloudReport) -> None:
    """One cloud per topic in ``topics`` (rows of the results) of its top words by weight."""
    for rank, row in enumerate(topics.itertuples(index=False), start=1):
        tw = words.get(str(row.feature))
        if not tw:
            report.notes.append(f"{outcome} / {fset} / topic {row.feature}: its words are not "
                                "in the lexicon; no cloud written")
            continue
        top = sorted(((w, v) for w, v in tw.items() if v > 0), key=lambda kv: -kv[1])[:shown]
        title = (f"{outcome}: {direction}ly associated topic '{topic_label(tw)}' ({row.feature}) "
                 f"(#{rank}, coef {row.coef:+.3f}, {fset})\nsize = word weight in the topic")
        path = stem.with_name(f"{stem.name}_{rank:02d}_topic_{_safe(str(row.feature))}")
        report.files += _render(dict(top), title, path, size, formats, freq=None,
                                single=_DIRECTION_COLOURS[direction])


def _render(weights: Mapping[str, float], title: str, stem: Path, size: tuple[int, int],
            formats: tuple[str, ...], freq: Mapping[str, float] | None,
            single: str) -> list[Path]:
    """Lay out ``weights`` as a cloud under ``title``; write ``stem``.<ext> for each of
    ``formats``."""
    import numpy as np

    require("matplotlib", "report")
    require("wordcloud", "report")
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap, LogNorm, Normalize, to_hex
    from matplotlib.figure import Figure
    from wordcloud import WordCloud

    width, height = size
    cloud_w, cloud_h = int(width * 0.96), int(height * _CLOUD_FRAC)
    norm, cmap = None, None
    if freq is not None:
        vals = np.array([max(freq.get(w, 0.0), 0.0) for w in weights])
        pos = vals[vals > 0]
        lo, hi = (pos.min(), pos.max()) if pos.size else (1.0, 1.0)
        norm = LogNorm(lo, hi) if hi > lo else Normalize(lo - 1, hi + 1)
        cmap = ListedColormap(colormaps[_CMAP](np.linspace(*_CMAP_RANGE, 256)))

    def colour(word: str, **_: Any) -> str:
        if cmap is None:
            return single
        return to_hex(cmap(norm(max(freq.get(word, 0.0), norm.vmin))))

    wc = WordCloud(width=cloud_w, height=cloud_h, background_color="white", prefer_horizontal=1.0,
                   relative_scaling=1.0, min_font_size=8, random_state=0, color_func=colour,
                   max_words=len(weights))
    wc.generate_from_frequencies(dict(weights))

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.5, 1 - _TITLE_FRAC / 2, title, ha="center", va="center", fontsize=9)
    ax = fig.add_axes((0.02, 1 - _TITLE_FRAC - _CLOUD_FRAC, 0.96, _CLOUD_FRAC))
    ax.imshow(wc.to_array(), interpolation="nearest")
    ax.set_axis_off()
    if cmap is not None:
        from matplotlib.cm import ScalarMappable

        cax = fig.add_axes((0.4, 0.075, 0.4, 0.03))
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
        # A narrow log range gets labelled minor ticks that overprint: show four plain counts.
        bar.ax.minorticks_off()
        ticks = np.unique(np.round(np.geomspace(norm.vmin, norm.vmax, 4)))
        bar.set_ticks(ticks, labels=[f"{t:,.0f}" for t in ticks])
        bar.ax.tick_params(labelsize=7)
        fig.text(0.38, 0.09, "colour: overall frequency\n(total count in the study)",
                 ha="right", va="center", fontsize=8)
    paths = [stem.with_name(f"{stem.name}.{ext}") for ext in formats]  # names may hold dots
    for path in paths:
        fig.savefig(path, dpi=100)
    return paths


def _safe(name: str) -> str:
    """``name`` usable in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


@dataclass
class CloudInputs:
    """What the clouds of some feature sets need from the workspace: ``topics`` maps a topic
    set -> topic id -> {word: weight}; ``frequencies`` maps any other set -> feature ->
    overall frequency; ``notes`` say which topic sets could not be read."""

    topics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    frequencies: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def cloud_inputs(ws: Workspace, feature_sets: list[str], level: str) -> CloudInputs:
    """Read, once per set, the topic words or frequencies the clouds of ``feature_sets`` need.

    A topic set whose lexicon cannot be read is drawn by topic id, with a note saying why.
    """
    from psyprofile.errors import PsyprofileError

    inputs = CloudInputs()
    for name in feature_sets:
        try:
            words = topic_words_for(ws, name, level)
        except PsyprofileError as exc:
            inputs.notes.append(f"the words of topic set {name} are unavailable ({exc}); "
                                "its topics are drawn by id")
            words = None
        if words is not None:
            inputs.topics[name] = words
        else:
            inputs.frequencies[name] = feature_frequencies(ws, name, level)
    return inputs


def clouds_for_run(ws: Workspace, results: pd.DataFrame, feature_sets: list[str], level: str,
                   alpha: float, outdir: str | Path, *,
                   formats: tuple[str, ...] = FORMATS) -> CloudReport:
    """Clouds of a DLA run: topic sets drawn with their words, other sets coloured by frequency
    (see :func:`cloud_inputs`), one file per extension in ``formats``."""
    inputs = cloud_inputs(ws, feature_sets, level)
    report = write_clouds(results, outdir, alpha=alpha, frequencies=inputs.frequencies,
                          topic_words=inputs.topics, formats=formats)
    report.notes[:0] = inputs.notes
    return report
