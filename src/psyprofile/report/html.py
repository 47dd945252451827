"""``psyprofile report``: one self-contained HTML file describing a study and its findings.

The file needs no network to be read: CSS is inline and every chart is an inline PNG (data
URI). Sections follow what the study computed (ingest, profiles, models, DLA, group study,
privacy budget); a section whose analysis was not run says so in one line. Only aggregates,
ids of models and feature sets, group names and DLA features appear: never a post's text.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from psyprofile.extras import require
from psyprofile.report.charts import Chart
from psyprofile.report.gather import StudyData, gather
from psyprofile.store.workspace import Workspace

# Usual units of each profile family's values (contract C1), for axis labels when the
# profile did not store a dimension's unit.
FAMILY_UNITS = {
    "big5": "model score, SD units",
    "emotions": "lexicon score per word",
    "sentiment": "lexicon score",
    "wellbeing": "lexicon score per word",
    "temporal": "share of words",
    "age": "years",
    "gender": "probability female",
}
REPORT_MODULES = ("jinja2", "matplotlib", "wordcloud")  # what the [report] extra installs
TOP_DLA_FEATURES = 10  # per direction, outcome and feature set
MAX_COMPARISONS = 200  # rows of the comparisons table; the rest are counted

SECTIONS = [
    ("ethics", "Ethics notice"),
    ("data", "Data: what was ingested and what was skipped"),
    ("profiles", "Profile score distributions"),
    ("models", "Models used"),
    ("dla", "Differential language analysis"),
    ("groups", "Group comparisons"),
    ("trends", "Trends over time"),
    ("heatmap", "Group × trait heatmap"),
    ("comparisons", "Tests between groups"),
    ("privacy", "Privacy budget"),
    ("methods", "Methods"),
]


@dataclass
class ReportResult:
    """What :func:`write_report` wrote: the file, its charts' titles and notes on missing parts."""

    path: Path
    charts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # titles of sections with nothing computed

    def summary(self) -> str:
        kb = self.path.stat().st_size / 1024
        lines = [f"wrote {self.path} ({kb:,.0f} KiB, {len(self.charts)} charts)"]
        if self.missing:
            lines.append("  not computed yet: " + "; ".join(self.missing))
        return "\n".join(lines)


def units_of(d: StudyData) -> dict[str, str]:
    """Unit of every profile dimension: as the profile stored it (``profile_norms``), else the
    usual unit of its family."""
    units: dict[str, str] = {}
    if d.profile_scores is not None:
        pairs = d.profile_scores[["family", "dimension"]].drop_duplicates()
        units = {dim: FAMILY_UNITS[f] for f, dim in pairs.itertuples(index=False)
                 if f in FAMILY_UNITS}
    return {**units, **d.units}


