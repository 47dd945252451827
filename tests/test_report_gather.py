"""The report reads predictions per model content and shows a model's card only from files
whose integrity record holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from psyprofile.errors import PsyprofileError
from psyprofile.models.integrity import sign
from psyprofile.report.gather import gather
from psyprofile.store.workspace import Workspace

MODEL = Path(__file__).parent / "fixtures" / "report" / "age_fixture"
OTHER = "f" * 64  # the digest of another model once saved under the same name


@pytest.fixture
def study(tmp_path):
    """A study with the signed fixture model ``age_fixture``; returns (ws, folder, digest)."""
    ws = Workspace.create(tmp_path / "study")
    folder = ws.path / "models" / "age_fixture"
    shutil.copytree(MODEL, folder)
    return ws, folder, sign(folder)


def predicted(ws: Workspace, *rows: tuple[str, float, str]) -> None:
    """Store predictions of ``age_fixture``: (user, value, model_hash) each."""
    with ws.connect() as con:
        con.executemany("INSERT INTO predictions VALUES (?, 'age_fixture', 'age', ?, NULL, NULL, "
                        "200, ?, 'applied')", [list(r) for r in rows])


def test_predictions_of_two_contents_under_one_name_stay_apart(study):
    ws, _, digest = study
    predicted(ws, ("u1", 30.0, digest), ("u2", 34.0, digest), ("u3", 60.0, OTHER))
    d = gather(ws)
    rows = {(r.model_hash, r.users, r.mean_value) for r in d.predictions.itertuples()}
    assert rows == {(digest, 2, 32.0), (OTHER, 1, 60.0)}
    [card] = d.models
    assert card["model_hash"] == digest and "problem" not in card
    assert card["cv_metrics"]["r"]["value"] == 0.612


def test_changed_model_files_give_no_figures_but_the_reason(study):
    ws, folder, digest = study
    predicted(ws, ("u1", 30.0, digest))
    card = json.loads((folder / "card.json").read_text())
    card["cv_metrics"]["r"]["value"] = 0.99  # edited after the model was saved
    (folder / "card.json").write_text(json.dumps(card))
    [shown] = gather(ws).models
    assert "changed after the model was saved" in shown["problem"]
    assert "cv_metrics" not in shown


def test_card_says_when_the_predictions_came_from_other_contents(study):
    ws, _, _ = study
    predicted(ws, ("u1", 30.0, OTHER))
    [card] = gather(ws).models
    assert "other contents" in card["problem"] and "psyprofile predict" in card["problem"]


def test_nothing_computed_reads_as_none(study):
    d = gather(study[0])
    assert d.predictions is None and d.privacy_budget is None and d.study_run is None
    assert d.dla_runs == [] and d.dla_results is None and d.profile_scores is None
    # a --run before any study: the same check and words as read_study (groups.pick_study_run)
    with pytest.raises(PsyprofileError, match=r"no group study run 1 \(runs: none\)"):
        gather(study[0], study_run=1)
