"""Saved models: exact round trip, refusal of tampered or foreign files, cards, predictions."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_models_synth import make_study

from psyprofile.errors import PsyprofileError
from psyprofile.models import integrity
from psyprofile.models.model_checks import ModelFileError, read_arrays
from psyprofile.models.persist import bundled_dir, list_models, load_model, save_model
from psyprofile.models.predict import fit_reliability, predict, sigma
from psyprofile.models.train import TrainOptions, train


@pytest.fixture(scope="module", autouse=True)
def model_key(tmp_path_factory):
    """This module's own installation config folder, so its model key is the tests'."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        yield integrity.key_path()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, model_key):
    ws = make_study(tmp_path_factory.mktemp("persist") / "s", n=120)[0]
    opts = TrainOptions("gender", ["1gram", "topics"], controls=["age"], combine="stack", transform="sqrt",
                        n_folds=4, n_boot=100, Cs=(0.1,), inner_folds=3)
    res = train(ws, opts, fit_final=True, progress=False)
    folder = save_model(ws, res, "gender_model")
    return ws, res, folder


def test_save_load_round_trip_predicts_identically(saved):
    ws, res, folder = saved
    assert folder == ws.path / "models" / "gender_model"
    loaded = load_model("gender_model", ws)
    X = res.data.X
    assert np.abs(loaded.estimator.predict_proba(X) - res.model.predict_proba(X)).max() <= 1e-12
    assert loaded.spec["classes"] == ["female", "male"]
    assert not list(folder.glob("*.pkl")) and sorted(p.name for p in folder.iterdir()) == [
        "arrays.npz", "card.json", "card.md", "integrity.json", "model.json"]


def test_regression_round_trip_with_pca_and_log(tmp_path):
    ws = make_study(tmp_path / "s", n=80)[0]
    opts = TrainOptions("age", ["1gram", "topics"], reduce="pca", target_transform="log", n_folds=3, n_boot=50)
    res = train(ws, opts, fit_final=True, progress=False)
    loaded = load_model(save_model(ws, res, str(tmp_path / "elsewhere" / "m")))
    assert np.abs(loaded.estimator.predict(res.data.X) - res.model.predict(res.data.X)).max() <= 1e-12


def _copy(folder, to):
    shutil.copytree(folder, to)
    return to


def _edit_spec(folder, edit):
    spec = json.loads((folder / "model.json").read_text())
    edit(spec)
    (folder / "model.json").write_text(json.dumps(spec))


def _edit_arrays(folder, edit):
    with np.load(folder / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / "arrays.npz").write_bytes(buf.getvalue())
    # and the arrays' plain hash in model.json, as a careful forger would
    _edit_spec(folder, lambda s: s["arrays"].update(sha256=hashlib.sha256(buf.getvalue()).hexdigest()))


def _refused(folder, match):
    with pytest.raises(PsyprofileError, match=match) as info:
        load_model(folder)
    return str(info.value)


def test_digest_names_the_content_not_the_path(saved, tmp_path):
    _, _, folder = saved
    a = load_model(folder)
    b = load_model(_copy(folder, tmp_path / "copy"))
    assert a.digest == b.digest and len(a.digest) == 64
    rec = json.loads((folder / "integrity.json").read_text())
    assert a.digest == integrity.content_digest(rec["files"])
    assert set(rec["files"]) == {"arrays.npz", "card.json", "card.md", "model.json"}
    assert load_model("age-blogs").digest != load_model("gender-blogs").digest


def test_model_key_is_private_and_refused_when_shared(saved, model_key):
    assert stat.S_IMODE(model_key.stat().st_mode) == 0o600
    os.chmod(model_key, 0o640)
    try:
        _refused(saved[2], "model key is readable or writable by other users .*chmod 600")
    finally:
        os.chmod(model_key, 0o600)


def test_edited_model_json_alone_is_refused(saved, tmp_path):
    # The attack of issue 17: reorder features in model.json, leave arrays.npz alone.
    bad = _copy(saved[2], tmp_path / "bad")
    _edit_spec(bad, lambda s: s["feature_sets"][0]["features"].reverse())
    _refused(bad, r"model.json changed after the model was saved .*integrity.json")


