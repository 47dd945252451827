"""The ONNX graph written from MiniLM's safetensors (psyprofile.features.bert_graph): the same
vectors as torch, and the ONNX files are built and run with torch and transformers absent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_extras import blocking

from psyprofile.features import embeddings as E

E.offline()
ort = pytest.importorskip("onnxruntime")

FIXTURE_POSTS = Path(__file__).parent / "fixtures" / "embeddings" / "posts.txt"
POSTS = [*FIXTURE_POSTS.read_text().splitlines(), "", "ok"]
TORCHLESS = ("torch", "transformers", "sentence_transformers")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_graph_from_safetensors_gives_torch_vectors(tmp_path):
    pytest.importorskip("torch", reason="the torch reference needs psyprofile[reference]")
    from psyprofile.features.bert_graph import write_bert_graph
    from psyprofile.features.minilm_weights import model_dir

    path = tmp_path / "g.onnx"
    write_bert_graph(model_dir(), path)
    ref = E.MiniLM("torch-fp32")
    wins, _, _ = ref.windows(POSTS)
    assert max(len(w) for w in wins) == ref.window + 2 and min(len(w) for w in wins) == 2
    want = ref.embed_windows(wins)
    # one right-padded batch of every window: the padding must not leak into any vector
    ids = np.zeros((len(wins), max(map(len, wins))), dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, w in enumerate(wins):
        ids[r, :len(w)], mask[r, :len(w)] = w, 1
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    assert got.shape == (len(wins), 384) and got.dtype == np.float32
    c = cosines(got, want)
    assert c.min() >= 0.99999, c.min()
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


BLOCKED_RUN = textwrap.dedent("""
    import numpy as np
    from psyprofile.features import embeddings as E
    from psyprofile.features.minilm_onnx import onnx_path

    emb = E.get_embedder("minilm")
    print(emb.runtime, onnx_path("fp32"), onnx_path("int8"))
    np.save(sys.argv[1], emb.embed(sys.argv[2].split("\\n")).vectors)
    print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
""")


def test_onnx_files_build_and_embed_without_torch(tmp_path, fresh_cache):
    out = tmp_path / "v.npy"
    env = {**os.environ, "PSYPROFILE_CACHE": str(fresh_cache)}
    r = subprocess.run([sys.executable, "-c", blocking(TORCHLESS) + BLOCKED_RUN, str(out),
                        "\n".join(POSTS)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    (runtime, fp32, int8), blocked = (line.split() for line in r.stdout.splitlines())
    assert runtime == "onnx-int8" and blocked == ["[]"]
    for built in (fp32, int8):  # built here, from the safetensors, not found in a cache
        assert Path(built).is_relative_to(tmp_path) and Path(built).is_file()
    got = np.load(out)
    want = E.MiniLM("onnx-int8").embed(POSTS)
    one = want.n_windows == 1  # a longer post's vector is the mean of its windows' unit vectors
    assert one.sum() > 10 and not one.all()
    np.testing.assert_allclose(np.linalg.norm(got[one], axis=1), 1.0, atol=1e-5)
    assert cosines(got, want.vectors).min() >= 0.999


def test_the_default_runtime_imports_no_torch_where_torch_is_installed():
    """The blocked run above cannot show this (a blocked module never enters sys.modules):
    with torch importable, embedding through the default runtime and the static path must
    still leave torch, transformers and sentence-transformers unimported."""
    pytest.importorskip("torch")
    code = textwrap.dedent(f"""
        import sys
        from psyprofile.features import embeddings as E

        for model in ("minilm", "minilm-static"):
            E.get_embedder(model).embed(["what a happy day", ""])
        print(E.get_embedder("minilm").runtime)
        print(sorted(m for m in sys.modules if m.split(".")[0] in {TORCHLESS!r}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["onnx-int8", "[]"]
