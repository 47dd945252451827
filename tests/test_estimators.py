"""The models and the text featurizers as scikit-learn estimators.

The models go through scikit-learn's own checks (``parametrize_with_checks``). Those checks
feed numeric arrays only, so the featurizers, whose input is texts, are checked here for
what the checks would ask (clone, parameters, not fitted, pickling, shapes, names) and for
agreeing with the study's feature tables.
"""

from __future__ import annotations

import pickle
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from psyprofile.features.featurizers import (
    CharNgramFeaturizer,
    EmbeddingFeaturizer,
    LexiconFeaturizer,
    NgramFeaturizer,
)
from psyprofile.models.pipeline import (
    BlockTransform,
    LanguageClassifier,
    LanguageModel,
    LanguageRegressor,
    LinearHead,
)

LEXICON = Path(__file__).parent / "fixtures" / "lexica" / "moods.csv"
AGE_GENDER = Path(__file__).parent / "fixtures" / "api" / "dd_emnlp14_ageGender.csv"  # intercepts

# every public estimator with its defaults (fast enough for the default run) ...
ESTIMATORS = [
    BlockTransform(),
    LinearHead(),
    LinearHead(task="classification", Cs=(0.1, 1.0)),
    LanguageRegressor(),
    LanguageClassifier(Cs=(1.0,)),  # one C: the inner search is LinearHead's, checked above
]
# ... and the other paths: square roots, a log target, controls, ridge members (about a
# minute of CPU more). Recipes with several fixed-width blocks cannot meet the checks' data
# of any width; test_classifier_takes_any_labels... and test_models_recipe cover them.
MORE_ESTIMATORS = [
    LanguageClassifier(),
    BlockTransform(sqrt="sqrt"),
    LanguageRegressor(n_controls=1, sqrt="sqrt", target_transform="log"),
    LanguageClassifier(n_controls=1, member_head="ridge"),
]


def _run(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notices on the checks' tiny data
        check(estimator)


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_checks(estimator, check):
    _run(estimator, check)


@pytest.mark.slow
@parametrize_with_checks(MORE_ESTIMATORS)
def test_scikit_learn_checks_of_other_options(estimator, check):
    _run(estimator, check)


def test_classifier_takes_any_labels_and_decision_function_matches_proba():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=120) > 0, "high", "low")
    m = LanguageClassifier(blocks=(("a", 3), ("b", 3)), combine="stack").fit(X, y)
    assert list(m.classes_) == ["high", "low"]
    assert (m.predict(X) == y).mean() > 0.8
    p = m.predict_proba(X)[:, 1]
    d = m.decision_function(X)
    assert d.shape == (120,)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-d)), rtol=1e-10)
    assert not hasattr(LanguageRegressor(), "decision_function")


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_model_files_of_the_single_class_still_load(task):
    """A model saved before the split: class 'LanguageModel', a 'task' and the parameter
    'transform' (now 'sqrt'), with the other task's parameters too."""
    rng = np.random.default_rng(1)
    X = sp.csr_matrix(np.abs(rng.normal(size=(90, 5))))
    y = X[:, 1].toarray().ravel() + 0.1 * rng.normal(size=90)
    if task == "classification":
        y = (y > np.median(y)).astype(int)
    m = LanguageModel.for_task(task, blocks=(("a", 2), ("b", 2)), n_controls=1, sqrt="sqrt",
                               Cs=(0.1, 1.0), target_transform="none").fit(X, y)
    state, arrays = m.export_state()
    params = dict(state["params"])
    params["transform"] = params.pop("sqrt")
    params.update(Cs=[0.1, 1.0], member_head="auto", target_transform="none", task=task)
    for ms in state["members"]:
        ms["params"]["transform"] = ms["params"].pop("sqrt")
    legacy = {**state, "class": "LanguageModel", "params": params}
    back = LanguageModel.from_state(legacy, arrays)
    assert type(back) is type(m)
    assert back.sqrt == "sqrt"
    method = "predict_proba" if task == "classification" else "predict"
    np.testing.assert_allclose(getattr(back, method)(X), getattr(m, method)(X), rtol=1e-12)
    with pytest.raises(ValueError, match="not a"):
        other = LanguageRegressor if task == "classification" else LanguageClassifier
        other.from_state(legacy, arrays)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_model_of_the_default_blocks_survives_saving(task):
    """``blocks=()`` (one set of all columns after the controls) is rebuilt as fitted."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 6))
    y = X[:, 1] + 0.3 * rng.normal(size=60)
    if task == "classification":
        y = (y > 0).astype(int)
    m = LanguageModel.for_task(task, n_controls=1, Cs=(0.1, 1.0)).fit(X, y)
    back = LanguageModel.from_state(*m.export_state())
    assert back.blocks_ == m.blocks_ == (("features", 5),)
    method = "predict_proba" if task == "classification" else "predict"
    np.testing.assert_allclose(getattr(back, method)(X), getattr(m, method)(X), rtol=1e-12)
    assert back.n_features_in_ == m.n_features_in_ == 6
    with pytest.raises(ValueError, match="features"):  # a loaded model checks X's width too
        getattr(back, method)(X[:, :5])


@pytest.mark.parametrize("cls", [LanguageRegressor, LanguageClassifier])
def test_each_face_documents_its_parameters_in_signature_order(cls):
    """The numpydoc Parameters section (its first entries shared by both faces) names every
    parameter of the face's own __init__, in order, and nothing else."""
    import inspect

    section = inspect.getdoc(cls).split("Parameters\n----------\n", 1)[1]
    named = [name.strip() for line in section.splitlines() if line and not line.startswith(" ")
             for name in line.split(" : ")[0].split(",")]
    assert named == list(inspect.signature(cls.__init__).parameters)[1:]


