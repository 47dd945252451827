"""Read what a study has computed, for the report: every part is None when it was not run.

Only aggregate tables and ids are read here, never the text of a post.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from psyprofile.store.workspace import Workspace


@dataclass
class StudyData:
    """The parts of a study the report shows (DataFrames hold the rows of the named tables)."""

    summary: dict[str, Any]
    profile_scores: pd.DataFrame | None = None  # profile_scores (C1)
    profile_users: pd.DataFrame | None = None  # status -> users, words
    units: dict[str, str] = field(default_factory=dict)  # profile dimension -> unit, if stored
    study_run: dict[str, Any] | None = None  # the study_runs row, params parsed
    study_groups: pd.DataFrame | None = None
    study_comparisons: pd.DataFrame | None = None
    privacy_budget: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None  # per model and outcome: users, mean value
    dla_runs: list[dict[str, Any]] = field(default_factory=list)
    dla_results: pd.DataFrame | None = None  # the latest results of every stored DLA run
    feature_sets: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)  # cards of the models used
    ingest_options: list[dict[str, Any]] = field(default_factory=list)


def _tables(con: Any) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}


def _df(con: Any, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def gather(ws: Workspace, study_run: int | None = None) -> StudyData:
    """Everything the report needs from ``ws``; ``study_run`` picks a group study (default:
    the latest). Raises :class:`PsyprofileError` if ``study_run`` does not exist."""
    from psyprofile.errors import PsyprofileError
    from psyprofile.features.store import list_feature_sets
    from psyprofile.store.summary import workspace_summary

    data = StudyData(summary=workspace_summary(ws))
    with ws.connect(read_only=True) as con:
        have = _tables(con)
        data.feature_sets = [{**s, "params": _json(s["params"])} for s in list_feature_sets(con)]
        data.ingest_options = [
            {"run_id": r, "options": _json(o)} for r, o in
            con.execute("SELECT run_id, options FROM ingest_runs ORDER BY run_id").fetchall()]
        if "profile_scores" in have:
            data.profile_scores = _df(con, "SELECT family, dimension, value, words, source, "
                                           "reference, coverage FROM profile_scores")
        if "profile_norms" in have:
            data.units = dict(con.execute("SELECT dimension, unit FROM profile_norms "
                                          "WHERE unit IS NOT NULL").fetchall())
        if "profile_users" in have:
            data.profile_users = _df(con, "SELECT status, count(*) AS users, sum(words) AS words "
                                          "FROM profile_users GROUP BY status ORDER BY status")
        if "study_runs" in have:
            runs = _df(con, "SELECT run_id, created_at, params, n_users FROM study_runs "
                            "ORDER BY run_id")
            if study_run is not None and study_run not in set(runs["run_id"]):
                known = ", ".join(map(str, runs["run_id"])) or "none"
                raise PsyprofileError(
                    f"{ws.path}: no group study run {study_run} (runs: {known}). Omit --run for "
                    "the latest, or run `psyprofile study` first.")
            if len(runs):
                row = runs[runs["run_id"] == (study_run or runs["run_id"].max())].iloc[0]
                data.study_run = {**row.to_dict(), "params": _json(row["params"])}
                rid = int(row["run_id"])
                data.study_groups = _df(con, "SELECT * FROM study_groups WHERE run_id = ?", [rid])
                if "study_comparisons" in have:
                    data.study_comparisons = _df(
                        con, "SELECT * FROM study_comparisons WHERE run_id = ? "
                             "ORDER BY q NULLS LAST, p NULLS LAST", [rid])
        elif study_run is not None:
            raise PsyprofileError(f"{ws.path}: no group study has been run; run `psyprofile "
                                  "study` first, or omit --run.")
        if "privacy_budget" in have:
            data.privacy_budget = _df(con, "SELECT * FROM privacy_budget ORDER BY release_id")
        if "predictions" in have:
            data.predictions = _df(
                con, "SELECT model, outcome, count(*) AS users, avg(value) AS mean_value, "
                     "median(words) AS median_words FROM predictions GROUP BY model, outcome "
                     "ORDER BY model, outcome")
        if "dla_runs" in have:
            runs = con.execute("SELECT run_id, created_at, outcomes, feature_sets, level, params, "
                               "summary FROM dla_runs ORDER BY run_id").fetchall()
            cols = ["run_id", "created_at", "outcomes", "feature_sets", "level", "params",
                    "summary"]
            data.dla_runs = [{k: _json(v) for k, v in zip(cols, r, strict=True)} for r in runs]
            data.dla_results = _df(con, "SELECT * FROM dla_results")
    data.models = model_cards(ws, data)
    return data


def model_cards(ws: Workspace, data: StudyData) -> list[dict[str, Any]]:
    """Cards (``card.json``, else the ``model.json`` facts) of the models the study used: those
    with stored predictions and those named as a profile score's source."""
    from psyprofile.errors import PsyprofileError
    from psyprofile.models.persist import MODEL_JSON, resolve

    names: list[str] = []
    if data.predictions is not None:
        names += list(data.predictions["model"].unique())
    if data.profile_scores is not None:
        names += list(data.profile_scores["source"].dropna().unique())
    cards = []
    for name in dict.fromkeys(names):
        try:
            folder = resolve(name, ws)
        except PsyprofileError:
            continue  # a lexicon or zero-shot source, not a saved model
        card_file = Path(folder) / "card.json"
        if card_file.is_file():
            card = json.loads(card_file.read_text())
        else:
            spec = json.loads((Path(folder) / MODEL_JSON).read_text())
            card = {"model": name, "outcome": spec.get("outcome"), "task": spec.get("task"),
                    "pipeline": spec.get("pipeline", {}), "cv_metrics": {}}
        cards.append({**card, "model": card.get("model") or name, "folder": str(folder)})
    return cards
