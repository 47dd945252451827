"""Model cards: what a saved model was trained on, how well it does, and what not to use it for.

Written beside every saved model as ``card.json`` (stable keys) and ``card.md`` (the same
facts for people). A trained model's card reports its cross-validation; a lexicon model's
(``"kind": "lexicon"``) reports the lexicon, its terms of use and its accuracy on a labelled
corpus. A model description may carry ``notes`` (a list of sentences) for either card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from psyprofile.models.lexicon_model import KIND as LEXICON_KIND
from psyprofile.store.workspace import Workspace

INTENDED_USES = [
    "Research on groups: estimating average traits of populations, regions or communities, "
    "and comparing groups, with the uncertainty reported here.",
    "Exploratory analysis of how language relates to the outcome.",
]
UNINTENDED_USES = [
    "Decisions about individual people (hiring, admission, credit, insurance, policing, "
    "moderation or any eligibility decision).",
    "Clinical diagnosis or screening of individuals.",
    "Inferring sensitive traits of people who have not consented, or de-anonymising them.",
    "Populations, platforms, languages or periods unlike the training data without re-validation.",
]
KNOWN_LIMITS = [
    "Accuracy is measured by cross-validation on the training study only; it will be lower on "
    "other platforms, periods or populations.",
    "Scores resting on few words are noisy: each stored score carries its word count and an "
    "interval that widens as the word count falls.",
    "Language reflects demographics, culture and topic of the training sample; subgroup accuracy "
    "may differ (see an --audit-by report) and the model can reproduce stereotypes.",
    "Predictions are correlational estimates, not measurements of the trait.",
]


RELIABILITY_MEANING = ("error sd = sqrt(pi/2) * (a + b / sqrt(words)); interval = value +/- 1.96 "
                       "sd")

LEXICON_LIMITS = [
    "The weights were fitted by the lexicon's authors on their own samples of users; accuracy on "
    "other platforms, periods or populations is unknown until re-validated there.",
    *KNOWN_LIMITS[1:],
]


def training_summary(ws: Workspace, users: list[str]) -> dict[str, Any]:
    """Study name, users, their posts, the date range of those posts and their languages
    (``languages``: code -> share of the posts, ``messages.lang``, shares of at least
    :data:`MIN_LANGUAGE_SHARE`, largest first)."""
    with ws.connect(read_only=True) as con:
        con.register("_train_users", pd.DataFrame({"user_id": users}))
        try:
            posts, first, last = con.execute(
                "SELECT count(*), min(created_at), max(created_at) FROM messages "
                "WHERE user_id IN (SELECT user_id FROM _train_users)"
            ).fetchall()[0]
            langs = con.execute(
                "SELECT coalesce(lang, 'und') AS l, count(*) AS n FROM messages "
                "WHERE user_id IN (SELECT user_id FROM _train_users) GROUP BY l ORDER BY n DESC, l"
            ).fetchall()
        finally:
            con.unregister("_train_users")
    shares = {lang: round(n / posts, 4) for lang, n in langs if posts and n / posts >= MIN_LANGUAGE_SHARE}
    return {
        "study": ws.config.get("name"), "n_users": len(users), "n_posts": int(posts),
        "date_range": [first.isoformat() if first else None, last.isoformat() if last else None],
        "languages": shares,
    }


MIN_LANGUAGE_SHARE = 0.01  # a language of fewer training posts is not listed
SUPPORTED_LANGUAGE_SHARE = 0.05  # a model supports a language of at least this share of its posts
UNRECORDED_LANGUAGES = frozenset({"en"})  # models saved before the mix was recorded


def supported_languages(spec: dict[str, Any]) -> frozenset[str]:
    """The languages a model (its ``model.json`` content) supports: each of at least
    :data:`SUPPORTED_LANGUAGE_SHARE` of its training posts (``'und'``, too short to tell,
    aside). A model saved before psyprofile recorded the mix, or trained on posts too short
    to tell, is taken as English."""
    mix = (spec.get("training") or {}).get("languages") or {}
    langs = frozenset(k for k, share in mix.items() if k != "und" and share >= SUPPORTED_LANGUAGE_SHARE)
    return langs or UNRECORDED_LANGUAGES


def build_card(spec: dict[str, Any]) -> dict[str, Any]:
    """The card of a model description (``model.json`` content)."""
    if (spec.get("estimator") or {}).get("kind") == LEXICON_KIND:
        return build_lexicon_card(spec)
    cv = spec["cv"]
    return {
        "model": spec["name"], "outcome": spec["outcome"], "task": spec["task"],
        "classes": spec["classes"], "created": spec["created"],
        "psyprofile_version": spec["psyprofile_version"], "format_version": spec["format_version"],
        "training_data": spec["training"],
        "languages": sorted(supported_languages(spec)),
        "excluded_users": cv.get("excluded"),
        "features": {s["name"]: len(s["features"]) for s in spec["feature_sets"]},
        "controls": spec["control_names"], "min_words": spec["min_words"],
        "pipeline": spec["pipeline"],
        "cv_metrics": _metrics(spec["task"], cv),
        "n_folds": cv.get("n_folds"),
        "controls_only_baseline": (_metrics(spec["task"], cv["controls_only"])
                                   if cv.get("controls_only") else None),
        "reliability": {**spec["reliability"], "meaning": RELIABILITY_MEANING},
        "intended_uses": INTENDED_USES, "unintended_uses": UNINTENDED_USES, "known_limits": KNOWN_LIMITS,
        "notes": spec.get("notes", []),
    }


def _metrics(task: str, m: dict[str, Any]) -> dict[str, Any]:
    keys = ("r", "r2", "mae") if task == "regression" else ("auc", "accuracy", "f1")
    return {k: {"value": m.get(k), "ci95": m.get(k + "_ci")} for k in keys}


def build_lexicon_card(spec: dict[str, Any]) -> dict[str, Any]:
    """The card of a lexicon model: the lexicon and its terms, the scoring rule, and the
    accuracy measured on a labelled corpus (``spec['cv']``, which is not cross-validation)."""
    est, ev = spec["estimator"], spec["cv"]
    return {
        "model": spec["name"], "kind": LEXICON_KIND, "outcome": spec["outcome"], "task": spec["task"],
        "classes": spec["classes"], "created": spec["created"],
        "psyprofile_version": spec["psyprofile_version"], "format_version": spec["format_version"],
        "lexicon": {"name": est["lexicon"], "category": est["category"],
                    "source": est["lexicon_source"], "licence": est["licence"],
                    "citation": est["citation"], "weights_sha256": est["weights_sha256"]},
        "scoring": spec["scoring"], "min_words": spec["min_words"],
        "evaluation_data": spec["training"], "evaluation_metrics": _metrics(spec["task"], ev),
        "evaluation_optimistic": bool(spec.get("evaluation_optimistic", False)),
        "reliability": {**spec["reliability"], "meaning": RELIABILITY_MEANING},
        "intended_uses": INTENDED_USES, "unintended_uses": UNINTENDED_USES, "known_limits": LEXICON_LIMITS,
        "notes": spec.get("notes", []),
    }


def _fmt(m: dict[str, Any]) -> str:
    v, ci = m.get("value"), m.get("ci95")
    if v is None:
        return "n/a"
    return f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")


def _closing(card: dict[str, Any]) -> list[str]:
    """Reliability, uses, limits and notes: the sections every card ends with."""
    rel = card["reliability"]
    return [
        "", "## Reliability of a single score", "",
        f"Expected absolute error = {rel['a']:.4g} + {rel['b']:.4g} / sqrt(words); each stored score "
        "has an interval of value +/- 1.96 sd and the number of words it rests on.", "",
        "## Intended uses", "", *[f"- {u}" for u in card["intended_uses"]], "",
        "## Unintended uses (do not)", "", *[f"- {u}" for u in card["unintended_uses"]], "",
        "## Known limits", "", *[f"- {u}" for u in card["known_limits"]], "",
        *(["## Notes", "", *[f"- {n}" for n in card["notes"]], ""] if card.get("notes") else []),
    ]


def render_lexicon_markdown(card: dict[str, Any]) -> str:
    """A lexicon model's card as a Markdown document."""
    lex, t = card["lexicon"], card["evaluation_data"]
    lines = [
        f"# Model card: {card['model']}", "",
        f"Scores **{card['outcome']}** ({card['task']}"
        + (f"; classes {', '.join(card['classes'])}" if card["classes"] else "") + ") "
        f"with the published weights of lexicon `{lex['name']}`, category `{lex['category']}`. "
        f"Described {card['created']} with psyprofile {card['psyprofile_version']} "
        f"(model format {card['format_version']}).", "",
        "## Lexicon", "",
        f"- terms of use: {lex['licence']}", f"- citation: {lex['citation']}",
        f"- weights: read from the lexicon at load time ({lex['source']}); not stored in this "
        f"folder. SHA-256 of the weights used: `{lex['weights_sha256'][:16]}...`; a changed "
        "lexicon is refused.", "",
        "## Scoring", "", card["scoring"], "",
        f"Users need at least {card['min_words']:,} words.", "",
        "## Accuracy on a labelled corpus (no training, so no cross-validation; 95% bootstrap CI)", "",
        f"- data: {t['study']}; {t['n_users']:,} users, {t['n_posts']:,} posts, "
        f"{t['date_range'][0]} to {t['date_range'][1]}", "",
        "| metric | value |", "| --- | --- |",
        *[f"| {k} | {_fmt(m)} |" for k, m in card["evaluation_metrics"].items()],
    ]
    if card["evaluation_optimistic"]:
        lines += ["", "**Optimistic:** the lexicon was very likely fitted partly on this same "
                  "corpus, so these figures overstate its accuracy on new data."]
    return "\n".join(lines + _closing(card))