# -- featurizers ------------------------------------------------------------------------------

USERS = [
    "I am so happy today. Happy happy!",
    ["sad day", "I am sick of it, so gloomy", "hate mondays"],
    [],
    "@bob hello joyful world, love it",
    ["Glad to see you", ""],
]

FEATURIZERS = [NgramFeaturizer(n=(1, 2)), CharNgramFeaturizer(n=(2, 3), min_users=2),
               LexiconFeaturizer(str(LEXICON))]


@pytest.mark.parametrize("f", FEATURIZERS, ids=lambda f: type(f).__name__)
def test_featurizer_behaves_as_an_estimator(f):
    params = f.get_params()
    twin = clone(f)
    assert twin.get_params() == params and twin is not f
    assert clone(f).set_params(**params).get_params() == params
    with pytest.raises(NotFittedError):
        f.transform(USERS)
    with pytest.raises(NotFittedError):
        f.get_feature_names_out()
    fitted = clone(f).fit(USERS)
    M = fitted.transform(USERS)
    names = fitted.get_feature_names_out()
    assert M.shape == (len(USERS), len(names)) and M.dtype == np.float64
    assert len(set(names)) == len(names)
    dense = M.toarray() if sp.issparse(M) else M
    assert not dense[2].any()  # a user without texts
    np.testing.assert_array_equal(dense, _dense(fitted.fit_transform(USERS)))
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(_dense(again.transform(USERS[:2])), dense[:2])
    # the order of users is the order of rows
    np.testing.assert_array_equal(_dense(fitted.transform(USERS[::-1])), dense[::-1])


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M)


@pytest.mark.parametrize("bad", ["one text", [1, 2], [["a", 3]], np.zeros((2, 2))])
def test_featurizer_refuses_what_is_not_texts_per_user(bad):
    with pytest.raises(ValueError, match="X"):
        NgramFeaturizer().fit(bad)


def test_ngram_vocabulary_is_learned_in_fit_with_the_occurrence_filter():
    f = NgramFeaturizer(min_users=2).fit(USERS)
    assert f.get_feature_names_out().tolist() == [",", "am", "i", "it", "so"]  # 2+ users each
    assert f.transform(["gloomy gloomy zebra"]).nnz == 0  # not in the vocabulary
    # a share of the users, rounded as the study's occurrence filter: 0.4 x 5 users = 2
    share = NgramFeaturizer(min_users=0.4).fit(USERS).get_feature_names_out()
    assert share.tolist() == f.get_feature_names_out().tolist()
    assert NgramFeaturizer(min_users=3).fit(USERS).transform(USERS).shape == (5, 0)
    with pytest.raises(ValueError, match="min_users"):
        NgramFeaturizer(min_users=0).fit(USERS)


posts = st.lists(st.text(alphabet="ab c.!@", max_size=12), max_size=3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="ab c.!", max_size=12), posts), min_size=1, max_size=5))
def test_relative_frequencies_sum_to_one_per_user_with_words(users):
    f = NgramFeaturizer(n=(1,)).fit(users)
    sums = np.asarray(f.transform(users).sum(axis=1)).ravel()
    from psyprofile.text.tokenize import tokenize

    words = [sum(len(tokenize(t)) for t in ([u] if isinstance(u, str) else u)) for u in users]
    np.testing.assert_allclose(sums, [1.0 if w else 0.0 for w in words], atol=1e-12)
    # a text alone or as a one-post list is the same user
    as_lists = [[u] if isinstance(u, str) else u for u in users]
    np.testing.assert_array_equal(f.transform(as_lists).toarray(), f.transform(users).toarray())


