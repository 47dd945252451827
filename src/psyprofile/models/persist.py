"""Saved models: a folder with ``model.json`` + ``arrays.npz`` (+ the model card). No pickle.

``model.json`` describes everything needed to apply the model (outcome, task, classes,
feature names per set, control encoding, estimator parameters, the reliability fit) and
names the learned arrays (scales, PCA axes, coefficients) stored in ``arrays.npz``. A model
folder is intact or refused as a whole: ``integrity.json`` holds the SHA-256 of every file
of the folder, signed with this installation's model key (bundled models: digests published
in the package); see :mod:`psyprofile.models.integrity`. Loading then refuses a foreign
format, another ``format_version``, non-finite numbers, an arrays file outside the folder,
and arrays whose types or shapes do not fit the description
(:mod:`psyprofile.models.model_checks`). Arrays are numbers only, never code (no pickle).

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
from psyprofile.errors import PsyprofileError, printable
from psyprofile.models import integrity, lexicon_model
from psyprofile.models.model_checks import ModelFileError, check_language_model, read_arrays

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


MAX_SPEC_BYTES = 64 << 20


@dataclass
class SavedModel:
    """A loaded model: its folder, its description, the rebuilt estimator and its identity.

    ``digest`` is the model's stable content hash (64 hex digits): the SHA-256 of the list of
    SHA-256s of all its files (:func:`psyprofile.models.integrity.content_digest`). Any change
    to any file changes it; every copy of the same model has the same one, wherever it lies and
    on whichever installation. Two models that share a ``name`` (a copy, a re-trained model)
    have different digests, so ``(name, digest)`` identifies what produced a prediction.
    """

    name: str
    path: Path | None
    spec: dict[str, Any]
    estimator: LanguageModel | LexiconModel
    digest: str


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
    """Write ``spec`` as ``model.json`` (+ ``arrays`` as ``arrays.npz``) and the model card into
    ``folder`` (created if needed), then sign every file of the folder in ``integrity.json``
    with this installation's model key; returns the folder."""
    from psyprofile.models.card import write_card

    folder.mkdir(parents=True, exist_ok=True)
    if arrays is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        # The arrays' own hash in model.json too, so that model.json alone names the
        # learned values (the integrity record is what protects both).
        spec["arrays"] = {"file": ARRAYS, "sha256": hashlib.sha256(buf.getvalue()).hexdigest()}
        (folder / ARRAYS).write_bytes(buf.getvalue())
    (folder / MODEL_JSON).write_text(json.dumps(spec, indent=1, allow_nan=False))
    write_card(folder, spec)
    integrity.sign(folder)
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


def _finite(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise ValueError("a number too large for a float")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _parse_spec(folder: Path, data: bytes) -> dict[str, Any]:
    """``model.json`` bytes to a dict; NaN, Infinity and overflowing numbers are refused."""
    if len(data) > MAX_SPEC_BYTES:
        raise _bad(folder, f"larger than {MAX_SPEC_BYTES >> 20} MB")
    try:
        spec = json.loads(data, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(folder, f"not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise _bad(folder, "not a JSON object")
    return spec


def read_spec(folder: Path) -> dict[str, Any]:
    """The ``model.json`` of a model folder whose integrity record holds (see
    :mod:`psyprofile.models.integrity`); not checked beyond that and being JSON."""
    return _parse_spec(folder, _verified(folder).files.get(MODEL_JSON, b""))


def _verified(folder: Path) -> integrity.Verified:
    verified = integrity.verify(folder)
    if MODEL_JSON not in verified.files:
        raise _bad(folder, f"its integrity record does not cover {MODEL_JSON}")
    return verified


def load_model(ref: str | Path, ws: Workspace | None = None) -> SavedModel:
    """Load a saved model, check it (integrity record, format, version, arrays, shapes) and
    rebuild it; every problem is a :class:`PsyprofileError` naming the file and the fix."""
    folder = resolve(ref, ws)
    verified = _verified(folder)
    spec = _parse_spec(folder, verified.files[MODEL_JSON])
    if spec.get("format") != FORMAT:
        raise _bad(folder, f"its 'format' is not '{FORMAT}'")
    if spec.get("format_version") != FORMAT_VERSION:
        raise PsyprofileError(
            f"{folder / MODEL_JSON}: model format version {spec.get('format_version')}, but this "
            f"psyprofile (version {__version__}) reads version {FORMAT_VERSION}. Re-train the model "
            "with this version, or use the psyprofile version that saved it "
            f"({spec.get('psyprofile_version', 'unknown')})."
        )
    name = spec.get("name", folder.name)
    if not isinstance(name, str) or not name:
        raise _bad(folder, "its 'name' is not a text")
    if isinstance(spec.get("estimator"), dict) and spec["estimator"].get("kind") == lexicon_model.KIND:
        return _load_lexicon_model(folder, spec, verified)
    # scikit-learn is imported only to rebuild a trained model, so that resolving and
    # listing models stay cheap
    from psyprofile.models.pipeline import LanguageModel

    try:
        file = spec["arrays"]["file"]
        if not integrity.is_plain_name(file) or file not in verified.files:
            # The same words whatever the name is: no hint whether a path outside exists.
            raise ModelFileError("its arrays file is not one of the model folder's own files")
        if spec["arrays"].get("sha256", "") != hashlib.sha256(verified.files[file]).hexdigest():
            raise ModelFileError(f"{file} does not match the checksum in {MODEL_JSON}")
        arrays = read_arrays(verified.files[file])
        estimator = LanguageModel.from_state(spec["estimator"], arrays)
        check_language_model(spec, estimator)
    except ModelFileError as exc:
        raise _bad(folder, str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise _bad(folder, f"incomplete or inconsistent description ({type(exc).__name__}: "
                   f"{printable(exc, 80)})") from None
    return SavedModel(name, folder, spec, estimator, verified.digest)


def _load_lexicon_model(folder: Path, spec: dict[str, Any], verified: integrity.Verified) -> SavedModel:
    """A lexicon model; its feature columns (the lexicon's terms) are filled in ``spec``."""
    from psyprofile.lexica.registry import BUNDLED

    try:
        ref = spec["estimator"]["lexicon"]
        if ref not in BUNDLED and (not integrity.is_plain_name(ref) or ref not in verified.files):
            raise _bad(folder, "its lexicon is neither a bundled lexicon nor one of the model "
                       "folder's own files")
        estimator = lexicon_model.load_estimator(spec["estimator"], spec["task"], folder)
        spec["feature_sets"] = [{"name": lexicon_model.SOURCE_SET, "features": estimator.features}]
    except KeyError as exc:
        raise _bad(folder, f"incomplete description of a lexicon model: missing {exc}") from None
    except TypeError as exc:
        raise _bad(folder, f"inconsistent description of a lexicon model ({exc})") from None
    return SavedModel(spec.get("name", folder.name), folder, spec, estimator, verified.digest)


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
