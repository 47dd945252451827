"""Saved models: a folder with ``model.json`` + ``arrays.npz`` (+ the model card). No pickle.

``model.json`` describes everything needed to apply the model (outcome, task, classes,
feature names per set, control encoding, estimator parameters, the reliability fit) and
names the learned arrays (scales, PCA axes, coefficients) stored in ``arrays.npz``, whose
SHA-256 it records; loading refuses a foreign format, another ``format_version``, or
arrays that do not match. ``np.load(allow_pickle=False)`` means a model file can hold
numbers only, never code.

A model is found by path, by name in the study (``STUDY/models/NAME/``), or by name among
the models shipped inside the package (``psyprofile/models/bundled/NAME/``).

Two kinds of estimator exist (``model.json`` key ``estimator.kind``): a trained
:class:`~psyprofile.models.pipeline.LanguageModel` (the default, arrays in ``arrays.npz``),
and ``"lexicon"``, a published weighted lexicon applied to 1grams
(:mod:`psyprofile.models.lexicon_model`), whose weights come from the lexicon at load time,
so its folder has no ``arrays.npz``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from psyprofile import __version__
from psyprofile.errors import PsyprofileError
from psyprofile.models import lexicon_model

if TYPE_CHECKING:
    from psyprofile.lexica.load import Lexicon
    from psyprofile.models.lexicon_model import LexiconModel
    from psyprofile.models.pipeline import LanguageModel
    from psyprofile.models.train import TrainResult
    from psyprofile.store.workspace import Workspace

FORMAT = "psyprofile-model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
ARRAYS = "arrays.npz"
MODELS_DIR = "models"


@dataclass
class SavedModel:
    """A loaded model: its folder, its description and the rebuilt estimator."""

    name: str
    path: Path | None
    spec: dict[str, Any]
    estimator: LanguageModel | LexiconModel


def bundled_dir() -> Path:
    """Where models shipped with psyprofile live."""
    return Path(str(resources.files("psyprofile.models"))) / "bundled"


def target_dir(ws: Workspace, name_or_path: str) -> Path:
    """``--save`` argument to a folder: a bare name goes to ``STUDY/models/NAME``."""
    p = Path(name_or_path)
    if len(p.parts) == 1 and not name_or_path.startswith("."):
        return ws.path / MODELS_DIR / name_or_path
    return p


def build_spec(ws: Workspace, result: TrainResult, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``model.json`` content (without the array checksum) and the arrays of ``result``."""
    from psyprofile.models.card import training_summary
    from psyprofile.models.predict import abs_residuals, fit_reliability

    if result.model is None:
        raise ValueError("train(..., fit_final=True) is needed to save a model")
    d, opts = result.data, result.options
    state, arrays = result.model.export_state()
    spec = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "psyprofile_version": __version__,
        "name": name, "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "outcome": opts.outcome, "task": d.task, "classes": d.classes, "level": "user",
        "column": "group_norm", "min_words": int(opts.min_words if opts.min_words is not None
                                                 else ws.config["min_words"]),
        "feature_sets": [{"name": s, "features": d.features[s]} for s, _ in d.blocks],
        "controls": d.controls, "control_names": d.control_names,
        "reliability": fit_reliability(abs_residuals(d.task, d.y, result.oof), d.words),
        "pipeline": result.report()["pipeline"], "estimator": state,
        "training": training_summary(ws, d.users), "cv": result.report(),
    }
    spec["cv"].pop("pipeline")
    return spec, arrays


