"""Rebuild the models shipped in ``src/psyprofile/models/bundled/``: one command,
``python3 scripts/build_bundled_models.py`` (from the repo root).

* ``age-blogs`` (ridge regression of log age) and ``gender-blogs`` (L2 logistic regression;
  class 1 = female) trained on the DLATK blog corpus, obtained with
  :func:`psyprofile.datasets.blogs.blog_corpus` (DLATK's PyPI sdist, cached), from the
  square roots of relative frequencies of the 1grams used by >= 5% of the users with >= 500
  words. The model names that set ``1gram`` so that any study scores it after
  ``psyprofile features STUDY --ngrams 1``. Cross-validated on DLATK's own folds (the
  ``folds.csv`` kept in each model folder: user_id, fold for the 978 bloggers with >= 500
  1gram tokens, captured from DLATK 1.3.15's ``--nfold_test_*`` runs).
* ``sap2014-age`` and ``sap2014-gender``: the age/gender lexicon of Sap et al. (2014)
  (``dd_emnlp14_ageGender``) as lexicon models (weights read from the lexicon cache at load
  time), with their accuracy on the same 978 bloggers, flagged as optimistic.

Last, the SHA-256 of every file of every bundled model is written to
``src/psyprofile/models/bundled_sha256.py``, the published integrity record a bundled model
is checked against when loaded (:mod:`psyprofile.models.integrity`).

The study is built in ``--work`` (default: ``psyprofile-build-bundled`` in psyprofile's
cache) and reused by later runs. The first run took 245 s on the shared 2-core machine with
DLATK's sdist already downloaded (corpus parse, ingest and 1grams 79 s, age CV 14 s, gender
CV with its inner choice of C 140 s, lexicon models 10 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

N_BOOT = 2000
SEED = 42
MIN_WORDS = 500  # DLATK's --group_freq_thresh: the users its folds hold
P_OCC = 0.05
VOCAB_SET = f"1gram_occ{P_OCC}"
LEXICON = "dd_emnlp14_ageGender"
FOLDS_FILE = "folds.csv"

CORPUS_NOTE = ("Trained on the Blog Authorship Corpus sample shipped with DLATK 1.3.15 (Schler et "
               "al., 2006; free for non-commercial research): 31,674 posts of 2004 and earlier "
               "by 1,000 bloggers aged 13 to 48. Bloggers of that time and place, in English.")
GENDER_NOTE = "Class 1 is female, class 0 male (the corpus's coding); the score is P(female)."


def _bundled() -> Path:
    from psyprofile.models.persist import bundled_dir

    return bundled_dir()


def build_study(work: Path) -> Path:
    """The blog study with 1grams and their occurrence-filtered copy (built once)."""
    from psyprofile.datasets.blogs import blog_corpus
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.store.outcomes import load_outcomes
    from psyprofile.store.workspace import Workspace

    study = work / "study"
    messages, users = blog_corpus()
    if not (study / "study.duckdb").exists():
        ws = Workspace.create(study, name="dlatk-blogs")
        ingest(ws, [messages], fmt="parquet",
               columns=ColumnMap(id="message_id", user="user_id", time="created_time", text="message"))
        load_outcomes(ws, users, columns=["age", "gender"])
    ws = Workspace.open(study)
    extract_features(ws, FeatureOptions(ngrams=(1,), min_users_pct=P_OCC, min_words=MIN_WORDS))
    return study


def train_blog_model(study: Path, name: str, outcome: str, task: str) -> Any:
    """Cross-validate on DLATK's folds and save ``name`` into the bundled folder."""
    from psyprofile.models.persist import save_model
    from psyprofile.models.train import TrainOptions, train
    from psyprofile.store.workspace import Workspace

    folder = _bundled() / name
    opts = TrainOptions(outcome, [VOCAB_SET], task=task, fold_file=folder / FOLDS_FILE, seed=SEED,
                        min_words=MIN_WORDS, transform="sqrt", n_boot=N_BOOT,
                        target_transform="log" if task == "regression" else "none")
    ws = Workspace.open(study)
    t0 = time.perf_counter()
    res = train(ws, opts, fit_final=True)
    vocab = len(res.data.features[VOCAB_SET])
    notes = [
        CORPUS_NOTE,
        f"Cross-validated on DLATK 1.3.15's own folds ({FOLDS_FILE} in this folder), the same "
        "users and folds as bench/accuracy.py; DLATK's own figure there with 1grams + 2,000 "
        "topics is age r .671 / gender AUC .822.",
        f"Reads set `1gram` (any study: `psyprofile features STUDY --ngrams 1`), restricted to "
        f"the {vocab:,} words used by >= {P_OCC:.0%} of the training users; other words are "
        "ignored.",
        *([GENDER_NOTE] if task == "classification" else []),
    ]
    save_model(ws, res, str(folder), set_names={VOCAB_SET: "1gram"}, notes=notes)
    m = "r" if task == "regression" else "auc"
    print(f"{name}: {m} {res.cv[m]:.3f} {res.cv[m + '_ci']} ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    return res


def build_lexicon_model(study: Path, name: str, category: str, res: Any) -> None:
    """Describe ``category`` of the lexicon as model ``name``, evaluated on ``res``'s users."""
    from psyprofile.lexica.registry import load_bundled
    from psyprofile.models import metrics
    from psyprofile.models.card import training_summary
    from psyprofile.models.lexicon_model import build_estimator
    from psyprofile.models.persist import build_lexicon_spec, write_model
    from psyprofile.models.predict import abs_residuals, fit_reliability
    from psyprofile.models.train import feature_matrix
    from psyprofile.store.workspace import Workspace

    d = res.data
    lexicon = load_bundled(LEXICON)
    est, _ = build_estimator(lexicon, category, d.task)
    ws = Workspace.open(study)
    with ws.connect() as con:
        X, _ = feature_matrix(con, ["1gram"], d.users, {"1gram": est.features})
    pred = est.predict(X) if d.task == "regression" else est.predict_proba(X)
    evaluation = metrics.summarize(d.task, d.y, pred, N_BOOT, SEED)
    if d.task == "regression":
        scoring = ("age (years) = sum over the user's 1grams w of weight(w) x group_norm(w) + "
                   "intercept, with group_norm(w) = count of w / the user's 1gram tokens.")
    else:
        scoring = ("score = sum over the user's 1grams w of weight(w) x group_norm(w) + intercept "
                   "(group_norm(w) = count of w / the user's 1gram tokens); score > 0 means "
                   "female, and P(female) = 1 / (1 + exp(-score)).")
    notes = [
        f"Evaluated on the {len(d.users):,} bloggers of DLATK's folds of the blog corpus "
        "(ages 13 to 48). The lexicon was built from Facebook, blog and Twitter users and very "
        "likely includes this corpus, so these figures are optimistic.",
        "The lexicon is not shipped with psyprofile: on first use it is read from DLATK's "
        "PyPI source archive (downloaded once with pip) and cached; its terms are for "
        "research use (see the licence above).",
        *([GENDER_NOTE] if d.task == "classification" else []),
    ]
    spec = build_lexicon_spec(
        name, lexicon=lexicon, lexicon_ref=LEXICON, category=category, outcome=res.options.outcome,
        task=d.task, classes=d.classes, min_words=MIN_WORDS, evaluation=evaluation,
        reliability=fit_reliability(abs_residuals(d.task, d.y, pred), d.words),
        training=training_summary(ws, d.users), scoring=scoring, optimistic=True, notes=notes)
    write_model(_bundled() / name, spec, None)
    m = "r" if d.task == "regression" else "auc"
    print(f"{name}: {m} {evaluation[m]:.3f} {evaluation[m + '_ci']} (optimistic)", flush=True)


def publish_digests() -> None:
    """Write the published SHA-256 of every bundled model's files (after any change to them)."""
    import psyprofile.models
    from psyprofile.models.integrity import publish_bundled

    module = Path(psyprofile.models.__file__).with_name("bundled_sha256.py")
    publish_bundled(_bundled(), module)
    print(f"wrote the digests of the bundled models to {module}", flush=True)


def rewrite_cards() -> None:
    """Rewrite ``card.md`` / ``card.json`` of every bundled model from its ``model.json``."""
    from psyprofile.models.card import write_card
    from psyprofile.models.persist import MODEL_JSON, read_spec

    for f in sorted(_bundled().glob(f"*/{MODEL_JSON}")):
        write_card(f.parent, read_spec(f.parent))
        print(f"rewrote the card of {f.parent.name}")


def main(argv: list[str] | None = None) -> None:
    from psyprofile.datasets.pypi import cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=cache_dir() / "psyprofile-build-bundled",
                    help="folder for the blog study (reused by later runs)")
    ap.add_argument("--cards-only", action="store_true",
                    help="only rewrite each bundled model's card from its model.json (after a "
                         "change of the card template)")
    args = ap.parse_args(argv)
    if args.cards_only:
        rewrite_cards()
        publish_digests()
        return
    t0 = time.perf_counter()
    study = build_study(args.work)
    print(f"study ready in {args.work} ({time.perf_counter() - t0:.0f} s)", flush=True)
    age = train_blog_model(study, "age-blogs", "age", "regression")
    gender = train_blog_model(study, "gender-blogs", "gender", "classification")
    build_lexicon_model(study, "sap2014-age", "AGE", age)
    build_lexicon_model(study, "sap2014-gender", "GENDER", gender)
    publish_digests()
    sizes = {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in _bundled().iterdir()}
    print(f"done in {time.perf_counter() - t0:.0f} s; folder sizes (bytes): {sizes}")


if __name__ == "__main__":
    sys.exit(main())
