"""Model cards: what a saved model was trained on, how well it does, and what not to use it for.

Written beside every saved model as ``card.json`` (stable keys) and ``card.md`` (the same
facts for people).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

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


def training_summary(ws: Workspace, users: list[str]) -> dict[str, Any]:
    """Study name, users, their posts and the date range of those posts."""
    with ws.connect(read_only=True) as con:
        con.register("_train_users", pd.DataFrame({"user_id": users}))
        try:
            posts, first, last = con.execute(
                "SELECT count(*), min(created_at), max(created_at) FROM messages "
                "WHERE user_id IN (SELECT user_id FROM _train_users)"
            ).fetchall()[0]
        finally:
            con.unregister("_train_users")
    return {
        "study": ws.config.get("name"), "n_users": len(users), "n_posts": int(posts),
        "date_range": [first.isoformat() if first else None, last.isoformat() if last else None],
    }


def build_card(spec: dict[str, Any]) -> dict[str, Any]:
    """The card of a model description (``model.json`` content)."""
    cv = spec["cv"]
    metric_keys = ("r", "r2", "mae") if spec["task"] == "regression" else ("auc", "accuracy", "f1")
    return {
        "model": spec["name"], "outcome": spec["outcome"], "task": spec["task"],
        "classes": spec["classes"], "created": spec["created"],
        "psyprofile_version": spec["psyprofile_version"], "format_version": spec["format_version"],
        "training_data": spec["training"],
        "excluded_users": cv.get("excluded"),
        "features": {s["name"]: len(s["features"]) for s in spec["feature_sets"]},
        "controls": spec["control_names"], "min_words": spec["min_words"],
        "pipeline": spec["pipeline"],
        "cv_metrics": {k: {"value": cv.get(k), "ci95": cv.get(k + "_ci")} for k in metric_keys},
        "n_folds": cv.get("n_folds"),
        "controls_only_baseline": (
            {k: {"value": cv["controls_only"].get(k), "ci95": cv["controls_only"].get(k + "_ci")}
             for k in metric_keys} if cv.get("controls_only") else None),
        "reliability": {**spec["reliability"],
                        "meaning": "error sd = sqrt(pi/2) * (a + b / sqrt(words)); interval = value +/- 1.96 sd"},
        "intended_uses": INTENDED_USES, "unintended_uses": UNINTENDED_USES, "known_limits": KNOWN_LIMITS,
    }


def _fmt(m: dict[str, Any]) -> str:
    v, ci = m.get("value"), m.get("ci95")
    if v is None:
        return "n/a"
    return f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")


def render_markdown(card: dict[str, Any]) -> str:
    """The card as a Markdown document."""
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
    rel = card["reliability"]
    lines += [
        "", "## Reliability of a single score", "",
        f"Expected absolute error = {rel['a']:.4g} + {rel['b']:.4g} / sqrt(words); each stored score "
        "has an interval of value +/- 1.96 sd and the number of words it rests on.", "",
        "## Intended uses", "", *[f"- {u}" for u in card["intended_uses"]], "",
        "## Unintended uses (do not)", "", *[f"- {u}" for u in card["unintended_uses"]], "",
        "## Known limits", "", *[f"- {u}" for u in card["known_limits"]], "",
    ]
    return "\n".join(lines)


def write_card(folder: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Write ``card.json`` and ``card.md`` for ``spec`` into ``folder``; returns the card."""
    card = build_card(spec)
    (folder / "card.json").write_text(json.dumps(card, indent=1))
    (folder / "card.md").write_text(render_markdown(card))
    return card