def save_model(ws: Workspace, result: TrainResult, name_or_path: str,
               set_names: dict[str, str] | None = None, notes: list[str] | None = None) -> Path:
    """Write the model of ``result`` and its card to a folder; returns the folder.

    ``set_names`` renames feature sets in the saved model (e.g. ``{"1gram_occ0.05": "1gram"}``:
    the filtered set's values are the 1gram table's, so a study with only ``1gram`` can be
    scored; features of the model that a study lacks read as 0). ``notes`` (sentences) go
    into the model card.
    """
    folder = target_dir(ws, name_or_path)
    spec, arrays = build_spec(ws, result, folder.name)
    if notes:
        spec["notes"] = list(notes)
    if set_names:
        for s in spec["feature_sets"]:
            s["name"] = set_names.get(s["name"], s["name"])
        params = spec["estimator"]["params"]
        params["blocks"] = [[set_names.get(b, b), w] for b, w in params["blocks"]]
        spec["cv"]["feature_sets"] = [set_names.get(b, b) for b in spec["cv"]["feature_sets"]]
    return write_model(folder, spec, arrays)


def build_lexicon_spec(name: str, *, lexicon: Lexicon, lexicon_ref: str, category: str,
                       outcome: str, task: str, classes: list[str] | None, min_words: int,
                       evaluation: dict[str, Any], reliability: dict[str, float],
                       training: dict[str, Any], scoring: str, optimistic: bool = False,
                       notes: list[str] | None = None) -> dict[str, Any]:
    """The ``model.json`` content of a lexicon model (see
    :mod:`psyprofile.models.lexicon_model`) scoring ``outcome`` with category ``category`` of
    ``lexicon``, which loading finds again as ``lexicon_ref`` (a bundled lexicon name, or a
    lexicon file path, relative to the model folder).

    ``evaluation`` is :func:`psyprofile.models.metrics.summarize` of its scores on the users
    described by ``training`` (see :func:`psyprofile.models.card.training_summary`);
    ``reliability`` the :func:`psyprofile.models.predict.fit_reliability` of its errors there;
    ``optimistic`` flags an evaluation on data the lexicon was (likely) fitted on.
    """
    _, digest = lexicon_model.build_estimator(lexicon, category, task)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "psyprofile_version": __version__,
        "name": name, "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "outcome": outcome, "task": task, "classes": classes, "level": "user",
        "column": "group_norm", "min_words": int(min_words),
        "feature_sets": [{"name": lexicon_model.SOURCE_SET, "features": "the lexicon's terms"}],
        "controls": [], "control_names": [], "reliability": reliability,
        "estimator": lexicon_model.lexicon_state(lexicon_ref, category, digest, lexicon),
        "scoring": scoring, "training": training, "cv": evaluation,
        "evaluation_optimistic": optimistic, "notes": list(notes or []),
    }