def _study(tmp_path, users):
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.store.workspace import Workspace

    rows = ["message_id,user_id,message"]
    k = 0
    for i, texts in enumerate(users):
        for t in texts:
            rows.append(f'm{k:03d},u{i},"{t}"')
            k += 1
    src = tmp_path / "posts.csv"
    src.write_text("\n".join(rows) + "\n")
    ws = Workspace.create(tmp_path / "study")
    ingest(ws, [src], fmt="csv", columns=ColumnMap(text="message", user="user_id", id="message_id"),
           progress=False)
    return ws


def test_featurizers_agree_with_the_study_tables(tmp_path):
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.features.store import read_matrix
    from psyprofile.lexica.registry import resolve_lexicon

    texts = [["I am so happy today", "Happy happy, joyful!"], ["sad day", "I am sick of it"],
             ["love love love", "so gloomy and sad"], ["hello world", "Glad I am here :D"],
             ["the cat sat", "on the mat, glad"]]
    ws = _study(tmp_path, texts)
    extract_features(ws, FeatureOptions(ngrams=(1, 2), lexica=(str(LEXICON), str(AGE_GENDER)), chars=(2, 3),
                                        min_users_pct=0.4, min_words=0), progress=False)
    with ws.connect() as con:
        rows = con.execute("SELECT user_id, text FROM messages ORDER BY user_id, message_id").fetchall()
        by_user = defaultdict(list)
        for u, t in rows:
            by_user[u].append(t)
        users = sorted(by_user)
        X = [by_user[u] for u in users]
        lex, weights = (resolve_lexicon(str(p)).name for p in (LEXICON, AGE_GENDER))
        for f, name in [(NgramFeaturizer(n=(1, 2)), "1to2gram"),
                        (NgramFeaturizer(n=(1, 2), min_users=0.4), "1to2gram_occ0.4"),
                        (CharNgramFeaturizer(n=(2, 3), min_users=0.4), "char2to3_occ0.4"),
                        (LexiconFeaturizer(str(LEXICON)), lex),
                        (LexiconFeaturizer(str(AGE_GENDER)), weights)]:
            ours = f.fit(X)
            ref = read_matrix(con, name, "user", groups=users)
            assert sorted(ours.get_feature_names_out()) == sorted(ref.features), name
            want = read_matrix(con, name, "user", groups=users,
                               features=list(ours.get_feature_names_out())).X.toarray()
            np.testing.assert_allclose(_dense(ours.transform(X)), want, rtol=1e-12, atol=1e-15,
                                       err_msg=name)


def test_lexicon_pipeline_predicts_an_outcome_that_depends_on_lexicon_words():
    rng = np.random.default_rng(3)
    pos = ["happy", "glad", "love", "joyful"]
    neg = ["sad", "gloomy", "hate"]
    filler = ["the", "a", "day", "we", "it", "went", "to", "and", "of", "walk", "time"]
    X, y = [], []
    for _ in range(80):
        mood = rng.uniform(-1, 1)
        share = 0.05 + 0.2 * (mood + 1) / 2
        posts_ = []
        for _ in range(4):
            words = [rng.choice(pos) if rng.random() < share else
                     rng.choice(neg) if rng.random() < 0.25 - share else rng.choice(filler)
                     for _ in range(25)]
            posts_.append(" ".join(words))
        X.append(posts_)
        y.append(mood)
    y = np.asarray(y)
    pipe = make_pipeline(LexiconFeaturizer(str(LEXICON)), RidgeCV())
    pred = cross_val_predict(pipe, X, y, cv=KFold(5, shuffle=True, random_state=0))
    r = np.corrcoef(pred, y)[0, 1]
    assert r > 0.6, r
    # and the language models take featurizer output too
    pipe = make_pipeline(NgramFeaturizer(min_users=5), LanguageRegressor(sqrt="sqrt"))
    pred = cross_val_predict(pipe, X, y, cv=KFold(5, shuffle=True, random_state=0))
    assert np.corrcoef(pred, y)[0, 1] > 0.4


def test_embedding_featurizer_is_the_word_weighted_mean_of_post_vectors(tmp_path):
    pytest.importorskip("onnxruntime")
    from psyprofile.features import embeddings as E
    from psyprofile.text.tokenize import tokenize

    users = [["I love walking my dog.", "Quarterly revenue rose by four percent."], "Hello."]
    f = EmbeddingFeaturizer("minilm").fit(users)
    M = f.transform(users)
    assert M.shape == (2, 384) and f.get_feature_names_out()[0] == "e000"
    emb = E.shared_embedder("minilm")
    v = emb.embed(users[0]).vectors.astype(np.float64)
    w = np.array([len(tokenize(t)) for t in users[0]], dtype=float)
    np.testing.assert_allclose(M[0], w @ v / w.sum(), atol=1e-6)
    np.testing.assert_allclose(M[1], emb.embed(["Hello."]).vectors[0], atol=1e-6)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(f)).transform(users), M, atol=1e-6)