def _num(value: Any, digits: int = 3) -> str:
    """A number for a table cell: fixed digits, thousands separators for integers, '–' if none."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and digits == 0):
        return f"{int(value):,}"
    if isinstance(value, float) and abs(value) < 1e-9:
        value = 0.0  # floating-point residue (e.g. the mean of z-scores), not a small value
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.1e}"
    return f"{float(value):,.{digits}f}"


def _pvalue(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None (not NaN) for missing values, so templates can test for them."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _profiles(d: StudyData, units: dict[str, str]) -> dict[str, Any] | None:
    from psyprofile.report import charts

    if d.profile_scores is None or d.profile_scores.empty:
        return None
    s = d.profile_scores
    # one row per source of a dimension: two Big Five sources are not averaged together
    table = (s.groupby(["family", "dimension", "source"])
              .agg(users=("value", "count"), mean=("value", "mean"), sd=("value", "std"),
                   median_words=("words", "median"))
              .reset_index())
    table["unit"] = table["dimension"].map(lambda x: units.get(x, charts.UNKNOWN_UNIT))
    figs = [charts.distributions(s[s["family"] == f], f, units)
            for f in sorted(s["family"].unique())]
    status = [] if d.profile_users is None else d.profile_users.to_dict("records")
    return {"table": table.to_dict("records"), "charts": figs, "status": status,
            "sources": _profile_sources(s)}


def _profile_sources(s: pd.DataFrame) -> list[dict[str, Any]]:
    """Per profile source: what it is, its citation, languages, the reference sample of its
    percentiles, its mean coverage, and its evidence per dimension (the evidence table)."""
    from psyprofile.profiles.evidence import evidence_summary, source_evidence

    out = []
    for src, part in s.groupby("source", sort=True):
        ev = source_evidence(src)
        ref = part["reference"].dropna() if "reference" in part else pd.Series(dtype=object)
        cov = part["coverage"].dropna() if "coverage" in part else pd.Series(dtype=float)
        dims = list(dict.fromkeys(part["dimension"]))
        evidence = list(dict.fromkeys(evidence_summary(src, x) for x in dims))
        out.append({"source": src, "name": ev.name, "status": ev.status, "citation": ev.citation,
                    "languages": ", ".join(ev.languages) or "unknown",
                    "reference": ", ".join(sorted(set(ref))) or "–",
                    "coverage": float(cov.mean()) if len(cov) else None,
                    "evidence": evidence})
    return out


def _dla(ws: Workspace, d: StudyData, tmp: Path) -> dict[str, Any] | None:
    from psyprofile.report.charts import png_uri
    from psyprofile.report.clouds import cloud_inputs, effect_column, write_clouds

    if d.dla_results is None or d.dla_results.empty:
        return None
    alpha = {r["run_id"]: (r["params"] or {}).get("alpha", 0.05) for r in d.dla_runs}
    tables, clouds, notes = [], [], []
    for (level, _sets), rows in d.dla_results.groupby(["level", "feature_sets"], sort=True):
        a = float(max(alpha.get(rid, 0.05) for rid in rows["run_id"].unique()))
        # each set's frequencies or topic words are read once, not once per outcome
        inputs = cloud_inputs(ws, sorted(rows["feature_set"].unique()), level)
        notes += inputs.notes
        for (outcome, fset), r in rows.groupby(["outcome", "feature_set"], sort=True):
            rank = effect_column(r)  # r for a two-valued outcome, as the clouds
            sig = r[r["p_corrected"] < a].dropna(subset=[rank])
            tables.append({
                "outcome": outcome, "feature_set": fset, "level": level, "alpha": a,
                "n_features": len(r), "n_significant": len(sig), "rank": rank,
                "positive": _records(sig[sig[rank] > 0].nlargest(TOP_DLA_FEATURES, rank)),
                "negative": _records(sig[sig[rank] < 0].nsmallest(TOP_DLA_FEATURES, rank)),
            })
            # one call per outcome and set, so that each cloud's caption can name both
            rep = write_clouds(r, tmp / f"clouds_{len(tables)}", alpha=a,
                               frequencies=inputs.frequencies, topic_words=inputs.topics,
                               formats=("png",))  # the report inlines PNGs only
            clouds += [Chart(_cloud_caption(outcome, fset, p.stem), png_uri(p))
                       for p in rep.files]
            notes += rep.notes
    return {"tables": tables, "clouds": clouds, "notes": notes, "runs": d.dla_runs}


def _cloud_caption(outcome: str, fset: str, stem: str) -> str:
    """'age, 1gram: positive' (or '..., topic 12') from a cloud file's stem (see clouds.py)."""
    direction = "negative" if "_neg" in stem else "positive"
    topic = stem.rpartition("_topic_")[2] if "_topic_" in stem else ""
    return f"{outcome}, {fset}: {direction}ly associated" + (f" topic {topic}" if topic else "")