def test_rehashed_arrays_without_the_key_are_refused(saved, tmp_path):
    # Rescaled coefficients with every plain hash recomputed: only the HMAC is missing.
    bad = _copy(saved[2], tmp_path / "bad")
    _edit_arrays(bad, lambda a: a.update(m0_coef=a["m0_coef"] * 1000))
    rec = json.loads((bad / "integrity.json").read_text())
    for f in ("arrays.npz", "model.json"):
        rec["files"][f] = hashlib.sha256((bad / f).read_bytes()).hexdigest()
    (bad / "integrity.json").write_text(json.dumps(rec))
    _refused(bad, r"integrity.json: the integrity record was changed")
    (bad / "integrity.json").unlink()
    _refused(bad, r"has no integrity record \(integrity.json\)")


def test_a_model_of_another_installation_is_refused(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    _refused(saved[2], "saved on another psyprofile installation .*copy the model key file")


def test_signed_but_broken_files_are_refused_with_a_message(saved, tmp_path):
    """Behind the key: a writer holding it (a bug, a hostile tool) still cannot make a
    model that crashes, reads outside its folder or predicts NaN."""
    def broken(name, spec_edit=None, arrays_edit=None):
        bad = _copy(saved[2], tmp_path / name)
        if spec_edit:
            _edit_spec(bad, spec_edit)
        if arrays_edit:
            _edit_arrays(bad, arrays_edit)
        integrity.sign(bad)
        return bad

    _refused(broken("nan", arrays_edit=lambda a: a["m0_intercept"].__setitem__(0, np.nan)),
             "array 'm0_intercept': holds NaN or infinite values")
    shape = broken("shape", arrays_edit=lambda a: a.update(m0_coef=a["m0_coef"][:, :-1]))
    _refused(shape, "not a usable psyprofile model .*(shapes|coefficients)")
    _refused(broken("dtype", arrays_edit=lambda a: a.update(m0_coef=a["m0_coef"].astype(str))),
             "array 'm0_coef': dtype <U32 is not a plain number type")
    _refused(broken("complex", arrays_edit=lambda a: a.update(m0_coef=a["m0_coef"] * 1j)),
             "is not a plain number type")
    order = broken("order", spec_edit=lambda s: s["feature_sets"][0]["features"].pop())
    _refused(order, "feature sets do not match the estimator's blocks")
    _refused(broken("stale", spec_edit=lambda s: s["arrays"].update(sha256="0" * 64)),
             "arrays.npz does not match the checksum in model.json")
    # NaN or an overflowing number written into model.json
    nan = broken("nanjson")
    (nan / "model.json").write_text((nan / "model.json").read_text().replace(
        '"a":', '"a": NaN, "was_a":', 1))
    integrity.sign(nan)
    _refused(nan, "not valid JSON: NaN is not a number JSON allows")


def test_arrays_outside_the_folder_give_one_message_whether_or_not_they_exist(saved, tmp_path):
    messages = set()
    for i, target in enumerate(["/dev/zero", "../../etc/passwd", "../../no/such/file",
                                "/no/such/file", "sub/arrays.npz"]):
        bad = _copy(saved[2], tmp_path / "m" / str(i) / "bad")
        _edit_spec(bad, lambda s, t=target: s["arrays"].update(file=t))
        integrity.sign(bad)
        msg = _refused(bad, "its arrays file is not one of the model folder's own files")
        messages.add(msg.replace(str(bad), "FOLDER"))
    assert len(messages) == 1
    # a symlink in the folder to a device is not a model file either
    bad = _copy(saved[2], tmp_path / "link")
    (bad / "arrays.npz").unlink()
    os.symlink("/dev/zero", bad / "arrays.npz")
    integrity.sign(bad)
    _refused(bad, "its arrays file is not one of the model folder's own files")


def test_an_npz_header_declaring_a_huge_array_is_refused_before_reading(saved, tmp_path):
    import zipfile

    bad = _copy(saved[2], tmp_path / "huge")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    with zipfile.ZipFile(bad / "arrays.npz", "a") as zf:
        zf.writestr("m0_mean_bomb.npy", header.getvalue() + b"\0" * 64)
    digest = hashlib.sha256((bad / "arrays.npz").read_bytes()).hexdigest()
    _edit_spec(bad, lambda s: s["arrays"].update(sha256=digest))
    integrity.sign(bad)
    _refused(bad, "array 'm0_mean_bomb': its header declares shape .* which its 64 data bytes")


def test_bundled_models_are_checked_against_published_digests(tmp_path):
    copy = _copy(bundled_dir() / "age-blogs", tmp_path / "age-blogs")
    assert load_model(copy).digest == load_model("age-blogs").digest
    (copy / "card.md").write_text((copy / "card.md").read_text() + "\nA safe model.\n")
    _refused(copy, "card.md differ from the files of bundled model 'age-blogs' shipped with")


def test_foreign_or_future_files_are_refused(saved, tmp_path):
    _, _, folder = saved
    spec = json.loads((folder / "model.json").read_text())
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "model.json").write_text(json.dumps({**spec, "format_version": 2}))
    integrity.sign(tmp_path / "v2")
    with pytest.raises(PsyprofileError, match="model format version 2, but this psyprofile .* reads version 1"):
        load_model(tmp_path / "v2")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.json").write_text(json.dumps({"weights": [1, 2]}))
    integrity.sign(tmp_path / "other")
    with pytest.raises(PsyprofileError, match="its 'format' is not 'psyprofile-model'"):
        load_model(tmp_path / "other")
    with pytest.raises(PsyprofileError, match="no model 'missing'.*known: gender_model"):
        load_model("missing", saved[0])