def render_markdown(card: dict[str, Any]) -> str:
    """The card as a Markdown document."""
    if card.get("kind") == LEXICON_KIND:
        return render_lexicon_markdown(card)
    t = card["training_data"]
    lines = [
        f"# Model card: {card['model']}", "",
        f"Predicts **{card['outcome']}** ({card['task']}"
        + (f"; classes {', '.join(card['classes'])}" if card["classes"] else "") + ") "
        f"from users' language. Created {card['created']} with psyprofile {card['psyprofile_version']} "
        f"(model format {card['format_version']}).", "",
        "## Training data", "",
        f"- study: {t['study']}; {t['n_users']:,} users, {t['n_posts']:,} posts, "
        f"{t['date_range'][0]} to {t['date_range'][1]}",
        "- languages of the posts: " + (", ".join(f"{k} {v:.0%}" for k, v in t["languages"].items())
                                        if t.get("languages") else "not recorded")
        + f"; it scores users writing mostly in {', '.join(sorted(card['languages']))}",
        f"- users need at least {card['min_words']:,} words; excluded: "
        + ", ".join(f"{k} {v:,}" for k, v in (card["excluded_users"] or {}).items()), "",
        "## Features and pipeline", "",
        *[f"- feature set `{s}`: {n:,} features" for s, n in card["features"].items()],
        f"- controls: {', '.join(card['controls']) or 'none'}",
        *[f"- {k}: {v}" for k, v in card["pipeline"].items()], "",
        f"## Accuracy ({card['n_folds']}-fold cross-validation, 95% bootstrap CI over users)", "",
        "| metric | model | controls only |", "| --- | --- | --- |",
    ]
    base = card["controls_only_baseline"] or {}
    for k, m in card["cv_metrics"].items():
        lines.append(f"| {k} | {_fmt(m)} | {_fmt(base[k]) if k in base else '-'} |")
    return "\n".join(lines + _closing(card))


def write_card(folder: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Write ``card.json`` and ``card.md`` for ``spec`` into ``folder``; returns the card."""
    card = build_card(spec)
    (folder / "card.json").write_text(json.dumps(card, indent=1))
    (folder / "card.md").write_text(render_markdown(card))
    return card