def write_model(folder: Path, spec: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> Path:
    """Write ``spec`` as ``model.json`` (+ ``arrays`` as checksummed ``arrays.npz``) and the
    model card into ``folder`` (created if needed); returns the folder."""
    from psyprofile.models.card import write_card

    folder.mkdir(parents=True, exist_ok=True)
    if arrays is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        spec["arrays"] = {"file": ARRAYS, "sha256": hashlib.sha256(data).hexdigest()}
        (folder / ARRAYS).write_bytes(data)
    (folder / MODEL_JSON).write_text(json.dumps(spec, indent=1))
    write_card(folder, spec)
    return folder


def resolve(ref: str | Path, ws: Workspace | None = None) -> Path:
    """The folder of model ``ref`` (a path, a study model name, or a bundled model name)."""
    candidates = [Path(ref)]
    if ws is not None:
        candidates.append(ws.path / MODELS_DIR / str(ref))
    candidates.append(bundled_dir() / str(ref))
    for c in candidates:
        if (c / MODEL_JSON).is_file():
            return c
        if c.is_file() and c.name == MODEL_JSON:
            return c.parent
    known = ", ".join(m["name"] for m in list_models(ws)) or "none"
    raise PsyprofileError(
        f"no model '{ref}': not a folder with {MODEL_JSON}, nor a model of this study or bundled "
        f"with psyprofile (known: {known}). Train one with `psyprofile train STUDY ... --save NAME`."
    )


def _bad(folder: Path, why: str) -> PsyprofileError:
    return PsyprofileError(
        f"{folder / MODEL_JSON}: not a usable psyprofile model ({why}). Re-train it with "
        "`psyprofile train ... --save`, or use the original files."
    )


def read_spec(folder: Path) -> dict[str, Any]:
    """The ``model.json`` of a model folder, as written (not checked beyond being JSON)."""
    try:
        return json.loads((folder / MODEL_JSON).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(folder, f"not valid JSON: {exc}") from None


def load_model(ref: str | Path, ws: Workspace | None = None) -> SavedModel:
    """Load and check a saved model (format, version, array checksum) and rebuild it."""
    folder = resolve(ref, ws)
    spec = read_spec(folder)
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise _bad(folder, f"its 'format' is not '{FORMAT}'")
    if spec.get("format_version") != FORMAT_VERSION:
        raise PsyprofileError(
            f"{folder / MODEL_JSON}: model format version {spec.get('format_version')}, but this "
            f"psyprofile (version {__version__}) reads version {FORMAT_VERSION}. Re-train the model "
            "with this version, or use the psyprofile version that saved it "
            f"({spec.get('psyprofile_version', 'unknown')})."
        )
    if isinstance(spec.get("estimator"), dict) and spec["estimator"].get("kind") == lexicon_model.KIND:
        return _load_lexicon_model(folder, spec)
    # scikit-learn is imported only to rebuild a trained model, so that resolving and
    # listing models stay cheap
    from psyprofile.models.pipeline import LanguageModel

    try:
        data = (folder / spec["arrays"]["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != spec["arrays"]["sha256"]:
            raise _bad(folder, f"{spec['arrays']['file']} does not match the checksum in {MODEL_JSON}; "
                       "one of the two files was changed")
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        estimator = LanguageModel.from_state(spec["estimator"], arrays)
    except FileNotFoundError as exc:
        raise _bad(folder, f"missing file {exc.filename}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(folder, f"incomplete or inconsistent description: {exc!r}") from None
    return SavedModel(spec.get("name", folder.name), folder, spec, estimator)


def _load_lexicon_model(folder: Path, spec: dict[str, Any]) -> SavedModel:
    """A lexicon model; its feature columns (the lexicon's terms) are filled in ``spec``."""
    try:
        estimator = lexicon_model.load_estimator(spec["estimator"], spec["task"], folder)
        spec["feature_sets"] = [{"name": lexicon_model.SOURCE_SET, "features": estimator.features}]
    except KeyError as exc:
        raise _bad(folder, f"incomplete description of a lexicon model: missing {exc}") from None
    return SavedModel(spec.get("name", folder.name), folder, spec, estimator)


def list_models(study: Workspace | str | Path | None) -> list[dict[str, Any]]:
    """Models of the study and bundled ones: name, where, outcome, task, headline metric.

    ``study`` is a workspace, or the folder of one (its models are under ``models/``)."""
    folder = getattr(study, "path", study)  # only the folder is read, not the database
    roots = ([("study", Path(folder) / MODELS_DIR)] if folder is not None else []) + [
        ("bundled", bundled_dir())]
    out = []
    for where, root in roots:
        for f in sorted(root.glob(f"*/{MODEL_JSON}")) if root.is_dir() else []:
            try:
                spec = json.loads(f.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            cv = spec.get("cv", {})
            out.append({
                "name": f.parent.name, "where": where, "path": str(f.parent),
                "outcome": spec.get("outcome"), "task": spec.get("task"),
                "feature_sets": [s.get("name") for s in spec.get("feature_sets", [])],
                "n_users": cv.get("n_users"), "r": cv.get("r"), "auc": cv.get("auc"),
                "created": spec.get("created"), "format_version": spec.get("format_version"),
                "kind": (spec.get("estimator") or {}).get("kind", "trained"),
            })
    return out