def test_card_states_data_metrics_and_uses(saved):
    _, res, folder = saved
    card = json.loads((folder / "card.json").read_text())
    assert card["training_data"]["n_users"] == res.data.X.shape[0]
    assert card["training_data"]["n_posts"] == res.data.X.shape[0]
    assert card["cv_metrics"]["auc"]["value"] == pytest.approx(res.cv["auc"])
    assert card["controls_only_baseline"]["auc"]["value"] is not None
    md = (folder / "card.md").read_text()
    assert "Decisions about individual people" in md and "Clinical diagnosis" in md
    assert [m["name"] for m in list_models(saved[0]) if m["where"] == "study"] == ["gender_model"]
    # the study's folder lists the same models as the open workspace
    assert list_models(saved[0].path) == list_models(saved[0])


def test_listing_models_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = ("import sys; from psyprofile.models.persist import list_models, resolve; "
            "list_models(None); resolve('age-blogs'); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_predict_scores_users_with_intervals(saved):
    ws, _, _ = saved
    loaded = load_model("gender_model", ws)
    report = predict(ws, loaded)
    assert report.too_few_words == 5 and report.missing_control == 1
    assert report.missing_features == {"1gram": 0.0, "topics": 0.0}
    with ws.connect() as con:
        rows = con.execute("SELECT outcome, value, lo, hi, words FROM predictions").fetchall()
    assert len(rows) == report.scored == 120 - 5 - 1
    assert {r[0] for r in rows} == {"gender=male"}
    assert all(0 <= lo <= v <= hi <= 1 and w >= 500 for _, v, lo, hi, w in rows)


def test_predict_refuses_study_without_the_feature_sets(saved, tmp_path):
    from psyprofile.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "empty")
    with pytest.raises(PsyprofileError, match="needs the feature sets 1gram, topics, which this study does not"):
        predict(ws, load_model(saved[2]))


def test_reliability_fit_recovers_error_law():
    rng = np.random.default_rng(0)
    words = rng.integers(100, 10_000, size=5000)
    true = 1.0 + 30.0 / np.sqrt(words)
    resid = np.abs(rng.normal(scale=true * np.sqrt(np.pi / 2) / np.sqrt(np.pi / 2)))
    rel = fit_reliability(resid, words)
    # E|N(0, s)| = s sqrt(2/pi): the fit recovers s sqrt(2/pi), and sigma() undoes the factor.
    assert sigma(rel, np.array([400]))[0] == pytest.approx(1.0 + 30.0 / 20, rel=0.1)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


VALID_NPZ = _npz(a=np.arange(6.0).reshape(2, 3), b=np.array([1, 2], dtype=np.int32))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.binary(max_size=2000),
                 st.tuples(st.integers(0, len(VALID_NPZ) - 1), st.binary(min_size=1, max_size=8))
                 .map(lambda p: VALID_NPZ[:p[0]] + p[1] + VALID_NPZ[p[0] + len(p[1]):])))
def test_array_reader_refuses_any_corruption_with_its_own_error(data):
    """Arbitrary bytes and damaged copies of a real npz: numbers out, or ModelFileError."""
    try:
        arrays = read_arrays(data)
    except ModelFileError:
        return
    for v in arrays.values():
        assert v.dtype.kind in "fiub" and (v.dtype.kind != "f" or np.isfinite(v).all())


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4)
                           | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=20))
def test_any_integrity_record_but_a_signed_one_is_refused_with_a_message(saved, tmp_path, record):
    folder = tmp_path / "m"
    if not folder.exists():
        _copy(saved[2], folder)
    (folder / "integrity.json").write_text(json.dumps(record))
    with pytest.raises(PsyprofileError):
        load_model(folder)
