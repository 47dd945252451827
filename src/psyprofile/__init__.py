"""psyprofile: psychological profiles of social-media users from their language, and
group-level findings from those profiles.

This module is the curated Python API; the command line and the REST service call the same
functions. A study is a folder (:class:`Workspace`); every step reads it and writes to it::

    import psyprofile as pp

    ws = pp.Workspace.create("mystudy")                       # or pp.Workspace.open(...)
    pp.ingest(ws, ["posts.csv"], columns=pp.ColumnMap(text="body", user="author"))
    pp.extract_features(ws, pp.FeatureOptions(ngrams=(1,)), progress=False)
    profiles = pp.profile_study(ws)                           # per-user scores + evidence

The names are loaded on first use, so ``import psyprofile`` is quick and pulls in none of
the heavy optional parts (embeddings, Dask, the REST service). See ``docs/python.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from psyprofile._version import __version__

# public name -> the module that owns it (one place; the CLI and REST API call the same)
_EXPORTS: dict[str, str] = {
    "PsyprofileError": "psyprofile.errors",
    "InputError": "psyprofile.errors",
    "WorkspaceError": "psyprofile.errors",
    "Workspace": "psyprofile.store.workspace",
    "ColumnMap": "psyprofile.io.base",
    "ingest": "psyprofile.io.ingest",
    "load_outcomes": "psyprofile.store.outcomes",
    "FeatureOptions": "psyprofile.features.extract",
    "extract_features": "psyprofile.features.extract",
    "export_features_wide": "psyprofile.features.export",
    "wide_features": "psyprofile.features.export",
    "TrainOptions": "psyprofile.models.train",
    "train": "psyprofile.models.train",
    "LanguageRegressor": "psyprofile.models.pipeline",
    "LanguageClassifier": "psyprofile.models.pipeline",
    "NgramFeaturizer": "psyprofile.features.featurizers",
    "CharNgramFeaturizer": "psyprofile.features.featurizers",
    "LexiconFeaturizer": "psyprofile.features.featurizers",
    "EmbeddingFeaturizer": "psyprofile.features.featurizers",
    "save_model": "psyprofile.models.persist",
    "load_model": "psyprofile.models.persist",
    "predict": "psyprofile.models.predict",
    "profile_study": "psyprofile.profiles.study",
    "read_scores": "psyprofile.profiles.study",
    "profile_texts": "psyprofile.profiles.texts",
    "score_survey": "psyprofile.survey.run",
    "validity_report": "psyprofile.analysis.validity",
    "run_dla": "psyprofile.analysis.dla",
    "StudyOptions": "psyprofile.analysis.groups",
    "run_study": "psyprofile.analysis.groups",
    "read_study": "psyprofile.analysis.groups",
    "write_report": "psyprofile.report.html",
}

__all__ = [
    "__version__",
    "PsyprofileError",
    "InputError",
    "WorkspaceError",
    "Workspace",
    "ColumnMap",
    "ingest",
    "load_outcomes",
    "FeatureOptions",
    "extract_features",
    "export_features_wide",
    "wide_features",
    "TrainOptions",
    "train",
    "LanguageRegressor",
    "LanguageClassifier",
    "NgramFeaturizer",
    "CharNgramFeaturizer",
    "LexiconFeaturizer",
    "EmbeddingFeaturizer",
    "save_model",
    "load_model",
    "predict",
    "profile_study",
    "read_scores",
    "profile_texts",
    "score_survey",
    "validity_report",
    "run_dla",
    "StudyOptions",
    "run_study",
    "read_study",
    "write_report",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily below
    from psyprofile.analysis.dla import run_dla
    from psyprofile.analysis.groups import StudyOptions, read_study, run_study
    from psyprofile.analysis.validity import validity_report
    from psyprofile.errors import InputError, PsyprofileError, WorkspaceError
    from psyprofile.features.export import export_features_wide, wide_features
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.features.featurizers import (
        CharNgramFeaturizer,
        EmbeddingFeaturizer,
        LexiconFeaturizer,
        NgramFeaturizer,
    )
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.models.persist import load_model, save_model
    from psyprofile.models.pipeline import LanguageClassifier, LanguageRegressor
    from psyprofile.models.predict import predict
    from psyprofile.models.train import TrainOptions, train
    from psyprofile.profiles.study import profile_study, read_scores
    from psyprofile.profiles.texts import profile_texts
    from psyprofile.report.html import write_report
    from psyprofile.store.outcomes import load_outcomes
    from psyprofile.store.workspace import Workspace
    from psyprofile.survey.run import score_survey


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'psyprofile' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
