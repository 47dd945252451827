"""Read what a study has computed, for the report: every part is None when it was not run.

Only aggregate tables and ids are read here, never the text of a post, and each through
the module that owns the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from psyprofile.store.workspace import Workspace

# the columns of a profile score the report draws from
PROFILE_COLUMNS = ["family", "dimension", "value", "words", "source", "reference", "coverage"]


@dataclass
class StudyData:
    """The parts of a study the report shows (DataFrames hold the rows of the named tables)."""

    summary: dict[str, Any]
    profile_scores: pd.DataFrame | None = None  # profile_scores (C1)
    profile_users: pd.DataFrame | None = None  # status -> users, words
    profile_runs: pd.DataFrame | None = None  # profiles.study.list_runs, when any
    units: dict[str, str] = field(default_factory=dict)  # profile dimension -> unit, if stored
    study_run: dict[str, Any] | None = None  # the study_runs row, params parsed
    study_groups: pd.DataFrame | None = None
    study_comparisons: pd.DataFrame | None = None
    privacy_budget: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None  # per model, model_hash, outcome: users, mean
    dla_runs: list[dict[str, Any]] = field(default_factory=list)
    dla_results: pd.DataFrame | None = None  # the latest results of every stored DLA run
    feature_sets: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)  # cards of the models used
    ingest_options: list[dict[str, Any]] = field(default_factory=list)


def _profiles(ws: Workspace, data: StudyData) -> None:
    """The latest profile run's scores, users by status and units (``profiles.study``)."""
    from psyprofile.profiles.study import list_runs, read_norms, read_scores, read_users

    runs = list_runs(ws)
    if runs.empty:
        return
    data.profile_runs = runs
    data.profile_scores = read_scores(ws)[PROFILE_COLUMNS]
    norms = read_norms(ws).dropna(subset=["unit"])
    data.units = dict(zip(norms["dimension"], norms["unit"], strict=True))
    users = read_users(ws)
    data.profile_users = (users.groupby("status", sort=True)
                          .agg(users=("user_id", "size"), words=("words", "sum")).reset_index())


def _study(con: Any, ws: Workspace, data: StudyData, study_run: int | None) -> None:
    """Group study ``study_run`` (default: the latest) through ``analysis.groups``."""
    from psyprofile.analysis import groups

    rid = groups.pick_study_run(con, ws.path, study_run)
    if rid is None:
        return
    runs = groups.read_study_runs(con)
    data.study_run = runs[runs["run_id"] == rid].iloc[0].to_dict()
    data.study_groups = groups.read_study_groups(con, rid)
    data.study_comparisons = (groups.read_study_comparisons(con, rid)
                              .sort_values(["q", "p"], na_position="last", kind="stable")
                              .reset_index(drop=True))


def gather(ws: Workspace, study_run: int | None = None) -> StudyData:
    """Everything the report needs from ``ws``, each part read through the module that owns
    its tables (docs/architecture.md, "Tables and owners"); ``study_run`` picks a group study
    (default: the latest). Raises :class:`PsyprofileError` if ``study_run`` does not exist."""
    from psyprofile.analysis.dla import read_dla_results, read_dla_runs
    from psyprofile.analysis.dp import read_budget
    from psyprofile.features.store import list_feature_sets
    from psyprofile.io.ingest import read_ingest_options
    from psyprofile.models.predict import prediction_summary
    from psyprofile.store.summary import workspace_summary

    data = StudyData(summary=workspace_summary(ws))
    _profiles(ws, data)  # before the connection below: the profile readers open their own
    with ws.connect(read_only=True) as con:
        data.feature_sets = [{**s, "params": json.loads(s["params"]) if s["params"] else {}}
                             for s in list_feature_sets(con)]
        data.ingest_options = read_ingest_options(con)
        _study(con, ws, data, study_run)
        budget = read_budget(con)
        data.privacy_budget = None if budget.empty else budget
        predictions = prediction_summary(con)
        data.predictions = None if predictions.empty else predictions
        data.dla_runs = read_dla_runs(con)
        if data.dla_runs:
            data.dla_results = read_dla_results(con)
    data.models = model_cards(ws, data)
    return data


def model_cards(ws: Workspace, data: StudyData) -> list[dict[str, Any]]:
    """Cards (``card.json``, else the ``model.json`` facts) of the models the study used: those
    with stored predictions and those named as a profile score's source (``model:NAME``).

    A model's files are read only once its integrity record holds
    (:func:`psyprofile.models.integrity.verify`); a model that fails the check, or whose
    content is not the one its stored predictions came from (``model_hash``), gets a card
    that says so in ``problem`` instead of figures that may not be its own."""
    from psyprofile.errors import PsyprofileError
    from psyprofile.models.integrity import verify
    from psyprofile.models.persist import MODEL_JSON, resolve

    hashes: dict[str, set[str]] = {}  # model name -> content digests its predictions name
    if data.predictions is not None:
        for name, digest in data.predictions[["model", "model_hash"]].itertuples(index=False):
            hashes.setdefault(name, set()).update([digest] if isinstance(digest, str) else [])
    if data.profile_scores is not None:
        for source in data.profile_scores["source"].dropna().unique():
            hashes.setdefault(str(source).removeprefix("model:"), set())
    cards = []
    for name, made_by in hashes.items():
        try:
            folder = resolve(name, ws)
        except PsyprofileError:
            continue  # a lexicon or zero-shot source, or a model deleted since it predicted
        try:
            verified = verify(folder)
        except PsyprofileError as exc:
            cards.append({"model": name, "folder": str(folder), "problem": str(exc)})
            continue
        if "card.json" in verified.files:
            card = json.loads(verified.files["card.json"])
        else:
            spec = json.loads(verified.files[MODEL_JSON])
            card = {"model": name, "outcome": spec.get("outcome"), "task": spec.get("task"),
                    "pipeline": spec.get("pipeline", {}), "cv_metrics": {}}
        card = {**card, "model": card.get("model") or name, "folder": str(folder),
                "model_hash": verified.digest}
        if made_by and verified.digest not in made_by:
            card["problem"] = (f"the stored predictions of '{name}' were made by other contents "
                               f"of the model than {folder} holds now (content digest "
                               f"{verified.digest[:12]}); re-run `psyprofile predict` to "
                               "match them.")
        cards.append(card)
    return cards