def _study(d: StudyData, units: dict[str, str]) -> dict[str, Any] | None:
    from psyprofile.report import charts

    g = d.study_groups
    if g is None or g.empty:
        return None
    g = g.copy()
    g["suppressed"] = g["suppressed"].fillna(False).astype(bool)
    overall = g[g["period"].isna()]
    periods = g[g["period"].notna()]
    bars, lines, heat, group_tables = [], [], [], []
    for by in sorted(g["by"].unique()):
        ov = overall[overall["by"] == by]
        for family in sorted(ov["family"].unique()):
            bars.append(charts.group_bars(ov[ov["family"] == family], by, family, units))
        pe = periods[periods["by"] == by]
        for family in sorted(pe["family"].unique()):
            lines.append(charts.trends(pe[pe["family"] == family], by, family, units))
        if not ov.empty:
            heat.append(charts.heatmap(ov, by))
            sizes = (ov.sort_values(["grp", "score"]).groupby("grp", sort=True)
                       .first()[["n_users", "n_posts", "suppressed", "dp"]].reset_index())
            group_tables.append({"by": by, "rows": _records(sizes)})
    return {"bars": bars, "trends": lines, "heatmaps": heat, "group_tables": group_tables,
            "has_overall": not overall.empty, "has_periods": not periods.empty,
            "n_suppressed": int(overall["suppressed"].sum()) if not overall.empty else 0,
            "dp": bool(g["dp"].fillna(False).any())}


def _comparisons(d: StudyData) -> dict[str, Any] | None:
    c = d.study_comparisons
    if c is None or c.empty:
        return None
    return {"rows": _records(c.head(MAX_COMPARISONS)), "total": len(c),
            "significant": int((c["q"] < 0.05).sum())}


def _privacy(d: StudyData) -> dict[str, Any] | None:
    b = d.privacy_budget
    if b is None or b.empty:
        return None
    return {"rows": _records(b), "total": float(b["epsilon"].sum())}


def render(ws: Workspace, d: StudyData, tmp: Path, progress: bool = True) -> tuple[str, list[str]]:
    """The report's HTML and the titles of its charts (word clouds are drawn in ``tmp``)."""
    from tqdm.auto import tqdm

    jinja2 = require("jinja2", "report")

    from psyprofile import __version__
    from psyprofile.report.methods import methods, pretty, versions

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("psyprofile.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pvalue=_pvalue, pretty=pretty)
    units = units_of(d)
    steps = {
        "profiles": lambda: _profiles(d, units), "dla": lambda: _dla(ws, d, tmp),
        "study": lambda: _study(d, units), "comparisons": lambda: _comparisons(d),
        "privacy": lambda: _privacy(d),
    }
    parts = {}
    for name, step in tqdm(steps.items(), desc="report", unit="part", disable=not progress):
        parts[name] = step()
    charts = [c.title for p in parts.values() if p for key in ("charts", "clouds", "bars", "trends",
                                                                 "heatmaps") for c in p.get(key, [])]
    html = env.get_template("report.html.j2").render(
        d=d, s=d.summary, sections=SECTIONS, version=__version__, versions=versions(),
        min_group_size=ws.min_group_size(), top_dla=TOP_DLA_FEATURES, methods=methods(ws, d),
        **parts)
    return html, charts


def write_report(ws: Workspace, out: str | Path, *, study_run: int | None = None,
                 progress: bool = True) -> ReportResult:
    """Write the HTML report of ``ws`` to ``out``; ``study_run`` picks the group study shown
    (default: the latest). Returns the file, chart titles and the sections not computed."""
    out = Path(out)
    for module in REPORT_MODULES:  # before any work: a missing extra is one message
        require(module, "report")
    d = gather(ws, study_run)
    with tempfile.TemporaryDirectory(prefix="psyprofile-report-") as tmp:
        html, charts = render(ws, d, Path(tmp), progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    computed = _computed(d)
    missing = [title for key, title in SECTIONS if key in computed and not computed[key]]
    return ReportResult(out, charts, missing)


def _computed(d: StudyData) -> dict[str, bool]:
    """Which optional sections have something to show."""
    g = d.study_groups
    return {
        "profiles": d.profile_scores is not None and not d.profile_scores.empty,
        "models": bool(d.models),
        "dla": d.dla_results is not None and not d.dla_results.empty,
        "groups": g is not None and not g.empty,
        "trends": g is not None and bool(g["period"].notna().any()),
        "comparisons": d.study_comparisons is not None and not d.study_comparisons.empty,
        "privacy": d.privacy_budget is not None and not d.privacy_budget.empty,
    }
